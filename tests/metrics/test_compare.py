"""compare_arms: the one comparison engine behind reports, compare, the gate and notebooks."""

import numpy as np
import pandas as pd
import pytest

from evalkit.metrics import ArmTasks, benjamini_hochberg, compare_arms, holm, task_table
from evalkit.records import Status

P, F, INFRA = Status.PASSED, Status.FAILED, Status.INFRA_ERROR


def _table(passed: list[int], n: int, infra: list[int] | None = None, metric: list[float] | None = None):
    """A per-task table: ``passed[i]`` of ``n`` samples pass on task i (``infra[i]`` of them infra errors)."""
    infra = infra or [0] * len(passed)
    frame = pd.DataFrame({"n": n, "passed": passed, "infra_error": infra},
                         index=pd.Index([f"T/{i}" for i in range(len(passed))], name="task_id"))
    if metric is not None:
        frame["metric_bleu"] = metric
    return frame


def test_task_table_counts_and_leaves_infra_errors_out_of_metric_means():
    samples = pd.DataFrame({
        "task_id": ["T/0", "T/0", "T/0", "T/1"],
        "status": [P, F, INFRA, F],
        "lenient_status": [P, P, INFRA, INFRA],
        "metric_bleu": [1.0, 0.5, 0.0, 0.2],
    })
    table = task_table(samples)
    assert table.loc["T/0"].to_dict() == {"n": 3, "passed": 1, "infra_error": 1, "lenient_passed": 2,
                                          "lenient_infra_error": 1, "metric_bleu": 0.75}
    assert table.loc["T/1", "lenient_infra_error"] == 1 and table.loc["T/1", "passed"] == 0


def test_differences_flips_and_pass_at_1_tell_the_same_story():
    rng = np.random.default_rng(3)
    base_passed = rng.integers(0, 11, 60)
    # the arm loses 4 of 10 on the first 15 tasks, otherwise equal up to noise of one sample
    arm_passed = np.clip(base_passed - np.r_[np.full(15, 4), rng.integers(-1, 2, 45)], 0, 10)
    base, arm = _table(list(base_passed), 10), _table(list(arm_passed), 10)
    comparison = compare_arms([(ArmTasks("A", base), ArmTasks("B", arm))], resamples=2000, seed=1)
    (diff,) = comparison.diffs
    expected = (arm_passed - base_passed).mean() / 10
    assert diff.measure == "pass@1" and diff.test == "sign-flip" and diff.n_tasks == 60
    assert diff.diff == pytest.approx(expected) and diff.ci_low < expected < diff.ci_high
    assert diff.arm_mean - diff.baseline_mean == pytest.approx(diff.diff)
    assert diff.baseline_mean == pytest.approx(base_passed.mean() / 10)
    flips = comparison.flips_of("B", "A")
    # every task whose rate changed is a flip, and their changes add up to the pass@1 difference
    assert len(flips) == int(np.count_nonzero(arm_passed != base_passed))
    assert sum(f.change for f in flips) / 60 == pytest.approx(diff.diff)
    changes = [f.change for f in flips]
    fell = [c for c in changes if c < 0]
    assert changes[:len(fell)] == sorted(fell) and all(c > 0 for c in changes[len(fell):])
    # a 10/10 -> 0/10 task is significant; one sample of ten is not
    assert all(not f.significant for f in flips if abs(f.change) <= 0.1)
    assert all(f.p_adjusted >= f.p_value for f in flips)


def test_holm_runs_over_every_comparison_of_the_call_and_intervals_can_be_familywise():
    base = _table([5] * 40, 10, metric=[0.8] * 40)
    worse = _table([3] * 20 + [5] * 20, 10, metric=list(np.linspace(0.6, 0.8, 40)))
    same = _table([4, 6] * 20, 10, metric=[0.8] * 40)  # as good on average
    pairs = [(ArmTasks("A", base), ArmTasks("B", worse)), (ArmTasks("A", base), ArmTasks("C", same))]
    each = compare_arms(pairs, ("pass@1", "bleu", "lenient pass@1"), resamples=2000, seed=0)
    joint = compare_arms(pairs, ("pass@1", "bleu", "lenient pass@1"), resamples=2000, seed=0,
                         familywise_intervals=True)
    # lenient counts are not in these tables: that measure is skipped, four comparisons remain
    assert [(d.arm, d.measure) for d in each.diffs] == [("B", "pass@1"), ("B", "bleu"), ("C", "pass@1"),
                                                         ("C", "bleu")]
    assert [d.p_adjusted for d in each.diffs] == pytest.approx(holm([d.p_value for d in each.diffs]))
    assert each.diff("B").significant and not each.diff("C").significant
    assert {d.confidence for d in each.diffs} == {0.95}
    assert [d.confidence for d in joint.diffs] == pytest.approx([1 - 0.05 / 4] * 4)
    for narrow, wide in zip(each.diffs, joint.diffs, strict=True):
        assert wide.ci_low <= narrow.ci_low and narrow.ci_high <= wide.ci_high


@pytest.mark.slow  # about a second on 2 cores: the full suite
def test_a_difference_on_every_task_stays_significant_however_many_comparisons_holm_covers():
    # 2,000 sign flips: the smallest p-value, 1/2001, times 80 comparisons was alpha itself, and one
    # more arm made a loss on every task "not significant"
    base = _table([5] * 40, 5, metric=[0.9] * 40)
    pairs = [(ArmTasks("A", base), ArmTasks(f"E{i}", _table([0] * 40, 5, metric=[0.1] * 40)))
             for i in range(45)]
    comparison = compare_arms(pairs, ("pass@1", "bleu"), resamples=2000, seed=0)
    assert len(comparison.diffs) == 90 and {d.test for d in comparison.diffs} == {"sign-flip"}
    assert all(d.significant and d.p_adjusted < 0.05 / 10 for d in comparison.diffs)


def test_one_sample_per_task_uses_mcnemar_and_infra_errors_drop_a_task():
    base = _table([1, 1, 1, 1, 0, 1], 1)
    arm = _table([0, 0, 0, 1, 1, 0], 1, infra=[0, 0, 0, 0, 0, 1])  # T/5 has no scored sample
    (diff,) = compare_arms([(ArmTasks("A", base), ArmTasks("B", arm))]).diffs
    assert diff.test == "mcnemar" and diff.n_tasks == 5
    assert diff.p_value == pytest.approx(0.625)  # discordant 3 against 1: two-sided binomial
    assert diff.diff == pytest.approx((2 - 4) / 5)


def test_benjamini_hochberg_counts_unlisted_tests():
    assert benjamini_hochberg([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.04, 0.04])
    assert benjamini_hochberg([0.01], family_size=10) == pytest.approx([0.1])
    assert benjamini_hochberg([]) == []


def test_a_comparison_is_the_same_whatever_order_the_tasks_come_in():
    # A researcher's trial: the same samples, their samples.jsonl shuffled (or a run interrupted and
    # resumed), gave other paired intervals and p-values, and listed the flips in another order.
    rng = np.random.default_rng(5)
    base, arm = _table(list(rng.integers(0, 11, 50)), 10), _table(list(rng.integers(0, 11, 50)), 10)
    order = rng.permutation(50)
    shuffled = (base.iloc[order], arm.iloc[rng.permutation(50)])
    one = compare_arms([(ArmTasks("A", base), ArmTasks("B", arm))], seed=1)
    other = compare_arms([(ArmTasks("A", shuffled[0]), ArmTasks("B", shuffled[1]))], seed=1)
    assert one.diffs == other.diffs and one.flips == other.flips


def test_two_arms_that_agree_on_every_task_still_show_what_a_rerun_could_give():
    # A researcher's trial: 20 tasks x 1 sample, both arms passing every one, read "0.000 [0.000,
    # 0.000]" beside arm intervals of [0.79, 1.00]. pass@1 takes the spread sampling alone gives (the
    # gate's floor); a similarity keeps its bootstrap interval (a task-level floor dwarfed its spread)
    same = _table([1] * 20, 1, metric=[0.8] * 20)
    comparison = compare_arms([(ArmTasks("A", same), ArmTasks("B", same))], ("pass@1", "bleu"))
    pass1, bleu = comparison.diff("B", "pass@1"), comparison.diff("B", "bleu")
    rate = 3 / 4  # the pooled Laplace rate of 2 passes in 2 samples a task: (2 + 1) / (2 + 2)
    noise = np.sqrt(20 * rate * (1 - rate) * 2) / 20
    assert pass1.diff == 0 and (pass1.ci_low, pass1.ci_high) == pytest.approx((-1.96 * noise, 1.96 * noise),
                                                                               abs=1e-3)
    assert (bleu.ci_low, bleu.ci_high) == (0.0, 0.0) and not pass1.significant and not bleu.significant
