"""The hostile programs through the real `evalkit score` command, as a user would feed them.

The executor tests check each program alone; here all of them go in one samples file
through the whole command, each followed by a correct "victim" sample of its task that must
still pass: each gets its verdict, none of them `passed` or `infra_error` unless it is
correct, the command finishes in bounded time, and nothing outside the sandbox is touched.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from evalkit.benchmarks import load_tasks
from evalkit.config import DatasetConfig, ExecutorConfig
from evalkit.execution import LocalExecutor
from tests.support.cli import REPO, run_evalkit
from tests.support.hostile_programs import HOSTILE, SENTINEL, Listener, containment_problem, render

pytestmark = pytest.mark.slow  # real runs and processes: the full suite, not the fast tier

# A 2 s CPU floor: a growing memory bomb needs ~0.2 s to reach its limit alone, but its page
# faults cost more CPU while the other worker runs a bomb of its own.
CFG = ExecutorConfig(workers=2, timeout_s=2.0, memory_mb=512, max_processes=32, share_identical=False)


def _write_samples(samples: Path, chosen, port: int, victim: Path, outside: Path) -> int:
    """Each hostile completion (``runs`` times), then a correct sample of its task, then a
    malformed line; returns the number of valid lines."""
    references = {t.task_id: t.reference for t in load_tasks(DatasetConfig())}
    lines = 0
    with samples.open("w") as fh:
        for hostile in chosen:
            completion = render(hostile, port, str(victim), str(outside))
            for run in range(hostile.runs):
                row = {"task_id": hostile.task_id, "completion": completion, "arm": hostile.name,
                       "sample_index": run}
                fh.write(json.dumps(row) + "\n")
            # a correct sample right after each attack must still pass
            row = {"task_id": hostile.task_id, "completion": references[hostile.task_id],
                   "arm": f"victim-after-{hostile.name}"}
            fh.write(json.dumps(row) + "\n")
            lines += hostile.runs + 1
        fh.write("{not json\n")  # a malformed line is reported by number; the rest still score
    return lines


def test_hostile_samples_file_scores_with_the_right_verdicts(tmp_path):
    with LocalExecutor(CFG) as ex:
        problem = containment_problem(ex)
    # Without verified containment, the programs that could harm the machine stay out (loudly).
    chosen = [h for h in HOSTILE if not (h.contained and problem)]
    if problem:
        print(f"!!! {len(HOSTILE) - len(chosen)} contained programs NOT RUN: {problem}")
    # Outside the sandbox's private /tmp, so that the programs see these paths (read-only).
    base = REPO / "reports" / f".hostile-score-{os.getpid()}"
    outside = base / "outside"
    outside.mkdir(parents=True)
    victim = base / "victim.txt"
    victim.write_text("keep me")
    listener = Listener()
    samples = tmp_path / "hostile.jsonl"
    lines = _write_samples(samples, chosen, listener.port, victim, outside)
    task_ids = sorted({h.task_id for h in chosen})
    start = time.monotonic()
    try:
        proc = run_evalkit("score", f"samples={samples}", f"dataset.task_ids=[{','.join(task_ids)}]",
                           "executor.share_identical=false", "executor.memory_mb=512",
                           f"executor.timeout_s={CFG.timeout_s}",
                           "executor.max_processes=32", f"hydra.run.dir={tmp_path / 'run'}",
                           f"executor.cache_dir={tmp_path / 'cache'}",
                           env={"EVALKIT_TEST_API_KEY": SENTINEL}, timeout=600)
    finally:
        listener.close()
        victim_text = victim.read_text()
        outside_files = list(outside.iterdir())
        shutil.rmtree(base)
    elapsed = time.monotonic() - start
    assert proc.returncode == 2, proc.stderr[-3000:]  # the malformed line: everything else still scored
    assert f"{samples}:{lines + 1}" in proc.stderr  # the malformed line, by number
    rows = [json.loads(line) for line in (tmp_path / "run" / "samples.jsonl").open()]
    verdicts = {(row["arm"], row["sample_index"]): row["verdict"] for row in rows}
    wrong = {(h.name, run): verdicts.get((h.name, run)) for h in chosen for run in range(h.runs)
             if not h.accepts(verdicts.get((h.name, run), {}).get("status", "missing"))}
    assert wrong == {}
    victims = {h.name: verdicts.get((f"victim-after-{h.name}", 0)) for h in chosen}
    assert {name: v for name, v in victims.items() if not v or v["status"] != "passed"} == {}
    # every Python verdict here was decided outside the program's process
    assert all(v["verified"] for v in verdicts.values())
    host_shm = subprocess.run(["ipcs", "-m"], check=False, capture_output=True, text=True).stdout
    assert "e7a11" not in host_shm
    # Bounded: every program is held to its CPU limit or the wall backstop, two at a time.
    assert elapsed < 60 + lines * CFG.timeout_s * CFG.wall_factor / 2
    assert victim_text == "keep me"
    assert outside_files == []
    assert listener.accepted == 0
    # The program that hunts for the key holds its value in its own source; what it could
    # report back (verdict details with its output) must not.
    assert all(SENTINEL not in v["detail"] for v in verdicts.values())
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert "netns" in results["host"]["isolation"] or problem
    assert Path(tmp_path / "run" / "report.html").is_file()
