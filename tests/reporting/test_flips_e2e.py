"""Flips agree with pass@1 in report, compare, gate.md and both junit.xml files, on real demo runs."""

from __future__ import annotations

import json
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from evalkit.results import load_results
from tests.reporting.test_gate_e2e import ORACLE_ONLY, _registry_that_breaks_extraction
from tests.support.cli import run_evalkit

pytestmark = pytest.mark.slow  # real runs and processes: the full suite, not the fast tier


def _run(tmp: Path, name: str, *extra: str) -> Path:
    run_dir = tmp / name
    proc = run_evalkit("run", "dataset.limit=12", "n_samples=6", f"hydra.run.dir={run_dir}",
                       f"store.path={tmp / 'store.sqlite'}", f"executor.cache_dir={tmp / 'cache'}", *extra)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return run_dir


def _fell(flips: list[dict]) -> list[str]:
    return [f["task_id"] for f in flips
            if f["arm_passed"] * f["baseline_n"] < f["baseline_passed"] * f["arm_n"]]


def test_a_worse_arm_flips_agree_with_its_pass_at_1(tmp_path):
    # demo-oracle, then demo-buggy: a worse arm in one run
    run = _run(tmp_path, "demo", "arms=[{label: demo-oracle, model: {name: demo-oracle}}, "
               "{label: demo-buggy, model: {name: demo-buggy}}]")
    results = load_results(run)
    drop = results.arm("demo-buggy").pass_at_k[1].value - results.arm("demo-oracle").pass_at_k[1].value
    assert drop < -0.1
    out = tmp_path / "compare"
    assert run_evalkit("compare", str(run), "-o", str(out)).returncode == 0
    summary = json.loads((out / "comparison.json").read_text())
    pass1 = next(d for d in summary["differences"] if d["measure"] == "pass@1")
    flips = summary["flips"]
    # the per-task changes add up to the pass@1 difference: flips cannot say "nothing changed"
    changes = [f["arm_passed"] / f["arm_n"] - f["baseline_passed"] / f["baseline_n"] for f in flips]
    assert sum(changes) / pass1["n_tasks"] == pytest.approx(pass1["diff"]) == pytest.approx(drop)
    assert _fell(flips) and changes == sorted(changes)  # only falls, largest first
    report = (run / "report.md").read_text()
    assert f"pass rate fell on {len(_fell(flips))} tasks" in report
    significant = sorted(f["task_id"] for f in flips if f["significant"])
    suite = next(s for s in ET.parse(run / "junit.xml").getroot() if "per-task pass rate" in s.get("name"))
    assert sorted(c.get("name") for c in suite if c.find("failure") is not None) == significant
    assert [c.get("name") for c in suite] == _fell(flips)


def test_a_template_regression_fails_each_task_in_gate_and_junit(tmp_path):
    base = _run(tmp_path, "base", ORACLE_ONLY)
    registry = _registry_that_breaks_extraction(tmp_path)
    broken = _run(tmp_path, "broken", ORACLE_ONLY, f"prompt.registry={registry}")
    out = tmp_path / "gate"
    proc = run_evalkit("gate", "--baseline", str(base), "--candidate", str(broken), "-o", str(out))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    cmp_out = tmp_path / "compare"
    assert run_evalkit("compare", str(base), str(broken), "-o", str(cmp_out)).returncode == 0
    summary = json.loads((cmp_out / "comparison.json").read_text())
    significant = [f["task_id"] for f in summary["flips"] if f["significant"]]
    assert significant  # 6/6 -> 0/6 is evidence on its own
    junit = ET.parse(out / "junit.xml").getroot()
    tasks = [c.get("name") for c in junit if c.get("classname", "").endswith(".tasks")]
    assert sorted(tasks) == sorted(significant)
    assert junit.get("failures") == str(1 + len(significant))  # pass@1, then one per task
    gate_md = (out / "gate.md").read_text()
    assert f"pass rate fell ({len(_fell(summary['flips']))}, {len(significant)} significant)" in gate_md
