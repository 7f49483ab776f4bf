"""Arm-versus-arm comparisons for reports: ``metrics.compare_arms`` on a run's samples.

Arms are paired on the tasks both scored (infra_error samples left out). The
paired differences and per-task flips are those of ``compare_arms`` (Holm over
every comparison of the report); this module only picks the samples a report
shows beside each flipped task and words a flip the same way everywhere.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
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
from evalkit.records import Flip, Status, problem_of
from evalkit.reporting.aggregate import metric_names

MAX_FLIPS = 100
"""Flips listed with their answers per arm pair; the rest are only counted (a broken arm flips every task)."""


def compare_pairs(samples: pd.DataFrame, pairs: Sequence[tuple[str, str]], scoring: ScoringConfig,
                  alpha: float = 0.05) -> Comparison:
    """Each (baseline, arm) pair of ``samples``' arms: pass@1, lenient pass@1 (when scored) and each
    similarity metric, in one ``compare_arms`` call (Holm's correction over them all)."""
    tables = task_tables(samples)
    measures = [PASS_AT_1] + ([LENIENT_PASS_AT_1] if scoring.lenient else []) + metric_names(samples)
    return compare_arms([(ArmTasks(base, tables[base]), ArmTasks(arm, tables[arm])) for base, arm in pairs
                         if base in tables and arm in tables],
                        measures, confidence=scoring.confidence, resamples=scoring.bootstrap_resamples,
                        seed=scoring.seed, alpha=alpha)


def describe_flip(flip: Flip) -> str:
    """``HumanEval/3 10/10→2/10 (-0.80, p=0.0007*)``: the rates, the change, Fisher's adjusted p
    (``*`` significant); the same words in report.md, report.html, gate.md and junit.xml."""
    star = "*" if flip.significant else ""
    return (f"{flip.task_id} {flip.baseline_passed}/{flip.baseline_n}→{flip.arm_passed}/{flip.arm_n} "
            f"({flip.change:+.2f}, p={flip.p_adjusted:.2g}{star})")


def flip_counts(flips: Sequence[Flip]) -> str:
    """``fell on 12 tasks (3 significant), rose on 4 (0 significant)``; a direction no task took is
    left out (``rose on 2 tasks (0 significant)``: "fell on 0 tasks" read as a finding); ``unchanged on
    every task`` where none changed (a template change that did nothing is a finding too)."""
    parts = []
    fell, rose = [f for f in flips if f.change < 0], [f for f in flips if f.change > 0]
    for word, moved in (("fell", fell), ("rose", rose)):
        if moved:
            unit = "" if parts else f" task{'' if len(moved) == 1 else 's'}"
            parts.append(f"{word} on {len(moved)}{unit} ({sum(f.significant for f in moved)} significant)")
    return ", ".join(parts) or "unchanged on every task"


def _pick(frame: pd.DataFrame | None, want_pass: bool) -> Mapping[str, Any] | None:
    """The sample that shows a side of a flip: a passing one where the rate rose, else a failing one
    (the lowest sample index; any sample when none fits)."""
    if frame is None or frame.empty:
        return None
    scored_rows = (frame["status"] != Status.INFRA_ERROR).to_numpy(bool)
    passed = frame["passed"].to_numpy(bool)
    fits = scored_rows & (passed if want_pass else ~passed)
    # Plain arrays: pandas' per-call overhead on these few rows cost a report seconds.
    order = np.argsort(frame["sample_index"].to_numpy(), kind="stable")
    index = next((i for i in order if fits[i]), order[0])
    row = frame.iloc[int(index)]
    return {"sample_index": int(row["sample_index"]), "status": row["status"].value,
            "detail": row["detail"], "completion": row.get("completion"), "raw_output": row.get("raw_output"),
            "passed_samples": int((passed & scored_rows).sum()), "scored_samples": int(scored_rows.sum())}


def flip_entries(samples: pd.DataFrame, comparison: Comparison,
                 pairs: Sequence[tuple[str, str]]) -> list[dict[str, Any]]:
    """Per (baseline, arm) pair: the arm's flips against that baseline with the samples a report
    shows for each.

    Returns ``[{"arm", "baseline", "flips": [Flip...], "regressions": [...], "improvements": [...],
    "truncated"}]``; each listed entry is ``{"task_id", "flip", "baseline", "arm"}`` (the two
    shown samples). The worst ``MAX_FLIPS`` per pair are listed, largest change first.
    """
    listed = {(base, arm): sorted(comparison.flips_of(arm, base), key=lambda f: -abs(f.change))[:MAX_FLIPS]
              for base, arm in pairs}
    wanted = {f.task_id for flips in listed.values() for f in flips}
    shown = samples[samples["task_id"].isin(wanted)]
    frames = {(str(arm), str(task)): group
              for (arm, task), group in shown.groupby(["arm", "task_id"], observed=True)}
    out = []
    for (baseline, arm), top in listed.items():
        flips = comparison.flips_of(arm, baseline)
        entry: dict[str, Any] = {"arm": arm, "baseline": baseline, "flips": list(flips), "regressions": [],
                                 "improvements": [], "truncated": max(len(flips) - MAX_FLIPS, 0)}
        for flip in top:
            fell = flip.change < 0
            entry["regressions" if fell else "improvements"].append({
                "task_id": flip.task_id, "flip": flip,
                "baseline": _pick(frames.get((baseline, flip.task_id)), fell),
                "arm": _pick(frames.get((arm, flip.task_id)), not fell)})
        for kind in ("regressions", "improvements"):
            entry[kind].sort(key=lambda e: (-abs(e["flip"].change), flips.index(e["flip"])))
        out.append(entry)
    return out


def problems_note(task_ids: Sequence[str]) -> str | None:
    """Where tasks are holes of fewer problems, a note saying so and what the statistics resample
    (``records.problem_of``): the report said "100 tasks" of two problems' holes, and nothing said
    the holes of one problem are not independent evidence (a researcher's trial)."""
    tasks = set(map(str, task_ids))
    problems = {problem_of(task) for task in tasks}
    if len(problems) == len(tasks):
        return None
    return (f"The {len(tasks):,} tasks are holes of {len(problems):,} problems: intervals and paired tests "
            "resample problems, not holes (the holes of one problem share its code and tests; taken one by "
            "one they gave intervals too narrow for other problems).")
