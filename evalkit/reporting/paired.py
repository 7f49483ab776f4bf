"""Arm-versus-baseline comparisons for reports: ``metrics.compare_arms`` on a run's samples.

Arms are paired on the tasks both scored (infra_error samples left out). The
paired differences and per-task flips are those of ``compare_arms`` (Holm over
every comparison of the report); this module only picks the samples a report
shows beside each flipped task and words a flip the same way everywhere.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import pandas as pd

from evalkit.config import ScoringConfig
from evalkit.metrics.compare import (
    LENIENT_PASS_AT_1,
    PASS_AT_1,
    ArmTasks,
    Comparison,
    compare_arms,
    task_tables,
)
from evalkit.records import Flip
from evalkit.reporting.aggregate import metric_names, scored

MAX_FLIPS = 100
"""Flips listed with their answers per arm pair; the rest are only counted (a broken arm flips every task)."""


def compare_to_baseline(samples: pd.DataFrame, baseline: str, scoring: ScoringConfig,
                        alpha: float = 0.05) -> Comparison:
    """Every other arm of ``samples`` against ``baseline``: pass@1, lenient pass@1 (when scored)
    and each similarity metric, in one ``compare_arms`` call."""
    tables = task_tables(samples)
    measures = [PASS_AT_1] + ([LENIENT_PASS_AT_1] if scoring.lenient else []) + metric_names(samples)
    pairs = [(ArmTasks(baseline, tables[baseline]), ArmTasks(arm, table))
             for arm, table in tables.items() if arm != baseline]
    return compare_arms(pairs, measures, confidence=scoring.confidence, resamples=scoring.bootstrap_resamples,
                        seed=scoring.seed, alpha=alpha)


def describe_flip(flip: Flip) -> str:
    """``HumanEval/3 10/10→2/10 (-0.80, p=0.0007*)``: the rates, the change, Fisher's adjusted p
    (``*`` significant); the same words in report.md, report.html, gate.md and junit.xml."""
    star = "*" if flip.significant else ""
    return (f"{flip.task_id} {flip.baseline_passed}/{flip.baseline_n}→{flip.arm_passed}/{flip.arm_n} "
            f"({flip.change:+.2f}, p={flip.p_adjusted:.2g}{star})")


def flip_counts(flips: Sequence[Flip]) -> str:
    """``12 fell (3 significant), 4 rose (0 significant)``."""
    fell = [f for f in flips if f.change < 0]
    rose = [f for f in flips if f.change > 0]
    return (f"{len(fell)} fell ({sum(f.significant for f in fell)} significant), "
            f"{len(rose)} rose ({sum(f.significant for f in rose)} significant)")


def _pick(frame: pd.DataFrame, want_pass: bool) -> Mapping[str, Any] | None:
    """The sample that shows a side of a flip: a passing one where the rate rose, else a failing one."""
    good = scored(frame)
    chosen = good[good["passed"]] if want_pass else good[~good["passed"]]
    chosen = chosen if len(chosen) else frame
    if chosen.empty:
        return None
    row = chosen.sort_values("sample_index").iloc[0]
    return {"sample_index": int(row["sample_index"]), "status": row["status"].value,
            "detail": row["detail"], "completion": row.get("completion"), "raw_output": row.get("raw_output"),
            "passed_samples": int(good["passed"].sum()), "scored_samples": len(good)}


def flip_entries(samples: pd.DataFrame, comparison: Comparison, baseline: str) -> list[dict[str, Any]]:
    """Per arm: its flips against ``baseline`` with the samples a report shows for each.

    Returns ``[{"arm", "baseline", "flips": [Flip...], "regressions": [...], "improvements": [...],
    "truncated"}]``; each listed entry is ``{"task_id", "flip", "baseline", "arm"}`` (the two
    shown samples). The worst ``MAX_FLIPS`` per arm are listed, largest change first.
    """
    out = []
    for arm in dict.fromkeys(str(a) for a in samples["arm"].unique()):
        if arm == baseline:
            continue
        flips = comparison.flips_of(arm, baseline)
        entry: dict[str, Any] = {"arm": arm, "baseline": baseline, "flips": list(flips), "regressions": [],
                                 "improvements": [], "truncated": max(len(flips) - MAX_FLIPS, 0)}
        for flip in sorted(flips, key=lambda f: -abs(f.change))[:MAX_FLIPS]:
            task = samples[samples["task_id"] == flip.task_id]
            fell = flip.change < 0
            entry["regressions" if fell else "improvements"].append({
                "task_id": flip.task_id, "flip": flip,
                "baseline": _pick(task[task["arm"] == baseline], fell),
                "arm": _pick(task[task["arm"] == arm], not fell)})
        for kind in ("regressions", "improvements"):
            entry[kind].sort(key=lambda e: (-abs(e["flip"].change), flips.index(e["flip"])))
        out.append(entry)
    return out
