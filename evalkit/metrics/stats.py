"""Statistics over tasks: bootstrap intervals, paired tests between arms, power.

Tasks are the unit of resampling throughout: a benchmark is a sample of tasks,
and the samples of one task are not independent evidence about the model. Where
tasks come in clusters (``clusters``: the holes of one infilling problem,
``records.problem_of``), the cluster is the unit instead, for the same reason. Two
arms run on the same tasks are paired, so they are compared task by task
(never with an unpaired test). All resampling is seeded and vectorised with
numpy; the same seed gives the same figures.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

_MAX_CELLS = 4_000_000
"""Largest resamples x tasks block drawn at once (bounds memory for large task sets)."""


def _as_values(values: Sequence[float], name: str) -> np.ndarray:
    array = np.asarray(values, dtype=float).reshape(-1)
    if np.isnan(array).any():
        raise ValueError(f"{name} contains NaN; drop or score those tasks first")
    return array


def _check(resamples: int, confidence: float) -> None:
    if resamples < 1:
        raise ValueError(f"resamples must be at least 1, not {resamples}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), not {confidence}")


def cluster_codes(clusters: Sequence[object] | None, n_tasks: int) -> np.ndarray | None:
    """Each task's cluster as a number 0.. (first-seen order), or None where every task is a
    cluster of its own (then every figure is the task-level one, bit for bit) or all are one: one
    cluster resampled is no spread at all (an interval of width 0, p 1.0), and the tasks are what
    there is to go by (the report says they are holes of one problem)."""
    if clusters is None:
        return None
    codes, uniques = pd.factorize(pd.Series(list(clusters), dtype=object), sort=False)
    if len(codes) != n_tasks:
        raise ValueError(f"clusters names {len(codes)} tasks, the values {n_tasks}")
    return None if len(uniques) in (1, n_tasks) else codes.astype(np.int64)


def _cluster_sums(values: np.ndarray, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(each cluster's sum of ``values`` rows, its number of tasks)."""
    size = int(codes.max()) + 1
    counts = np.bincount(codes, minlength=size).astype(float)
    if values.ndim == 1:
        return np.bincount(codes, weights=values, minlength=size), counts
    return np.stack([np.bincount(codes, weights=values[:, j], minlength=size)
                     for j in range(values.shape[1])], axis=1), counts


def bootstrap_means(values: np.ndarray, resamples: int, rng: np.random.Generator,
                    clusters: Sequence[object] | None = None) -> np.ndarray:
    """Means of ``resamples`` resamples (with replacement) of the rows of ``values``.

    ``values`` is one value per task (1-d) or one row of values per task (2-d, e.g. one
    column per arm, so every column sees the same resampled tasks); returns shape
    (resamples,) or (resamples, columns). With ``clusters`` (one name per task), whole
    clusters are resampled and each mean is over the tasks drawn (a cluster bootstrap: the
    1,033 single-line holes of 164 infilling problems, drawn one by one, gave an interval a
    third as wide as the problems' own spread allows, a researcher's trial).
    """
    codes = cluster_codes(clusters, values.shape[0])
    units, counts = (values, None) if codes is None else _cluster_sums(values, codes)
    n_units = units.shape[0]
    chunk = max(1, _MAX_CELLS // max(n_units, 1))
    means = []
    for start in range(0, resamples, chunk):
        # int32 indices: half the memory traffic of the default int64, same draws' distribution.
        index = rng.integers(0, n_units, size=(min(chunk, resamples - start), n_units), dtype=np.int32)
        if counts is None:
            means.append(units[index].mean(axis=1))
        else:  # the mean over the tasks of the clusters drawn
            drawn = counts[index].sum(axis=1)
            means.append(units[index].sum(axis=1) / (drawn if units.ndim == 1 else drawn[:, None]))
    return np.concatenate(means)


def mean_std_error(values: np.ndarray, clusters: Sequence[object] | None = None) -> float:
    """Standard error of the mean of per-task ``values``: their spread over the square root of their
    number, or with ``clusters`` the cluster-robust one (each cluster's summed deviation from the
    mean, as many clusters as there are, not tasks), which the gate's detectable drop plans with."""
    if values.size < 2:
        return 0.0
    codes = cluster_codes(clusters, values.size)
    if codes is None:
        return float(values.std(ddof=1)) / math.sqrt(values.size)
    sums, counts = _cluster_sums(values, codes)
    if sums.size < 2:
        return 0.0
    deviations = sums - counts * values.mean()
    return math.sqrt(float((deviations ** 2).sum()) * sums.size / (sums.size - 1)) / values.size


def _interval(means: np.ndarray, confidence: float) -> tuple[float, float]:
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(means, [tail, 1.0 - tail])
    return float(low), float(high)


def mean_ci(
    values_per_task: Sequence[float], resamples: int = 1000, confidence: float = 0.95, seed: int = 0,
    *, unit: bool = False, clusters: Sequence[object] | None = None,
) -> dict:
    """Mean over tasks with a percentile bootstrap interval over tasks.

    ``unit``: the values lie in [0, 1] (a pass@k, a similarity), and the interval is never narrower
    than the normal interval of their mean with one task at 0 and one at 1 added (Laplace's rule at
    the task level, as ``laplace_rate`` is at the sample level): tasks resampled cannot show a spread
    they do not have, and one task of 20 samples (similarity 0.821 to 0.996) read ``0.942 [0.942,
    0.942]``, five tasks of one pass in two ``exact_match 0.500 [0.500, 0.500]`` and ``pass@2 1.000
    [1.000, 1.000]``. Where the tasks do spread, the bootstrap's interval is about as wide already.
    With ``clusters`` the bootstrap resamples clusters (``bootstrap_means``) and the floor counts
    each cluster's mean as one value.
    Returns ``{"value", "ci_low", "ci_high"}``, or ``{"value": None, "reason"}`` when there
    are no tasks.
    """
    _check(resamples, confidence)
    values = _as_values(values_per_task, "values_per_task")
    if values.size == 0:
        return {"value": None, "reason": "no tasks"}
    means = bootstrap_means(values, resamples, np.random.default_rng(seed), clusters)
    low, high = _interval(means, confidence)
    value = float(values.mean())
    if unit:
        codes = cluster_codes(clusters, values.size)
        units = values if codes is None else np.divide(*_cluster_sums(values, codes))
        padded = np.append(units, [0.0, 1.0])
        half = normal_quantile(0.5 + confidence / 2) * float(padded.std(ddof=1)) / math.sqrt(padded.size)
        low, high = max(0.0, min(low, value - half)), min(1.0, max(high, value + half))
    return {"value": value, "ci_low": low, "ci_high": high}


def laplace_rate(passed: np.ndarray | pd.Series, n: np.ndarray | pd.Series):
    """Each task's pass rate with one pass and one failure added (Laplace's rule of succession): a
    task every sample passed, or failed, is not one that can never go the other way, so the spread
    sampling gives its rate, rate x (1 - rate) / n, is never 0 (one sample per task made every rate
    0 or 1, and every interval and the gate's power claimed certainty)."""
    return (passed + 1) / (n + 2)


EXACT_FLIP_TERMS = 20
"""Up to this many non-zero differences (or clusters) the sign-flip test counts all 2^n patterns
(a million sums at 20, about 10 ms)."""


def sign_flip_p_value(diffs: np.ndarray, resamples: int, rng: np.random.Generator,
                      clusters: Sequence[object] | None = None) -> float:
    """Two-sided p-value of a paired sign-flip (randomisation) test of mean(diffs) = 0.

    Under the null that the two arms are exchangeable within each task, each per-task
    difference is as likely to have either sign; the p-value counts random sign flips
    whose mean is at least as far from 0 as the observed one (Monte Carlo, with the
    observed assignment included, so it is never 0 and the test is calibrated). With
    ``clusters``, the arms are exchangeable within each cluster: a cluster's differences
    flip together. With at most EXACT_FLIP_TERMS differences other than 0, every sign pattern
    is counted and the p-value is exact (drawn, 7 tasks that all fell printed the draws' floor,
    0.0175 for 0.0156, and 20 printed 0.0003 for 1.9e-6: a researcher's trial).
    """
    n_tasks = diffs.size
    codes = cluster_codes(clusters, n_tasks)
    terms = diffs if codes is None else _cluster_sums(diffs, codes)[0]
    observed = abs(diffs.mean())
    # Float sums of the same terms in another order differ in the last bits.
    threshold = observed - 1e-12 * max(1.0, observed)
    extreme = 0
    total = diffs.sum()
    moving = terms[terms != 0]
    if moving.size <= EXACT_FLIP_TERMS:  # the sums of every subset of terms to negate, doubled term by term
        negated = np.zeros(1)
        for term in moving:
            negated = np.concatenate([negated, negated + term])
        sums = total - 2.0 * negated
        return float(np.count_nonzero(np.abs(sums) / n_tasks >= threshold)) / negated.size
    chunk = max(1, _MAX_CELLS // max(terms.size, 1))
    for start in range(0, resamples, chunk):
        # flipped[j] = 1 negates term j: the flipped sum is total - 2 * sum of the negated terms.
        flipped = rng.integers(0, 2, size=(min(chunk, resamples - start), terms.size), dtype=np.int8)
        sums = total - 2.0 * (flipped @ terms)
        extreme += int(np.count_nonzero(np.abs(sums) / n_tasks >= threshold))
    return (1 + extreme) / (1 + resamples)


def paired_difference(
    a: Sequence[float],
    b: Sequence[float],
    resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    flips: int | None = None,
    clusters: Sequence[object] | None = None,
) -> dict:
    """Paired difference of per-task values: ``b - a`` (candidate minus baseline).

    Call it as ``paired_difference(baseline, candidate)``: a positive ``diff`` means the
    candidate scores higher. ``a`` and ``b`` hold one value per task, aligned (same task
    at the same position), e.g. per-task pass@1 or mean similarity.

    Returns ``{"diff", "ci_low", "ci_high", "p_value", "n_tasks"}``: the mean per-task
    difference, its percentile interval from a paired bootstrap over tasks (a task is
    resampled with both arms' values), and a two-sided p-value from a paired sign-flip
    test (see ``sign_flip_p_value``) over ``flips`` random sign flips (``resamples`` by default;
    its smallest p-value is 1 / (flips + 1)). With ``clusters`` (one name per task), both resample
    whole clusters (``bootstrap_means``, ``sign_flip_p_value``). With no tasks, ``{"diff": None,
    "reason"}``.
    """
    _check(resamples, confidence)
    baseline = _as_values(a, "a")
    candidate = _as_values(b, "b")
    if baseline.shape != candidate.shape:
        raise ValueError(f"a has {baseline.size} tasks, b has {candidate.size}; align them on shared tasks")
    if baseline.size == 0:
        return {"diff": None, "reason": "no shared tasks"}
    diffs = candidate - baseline
    rng = np.random.default_rng(seed)
    low, high = _interval(bootstrap_means(diffs, resamples, rng, clusters), confidence)
    p_value = sign_flip_p_value(diffs, flips or resamples, rng, clusters)
    return {
        "diff": float(diffs.mean()),
        "ci_low": low,
        "ci_high": high,
        "p_value": float(p_value),
        "n_tasks": int(diffs.size),
    }


def paired_test(
    a: Sequence[float],
    b: Sequence[float],
    resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    *,
    binary: bool = False,
    flips: int | None = None,
    clusters: Sequence[object] | None = None,
) -> dict:
    """``paired_difference(a, b)`` (``b - a``) with the p-value of the test that fits the data.

    With ``binary`` (one sample per task in each arm, so every value is 0 or 1) the
    p-value is McNemar's exact test, otherwise (or where tasks come in ``clusters``, which
    McNemar's test takes for independent) the sign-flip test's. Reporting and the
    gate both call this, so one pair of arms gets the same figures everywhere.

    Returns ``paired_difference``'s dict plus ``test`` (``"sign-flip"`` or ``"mcnemar"``)
    and, for McNemar, ``a_only`` and ``b_only`` (tasks only that arm passed).
    """
    result = paired_difference(a, b, resamples, confidence, seed, flips, clusters)
    if result["diff"] is None:
        return result
    if not binary or cluster_codes(clusters, result["n_tasks"]) is not None:
        return result | {"test": "sign-flip"}
    exact = mcnemar(np.asarray(a, dtype=float) > 0, np.asarray(b, dtype=float) > 0)
    return result | {"test": "mcnemar", "p_value": exact["p_value"], "a_only": exact["a_only"],
                     "b_only": exact["b_only"]}


def mcnemar(a_pass: Sequence[bool], b_pass: Sequence[bool]) -> dict:
    """McNemar's exact test on paired pass/fail outcomes (one sample per task per arm).

    Returns ``{"a_only", "b_only", "p_value"}``: tasks only ``a`` passed, tasks only ``b``
    passed, and the two-sided exact binomial p-value of the discordant split (scipy.stats.binomtest
    at p=0.5: twice the smaller tail, at most 1); 1.0 when there are no discordant tasks.

    Counted exactly in integers, not imported: every report with two arms runs it, and importing
    scipy.stats cost each `evalkit run` 0.6 s (its 0.27 s a call in the profile was the import).
    """
    first = np.asarray(a_pass, dtype=bool).reshape(-1)
    second = np.asarray(b_pass, dtype=bool).reshape(-1)
    if first.shape != second.shape:
        raise ValueError(f"a_pass has {first.size} tasks but b_pass has {second.size}")
    a_only = int(np.count_nonzero(first & ~second))
    b_only = int(np.count_nonzero(~first & second))
    discordant = a_only + b_only
    tail, term = 0, 1  # the binomial coefficients C(discordant, k), each from the one before (exact)
    for k in range(min(a_only, b_only) + 1):
        tail += term
        term = term * (discordant - k) // (k + 1)
    p_value = min(1.0, 2 * tail / 2 ** discordant) if discordant else 1.0
    return {"a_only": a_only, "b_only": b_only, "p_value": float(p_value)}


def fisher_exact(a_passed: int, a_n: int, b_passed: int, b_n: int) -> float:
    """Two-sided Fisher exact test that two pass rates are equal (``a_passed`` of ``a_n`` vs ``b_passed``
    of ``b_n``): the summed hypergeometric probability of every table with the same margins that is
    no more likely than the observed one (scipy.stats.fisher_exact's definition).

    Written out, not imported: a report tests every task of every arm pair, and importing
    scipy.stats costs more (about 60 MB and seconds on a loaded machine) than the arithmetic.
    """
    passed, total = a_passed + b_passed, a_n + b_n
    low, high = max(0, passed - b_n), min(passed, a_n)

    def log_p(x: int) -> float:  # log hypergeometric probability of x passes among a's a_n samples
        return (_log_comb(a_n, x) + _log_comb(b_n, passed - x)) - _log_comb(total, passed)

    observed = log_p(a_passed)
    p_value = sum(np.exp(log_p(x)) for x in range(low, high + 1) if log_p(x) <= observed + 1e-7)
    return float(min(1.0, p_value))


def stratified_drop_p_value(base_passed: Sequence[int], base_n: Sequence[int], cand_passed: Sequence[int],
                            cand_n: Sequence[int]) -> float:
    """One-sided exact p-value that the candidate passes no less often than the baseline, task by task.

    The tasks are fixed (the benchmark's) and each sample passes or fails on its own: under the
    null each task passes at one rate in both arms, and given a task's total passes the
    candidate's share of them is hypergeometric. The p-value is the chance that the sum of the
    candidate's passes over the tasks is at most the one observed (the exact stratified test, the
    Mantel-Haenszel statistic's exact distribution, by convolving the tasks' hypergeometric laws).
    Exact at any size: a normal interval on 2 tasks x 1 sample, all passing then all failing,
    lies far below 0, yet chance makes that change once in 4 (each task's one pass falls on
    either side with probability 1/2).
    """
    from scipy.stats import hypergeom  # here: only a gate pays the import

    laws, observed = [], 0
    for b_pass, b_n, c_pass, c_n in zip(base_passed, base_n, cand_passed, cand_n, strict=True):
        passes = int(b_pass) + int(c_pass)
        low, high = max(0, passes - int(b_n)), min(passes, int(c_n))
        observed += int(c_pass) - low  # counted from each task's least possible share
        if high > low:  # a task all of whose samples passed, or failed, on both sides says nothing
            laws.append(hypergeom.pmf(np.arange(low, high + 1), int(b_n) + int(c_n), passes, int(c_n)))
    # Convolved in pairs, a tree of them: one task at a time onto the growing sum was quadratic
    # (5,000 tasks x 200 samples took a minute and more).
    while len(laws) > 1:
        laws = [_convolved(laws[i], laws[i + 1]) if i + 1 < len(laws) else laws[i]
                for i in range(0, len(laws), 2)]
    law = laws[0] if laws else np.ones(1)
    return float(min(1.0, max(0.0, law[:observed + 1].sum())))


def _convolved(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    from scipy.signal import fftconvolve  # noqa: PLC0415 - only a gate pays the import

    both = fftconvolve(first, second) if first.size * second.size > 4096 else np.convolve(first, second)
    return np.clip(both, 0.0, None)  # the FFT's rounding leaves tiny negatives


def _log_comb(n: int, k: int) -> float:
    from math import lgamma

    return lgamma(n + 1) - lgamma(k + 1) - lgamma(n - k + 1)


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values, in the order given.

    For one baseline compared with several arms: reject where the adjusted p-value is
    below alpha; the family-wise error rate stays at most alpha.
    """
    raw = np.asarray(p_values, dtype=float).reshape(-1)
    m = raw.size
    if m == 0:
        return []
    order = np.argsort(raw, kind="stable")
    stepped = np.minimum(1.0, (m - np.arange(m)) * raw[order])
    adjusted = np.empty(m)
    adjusted[order] = np.maximum.accumulate(stepped)
    return [float(p) for p in adjusted]


def benjamini_hochberg(p_values: Sequence[float], family_size: int | None = None) -> list[float]:
    """Benjamini-Hochberg adjusted p-values (false discovery rate), in the order given.

    For picking out which of many tasks changed: among those adjusted below alpha, the
    expected share of false discoveries is at most alpha (and with no real change at all,
    the chance of any is at most alpha). ``family_size`` counts tests not listed because
    their p-value is 1 (e.g. tasks whose outcome did not change); default: those given.
    """
    raw = np.asarray(p_values, dtype=float).reshape(-1)
    m = max(family_size or raw.size, raw.size)
    if raw.size == 0:
        return []
    order = np.argsort(raw, kind="stable")
    scaled = raw[order] * m / np.arange(1, raw.size + 1)
    stepped = np.minimum.accumulate(scaled[::-1])[::-1]
    adjusted = np.empty(raw.size)
    adjusted[order] = np.minimum(1.0, stepped)
    return [float(p) for p in adjusted]


def minimum_detectable_effect(
    n_tasks: int,
    n_samples: int,
    base_rate: float,
    alpha: float = 0.05,
    power: float = 0.8,
    *,
    difficulty_sd: float = 0.0,
) -> float:
    """Smallest true difference in pass@1 a paired comparison detects with the given power.

    Normal approximation for the mean over ``n_tasks`` of per-task differences of pass
    rates, each rate estimated from ``n_samples`` independent samples per arm, two-sided
    test at ``alpha``: ``(z[1 - alpha/2] + z[power]) * sqrt(2 * v / (n_samples * n_tasks))``
    with ``v = base_rate * (1 - base_rate) - difficulty_sd**2``.

    Assumptions: both arms pass at about ``base_rate``; the change shifts every task alike
    (no task-by-arm interaction). Tasks differ in difficulty with standard deviation
    ``difficulty_sd`` of their pass rates; pairing cancels that spread and it lowers the
    within-task variance, so the default 0 (all tasks equally hard) gives the largest,
    i.e. most conservative, figure.
    """
    if n_tasks < 1 or n_samples < 1:
        raise ValueError("n_tasks and n_samples must be at least 1")
    if not 0.0 <= base_rate <= 1.0:
        raise ValueError(f"base_rate must be in [0, 1], not {base_rate}")
    if not (0.0 < alpha < 1.0 and 0.0 < power < 1.0):
        raise ValueError("alpha and power must be in (0, 1)")
    variance = base_rate * (1.0 - base_rate) - difficulty_sd**2
    if variance < 0.0:
        raise ValueError(f"difficulty_sd {difficulty_sd} is impossible at base_rate {base_rate}")
    from statistics import NormalDist  # the standard library's is enough for two quantiles

    z = NormalDist().inv_cdf(1.0 - alpha / 2.0) + NormalDist().inv_cdf(power)
    return float(z * np.sqrt(2.0 * variance / (n_samples * n_tasks)))


def planning_rate(rates: Sequence[float]) -> float:
    """The pass@1 rate to plan a paired comparison of arms at (``minimum_detectable_effect``'s
    ``base_rate``): the arms' mean, as both arms pass at about one rate when there is no difference;
    0.5, the largest variance, where that mean is 0 or 1 and the normal approximation has none (every
    difference would read as detectable). The report and the notebooks plan with this one rule."""
    if not rates:
        raise ValueError("planning_rate needs the pass rate of at least one arm")
    mean = float(sum(rates)) / len(rates)
    return mean if 0.0 < mean < 1.0 else 0.5


def normal_quantile(probability: float) -> float:
    """The standard normal distribution's quantile (z) at ``probability``."""
    from statistics import NormalDist  # the standard library's is enough for a few quantiles

    return NormalDist().inv_cdf(probability)



def detectable_drop(std_error: float, max_drop: float, confidence: float, power: float = 0.8) -> float:
    """Smallest true drop a tolerance gate catches with ``power``, at the noise of its own data.

    The gate FAILs when the whole two-sided ``confidence`` interval of the difference lies
    below ``-max_drop``. With the estimate normal around the true difference ``-D`` and
    standard error ``std_error``, that happens with probability ``power`` when
    ``D = max_drop + (z[(1 + confidence) / 2] + z[power]) * std_error``.
    """
    if not (0.0 < confidence < 1.0 and 0.0 < power < 1.0):
        raise ValueError("confidence and power must be in (0, 1)")
    return float(max_drop + (normal_quantile((1.0 + confidence) / 2.0) + normal_quantile(power)) * std_error)


def decisive_samples(diff: float, std_error: float, max_drop: float, confidence: float,
                     n_samples: float) -> int | None:
    """Samples per task (now ``n_samples``) after which the interval would clear ``-max_drop``.

    Assumes the estimate stays at ``diff`` and its standard error shrinks as
    1/sqrt(samples per task), i.e. that sampling noise dominates (tasks are fixed by the
    benchmark); None when ``diff`` sits on the threshold (no number of samples decides), or
    more than MAX_DECISIVE_SAMPLES would.
    """
    margin = abs(diff + max_drop)
    if margin < 1e-9 or n_samples <= 0:  # a difference of exactly -max_drop, give or take rounding
        return None
    half_width = normal_quantile((1.0 + confidence) / 2.0) * std_error
    needed = max(int(np.ceil(n_samples * (half_width / margin) ** 2)), 1)
    return needed if needed <= MAX_DECISIVE_SAMPLES else None


MAX_DECISIVE_SAMPLES = 1_000_000
"""Beyond this many samples per task, ``decisive_samples`` says none decides (the estimate sits on
the threshold): a difference of -0.02 computed as -0.019999999999999997 asked for 5e32."""
