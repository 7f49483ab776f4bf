"""pass@k: the unbiased estimator of Chen et al. (2021), per task and per arm, with intervals.

"Evaluating Large Language Models Trained on Code" (arXiv:2107.03374), section
2.1: with n samples of which c pass, pass@k = 1 - C(n-c, k) / C(n, k), computed
in the numerically stable product form 1 - prod(1 - k / arange(n-c+1, n+1)).
It is undefined when n < k: that k is reported as n/a with a reason, never
extrapolated and never silently dropped.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from statistics import NormalDist

import numpy as np
import pandas as pd

from evalkit.metrics.stats import laplace_rate, mean_ci, paired_difference
from evalkit.records import problem_of


def pass_at_k(n: int, c: int, k: int) -> float | None:
    """Unbiased pass@k for one task with ``n`` samples of which ``c`` passed; None when n < k."""
    if k < 1:
        raise ValueError(f"k must be at least 1, not {k}")
    if not 0 <= c <= n:
        raise ValueError(f"need 0 <= c <= n, got n={n}, c={c}")
    if n < k:
        return None
    if n - c < k:
        return 1.0
    return float(1.0 - np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))


def task_counts(samples: pd.DataFrame) -> pd.DataFrame:
    """Per task: ``n`` samples and ``c`` passes, indexed by task_id (sorted)."""
    missing = {"task_id", "passed"} - set(samples.columns)
    if missing:
        raise ValueError(f"samples lacks column(s) {sorted(missing)}; need task_id and passed")
    grouped = samples.groupby("task_id", sort=True, observed=True)["passed"]
    return pd.DataFrame({"n": grouped.size(), "c": grouped.sum().astype(int)})


def _undefined_reason(counts: pd.DataFrame, k: int) -> str | None:
    """Why pass@k is undefined for this set of tasks (some task has n < k), else None."""
    short = counts[counts["n"] < k]
    if short.empty:
        return None
    first = short.index[0]
    # the short tasks' own counts: "n=2" of tasks of 2 and 3 samples said each had 2 (a new user)
    low, high = int(short["n"].min()), int(short["n"].max())
    n = f"n={low}" if low == high else f"n={low} to {high}"
    return f"{n} < k={k} for {len(short)} of {len(counts)} tasks (e.g. {first})"


def per_task_pass_at_k(samples: pd.DataFrame, k: int) -> pd.Series:
    """pass@k of each task (indexed by task_id); NaN for a task with fewer than k samples.

    ``samples`` has one row per sample with columns ``task_id`` and ``passed`` (bool).
    """
    return _per_task(task_counts(samples), k)


def _per_task(counts: pd.DataFrame, k: int) -> pd.Series:
    """pass@k of each row of ``task_counts`` (NaN where n < k)."""
    values = [pass_at_k(int(n), int(c), k) for n, c in zip(counts["n"], counts["c"], strict=True)]
    return pd.Series([np.nan if v is None else v for v in values], index=counts.index, name=f"pass@{k}")


def pass_at_k_summary(
    samples: pd.DataFrame,
    ks: Iterable[int],
    resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, dict]:
    """pass@k of an arm for each k: the mean of per-task pass@k with a bootstrap interval.

    ``samples`` has one row per sample with columns ``task_id`` and ``passed`` (bool).
    The interval is a percentile bootstrap over tasks (a task is resampled with all its
    samples), seeded. Returns ``{str(k): {"value", "ci_low", "ci_high"}}``, or
    ``{str(k): {"value": None, "reason": "n=5 < k=10 for ..."}}`` when some task has
    fewer than k samples.
    """
    counts = task_counts(samples)
    summary: dict[str, dict] = {}
    for k in ks:
        if counts.empty:
            summary[str(k)] = {"value": None, "reason": "no samples"}
            continue
        reason = _undefined_reason(counts, k)
        if reason:
            summary[str(k)] = {"value": None, "reason": reason}
            continue
        # The same seed for every k resamples the same tasks, so the ks stay comparable.
        summary[str(k)] = mean_ci(_per_task(counts, k).to_numpy(), resamples, confidence, seed, unit=True,
                                  clusters=[problem_of(str(t)) for t in counts.index])
        if k == 1:
            summary[str(k)] = _with_sampling_spread(summary[str(k)], counts, confidence)
    return summary


def _with_sampling_spread(interval: dict, counts: pd.DataFrame, confidence: float) -> dict:
    """pass@1's bootstrap interval widened to at least the normal interval of what sampling alone
    gives each task's rate (``laplace_rate``). Tasks resampled cannot show noise their samples did
    not: 40 tasks of one sample, all passing, gave [1.000, 1.000], and 6 tasks of 7 samples whose
    rates happened to lie close gave [0.452, 0.548] around 0.500."""
    rate = laplace_rate(counts["c"], counts["n"])
    spread = math.sqrt(float((rate * (1 - rate) / counts["n"]).sum())) / len(counts)
    half = NormalDist().inv_cdf(0.5 + confidence / 2) * spread
    value = interval["value"]
    return interval | {"ci_low": max(0.0, min(interval["ci_low"], value - half)),
                       "ci_high": min(1.0, max(interval["ci_high"], value + half))}


def paired_pass_at_k(
    baseline: pd.DataFrame,
    candidate: pd.DataFrame,
    k: int,
    resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict:
    """Difference in pass@k, candidate minus baseline, on the tasks both arms share.

    Per-task pass@k of each arm (samples frames as for ``pass_at_k_summary``), aligned on
    shared task ids, compared with ``paired_difference``. Returns its dict (``diff``,
    ``ci_low``, ``ci_high``, ``p_value``, ``n_tasks``) or ``{"diff": None, "reason"}`` when
    some shared task has fewer than k samples in either arm.
    """
    a_counts, b_counts = task_counts(baseline), task_counts(candidate)
    shared = a_counts.index.intersection(b_counts.index)
    if shared.empty:
        return {"diff": None, "reason": "no shared tasks"}
    for label, counts in (("baseline", a_counts), ("candidate", b_counts)):
        reason = _undefined_reason(counts.loc[shared], k)
        if reason:
            return {"diff": None, "reason": f"{label}: {reason}"}
    a_values = _per_task(a_counts.loc[shared], k).to_numpy()
    b_values = _per_task(b_counts.loc[shared], k).to_numpy()
    return paired_difference(a_values, b_values, resamples, confidence, seed,
                             clusters=[problem_of(str(t)) for t in shared])
