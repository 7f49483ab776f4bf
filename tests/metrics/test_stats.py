"""Statistics: intervals, paired tests, Holm, power; and a simulation of their calibration."""

import itertools
import math
import subprocess
import sys
import time

import numpy as np
import pytest

from evalkit.metrics import (
    decisive_samples,
    detectable_drop,
    fisher_exact,
    holm,
    mcnemar,
    mean_ci,
    minimum_detectable_effect,
    paired_difference,
    paired_test,
    stratified_drop_p_value,
)
from evalkit.records import problem_of


def test_mean_ci_brackets_the_mean_and_is_seeded():
    values = np.random.default_rng(0).random(164)
    result = mean_ci(values, resamples=2000, confidence=0.95, seed=5)
    assert result["value"] == pytest.approx(values.mean())
    assert result["ci_low"] < result["value"] < result["ci_high"]
    assert result == mean_ci(values, resamples=2000, confidence=0.95, seed=5)
    assert mean_ci([], 100, 0.95, 0) == {"value": None, "reason": "no tasks"}


def test_mean_ci_of_constant_values_is_a_point():
    assert mean_ci([0.25] * 10, 100, 0.95, 0) == {"value": 0.25, "ci_low": 0.25, "ci_high": 0.25}


def test_paired_difference_is_candidate_minus_baseline():
    baseline = np.full(100, 0.4)
    candidate = baseline + np.linspace(0.05, 0.15, 100)
    result = paired_difference(baseline, candidate, resamples=2000, confidence=0.95, seed=1)
    assert result["diff"] == pytest.approx(0.1)
    assert 0.08 < result["ci_low"] < 0.1 < result["ci_high"] < 0.12
    assert result["p_value"] == pytest.approx(1 / 2001)  # no sign flip is as extreme
    assert result["n_tasks"] == 100
    assert paired_difference(candidate, baseline, 2000, 0.95, 1)["diff"] == pytest.approx(-0.1)


def test_paired_difference_of_identical_arms_is_zero_with_p_one():
    values = np.random.default_rng(2).random(50)
    result = paired_difference(values, values, 500, 0.95, 0)
    assert (result["diff"], result["ci_low"], result["ci_high"], result["p_value"]) == (0.0, 0.0, 0.0, 1.0)


def test_paired_difference_rejects_misaligned_arms():
    with pytest.raises(ValueError, match="align"):
        paired_difference([0.1, 0.2], [0.1], 10, 0.95, 0)
    assert paired_difference([], [], 10, 0.95, 0)["diff"] is None


def test_mcnemar_exact_binomial():
    a = [True] * 1 + [False] * 9 + [True] * 20 + [False] * 5
    b = [False] * 1 + [True] * 9 + [True] * 20 + [False] * 5
    result = mcnemar(a, b)
    assert (result["a_only"], result["b_only"]) == (1, 9)
    assert result["p_value"] == pytest.approx(22 / 1024)  # 2 * (C(10,0) + C(10,1)) / 2**10
    assert mcnemar([True, False], [True, False])["p_value"] == 1.0


def test_paired_test_picks_mcnemar_for_binary_outcomes_and_keeps_the_sign():
    baseline = [1.0] * 10 + [0.0] * 2 + [1.0] * 20
    candidate = [0.0] * 10 + [1.0] * 2 + [1.0] * 20
    exact = paired_test(baseline, candidate, 500, 0.95, 0, binary=True)
    flip = paired_test(baseline, candidate, 500, 0.95, 0)
    assert exact["diff"] == flip["diff"] == pytest.approx(-8 / 32)  # candidate minus baseline
    assert (exact["ci_low"], exact["ci_high"]) == (flip["ci_low"], flip["ci_high"])
    assert (exact["test"], exact["a_only"], exact["b_only"]) == ("mcnemar", 10, 2)
    assert exact["p_value"] == mcnemar(candidate, baseline)["p_value"]
    assert flip["test"] == "sign-flip"
    assert flip["p_value"] == paired_difference(baseline, candidate, 500)["p_value"]
    assert paired_test([], [], 10, binary=True)["diff"] is None


def test_holm_adjusts_in_given_order():
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])
    assert holm([]) == []


def test_minimum_detectable_effect_normal_approximation():
    # (z_.975 + z_.8) * sqrt(2 * .25 / 164)
    assert minimum_detectable_effect(164, 1, 0.5) == pytest.approx(2.8015852 * np.sqrt(0.5 / 164), rel=1e-6)
    one_sample = minimum_detectable_effect(164, 1, 0.5)
    assert minimum_detectable_effect(164, 100, 0.5) == pytest.approx(one_sample / 10)
    assert minimum_detectable_effect(164, 1, 0.5, difficulty_sd=0.3) < minimum_detectable_effect(164, 1, 0.5)
    with pytest.raises(ValueError):
        minimum_detectable_effect(164, 1, 0.5, difficulty_sd=0.6)


def test_a_sign_flip_test_of_few_differences_counts_every_pattern():
    # Drawn at random, 7 tasks that all fell printed 0.0175 for 0.0156 and 20 the draws' floor, 0.0003,
    # for 1.9e-6 (a researcher's trial): up to 20 non-zero differences every sign pattern is counted.
    rng = np.random.default_rng(0)
    assert paired_difference([1.0] * 7 + [0.5] * 30, [0.0] * 7 + [0.5] * 30, 1000)["p_value"] == 2 / 2 ** 7
    assert paired_difference([1.0] * 20, [0.0] * 20, 1000)["p_value"] == 2 / 2 ** 20
    diffs = rng.normal(size=12)
    counted = sum(abs((np.array(signs) * diffs).mean()) >= abs(diffs.mean()) - 1e-12
                  for signs in itertools.product((1, -1), repeat=12)) / 2 ** 12
    assert paired_difference(np.zeros(12), diffs, 1000)["p_value"] == pytest.approx(counted)


def test_tasks_that_are_their_own_clusters_give_the_task_level_figures_bit_for_bit():
    rng = np.random.default_rng(3)
    a, b = rng.uniform(size=50), rng.uniform(size=50)
    own = [f"HumanEval/{i}" for i in range(50)]
    assert paired_difference(a, b, 500, seed=4, clusters=own) == paired_difference(a, b, 500, seed=4)
    assert mean_ci(a, 500, seed=4, unit=True, clusters=own) == mean_ci(a, 500, seed=4, unit=True)


def _clustered_null(rng, problems: int, holes: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Two arms equal on average, each problem's holes sharing one difference between them (one arm
    writes that problem's code better, the other another's): per-hole pass rates, each hole's problem."""
    effect = np.repeat(rng.normal(0.0, 0.3, problems), holes)
    base = rng.uniform(0.3, 0.7, problems * holes)
    tasks = [f"SingleLineInfilling/HumanEval/{i // holes}/L{i % holes}" for i in range(problems * holes)]
    return base, np.clip(base + effect, 0.0, 1.0), [problem_of(task) for task in tasks]


@pytest.mark.slow
def test_holes_of_one_problem_are_resampled_together_and_a_null_is_rejected_about_alpha_of_the_time():
    # A researcher's trial: 5,815 multi-line holes of 164 problems resampled one by one gave the
    # gate a false FAIL between two draws of one model; intervals a third of the width the problems allow.
    rng = np.random.default_rng(20261207)
    rejected = {"holes": 0, "problems": 0}
    runs = 300
    for seed in range(runs):
        base, cand, problems = _clustered_null(rng, 40, 10)
        rejected["holes"] += paired_difference(base, cand, 300, seed=seed)["p_value"] < 0.05
        clustered = paired_difference(base, cand, 300, seed=seed, clusters=problems)
        rejected["problems"] += clustered["p_value"] < 0.05
    assert rejected["holes"] / runs > 0.3  # holes taken for independent tasks: far too often
    assert rejected["problems"] / runs <= 0.05 + 2 * math.sqrt(0.05 * 0.95 / runs), rejected
    base, cand, problems = _clustered_null(rng, 40, 10)
    wide = paired_difference(base, cand, 2000, seed=1, clusters=problems)
    narrow = paired_difference(base, cand, 2000, seed=1)
    assert wide["ci_high"] - wide["ci_low"] > 2 * (narrow["ci_high"] - narrow["ci_low"])
    assert problem_of("SingleLineInfilling/HumanEval/0/L3") == "SingleLineInfilling/HumanEval/0"
    assert problem_of("MultiLineInfilling/HumanEval/7/L0_L2") == "MultiLineInfilling/HumanEval/7"
    assert problem_of("ide_completion_python/slugify/L2") == "ide_completion_python/slugify"
    # a dataset of one's own keeps its tasks apart whatever its ids look like (an attacker's trial:
    # 30 tasks team/v2/N were one problem, every interval from 0.35 to 1)
    alone = ("HumanEval/3", "instruct_python/slugify", "Mbpp/601", "team/v2/10", "myset/batch/L1")
    assert {problem_of(t) for t in alone} == set(alone)
    # holes of one problem alone: the tasks are what there is (one cluster resampled said p 1.0)
    one_problem = paired_test(np.ones(30), np.zeros(30), clusters=["SingleLineInfilling/HumanEval/0"] * 30)
    assert one_problem == paired_test(np.ones(30), np.zeros(30)) and one_problem["p_value"] < 0.01


def _simulate_arms(rng, n_tasks, n_samples, shift_low, shift_high):
    """Per-task pass rates of two arms on the same random tasks; B's rate is A's plus a shift."""
    p_a = rng.uniform(0.05, 0.75, n_tasks)
    p_b = p_a + rng.uniform(shift_low, shift_high, n_tasks)
    return rng.binomial(n_samples, p_a) / n_samples, rng.binomial(n_samples, p_b) / n_samples


@pytest.mark.slow
@pytest.mark.alone  # it times itself
def test_calibration_by_simulation():
    """95% intervals cover a known difference 93-97% of the time; a null difference is
    rejected at alpha=0.05 about 5% of the time (paired sign-flip test and McNemar)."""
    started = time.perf_counter()
    rng = np.random.default_rng(20240601)
    n_tasks, runs = 164, 1500
    covered = 0
    for seed in range(runs):
        # Per-task shifts vary around 0.1, so the true mean difference is 0.1.
        a, b = _simulate_arms(rng, n_tasks, 5, 0.0, 0.2)
        result = paired_difference(a, b, resamples=500, confidence=0.95, seed=seed)
        covered += result["ci_low"] <= 0.1 <= result["ci_high"]
    coverage = covered / runs
    assert 0.93 <= coverage <= 0.97, coverage

    rejected_flip = rejected_mcnemar = 0
    null_runs = 1000
    for seed in range(null_runs):
        a, b = _simulate_arms(rng, n_tasks, 1, 0.0, 0.0)
        rejected_flip += paired_difference(a, b, resamples=500, seed=seed)["p_value"] < 0.05
        rejected_mcnemar += mcnemar(a > 0.5, b > 0.5)["p_value"] < 0.05
    # Binomial noise on 1000 runs at 5% is 0.7%: allow two standard errors above 5%.
    assert rejected_flip / null_runs <= 0.064, rejected_flip / null_runs
    assert rejected_mcnemar / null_runs <= 0.064, rejected_mcnemar / null_runs
    assert time.perf_counter() - started < 20


def test_minimum_detectable_effect_is_detected_about_as_often_as_promised():
    """A shift equal to the (conservative) MDE is detected at least about 80% of the time."""
    rng = np.random.default_rng(3)
    shift = minimum_detectable_effect(164, 1, 0.4 + 0.075)  # mean rate of the two arms
    runs = 400
    detected = 0
    for seed in range(runs):
        a, b = _simulate_arms(rng, 164, 1, shift, shift)
        detected += paired_difference(a, b, resamples=500, seed=seed)["p_value"] < 0.05
    assert 0.75 <= detected / runs <= 0.95, detected / runs


def test_a_tolerance_gate_states_its_power_and_the_samples_that_would_decide():
    # FAIL needs the upper end of a 95% interval below -0.02: at SE 0.01 a true drop of
    # 0.02 + (1.96 + 0.84) x 0.01 is caught with 80% power.
    assert detectable_drop(0.01, 0.02, 0.95) == pytest.approx(0.02 + 2.8016 * 0.01, rel=1e-4)
    assert detectable_drop(0.0, 0.02, 0.95) == 0.02
    # an estimate of -0.03 (margin 0.01 from -0.02) with half-width 1.96 x 0.01: (1.96)^2 x 10 samples
    assert decisive_samples(-0.03, 0.01, 0.02, 0.95, 10) == math.ceil(10 * 1.959964**2)
    assert decisive_samples(-0.02, 0.01, 0.02, 0.95, 10) is None  # on the threshold: nothing decides
    # -0.02 as a mean of per-task differences comes out as -0.019999999999999997: it asked for 5e32
    assert decisive_samples(0.3 - 0.32, 0.01, 0.02, 0.95, 10) is None
    assert decisive_samples(-0.02001, 0.01, 0.02, 0.95, 10) is None  # 38 million: none says more


@pytest.mark.parametrize(("table", "expected"), [
    ((10, 10, 3, 10), 0.0030959752321981426),  # scipy.stats.fisher_exact's values
    ((5, 5, 0, 5), 0.007936507936507938),
    ((2, 2, 0, 1), 1 / 3),
    ((10, 10, 0, 10), 1.082508822446903e-05),
    ((7, 10, 4, 10), 0.36984996427720884),
    ((3, 10, 3, 10), 1.0),
])
def test_fisher_exact_agrees_with_scipy(table, expected):
    assert fisher_exact(*table) == pytest.approx(expected, rel=1e-9)
    a_passed, a_n, b_passed, b_n = table
    assert fisher_exact(b_passed, b_n, a_passed, a_n) == pytest.approx(expected, rel=1e-9)  # symmetric


@pytest.mark.slow  # about a second on 2 cores: the full suite
def test_the_exact_drop_test_matches_enumeration():
    # Brute force over every outcome of 3 small tasks (each task's candidate passes hypergeometric).
    from itertools import product
    from math import comb, prod

    base_passed, base_n, cand_passed, cand_n = [3, 1, 2], [4, 2, 3], [1, 0, 2], [4, 3, 3]
    laws = []
    for bp, bn, cp, cn in zip(base_passed, base_n, cand_passed, cand_n, strict=True):
        total = bp + cp
        laws.append({k: comb(cn, k) * comb(bn, total - k) / comb(bn + cn, total) for k in range(cn + 1)
                     if 0 <= total - k <= bn})
    expected = sum(prod(p for _, p in outcome) for outcome in product(*(law.items() for law in laws))
                   if sum(k for k, _ in outcome) <= sum(cand_passed))
    assert stratified_drop_p_value(base_passed, base_n, cand_passed, cand_n) == pytest.approx(expected)
    assert stratified_drop_p_value([1, 1], [1, 1], [0, 0], [1, 1]) == pytest.approx(0.25)


def test_mcnemar_agrees_with_scipy_s_binomtest():
    # written out, not imported: importing scipy.stats cost every two-arm report 0.6 s
    from scipy.stats import binomtest

    def split(a_only: int, b_only: int) -> float:
        return mcnemar([True] * a_only + [False] * b_only, [False] * a_only + [True] * b_only)["p_value"]

    for a_only in range(0, 40, 3):
        for b_only in range(0, 40, 7):
            if a_only + b_only:
                assert split(a_only, b_only) == pytest.approx(binomtest(a_only, a_only + b_only, 0.5).pvalue,
                                                              rel=1e-12)
    assert split(3000, 2900) == pytest.approx(binomtest(3000, 5900, 0.5).pvalue, rel=1e-9)


@pytest.mark.slow  # a new Python process
def test_mcnemar_does_not_import_scipy_stats():
    script = ("import sys\nfrom evalkit.metrics.stats import mcnemar\nmcnemar([True] * 5, [False] * 5)\n"
              "assert 'scipy.stats' not in sys.modules\n")
    assert subprocess.run([sys.executable, "-c", script], check=False, timeout=60).returncode == 0
