"""`evalkit score` on a samples file with a malformed line: the rest is scored and reported, exit 2."""

from __future__ import annotations

import json

import pytest

from evalkit.benchmarks import load_tasks
from evalkit.config import DatasetConfig
from tests.support.cli import run_evalkit


@pytest.mark.slow  # a real `evalkit score` process
def test_malformed_line_exits_2_after_the_report_which_names_it(tmp_path):
    task = load_tasks(DatasetConfig(limit=1))[0]
    samples = tmp_path / "samples.jsonl"
    samples.write_text("\n".join([
        json.dumps({"task_id": task.task_id, "completion": task.reference}),
        "{not json",
        json.dumps({"task_id": task.task_id, "completion": "    return None\n"}),
    ]) + "\n")
    run_dir = tmp_path / "run"
    proc = run_evalkit("score", f"samples={samples}", f"dataset.task_ids=[{task.task_id}]",
                       f"hydra.run.dir={run_dir}", f"executor.cache_dir={tmp_path / 'cache'}",
                       "report.plots=false")
    assert proc.returncode == 2, proc.stderr[-2000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("evalkit: error: 1 malformed line(s)") and f"{samples}:2" in last
    results = json.loads((run_dir / "results.json").read_text())
    assert results["arms"][0]["n_samples"] == 2  # the two good lines were scored
    assert results["samples_file"]["malformed_lines"] == 1
    report = (run_dir / "report.md").read_text()
    assert f"1 malformed line(s) of {samples} were skipped, not scored: {samples}:2:" in report
