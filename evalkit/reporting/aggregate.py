"""Per-arm aggregates of a tidy samples frame (``evalkit.results.load_samples``).

An arm's entry is an ``ArmResult``: the ``arms[]`` element of results.json.
infra_error samples (our side failed) are counted in ``verdicts`` but left out
of every pass@k denominator, similarity mean and latency percentile.
"""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from evalkit import metrics
from evalkit.config import ScoringConfig
from evalkit.records import (
    AnsweredBy,
    ArmResult,
    ArmSpec,
    Interval,
    Latency,
    Prices,
    Status,
    Tokens,
    problem_of,
)
from evalkit.results import natural_key

SYNTHETIC_LABEL = "synthetic (demo)"
"""How every report marks an arm whose model is the demo endpoint's."""


def display_label(arm: ArmResult | ArmSpec) -> str:
    """The arm label as reports show it, marking synthetic arms."""
    return f"{arm.arm} [{SYNTHETIC_LABEL}]" if arm.synthetic else arm.arm


def clean(value: Any) -> Any:
    """A JSON-safe number: NaN/inf become None, numpy scalars plain Python."""
    if isinstance(value, (np.floating, float)):
        return _number(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def scored(frame: pd.DataFrame, lenient: bool = False, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """Samples that count towards scores: every reading except infra_error.

    Copies of a 100,000-sample frame are what a report's memory goes on, so the frame itself
    is returned when no sample is left out, and otherwise only ``columns`` (the ones the
    caller reads; all by default) are copied.
    """
    rows = frame["lenient_status" if lenient else "status"] != Status.INFRA_ERROR
    if rows.all():
        return frame
    return frame[rows] if columns is None else frame.loc[rows, list(columns)]


def task_order(task_ids: pd.Series) -> list[str]:
    """Distinct task ids in natural order (HumanEval/2 before HumanEval/10)."""
    return sorted(task_ids.unique(), key=natural_key)


def metric_names(frame: pd.DataFrame) -> list[str]:
    """Similarity metric names present in a samples frame."""
    return [c.removeprefix("metric_") for c in frame.columns if c.startswith("metric_")]


def arm_samples(samples: pd.DataFrame, label: str) -> pd.DataFrame:
    """One arm's samples: the frame itself when it holds no other arm (as `evalkit score` runs
    usually do), since selecting rows copies them."""
    rows = samples["arm"] == label
    return samples if rows.all() else samples[rows]


def arm_labels(frame: pd.DataFrame, specs: Sequence[ArmSpec] = ()) -> list[str]:
    """Arm labels in the configured order, then any others in order of appearance."""
    seen = list(frame["arm"].unique())
    first = [spec.arm for spec in specs if spec.arm in seen]
    return first + [label for label in seen if label not in first]


def _intervals(cells: Mapping[str, Mapping[str, Any]]) -> dict[Any, Interval]:
    """The metrics stage's ``{key: {value, ci_low, ci_high | reason}}`` as records (NaN -> None)."""
    return {key: Interval(value=_number(cell.get("value")), ci_low=_number(cell.get("ci_low")),
                          ci_high=_number(cell.get("ci_high")), reason=str(cell.get("reason", "")))
            for key, cell in cells.items()}


def _number(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) or math.isinf(value) else value


def _pass_at_k(frame: pd.DataFrame, column: str, scoring: ScoringConfig) -> dict[int, Interval]:
    if frame.empty:
        return {k: Interval(None, reason="no scored samples") for k in scoring.k}
    table = frame[["task_id", column]].rename(columns={column: "passed"})
    summary = metrics.pass_at_k_summary(table, ks=list(scoring.k), resamples=scoring.bootstrap_resamples,
                                        confidence=scoring.confidence, seed=scoring.seed)
    return {int(k): interval for k, interval in _intervals(summary).items()}


def _similarity(frame: pd.DataFrame, names: Sequence[str], scoring: ScoringConfig) -> dict[str, Interval]:
    out = {}
    for name in names:
        column = frame[["task_id", f"metric_{name}"]].dropna()
        if column.empty:
            continue
        per_task = column.groupby("task_id", sort=True, observed=True)[f"metric_{name}"].mean()
        out[name] = metrics.mean_ci(per_task.tolist(), resamples=scoring.bootstrap_resamples,
                                    confidence=scoring.confidence, seed=scoring.seed, unit=True,
                                    clusters=[problem_of(str(t)) for t in per_task.index])
    return _intervals(out)


def _percentiles(values: pd.Series) -> Latency:
    values = values.dropna()
    if values.empty:
        return Latency()
    p50, p90, p95, p99 = (round(float(v), 4) for v in np.percentile(values, [50, 90, 95, 99]))
    return Latency(p50=p50, p90=p90, p95=p95, p99=p99)


def _cost(tokens: Tokens, prices: Prices | None) -> float | None:
    if prices is None:
        return None
    return round(tokens.prompt / 1000 * prices.prompt + tokens.completion / 1000 * prices.completion, 6)


def aggregate_arm(spec: ArmSpec, frame: pd.DataFrame, scoring: ScoringConfig) -> ArmResult:
    """The results.json entry of one arm from its identity and its samples."""
    names = metric_names(frame)
    good = scored(frame, columns=["task_id", "passed", "latency_s", *(f"metric_{name}" for name in names)])
    counts = frame["status"].value_counts()
    tokens = Tokens(prompt=int(frame["prompt_tokens"].sum()),
                    completion=int(frame["completion_tokens"].sum()))
    per_task = frame.groupby("task_id", observed=True).size()
    lenient = scored(frame, lenient=True, columns=["task_id", "lenient_passed"])
    return ArmResult(
        arm=spec.arm, model=spec.model, synthetic=spec.synthetic, template=spec.template,
        params=dict(spec.params), prices=spec.prices,
        n_samples=int(per_task.max()) if len(per_task) else 0,  # samples generated per task
        fewest_samples=int(per_task.min()) if len(per_task) else 0,
        n_tasks=int(frame["task_id"].nunique()),
        pass_at_k=_pass_at_k(good, "passed", scoring),
        pass_at_k_lenient=_pass_at_k(lenient, "lenient_passed", scoring) if scoring.lenient else {},
        metrics=_similarity(good, names, scoring),
        verdicts={status: int(counts.get(status, 0)) for status in Status},
        # 0 s is no request (answers scored from a file): n/a, where p50 to p99 read 0.000
        latency_s=_percentiles(good["latency_s"].where(good["latency_s"] > 0)), tokens=tokens,
        cost=_cost(tokens, spec.prices),
        ttft_s=_percentiles(frame["ttft_s"]) if frame["ttft_s"].notna().any() else None,
        unverified=int((~frame["verified"] & (frame["status"] != Status.INFRA_ERROR)).sum()),
        truncated=int((frame["finish_reason"] == "length").sum()),
        cached_samples=int(frame["cached"].sum()), cached_from=spec.cached_from, endpoint=spec.endpoint,
        n_tasks_scored=int(good["task_id"].nunique()), answered_by=_answered_by(frame),
        tasks_sha256=tasks_sha256(frame["task_id"].astype(str).unique()),
        verdicts_sha256=verdicts_sha256(frame))


def verdicts_sha256(frame: pd.DataFrame) -> str:
    """The hash ``ArmResult.verdicts_sha256`` records of one arm's samples (a ``load_samples`` frame)."""
    # as text before sorting: a categorical column sorts in the order its values first appeared
    rows = frame[["task_id", "sample_index", "status", "lenient_status"]].astype(
        {"task_id": str, "sample_index": int, "status": str, "lenient_status": str})
    rows = rows.sort_values(["task_id", "sample_index"])
    lines = (rows["task_id"] + "\t" + rows["sample_index"].astype(str) + "\t" + rows["status"] + "\t"
             + rows["lenient_status"])
    return hashlib.sha256("\n".join(lines).encode("utf-8")).hexdigest()


def tasks_sha256(task_ids: Iterable[str]) -> str:
    """The hash ``ArmResult.tasks_sha256`` records: the ids sorted, one a line."""
    return hashlib.sha256("\n".join(sorted(task_ids)).encode("utf-8")).hexdigest()


def _answered_by(frame: pd.DataFrame) -> tuple[AnsweredBy, ...]:
    """The distinct ``answered_by`` of an arm's samples with their counts, most first."""
    if "answered_by" not in frame:
        return ()
    counts = frame["answered_by"].astype(str).value_counts()
    return tuple(AnsweredBy(json.loads(text), int(n))
                 for text, n in sorted(counts.items(), key=lambda item: (-item[1], item[0])) if text and n)


def aggregate(samples: pd.DataFrame, specs: Sequence[ArmSpec],
              scoring: ScoringConfig) -> tuple[ArmResult, ...]:
    """results.json's ``arms``: one entry per arm with samples, in configured order. An arm
    found only in the samples (e.g. `evalkit report` on an older run) is named by its label."""
    known = {spec.arm: spec for spec in specs}
    return tuple(aggregate_arm(known.get(label) or _spec_from_samples(samples, label),
                               arm_samples(samples, label), scoring)
                 for label in arm_labels(samples, specs))


def _spec_from_samples(samples: pd.DataFrame, label: str) -> ArmSpec:
    first = arm_samples(samples, label).iloc[0]
    return ArmSpec(arm=label, model=str(first["model"]))


def task_metric_means(samples: pd.DataFrame, name: str) -> pd.DataFrame:
    """Tasks x arms: the mean of one similarity metric over each task's scored samples."""
    good = scored(samples, columns=["task_id", "arm", f"metric_{name}"])
    table = good.groupby(["task_id", "arm"], observed=True)[f"metric_{name}"].mean().unstack("arm")
    return table.reindex(index=task_order(samples["task_id"]), columns=arm_labels(samples))


def format_interval(cell: Interval | None, digits: int = 3) -> str:
    """``0.800 [0.550, 0.950]``, or ``n/a (reason)`` for an undefined value."""
    if cell is None or cell.value is None:
        reason = cell.reason if cell is not None else ""
        return f"n/a ({reason})" if reason else "n/a"
    text = f"{cell.value:.{digits}f}"
    if cell.ci_low is not None and cell.ci_high is not None:
        text += f" [{cell.ci_low:.{digits}f}, {cell.ci_high:.{digits}f}]"
    return text


def samples_per_task(arm: ArmResult) -> str:
    """Samples a task: ``10``, or ``2 to 3`` where tasks have different counts (the largest alone
    read as every task's)."""
    fewest = arm.fewest_samples
    return str(arm.n_samples) if fewest is None or fewest >= arm.n_samples else f"{fewest} to {arm.n_samples}"


def tasks_scored(arm: ArmResult) -> str:
    """The tasks an arm's scores are over: ``3 of 10`` where the others had no scored sample (every
    one infra_error). "10" stood beside a pass@1 of 1.000 that covered 3 (a nightly owner's trial)."""
    if arm.n_tasks_scored is not None and arm.n_tasks_scored < arm.n_tasks:
        return f"{arm.n_tasks_scored} of {arm.n_tasks}"
    return str(arm.n_tasks)
