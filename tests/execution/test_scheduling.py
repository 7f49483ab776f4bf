"""Several programs in flight per worker (issue 16): programs that wait do not hold a core or the
command's pipeline, busy neighbours do not make a correct program a timeout, and programs in
flight together cannot see or signal one another."""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections import Counter

import pytest

from evalkit.config import ExecutorConfig
from evalkit.execution import LocalExecutor, program_for, workers
from evalkit.records import Status
from tests.execution.test_executor import burner
from tests.support.cli import run_evalkit

pytestmark = pytest.mark.slow  # real processes, sleeps and CPU burners

CFG = ExecutorConfig(workers=1, timeout_s=1.0, wall_factor=3.0, share_identical=False)
SLEEP = "    __import__('time').sleep(0.05)\n"
"""Prepended to HumanEval/0's reference: its tests call the function 7 times, 0.35 s asleep."""


@pytest.mark.alone  # it counts what one worker keeps busy
def test_evalkit_score_keeps_every_slot_of_a_worker_busy_with_sleeping_programs(tmp_path, task_by_id):
    # 96 correct programs that each sleep 0.35 s, on one worker with 16 slots: about 2.1 s asleep
    # per slot. Fed 8 at a time (as `evalkit score` did, whatever executor.max_in_flight said)
    # they would take 96 x 0.35 / 8 = 4.2 s at least.
    task = task_by_id["HumanEval/0"]
    samples = tmp_path / "sleepers.jsonl"
    samples.write_text("".join(json.dumps({"task_id": task.task_id, "completion": SLEEP + task.reference,
                                           "sample_index": i}) + "\n" for i in range(96)))
    proc = run_evalkit("score", f"samples={samples}", "dataset.task_ids=[HumanEval/0]",
                       "executor.workers=1", "executor.max_in_flight=16", "executor.share_identical=false",
                       f"executor.cache_dir={tmp_path / 'cache'}", f"hydra.run.dir={tmp_path / 'run'}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    rows = [json.loads(line) for line in (tmp_path / "run" / "samples.jsonl").read_text().splitlines()]
    assert [r["verdict"]["status"] for r in rows] == ["passed"] * 96
    assert results["timings_s"]["scoring"] < 96 * 0.35 / 8


SPIN = "    _n = 0\n    while __import__('time').process_time() < 0.4:\n        _n += 1\n"
SPIN_IN_A_THREAD = ("    def _spin():\n        _n = 0\n"
                    "        while __import__('time').process_time() < 0.4:\n            _n += 1\n"
                    "    from concurrent.futures import ThreadPoolExecutor\n"
                    "    ThreadPoolExecutor(1).submit(_spin).result()\n")


SPIN_IN_A_CHILD = ("    import os\n"
                   "    if not getattr(has_close_elements, 'spun', False):  # once, as the others\n"
                   "        has_close_elements.spun = True\n        child = os.fork()\n"
                   "        if child == 0:\n            _n = 0\n"
                   "            while __import__('time').process_time() < 0.4:\n                _n += 1\n"
                   "            os._exit(0)\n        os.waitpid(child, 0)\n")


SPIN_IN_TURNS = ("    import os, threading, time\n"
                 "    def _spin():\n        start = time.thread_time()\n"
                 "        while time.thread_time() - start < 0.13:\n            pass\n"
                 "    if not getattr(has_close_elements, 'spun', False):  # once, as the others\n"
                 "        has_close_elements.spun = True\n"
                 "        for turn in range(3):  # threads, then child processes, one after another\n"
                 "            worker = threading.Thread(target=_spin)\n            worker.start()\n"
                 "            worker.join()\n"
                 "            child = os.fork()\n            if child == 0:\n                _spin()\n"
                 "                os._exit(0)\n            os.waitpid(child, 0)\n")


@pytest.mark.alone  # its own burners are the load it measures against
@pytest.mark.parametrize("spin", [SPIN, SPIN_IN_A_THREAD, SPIN_IN_A_CHILD, SPIN_IN_TURNS],
                         ids=["main thread", "worker thread", "child process", "in turn"])
def test_a_correct_program_beside_many_cpu_burners_is_not_a_timeout(task_by_id, spin):
    # 0.4 s of CPU under a 1 s limit, whose 3 s wall-clock backstop it would pass if the time it
    # waits for a core counted: beside 8 burners per core it gets about a ninth of one (3.6 s).
    # In a worker thread or a child process (the main thread waiting on it): only the main
    # thread's wait was left out (a child's CPU even counted against it), and trials made
    # such programs a timeout beside busy neighbours; then threads and children run one after
    # another, each of whose waits the backstop saw only if it looked while it lived.
    task = task_by_id["HumanEval/0"]
    correct = program_for(task, task.prompt + spin + task.reference, "busy", 1.0)
    burners = [burner() for _ in range(8 * (os.cpu_count() or 1))]
    try:
        with LocalExecutor(CFG) as ex:
            start = time.monotonic()
            verdict = ex.submit(correct).result(timeout=120)
            wall = time.monotonic() - start
    finally:
        for proc in burners:
            proc.kill()
            proc.wait()
    assert verdict.status is Status.PASSED, verdict
    assert 0.4 <= verdict.duration_s < 1.0
    assert wall > 1.0  # it did wait for a core (else this test proves nothing)


def test_programs_in_flight_together_cannot_see_or_signal_one_another(task_by_id):
    # A correct program that sleeps (so the worker starts the others beside it), then programs
    # that signal every process they can and count the processes they can see: the sleeper still
    # passes, and each of them sees only itself.
    if os.geteuid() != 0:
        pytest.skip("without root, programs share the harness's uid and PID namespace (README: Layers)")
    task = task_by_id["HumanEval/0"]
    sleeper = program_for(task, task.prompt + "    __import__('time').sleep(0.1)\n" + task.reference,
                          "sleeper", 1.0)
    killer = ("import os, signal\nfor s in (signal.SIGSTOP, signal.SIGTERM, signal.SIGKILL):\n"
              "    try:\n        os.kill(-1, s)\n    except OSError:\n        pass\n")
    looker = ("import os\n"
              "others = [p for p in os.listdir('/proc') if p.isdigit() and int(p) != os.getpid()]\n"
              "assert not others, f'sees {len(others)} other processes'\n")
    attackers = [program_for(task, code + task.prompt + task.reference, f"{name}{i}", 1.0)
                 for i in range(3) for name, code in (("killer", killer), ("looker", looker))]
    with LocalExecutor(dataclasses.replace(CFG, max_in_flight=8)) as ex:
        futures = {p.key: ex.submit(p) for p in (sleeper, *attackers)}
        verdicts = {key: future.result(timeout=60) for key, future in futures.items()}
    assert verdicts["sleeper"].status is Status.PASSED, verdicts["sleeper"]
    assert all(v.status is Status.PASSED for k, v in verdicts.items() if k.startswith("looker")), verdicts


def test_a_program_cannot_end_its_worker_and_take_its_neighbours_verdicts(task_by_id):
    # Each of these once raised in the worker (a load report longer than the worker reads at
    # once; a real-time signal, which Python's signal.Signals cannot name): the worker died, and
    # every program it held, correct ones included, became infra_error, which pass@k leaves out.
    task = task_by_id["HumanEval/0"]
    long_report = ("import json, os, struct\n"
                   "report = json.dumps(['error', 'E' * 500, 'A' * 70000]).encode()\n"
                   "os.write(3, struct.pack('>I', len(report)) + report)\nos._exit(0)\n")
    signalled = "import os, signal\nos.kill(os.getpid(), signal.SIGRTMIN + 6)\n"
    sleeping = task.prompt + "    __import__('time').sleep(0.2)\n" + task.reference  # in flight with them
    programs = [program_for(task, sleeping, f"correct{i}", 1.0) for i in range(4)]
    programs += [program_for(task, code, name, 1.0)
                 for name, code in (("long_report", long_report), ("signalled", signalled))]
    with LocalExecutor(dataclasses.replace(CFG, max_in_flight=8, infra_retries=0)) as ex:
        futures = {p.key: ex.submit(p) for p in programs}
        verdicts = {key: future.result(timeout=60) for key, future in futures.items()}
    assert all(verdicts[f"correct{i}"].status is Status.PASSED for i in range(4)), verdicts
    report, signal = verdicts["long_report"], verdicts["signalled"]
    assert report.status is Status.ERROR and len(report.detail) < 2200, report.detail[:300]
    assert report.detail.startswith("E" * 100 + ": AAAA")
    assert (signal.status, signal.detail) == (Status.ERROR, "killed by SIGRTMIN+6"), signal


def test_a_small_run_is_shared_evenly_among_the_workers(task_by_id):
    # 16 programs on 2 workers of 8 slots: the first worker's thread took 10 (its slots and 2 ahead)
    # and the other 6, so 2 waited for a slot while 2 of the other's stood idle.
    task = task_by_id["HumanEval/0"]
    report_uid = "    import os, time\n    time.sleep(0.3)\n    raise ValueError(f'uid {os.getuid()}')\n"
    cfg = dataclasses.replace(CFG, workers=2, max_in_flight=8)
    with LocalExecutor(cfg) as ex:
        if "uid" not in ex.isolation.split("+"):
            pytest.skip(f"!!! NOT RUN: programs have no slot uids to tell workers apart: {ex.isolation}")
        sources = [task.prompt + report_uid + f"    # {i}\n" for i in range(16)]
        verdicts = dict(ex.run(program_for(task, source, str(i), 1.0) for i, source in enumerate(sources)))
    uids = [int(verdict.detail.rpartition("uid ")[2].split()[0]) for verdict in verdicts.values()]
    per_worker = Counter((uid - workers.SLOT_UID_BASE) // cfg.max_in_flight for uid in uids)
    assert sorted(per_worker.values()) == [8, 8], per_worker
