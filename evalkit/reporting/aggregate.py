"""Per-arm aggregates of a tidy samples frame (``evalkit.results.load_samples``).

An arm's entry is exactly the ``arms[]`` element of results.json (DESIGN.md).
infra_error samples (our side failed) are counted in ``verdicts`` but left out
of every pass@k denominator, similarity mean and latency percentile.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from evalkit import metrics
from evalkit.config import ScoringConfig
from evalkit.records import Status
from evalkit.results import natural_key

SYNTHETIC_LABEL = "synthetic (demo)"
"""How every report marks an arm whose model is the demo endpoint's."""


def display_label(arm: Mapping[str, Any]) -> str:
    """The arm label as reports show it, marking synthetic arms."""
    label = str(arm["arm"])
    return f"{label} [{SYNTHETIC_LABEL}]" if arm.get("synthetic") else label


def clean(value: Any) -> Any:
    """A JSON-safe number: NaN/inf become None, numpy scalars plain Python."""
    if isinstance(value, (np.floating, float)):
        value = float(value)
        return None if math.isnan(value) or math.isinf(value) else value
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def _clean_tree(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _clean_tree(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean_tree(v) for v in value]
    return clean(value)


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


def arm_labels(frame: pd.DataFrame, arms_meta: Mapping[str, Any] | None = None) -> list[str]:
    """Arm labels in the configured order, then any others in order of appearance."""
    seen = list(frame["arm"].unique())
    first = [label for label in (arms_meta or {}) if label in seen]
    return first + [label for label in seen if label not in first]


def _pass_at_k(frame: pd.DataFrame, column: str, ks: Sequence[int], scoring: ScoringConfig) -> dict:
    if frame.empty:
        return {str(k): {"value": None, "reason": "no scored samples"} for k in ks}
    table = frame[["task_id", column]].rename(columns={column: "passed"})
    return metrics.pass_at_k_summary(table, ks=list(ks), resamples=scoring.bootstrap_resamples,
                                     confidence=scoring.confidence, seed=scoring.seed)


def _similarity(frame: pd.DataFrame, names: Sequence[str], scoring: ScoringConfig) -> dict:
    out = {}
    for name in names:
        column = frame[["task_id", f"metric_{name}"]].dropna()
        if column.empty:
            continue
        per_task = column.groupby("task_id", sort=True, observed=True)[f"metric_{name}"].mean().tolist()
        out[name] = metrics.mean_ci(per_task, resamples=scoring.bootstrap_resamples,
                                    confidence=scoring.confidence, seed=scoring.seed)
    return out


def _percentiles(values: pd.Series) -> dict[str, float | None]:
    values = values.dropna()
    if values.empty:
        return {"p50": None, "p90": None, "p95": None, "p99": None}
    return {f"p{q}": round(float(np.percentile(values, q)), 4) for q in (50, 90, 95, 99)}


def _cost(tokens: Mapping[str, int], prices: Mapping[str, float] | None) -> float | None:
    if not prices:
        return None
    dollars = tokens["prompt"] / 1000 * float(prices.get("prompt") or 0.0)
    dollars += tokens["completion"] / 1000 * float(prices.get("completion") or 0.0)
    return round(dollars, 6)


def aggregate_arm(label: str, frame: pd.DataFrame, meta: Mapping[str, Any],
                  scoring: ScoringConfig) -> dict[str, Any]:
    """The results.json entry of one arm from its samples and its ``arms_meta`` entry."""
    first = frame.iloc[0] if not frame.empty else None
    template = meta.get("template") or {}
    template = {
        "family": template.get("family", first["template_family"] if first is not None else ""),
        "version": template.get("version", first["template_version"] if first is not None else ""),
        "sha256": template.get("sha256", first["template_sha256"] if first is not None else ""),
    }
    names = metric_names(frame)
    good = scored(frame, columns=["task_id", "passed", "latency_s", *(f"metric_{name}" for name in names)])
    counts = frame["status"].value_counts()
    tokens = {"prompt": int(frame["prompt_tokens"].sum()),
              "completion": int(frame["completion_tokens"].sum())}
    per_task = frame.groupby("task_id", observed=True).size()
    entry = {
        "arm": label,
        "model": meta.get("model", first["model"] if first is not None else ""),
        "synthetic": bool(meta.get("synthetic", False)),
        "template": template,
        "params": dict(meta.get("params") or {}),
        # Samples generated per task (the run's n_samples); totals are in verdicts.
        "n_samples": int(per_task.max()) if len(per_task) else 0,
        "n_tasks": int(frame["task_id"].nunique()),
        "pass_at_k": _pass_at_k(good, "passed", scoring.k, scoring),
        "pass_at_k_lenient": (_pass_at_k(scored(frame, lenient=True, columns=["task_id", "lenient_passed"]),
                                         "lenient_passed", scoring.k, scoring)
                              if scoring.lenient else {}),
        "metrics": _similarity(good, names, scoring),
        "verdicts": {status.value: int(counts.get(status, 0)) for status in Status},
        "latency_s": _percentiles(good["latency_s"]),
        "ttft_s": (_percentiles(frame["ttft_s"]) if "ttft_s" in frame and frame["ttft_s"].notna().any()
                   else None),
        "tokens": tokens,
        "cost": _cost(tokens, meta.get("prices")),
    }
    return _clean_tree(entry)


def aggregate(samples: pd.DataFrame, arms_meta: Mapping[str, Mapping[str, Any]],
              scoring: ScoringConfig) -> list[dict[str, Any]]:
    """The results.json ``arms`` list: one entry per arm, in configured order."""
    return [aggregate_arm(label, arm_samples(samples, label), arms_meta.get(label) or {}, scoring)
            for label in arm_labels(samples, arms_meta)]


def task_metric_means(samples: pd.DataFrame, name: str) -> pd.DataFrame:
    """Tasks x arms: the mean of one similarity metric over each task's scored samples."""
    good = scored(samples, columns=["task_id", "arm", f"metric_{name}"])
    table = good.groupby(["task_id", "arm"], observed=True)[f"metric_{name}"].mean().unstack("arm")
    return table.reindex(index=task_order(samples["task_id"]), columns=arm_labels(samples))


def format_interval(cell: Mapping[str, Any] | None, digits: int = 3) -> str:
    """``0.800 [0.550, 0.950]``, or ``n/a (reason)`` for an undefined value."""
    if not cell or cell.get("value") is None:
        reason = (cell or {}).get("reason", "")
        return f"n/a ({reason})" if reason else "n/a"
    text = f"{cell['value']:.{digits}f}"
    if cell.get("ci_low") is not None and cell.get("ci_high") is not None:
        text += f" [{cell['ci_low']:.{digits}f}, {cell['ci_high']:.{digits}f}]"
    return text
