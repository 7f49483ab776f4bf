"""junit.xml: one testcase per task and arm, for CI test views.

A testcase passes when every sample scored passed: a task that passes now and then is a
``<failure>`` naming how many of its samples failed (passing on any sample, an arm of pass@1 0.56
showed 164 tests and no failure). A task whose samples are all infra_error is an ``<error>`` (our
side failed), never a ``<failure>`` of the model.
Each compared pair (an arm against the baseline, a template version against the one before it)
on which some task's pass rate fell has one more suite, a testcase per such task, a ``<failure>``
when it fell significantly (``metrics.compare_arms``'s flips, as report.md and gate.md list them).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path
from typing import Sequence

import pandas as pd

from evalkit.records import ArmResult, Flip, Status
from evalkit.reporting.aggregate import arm_samples, display_label, task_order
from evalkit.reporting.paired import describe_flip

_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff"
                      "\u202a-\u202e\u2066-\u2069]")
"""Characters XML 1.0 has no place for, even escaped: a program's output (a bell, a screen-clearing
escape) in a verdict's detail made junit.xml a file no CI test view could parse; the C1 controls
it allows but discourages (U+009B starts a terminal escape as ESC [ does, for a tool that prints the
file's text); and the bidirectional embeddings, overrides and isolates, with which a program's
output could show a CI view text in another order than it has ("Trojan Source")."""


def xml_ready(root: ET.Element) -> ET.Element:
    """``root`` with every text, tail and attribute value holding only characters XML allows (each
    other one is U+FFFD): the last step before a junit.xml is written."""
    for element in root.iter():
        for name in ("text", "tail"):
            value = getattr(element, name)
            if value:
                setattr(element, name, _NOT_XML.sub("\ufffd", value))
        for key, value in element.attrib.items():
            element.set(key, _NOT_XML.sub("\ufffd", value))
    return root


def _testcase(suite: ET.Element, arm_label: str, task_id: str, rows: Sequence[tuple]) -> str:
    """Adds one testcase from its samples' (sample_index, status, passed, duration_s, detail) rows,
    in sample order; returns its outcome: passed, failure or error."""
    case = ET.SubElement(suite, "testcase", classname=f"evalkit.{arm_label}", name=task_id,
                         time=f"{sum(row[3] for row in rows):.3f}")
    scored = [row for row in rows if row[1] != Status.INFRA_ERROR]
    if scored and all(row[2] for row in scored):
        return "passed"
    counts = Counter(row[1] for row in rows)
    summary = ", ".join(f"{n} {status.value}" for status, n in sorted(counts.items()))
    failing = [row for row in scored if not row[2]]
    index, status, _, _, detail = (failing or rows)[0]
    text = f"sample {index}: {status.value}\n{detail}"
    if not scored:
        ET.SubElement(case, "error", message=f"no sample could be scored ({summary})",
                      type=Status.INFRA_ERROR.value).text = text
        return "error"
    said = ("no sample passed" if len(failing) == len(scored)
            else f"{len(failing)} of {len(scored)} scored samples failed")
    ET.SubElement(case, "failure", message=f"{said} ({summary})", type=status.value).text = text
    return "failure"


def _task_rows(frame: pd.DataFrame) -> dict[str, list[tuple]]:
    """Each task's (sample_index, status, passed, duration_s, detail) rows in sample order: one pass
    over the frame (selecting each task's rows from it took 2 ms a task, a third of a second of
    every HumanEval report)."""
    ordered = frame.sort_values("sample_index", kind="stable")
    rows: dict[str, list[tuple]] = {}
    for task_id, *row in zip(ordered["task_id"], ordered["sample_index"], ordered["status"],
                             ordered["passed"], ordered["duration_s"], ordered["detail"], strict=True):
        rows.setdefault(task_id, []).append(tuple(row))
    return rows


def _regression_suite(root: ET.Element, arm: str, baseline: str, flips: Sequence[Flip]) -> dict[str, int]:
    """A suite of the tasks whose pass rate fell against the baseline; significant falls fail."""
    suite = ET.SubElement(root, "testsuite", name=f"{arm} vs {baseline}: per-task pass rate")
    fell = [f for f in flips if f.change < 0]
    for flip in fell:
        case = ET.SubElement(suite, "testcase", classname=f"evalkit.{arm}.vs.{baseline}", name=flip.task_id)
        if flip.significant:
            ET.SubElement(case, "failure", message=f"pass rate fell: {describe_flip(flip)}",
                          type="task_regression")
        else:
            ET.SubElement(case, "system-out").text = f"fell, not significantly: {describe_flip(flip)}"
    stats = {"tests": len(fell), "failures": sum(f.significant for f in fell), "errors": 0}
    for key, value in (stats | {"skipped": 0}).items():
        suite.set(key, str(value))
    return stats


def write_junit(samples: pd.DataFrame, arms: Sequence[ArmResult], path: Path,
                flips: Sequence[Flip] = ()) -> Path:
    """Writes junit.xml with one testsuite per arm (synthetic arms say so in the suite name), then
    one per arm compared with a baseline (``flips``: ``metrics.compare_arms``'s)."""
    root = ET.Element("testsuites", name="evalkit")
    totals = {"tests": 0, "failures": 0, "errors": 0}
    for arm in arms:
        label = arm.arm
        frame = arm_samples(samples, label)
        suite = ET.SubElement(root, "testsuite", name=display_label(arm))
        counts = {"passed": 0, "failure": 0, "error": 0}
        rows = _task_rows(frame)
        for task_id in task_order(frame["task_id"]):
            counts[_testcase(suite, label, task_id, rows[task_id])] += 1
        stats = {"tests": sum(counts.values()), "failures": counts["failure"], "errors": counts["error"]}
        for key, value in stats.items():
            suite.set(key, str(value))
            totals[key] += value
        suite.set("skipped", "0")
        suite.set("time", f"{frame['duration_s'].sum():.3f}")
    # A suite only where a task's pass rate fell: a pair whose rates only rose wrote an empty suite,
    # which a CI view shows as a suite of no tests (pairs without any change write none either).
    for arm, baseline in dict.fromkeys((f.arm, f.baseline) for f in flips if f.change < 0):
        pair = [f for f in flips if (f.arm, f.baseline) == (arm, baseline)]
        stats = _regression_suite(root, arm, baseline, pair)
        for key, value in stats.items():
            totals[key] += value
    for key, value in totals.items():
        root.set(key, str(value))
    ET.indent(root)
    ET.ElementTree(xml_ready(root)).write(path, encoding="utf-8", xml_declaration=True)
    return path
