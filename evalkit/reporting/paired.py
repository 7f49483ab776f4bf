"""Arm-versus-baseline comparisons: paired differences, flipped tasks, template diffs.

Arms are paired on the tasks both scored (infra_error-only tasks drop out).
A task counts as passed when any of its scored samples passed, the same rule
as junit.xml; the paired differences use each task's pass rate (its pass@1
estimate) and are Holm-corrected, per measure, over the arms compared.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import pandas as pd

from evalkit import metrics
from evalkit.config import ScoringConfig
from evalkit.reporting.aggregate import clean, metric_names, scored, task_metric_means
from evalkit.results import task_pass_rates

MAX_FLIPS = 100
"""Flips listed per arm pair; the rest are only counted (a broken arm flips every task)."""


def _measures(samples: pd.DataFrame, scoring: ScoringConfig) -> list[tuple[str, pd.DataFrame]]:
    measures = [("pass@1", task_pass_rates(samples, "passed"))]
    if scoring.lenient:
        measures.append(("lenient pass@1", task_pass_rates(samples, "lenient_passed")))
    measures += [(name, task_metric_means(samples, name)) for name in metric_names(samples)]
    return measures


def _one_sample_each(samples: pd.DataFrame, arms: Sequence[str], tasks: Sequence[str]) -> bool:
    good = scored(samples, columns=["arm", "task_id"])
    good = good[good["arm"].isin(arms) & good["task_id"].isin(tasks)]
    return bool(len(good)) and bool((good.groupby(["arm", "task_id"], observed=True).size() == 1).all())


def paired_differences(samples: pd.DataFrame, baseline: str, scoring: ScoringConfig,
                       alpha: float = 0.05) -> list[dict[str, Any]]:
    """One row per (arm, measure): arm minus baseline with interval, p-value and Holm p-value.

    Holm's correction runs per measure over the arms compared with the baseline.

    Intervals come from a paired bootstrap over tasks; the p-value from a paired sign-flip
    test, or McNemar's exact test for pass@1 with one sample per task (``metrics.paired_test``,
    as the gate).
    """
    arms = [a for a in samples["arm"].unique() if a != baseline]
    rows = []
    for measure, table in _measures(samples, scoring):
        if baseline not in table.columns:
            continue
        for arm in arms:
            pair = table[[arm, baseline]].dropna()
            if pair.empty:
                continue
            binary = measure.endswith("pass@1") and _one_sample_each(samples, [arm, baseline],
                                                                      list(pair.index))
            # paired_test(baseline, candidate) returns candidate minus baseline.
            result = metrics.paired_test(pair[baseline].tolist(), pair[arm].tolist(),
                                         resamples=scoring.bootstrap_resamples,
                                         confidence=scoring.confidence, seed=scoring.seed, binary=binary)
            row = {"arm": arm, "baseline": baseline, "measure": measure, "n_tasks": len(pair),
                   "diff": result["diff"], "ci_low": result["ci_low"], "ci_high": result["ci_high"],
                   "p_value": result["p_value"], "test": "sign-flip"}
            if result["test"] == "mcnemar":
                row |= {"test": "McNemar exact", "arm_only": result["b_only"],
                        "baseline_only": result["a_only"]}
            rows.append(row)
    _adjust(rows, alpha)
    return [{k: clean(v) for k, v in row.items()} for row in rows]


def _adjust(rows: list[dict[str, Any]], alpha: float) -> None:
    """Holm-corrects the p-values of each measure over the arms compared with the baseline."""
    for row in rows:
        row["p_holm"], row["significant"] = None, False
    for measure in dict.fromkeys(row["measure"] for row in rows):
        tested = [row for row in rows if row["measure"] == measure and row.get("p_value") is not None]
        adjusted = metrics.holm([row["p_value"] for row in tested])
        for row, p_holm in zip(tested, adjusted, strict=True):
            row["p_holm"] = p_holm
            row["significant"] = bool(p_holm < alpha)


def _pick(frame: pd.DataFrame, want_pass: bool) -> Mapping[str, Any] | None:
    """The sample that shows a task's outcome: a passing one, else the first failing one."""
    good = scored(frame)
    chosen = good[good["passed"]] if want_pass else good[~good["passed"]]
    chosen = chosen if len(chosen) else frame
    if chosen.empty:
        return None
    row = chosen.sort_values("sample_index").iloc[0]
    return {"sample_index": int(row["sample_index"]), "status": row["status"].value,
            "detail": row["detail"], "completion": row.get("completion"), "raw_output": row.get("raw_output"),
            "passed_samples": int(good["passed"].sum()), "scored_samples": len(good)}


def task_any_pass(samples: pd.DataFrame) -> pd.DataFrame:
    """Tasks x arms: True when any scored sample passed, NaN when none was scored."""
    rates = task_pass_rates(samples, "passed")
    return rates.apply(lambda col: col.map(lambda v: v if pd.isna(v) else bool(v > 0)))


def flips(samples: pd.DataFrame, baseline: str, arm: str) -> dict[str, Any]:
    """Tasks whose outcome differs between ``baseline`` and ``arm``, with both sides' code.

    Returns ``{"arm", "baseline", "regressions": [...], "improvements": [...], "truncated"}``;
    a regression passed on the baseline and fails on the arm.
    """
    outcome = task_any_pass(samples)[[baseline, arm]].dropna()
    out: dict[str, Any] = {"arm": arm, "baseline": baseline, "regressions": [], "improvements": [],
                           "truncated": 0}
    for task_id, row in outcome.iterrows():
        if bool(row[baseline]) == bool(row[arm]):
            continue
        kind = "regressions" if row[baseline] else "improvements"
        if len(out["regressions"]) + len(out["improvements"]) >= MAX_FLIPS:
            out["truncated"] += 1
            continue
        task = samples[samples["task_id"] == task_id]
        out[kind].append({
            "task_id": task_id,
            "baseline": _pick(task[task["arm"] == baseline], bool(row[baseline])),
            "arm": _pick(task[task["arm"] == arm], bool(row[arm])),
        })
    return out


def all_flips(samples: pd.DataFrame, baseline: str) -> list[dict[str, Any]]:
    """``flips`` of every other arm against the baseline."""
    return [flips(samples, baseline, arm) for arm in samples["arm"].unique() if arm != baseline]
