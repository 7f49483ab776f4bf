"""The `evalkit` process itself (`python -m evalkit`, the console script): how it ends."""

import contextlib
import json
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from evalkit.benchmarks import load_tasks
from evalkit.config import DatasetConfig
from tests.support.cli import REPO, run_evalkit
from tests.support.fault_server import FaultServer


@pytest.mark.slow
def test_a_command_ends_with_its_output_flushed_its_files_whole_and_exit_handlers_run(tmp_path):
    task = load_tasks(DatasetConfig(limit=1))[0]
    samples = tmp_path / "samples.jsonl"
    samples.write_text(json.dumps({"task_id": task.task_id, "completion": task.reference}) + "\n")
    run_dir, marker = tmp_path / "run", tmp_path / "exit-handler-ran"
    # The console script's function, as the installed `evalkit` calls it, in a process whose
    # exit handler (as Ray's or a user's sitecustomize's would be) must still run.
    script = (f"import atexit, pathlib; atexit.register(pathlib.Path({str(marker)!r}).write_text, 'yes'); "
              "from evalkit.__main__ import console; console()")
    args = ["score", f"samples={samples}", f"dataset.task_ids=[{task.task_id}]", f"hydra.run.dir={run_dir}",
            "report.plots=false"]
    proc = subprocess.run([sys.executable, "-c", script, *args], cwd=REPO, capture_output=True, text=True,
                          timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    # stdout is a pipe here, so block-buffered: its last line is there only if it was flushed
    assert proc.stdout.rstrip().splitlines()[-1] == f"report: {run_dir / 'report.html'}"
    assert json.loads((run_dir / "results.json").read_text())["arms"][0]["n_samples"] == 1
    assert marker.read_text() == "yes"


@pytest.mark.slow
def test_a_reader_that_goes_away_early_neither_fails_the_command_nor_costs_its_results(tmp_path):
    # `evalkit score ... | head -1` where head has already gone: every line to stdout meets a
    # closed pipe (it was a BrokenPipeError traceback and exit 1 after a complete run).
    task = load_tasks(DatasetConfig(limit=1))[0]
    samples = tmp_path / "samples.jsonl"
    samples.write_text(json.dumps({"task_id": task.task_id, "completion": "    return 1 // 0\n"}) + "\n")
    run_dir = tmp_path / "run"
    command = [sys.executable, "-m", "evalkit", "score", f"samples={samples}",
               f"dataset.task_ids=[{task.task_id}]", f"hydra.run.dir={run_dir}", "report.plots=false"]
    proc = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    proc.stdout.close()  # the reader is gone before the first line
    err = proc.stderr.read()
    assert proc.wait(timeout=300) == 0, err[-2000:]
    assert "Traceback" not in err and "BrokenPipe" not in err
    arm = json.loads((run_dir / "results.json").read_text())["arms"][0]
    assert (arm["n_samples"], (run_dir / "report.md").is_file()) == (1, True)


@pytest.mark.slow  # real commands in processes: the full suite, not the fast tier
def test_a_bug_of_evalkit_s_exits_3_not_1_which_is_a_gate_s_fail(tmp_path):
    # An uncaught exception left with Python's 1: in CI, `evalkit gate` crashing read as a regression.
    script = ("import evalkit.reporting.history as history\n"
              "def broken(root):\n    raise ZeroDivisionError('a bug')\n"
              "history.write_history = broken\n"
              "from evalkit.__main__ import console\nconsole()\n")
    proc = subprocess.run([sys.executable, "-c", script, "history", str(tmp_path)], cwd=REPO,
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 3, proc.stderr[-2000:]
    lines = proc.stderr.strip().splitlines()
    assert lines[-2] == "ZeroDivisionError: a bug", lines[-3:]
    assert lines[-1].startswith("evalkit: internal error"), lines[-3:]


@pytest.mark.slow  # real commands in processes: the full suite, not the fast tier
def test_a_failing_command_still_exits_with_its_code_and_one_line():
    proc = run_evalkit("score", "samples=/nonexistent/samples.jsonl", "hydra.run.dir=/nonexistent/run")
    assert proc.returncode == 2
    expected = "evalkit: error: samples file /nonexistent/samples.jsonl does not exist"
    assert proc.stderr.strip().splitlines() == [expected]


@pytest.mark.slow  # real commands in processes: the full suite, not the fast tier
def test_the_suite_s_forked_commands_answer_as_a_new_interpreter_s(tmp_path, monkeypatch):
    # The suite forks its commands from a process that imported evalkit's libraries
    # (tests/support/preloaded.py): what they print, their exit codes, their folder and their
    # environment must be a new interpreter's, or every test that reads them tests something else.
    task = load_tasks(DatasetConfig(limit=1))[0]
    line = {"task_id": task.task_id, "completion": "return"}
    (tmp_path / "samples.jsonl").write_text(json.dumps(line) + "\n")
    commands = [("score", "samples=missing.jsonl"),  # refused: exit 2, one line
                ("score", "samples=samples.jsonl", f"dataset.task_ids=[{task.task_id}]",
                 # a folder relative to its own, named by its environment
                 "hydra.run.dir=${oc.env:EVALKIT_PROBE_DIR}"),
                ("run", "--help")]
    answers = {}
    for how in ("forked", "new"):
        monkeypatch.setenv("EVALKIT_TESTS_NEW_INTERPRETER", "1" if how == "new" else "0")
        answers[how] = [run_evalkit(*args, cwd=tmp_path, env={"EVALKIT_PROBE_DIR": f"run_{how}"})
                        for args in commands]
    assert [a.returncode for a in answers["new"]] == [2, 0, 0]
    for forked, new in zip(answers["forked"], answers["new"], strict=True):
        assert forked.returncode == new.returncode, forked.stderr[-2000:]
        assert forked.stdout.replace("run_forked", "run_new") == new.stdout
        if new.returncode:  # a successful command's progress lines carry its rates
            assert forked.stderr == new.stderr
    assert json.loads((tmp_path / "run_forked" / "results.json").read_text())["arms"][0]["n_samples"] == 1


@pytest.mark.slow  # real commands in processes: the full suite, not the fast tier
def test_a_command_refused_in_a_fresh_folder_leaves_nothing_there(tmp_path):
    # Its run directory went, but the reports/runs/ Hydra made above it in a fresh folder stayed.
    (tmp_path / "mine").mkdir()
    proc = run_evalkit("score", f"samples={tmp_path / 'missing.jsonl'}", cwd=tmp_path)
    assert proc.returncode == 2 and "does not exist" in proc.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["mine"]
    (tmp_path / "reports" / "runs").mkdir(parents=True)  # made by the user: kept
    proc = run_evalkit("score", f"samples={tmp_path / 'missing.jsonl'}", cwd=tmp_path)
    assert proc.returncode == 2 and [p.name for p in (tmp_path / "reports").iterdir()] == ["runs"]
    assert not any((tmp_path / "reports" / "runs").iterdir())


@pytest.mark.slow  # real commands in processes: the full suite, not the fast tier
@pytest.mark.parametrize("after_s", [0.1, 0.25, 0.4, 0.55, 0.7])
def test_ctrl_c_while_it_starts_says_so_in_one_line_and_exits_130(tmp_path, after_s):
    # Counted from the moment the interpreter handles SIGINT: the signal lands in the imports, in
    # Hydra's composition of the config (where omegaconf once turned it into an
    # AttributeError with a traceback), or in the run's first steps, depending on the machine.
    proc = subprocess.Popen([sys.executable, "-m", "evalkit", "run", f"hydra.run.dir={tmp_path / 'run'}"],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # noqa: PLW1509
    _wait_until_it_handles_sigint(proc.pid)  # before, Ctrl-C's default action (a loaded machine's slow start)
    time.sleep(after_s)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err[-2000:]
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith("evalkit: interrupted")


@pytest.mark.slow  # real commands in processes: the full suite, not the fast tier
def test_ctrl_c_before_anything_was_measured_leaves_no_run_directory(tmp_path):
    # It said "samples written so far are kept" (none were) and left .hydra/ and an empty log.
    run_dir = tmp_path / "run"
    # Ctrl-C's default action in the command, even where this test runs with SIGINT ignored (a shell
    # ignores it in the jobs it starts in the background, and children inherit that)
    proc = subprocess.Popen([sys.executable, "-m", "evalkit", "run", f"hydra.run.dir={run_dir}",
                             "dataset.limit=60", "n_samples=4"],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # noqa: PLW1509
    deadline = time.monotonic() + 60
    while not (run_dir / ".hydra").is_dir():  # the run has started: Hydra saved its config
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err[-2000:]
    last = err.strip().splitlines()[-1]
    assert last == ("evalkit: interrupted; nothing was measured yet, and the run directory is as it was "
                    "before"), err
    assert not run_dir.exists()


@pytest.mark.slow  # real commands in processes: the full suite, not the fast tier
@pytest.mark.parametrize("after_s", [0.1, 1.0])
def test_a_command_started_with_ctrl_c_ignored_ignores_it_throughout(tmp_path, after_s):
    # A script's background job: it stopped on Ctrl-C during its imports and ignored it after them.
    proc = subprocess.Popen([sys.executable, "-m", "evalkit", "run", f"hydra.run.dir={tmp_path / 'run'}",
                             "dataset.limit=1", "n_samples=1", "k=[1]", "store.enabled=false"],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))  # noqa: PLW1509
    time.sleep(after_s)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0 and "interrupted" not in err, err[-2000:]
    assert (tmp_path / "run" / "results.json").is_file()


def _wait_until_it_handles_sigint(pid: int, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with open(f"/proc/{pid}/status") as fh:
            caught = next(int(line.split()[1], 16) for line in fh if line.startswith("SigCgt:"))
        if caught & (1 << (signal.SIGINT - 1)):
            return
        time.sleep(0.005)
    raise AssertionError("the interpreter never set its SIGINT handler")


def test_ctrl_c_that_lands_where_python_ignores_exceptions_still_stops_the_command():
    # A weakref callback (or __del__) that is running when Ctrl-C arrives gets the KeyboardInterrupt;
    # Python prints "Exception ignored" there and goes on, and the command used to finish with 0.
    script = """
import time, weakref
from evalkit.__main__ import keep_interrupts
keep_interrupts()
class Thing:
    pass
def callback(ref):
    raise KeyboardInterrupt
thing = Thing()
ref = weakref.ref(thing, callback)
try:
    del thing
    time.sleep(5)  # the command's next step
    print("went on")
except KeyboardInterrupt:
    print("stopped")
"""
    proc = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True,
                          timeout=60, check=False)
    assert proc.stdout.strip() == "stopped", proc.stderr[-2000:]
    assert "Exception ignored" not in proc.stderr


@pytest.mark.slow  # real commands in processes: the full suite, not the fast tier
def test_ctrl_c_while_the_exit_handlers_run_is_not_lost():
    # A joblib sweep's exit handlers take about 1.3 s: Ctrl-C then was noted, never checked, exit 0.
    script = ("import atexit, os, signal, sys, time\n"
              "atexit.register(lambda: (os.kill(os.getpid(), signal.SIGINT), time.sleep(0.1)))\n"
              "sys.argv = ['evalkit', '--help']\n"
              "from evalkit.__main__ import console\nconsole()\n")
    proc = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True,
                          timeout=60, check=False)
    assert proc.returncode == 130, proc.stderr[-2000:]
    assert proc.stderr.strip().splitlines()[-1] == "evalkit: interrupted; samples written so far are kept"


@pytest.mark.slow  # real commands in processes: the full suite, not the fast tier
@pytest.mark.parametrize("ctrl_c", [signal.SIG_DFL, signal.SIG_IGN])
def test_sigterm_ends_a_run_as_ctrl_c_does_keeping_its_samples_and_removing_its_cgroups(tmp_path, ctrl_c):
    # A CI job's timeout or cancel sends SIGTERM: the run said nothing, exit 143, and left its workers'
    # cgroups behind (pids, cpuacct, memory) for every later run to find; also a run started in the
    # background of a script, where Ctrl-C is ignored
    task = load_tasks(DatasetConfig(limit=1))[0]
    samples = tmp_path / "samples.jsonl"
    sleepy = task.reference + "\nimport time\ntime.sleep(0.25)\n"
    samples.write_text("".join(json.dumps({"task_id": task.task_id, "completion": sleepy}) + "\n"
                               for _ in range(40)))
    run_dir = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "evalkit", "score", f"samples={samples}",
                             f"dataset.task_ids=[{task.task_id}]", f"hydra.run.dir={run_dir}",
                             f"executor.cache_dir={tmp_path / 'cache'}", "executor.workers=1",
                             "executor.max_in_flight=1", "executor.share_identical=false",
                             "report.plots=false"],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, ctrl_c))  # noqa: PLW1509
    written = run_dir / "samples.jsonl"
    deadline = time.monotonic() + 120
    while not (written.exists() and written.read_text()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert written.exists() and written.read_text(), "no row was written while the run went on"
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM, err[-2000:]
    assert err.strip().splitlines()[-1] == (
        f"evalkit: interrupted; samples written so far are kept in {run_dir}: start the same command again "
        f"with hydra.run.dir={run_dir} to finish it")
    assert 0 < len(written.read_text().splitlines()) < 40
    left = [path for root in ("pids", "cpuacct", "memory") for path in Path("/sys/fs/cgroup", root).rglob(
        f"evalkit/{proc.pid}-*")]
    assert left == []


@pytest.mark.slow  # real commands in processes: the full suite, not the fast tier
def test_a_run_stopped_after_its_answers_before_its_first_sample_keeps_them_for_the_next_attempt(tmp_path):
    # A nightly owner's trial: SIGTERM once every answer had come but before the first sample was
    # written removed the run's folder ("nothing was measured yet"), and the next attempt, a new run,
    # asked the endpoint for every answer again.
    with FaultServer(models=("m",)) as srv:
        srv.answer_text = "```python\nimport time\ntime.sleep(0.5)\n```"  # each sample takes a while to run
        run_dir = tmp_path / "run"
        command = [sys.executable, "-m", "evalkit", "run", "model=openai_compatible",
                   f"model.base_url={srv.base_url}", "model.name=m", "dataset.limit=4", "n_samples=2",
                   "k=[1]", f"hydra.run.dir={run_dir}", f"store.path={tmp_path / 'store.sqlite'}",
                   f"executor.cache_dir={tmp_path / 'cache'}", "executor.workers=1",
                   "executor.max_in_flight=1", "executor.share_identical=false", "report.plots=false"]
        proc = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        store, deadline = tmp_path / "store.sqlite", time.monotonic() + 120
        def stored() -> int:  # answers in the store: all 8 come long before the first 0.5 s sample ends
            try:
                with contextlib.closing(sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=1)) as db:
                    return db.execute("SELECT COUNT(*) FROM answers").fetchone()[0]
            except sqlite3.Error:  # not made yet
                return 0
        while time.monotonic() < deadline and stored() < 8:
            time.sleep(0.02)
        assert '"answers_stored": true' in (run_dir / "run.json").read_text()
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 128 + signal.SIGTERM, err[-2000:]
        assert not (run_dir / "samples.jsonl").exists() or not (run_dir / "samples.jsonl").read_text()
        assert err.strip().splitlines()[-1] == (
            "evalkit: interrupted; the answers received so far are kept (in the response store, for this "
            f"run) in {run_dir}: start the same command again with hydra.run.dir={run_dir} to finish it")
        asked = len(srv.requests)
        finished = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300, check=False)
        assert finished.returncode == 0, finished.stderr[-2000:]
        assert len(srv.requests) - asked <= 1  # the probe: no answer asked again
    rows = [json.loads(line) for line in (run_dir / "samples.jsonl").read_text().splitlines()]
    assert len(rows) == 8 and all(row["cached"] for row in rows)


@pytest.mark.slow  # real commands in processes: the full suite, not the fast tier
def test_an_interrupted_sweep_names_the_folder_and_the_override_that_finishes_it(tmp_path):
    # A nightly owner's trial: a sweep's SIGTERM said "nothing was measured yet" of 1,080 samples kept,
    # 2 times in 5 (its folder, named by the time, had been composed a second earlier than Hydra named
    # it), and never which hydra.sweep.dir would finish it. Here the name holds microseconds: never
    # the same twice.
    task = load_tasks(DatasetConfig(limit=1))[0]
    samples = tmp_path / "samples.jsonl"
    sleepy = task.reference + "\nimport time\ntime.sleep(0.25)\n"
    samples.write_text("".join(json.dumps({"task_id": task.task_id, "completion": sleepy}) + "\n"
                               for _ in range(40)))
    proc = subprocess.Popen([sys.executable, "-m", "evalkit", "score", "-m", f"samples={samples}",
                             f"dataset.task_ids=[{task.task_id}]",
                             f"hydra.sweep.dir={tmp_path}/sweep-${{now:%H%M%S%f}}",
                             f"executor.cache_dir={tmp_path / 'cache'}", "executor.workers=1",
                             "executor.max_in_flight=1", "executor.share_identical=false,true",
                             "report.plots=false"], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    deadline = time.monotonic() + 120
    def written() -> bool:
        return any(path.read_text() for path in tmp_path.glob("sweep-*/0/samples.jsonl"))
    while not written() and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    (sweep,) = tmp_path.glob("sweep-*")
    assert proc.returncode == 128 + signal.SIGTERM, err[-2000:]
    assert err.strip().splitlines()[-1] == (
        f"evalkit: interrupted; samples written so far are kept in {sweep}: start the same command again "
        f"with hydra.sweep.dir={sweep} to finish it")
    assert (sweep / "0" / "samples.jsonl").read_text()
