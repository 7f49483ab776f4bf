"""junit.xml: one testcase per task and arm, for CI test views.

A testcase passes when any of its samples passed. A task whose samples are all
infra_error is an ``<error>`` (our side failed), never a ``<failure>`` of the model.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Sequence

import pandas as pd

from evalkit.records import ArmResult, Status
from evalkit.reporting.aggregate import arm_samples, display_label, task_order


def _testcase(suite: ET.Element, arm_label: str, task_id: str, frame: pd.DataFrame) -> str:
    """Adds one testcase; returns its outcome: passed, failure or error."""
    case = ET.SubElement(suite, "testcase", classname=f"evalkit.{arm_label}", name=task_id,
                         time=f"{frame['duration_s'].sum():.3f}")
    scored = frame[frame["status"] != Status.INFRA_ERROR]
    if scored["passed"].any():
        return "passed"
    counts = frame["status"].value_counts()
    # The statuses that occur: a categorical column counts the absent ones too, as 0.
    summary = ", ".join(f"{n} {status.value}" for status, n in sorted(counts.items()) if n)
    first = (scored if len(scored) else frame).sort_values("sample_index").iloc[0]
    text = f"sample {first['sample_index']}: {first['status'].value}\n{first['detail']}"
    if scored.empty:
        ET.SubElement(case, "error", message=f"no sample could be scored ({summary})",
                      type=Status.INFRA_ERROR.value).text = text
        return "error"
    ET.SubElement(case, "failure", message=f"no sample passed ({summary})",
                  type=first["status"].value).text = text
    return "failure"


def write_junit(samples: pd.DataFrame, arms: Sequence[ArmResult], path: Path) -> Path:
    """Writes junit.xml with one testsuite per arm (synthetic arms say so in the suite name)."""
    root = ET.Element("testsuites", name="evalkit")
    totals = {"tests": 0, "failures": 0, "errors": 0}
    for arm in arms:
        label = arm.arm
        frame = arm_samples(samples, label)
        suite = ET.SubElement(root, "testsuite", name=display_label(arm))
        counts = {"passed": 0, "failure": 0, "error": 0}
        for task_id in task_order(frame["task_id"]):
            counts[_testcase(suite, label, task_id, frame[frame["task_id"] == task_id])] += 1
        stats = {"tests": sum(counts.values()), "failures": counts["failure"], "errors": counts["error"]}
        for key, value in stats.items():
            suite.set(key, str(value))
            totals[key] += value
        suite.set("skipped", "0")
        suite.set("time", f"{frame['duration_s'].sum():.3f}")
    for key, value in totals.items():
        root.set(key, str(value))
    ET.indent(root)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
    return path
