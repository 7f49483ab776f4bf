"""Comparing arms task by task: the one engine behind report, compare, gate and notebooks.

Every comparison starts from per-task tables (``task_table``): for each task the
samples scored, how many passed, how many were infra errors (left out: they say
nothing about the model), the lenient reading's counts and each similarity
metric's mean. ``compare_arms`` pairs a baseline arm's table with another arm's
on the tasks both scored and returns

- one ``PairedDiff`` per pair and measure: the mean per-task difference with a
  paired bootstrap interval over tasks and a paired test (McNemar's exact test
  when every task has one scored sample on both sides, else a sign-flip
  randomisation test), Holm-corrected over every comparison of the call;
- one ``Flip`` per task whose pass rate changed, with Fisher's exact test of
  the two rates (Benjamini-Hochberg over the tasks of the pair), sorted by size.

The mean of the flips' changes over the paired tasks is the pass@1 difference,
so flips never contradict pass@1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple, Sequence

import numpy as np
import pandas as pd

from evalkit.metrics.stats import (
    benjamini_hochberg,
    fisher_exact,
    holm,
    laplace_rate,
    mean_std_error,
    normal_quantile,
    paired_test,
    stratified_drop_p_value,
)
from evalkit.records import Flip, PairedDiff, Status, problem_of
from evalkit.results import natural_key

PASS_AT_1 = "pass@1"
LENIENT_PASS_AT_1 = "lenient pass@1"


class ArmTasks(NamedTuple):
    """One side of a comparison: an arm's label and its per-task table (``task_table``)."""

    label: str
    tasks: pd.DataFrame


@dataclass(frozen=True)
class Comparison:
    """What ``compare_arms`` found: paired differences and per-task flips."""

    diffs: tuple[PairedDiff, ...]
    """One per (pair, measure) with at least one task both sides scored, in call order."""
    flips: tuple[Flip, ...]
    """Tasks whose pass@1 rate changed, per pair: regressions (largest drop first), then
    improvements."""
    sign_flips: int = 0
    """Random sign flips each sign-flip p-value not counted exactly was estimated from: such a
    p-value is never below 1 / (sign_flips + 1)."""

    def diff(self, arm: str, measure: str = PASS_AT_1, baseline: str | None = None) -> PairedDiff | None:
        """The difference of ``arm`` on ``measure`` (against ``baseline`` when given), if computed."""
        return next((d for d in self.diffs if d.arm == arm and d.measure == measure
                     and baseline in (None, d.baseline)), None)

    def flips_of(self, arm: str, baseline: str | None = None) -> tuple[Flip, ...]:
        """The flips of one arm (against ``baseline`` when given)."""
        return tuple(f for f in self.flips if f.arm == arm and baseline in (None, f.baseline))


def task_table(samples: pd.DataFrame) -> pd.DataFrame:
    """Per-task table of one arm's samples (a ``load_samples`` frame of one arm).

    Index ``task_id`` (order of first appearance); columns ``n`` (samples), ``passed``,
    ``infra_error``, ``lenient_passed`` and ``lenient_infra_error`` (the lenient reading is
    executed apart, so its sandbox can fail alone), then ``metric_<name>``: the mean over the
    samples that are not infra errors.
    """
    infra = samples["status"] == Status.INFRA_ERROR
    # task_id stays categorical while grouping (100,000 samples, a few hundred tasks).
    frame = pd.DataFrame({"task_id": samples["task_id"], "passed": samples["status"] == Status.PASSED,
                          "infra_error": infra})
    if "lenient_status" in samples.columns:
        frame["lenient_passed"] = samples["lenient_status"] == Status.PASSED
        frame["lenient_infra_error"] = samples["lenient_status"] == Status.INFRA_ERROR
    grouped = frame.groupby("task_id", sort=False, observed=True)
    out = grouped.sum().astype(int)
    out.insert(0, "n", grouped.size())
    answered = samples[~infra]
    for col in sorted(c for c in samples.columns if c.startswith("metric_")):
        values = pd.to_numeric(answered[col], errors="coerce")
        out[col] = values.groupby(answered["task_id"], observed=True).mean().reindex(out.index)
    out.index = out.index.astype(str)
    out.index.name = "task_id"
    return out


def task_tables(samples: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """``task_table`` of every arm of a samples frame, by arm label (order of appearance)."""
    return {str(label): task_table(group)
            for label, group in samples.groupby("arm", sort=False, observed=True)}


def _indexed(tasks: pd.DataFrame) -> pd.DataFrame:
    return tasks.set_index("task_id") if "task_id" in tasks.columns else tasks


def _counts(tasks: pd.DataFrame, measure: str) -> tuple[pd.Series, pd.Series] | None:
    """(passed, scored) per task for a pass@1 measure; None when the table lacks the reading."""
    prefix = "lenient_" if measure == LENIENT_PASS_AT_1 else ""
    if f"{prefix}passed" not in tasks.columns:
        return None
    scored = tasks["n"] - tasks[f"{prefix}infra_error"]
    return tasks[f"{prefix}passed"], scored


def _values(tasks: pd.DataFrame, measure: str) -> tuple[pd.Series, pd.Series] | None:
    """(per-task value, scored samples) of one measure; NaN where the task has no scored sample."""
    if measure in (PASS_AT_1, LENIENT_PASS_AT_1):
        counts = _counts(tasks, measure)
        if counts is None:
            return None
        passed, scored = counts
        return passed / scored.where(scored > 0), scored
    column = f"metric_{measure}"
    if column not in tasks.columns:
        return None
    return tasks[column].astype(float), tasks["n"] - tasks["infra_error"]


@dataclass(frozen=True)
class _Paired:
    baseline: str
    arm: str
    measure: str
    base: np.ndarray
    cand: np.ndarray
    binary: bool
    noise: float = 0.0
    """pass@1: the standard error sampling alone gives the difference (``sampling_std_error``)."""
    clusters: tuple[str, ...] = ()
    """Each task's problem (``records.problem_of``): the unit the statistics resample."""


def _align(pair: tuple[ArmTasks, ArmTasks], measure: str) -> _Paired | None:
    base_side, arm_side = pair
    base, cand = _values(_indexed(base_side.tasks), measure), _values(_indexed(arm_side.tasks), measure)
    if base is None or cand is None:
        return None
    joined = pd.concat({"base": base[0], "cand": cand[0], "base_n": base[1], "cand_n": cand[1]},
                       axis=1, join="inner").dropna(subset=["base", "cand"])
    if joined.empty:
        return None
    # in task order, whatever order the tables came in: the bootstrap draws tasks by position, and a
    # resumed run's samples.jsonl (or a shuffled one) gave other intervals for the same samples
    joined = joined.loc[sorted(joined.index, key=natural_key)]
    binary = measure in (PASS_AT_1, LENIENT_PASS_AT_1) and bool(
        (joined["base_n"] == 1).all() and (joined["cand_n"] == 1).all())
    noise = sampling_std_error(base_side.tasks, arm_side.tasks) if measure == PASS_AT_1 else 0.0
    return _Paired(base_side.label, arm_side.label, measure, joined["base"].to_numpy(float),
                   joined["cand"].to_numpy(float), binary, noise,
                   tuple(problem_of(str(task_id)) for task_id in joined.index))


def _diff(paired: _Paired, confidence: float, resamples: int, seed: int, flips: int) -> dict:
    result = paired_test(paired.base, paired.cand, resamples, confidence, seed, binary=paired.binary,
                         flips=flips, clusters=paired.clusters)
    # pass@1's interval is never narrower than what sampling alone gives a rerun, as its arm intervals
    # and the gate have it: two arms that agreed on every task read "0.000 [0.000, 0.000]" beside arm
    # intervals of [0.79, 1.00] (a researcher's trial). A similarity has no such floor: a task-level
    # one (a task at +1 and one at -1) dwarfed its spread, no number of samples could narrow it, and
    # it held 0 beside a significant difference (a nightly owner's trial)
    if paired.noise and result["diff"] is not None:
        half = normal_quantile((1.0 + confidence) / 2.0) * paired.noise
        # a difference of pass rates lies in [-1, 1]: the floor added to one near -1 printed "the whole
        # interval [-1.113, -0.887]"
        result["ci_low"] = max(min(result["ci_low"], result["diff"] - half), -1.0)
        result["ci_high"] = min(max(result["ci_high"], result["diff"] + half), 1.0)
    return result | {"std_error": mean_std_error(paired.cand - paired.base, paired.clusters)}


def _scored_counts(tasks: pd.DataFrame, task_id: str) -> tuple[int, int]:
    """(passed, scored) samples of one task: infra errors left out."""
    return int(tasks.at[task_id, "passed"]), int(tasks.at[task_id, "n"] - tasks.at[task_id, "infra_error"])


def task_flips(baseline: ArmTasks, arm: ArmTasks, alpha: float = 0.05) -> tuple[Flip, ...]:
    """Tasks whose pass rate differs between the two sides, with Fisher's exact test of the rates.

    The p-values are Benjamini-Hochberg-adjusted over the pair's tasks scored on both
    sides (unchanged ones count with p = 1); a flip is ``significant`` below ``alpha``:
    among significant flips, at most a share ``alpha`` is expected to be chance.
    Regressions come first, largest drop first, then improvements, largest gain first
    (ties in task order).
    """
    base, cand = _indexed(baseline.tasks), _indexed(arm.tasks)
    shared = sorted((t for t in base.index if t in cand.index), key=natural_key)
    rows = []
    for task_id in shared:
        b_passed, b_n = _scored_counts(base, task_id)
        a_passed, a_n = _scored_counts(cand, task_id)
        if b_n and a_n and b_passed * a_n != a_passed * b_n:
            p_value = fisher_exact(b_passed, b_n, a_passed, a_n)
            rows.append((str(task_id), b_passed, b_n, a_passed, a_n, p_value))
    scored_both = sum(1 for t in shared if _scored_counts(base, t)[1] and _scored_counts(cand, t)[1])
    adjusted = benjamini_hochberg([row[-1] for row in rows], scored_both)
    flips = [Flip(task_id=t, baseline_passed=bp, baseline_n=bn, arm_passed=ap, arm_n=an, p_value=p,
                  arm=arm.label, baseline=baseline.label, p_adjusted=q, significant=q < alpha)
             for (t, bp, bn, ap, an, p), q in zip(rows, adjusted, strict=True)]
    order = {t: i for i, t in enumerate(shared)}
    flips.sort(key=lambda f: (f.change > 0, -abs(f.change), order[f.task_id]))
    return tuple(flips)


def sampling_std_error(baseline: pd.DataFrame, arm: pd.DataFrame) -> float:
    """Standard error of the pass@1 difference that sampling alone produces, on the tasks both scored.

    Each task's rate is a binomial estimate; with both arms at the task's pooled rate p the
    difference varies by p(1-p)(1/n_baseline + 1/n_arm). A comparison of two identical runs
    shows no spread of differences, yet a rerun would: this is the spread to plan with. p is
    ``laplace_rate`` of the pooled counts.
    """
    joined = _scored_on_both(baseline, arm)
    if joined.empty:
        return 0.0
    rate = laplace_rate(joined["bp"] + joined["cp"], joined["bn"] + joined["cn"])
    variance = rate * (1 - rate) * (1 / joined["bn"] + 1 / joined["cn"])
    return float(np.sqrt(variance.sum()) / len(joined))


def sampling_drop_p_value(baseline: pd.DataFrame, arm: pd.DataFrame) -> float:
    """One-sided exact p-value of the arm's pass@1 drop on the tasks both scored, tasks fixed and
    samples independent (``stats.stratified_drop_p_value``): the check a normal interval needs
    where samples are few, since it is too narrow there."""
    joined = _scored_on_both(baseline, arm)
    return stratified_drop_p_value(joined["bp"], joined["bn"], joined["cp"], joined["cn"])


def _scored_on_both(baseline: pd.DataFrame, arm: pd.DataFrame) -> pd.DataFrame:
    """Passed (bp, cp) and scored (bn, cn) samples of the tasks both sides scored."""
    base, cand = _indexed(baseline), _indexed(arm)
    joined = pd.concat({"bp": base["passed"], "bn": base["n"] - base["infra_error"], "cp": cand["passed"],
                        "cn": cand["n"] - cand["infra_error"]}, axis=1, join="inner")
    return joined[(joined["bn"] > 0) & (joined["cn"] > 0)]


def familywise_confidence(confidence: float, comparisons: int) -> float:
    """Bonferroni: the per-interval level that keeps ``comparisons`` intervals jointly at ``confidence``."""
    return 1.0 - (1.0 - confidence) / max(comparisons, 1)


SMALLEST_P_FACTOR = 20
"""The sign-flip test's smallest p-value is at most alpha / (this x the comparisons): below what Holm's
correction needs of the most significant one by a margin."""
MAX_FLIPS = 200_000
"""Most sign flips drawn for one comparison (about a second for 164 tasks)."""


def compare_arms(pairs: Sequence[tuple[ArmTasks, ArmTasks]], measures: Sequence[str] = (PASS_AT_1,), *,
                 confidence: float = 0.95, resamples: int = 1000, seed: int = 0, alpha: float = 0.05,
                 familywise_intervals: bool = False) -> Comparison:
    """Compare each (baseline, arm) pair on each measure, task by task.

    ``measures``: ``pass@1``, ``lenient pass@1`` or similarity metric names; a measure a
    side's table lacks, or one no task has on both sides, is skipped. Holm's correction runs
    over every p-value of the call (all pairs and measures); ``significant`` is the adjusted
    p-value below ``alpha``. With ``familywise_intervals`` every interval is drawn at the
    Bonferroni-adjusted level, so all of them hold together at ``confidence`` (what a gate
    that decides on intervals needs); otherwise each is at ``confidence``.
    """
    aligned = [p for pair in pairs for m in measures if (p := _align(pair, m)) is not None]
    level = familywise_confidence(confidence, len(aligned)) if familywise_intervals else confidence
    # Enough sign flips that Holm's correction can still call a difference on every task
    # significant: with 2,000, the smallest p-value, 1/2001, times 80 comparisons was alpha itself,
    # and one more comparison made a -1.000 difference on every task "not significant".
    sign_flips = min(max(resamples, math.ceil(SMALLEST_P_FACTOR * len(aligned) / alpha)), MAX_FLIPS)
    results = [_diff(p, level, resamples, seed, sign_flips) for p in aligned]
    adjusted = holm([r["p_value"] for r in results])
    diffs = tuple(
        PairedDiff(arm=p.arm, baseline=p.baseline, measure=p.measure, n_tasks=int(r["n_tasks"]),
                   diff=r["diff"], ci_low=r["ci_low"], ci_high=r["ci_high"], p_value=r["p_value"],
                   p_adjusted=q, test=r["test"], significant=q < alpha, confidence=level,
                   std_error=float(r["std_error"]), baseline_mean=float(p.base.mean()),
                   arm_mean=float(p.cand.mean()))
        for p, r, q in zip(aligned, results, adjusted, strict=True))
    flips = tuple(f for base, arm in pairs for f in task_flips(base, arm, alpha))
    return Comparison(diffs, flips, sign_flips)
