"""`evalkit score` on real recorded answers: what its report says about answers made elsewhere."""

import json

import pytest

from tests.support.cli import FIXTURES, run_evalkit

pytestmark = pytest.mark.slow


def test_scoring_recorded_answers_reports_them_as_such(tmp_path):
    lines = (FIXTURES / "recorded" / "gpt-4_humaneval.jsonl").read_text().splitlines()[:6]
    samples = tmp_path / "gpt-4.jsonl"
    samples.write_text("\n".join(lines) + "\n")
    task_ids = ",".join(json.loads(line)["task_id"] for line in lines)
    proc = run_evalkit("score", f"samples={samples}", f"dataset.task_ids=[{task_ids}]", "executor.workers=1",
                       f"hydra.run.dir={tmp_path / 'run'}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    run = tmp_path / "run"
    results = json.loads((run / "results.json").read_text())
    (arm,) = results["arms"]
    assert arm["template"] is None and arm["n_tasks"] == 6
    assert results["samples_file"] == {"path": str(samples), "malformed_lines": 0}
    report = (run / "report.md").read_text()
    assert "template none" not in report and "prompts commit None" not in report
    assert "(scored answers)" in report and f"- **answers**: {samples} (0 malformed lines)" in report
    assert not (run / "latency.png").exists()  # no request was timed: no plot of zeros
    assert (run / "task_outcomes.png").exists()
    # the terminal counts every failure, model failures apart from infra errors
    header = next(line for line in proc.stdout.splitlines() if line.lstrip().startswith("arm"))
    assert header.split()[-3:] == ["failed", "infra", "errors"]
    failed = sum(n for status, n in arm["verdicts"].items() if status not in ("passed", "infra_error"))
    row = next(line for line in proc.stdout.splitlines() if line.lstrip().startswith(arm["arm"]))
    assert row.split()[-2:] == [str(failed), "0"]
