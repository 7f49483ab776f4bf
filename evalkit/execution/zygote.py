"""The execution worker: a trusted interpreter that never runs generated code.

Started by LocalExecutor as ``sys.executable -S -s -P -c BOOT`` (BOOT imports this module
and calls ``main`` with the settings JSON in ``sys.argv[1]``) with a minimal environment and
one end of a SOCK_SEQPACKET socket to the harness. It isolates itself once (as root: network,
mount, PID and IPC namespaces, read-only mounts, a pids cgroup), forks the fork server
(spawner.py) before it reads any task, then serves requests: JSON ``{"id", "language",
"limit", "mode", "entry_point", "helpers", "tests"}`` with the program's text as a memory
file (SCM_RIGHTS) in; ``{"id", "status", "detail", "cpu", "verified"}`` out, in the order
programs finish.

Per program on the split path it hands the memory file and one end of a socket to the
fork server, which forks the program's process (its Spawner, in this process, reads the
program's pipes and enforces the backstop), and gives the other end to a test process
(judge.py). On the in-process path (``mode: in_process``, and JavaScript) the Spawner's
report alone decides. outcome.py turns what both said into the verdict.

Several programs are in flight (``max_in_flight``): another starts whenever fewer than two
of those running are runnable (RUNNABLE_PER_WORKER; the others sleep or wait, as their
processes' state in /proc shows), so programs that wait do not hold the core this worker is
for, and the core has work while one program hands over between processes.
"""

from __future__ import annotations

import collections
import contextlib
import functools
import gc
import itertools
import json
import math
import os
import resource
import select
import signal
import socket
import sys
import time

import isolation  # sibling modules: the worker puts this folder on sys.path
import judge
import outcome
import spawner

CONTROL_BUFFER = 1 << 20
RUNNABLE_PER_WORKER = 2
"""Programs a worker keeps runnable at once. One left its core idle about a sixth of the time:
each program's path (fork server, program, test process, worker, harness) passes through
several processes, and while one hands over to the next the core waited (2 cores: 282 against
325 samples/s through LocalExecutor.run, median of 9 passes interleaved by a throwaway script).
CPU limits are per program and the backstop leaves out time spent waiting for a core, so
verdicts do not change. A program counts by its main thread and its test process: one that
computes in other threads or processes while its main thread waits counts as waiting."""
YOUNG_S = 0.004
"""A program this young counts as runnable: most finish sooner, so /proc is rarely read."""
TICK_MAX_S = 0.025
"""While programs wait to start, the running ones are looked at (are they all asleep?) after
YOUNG_S, then at intervals as long as the newest one's age, up to this: most programs finish
(an event, no look needed) before the second look, and one that blocks after running a while
is found within about the time it ran. Looking every 3 ms cost the worker 0.1 to 0.2 ms of
CPU a program on a loaded machine (bench_execution.py --only profile)."""
STACK_MB = 8
"""RLIMIT_STACK of every process: a runaway C recursion ends in SIGSEGV at the same depth on any machine."""
JUDGE_GRACE_S = 2.0
"""How long the test process may outlive the program's process (it only reports by then)."""
ONE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
"""Numerical libraries' thread pools at one thread, in programs and test processes alike: numpy's
OpenBLAS starts a thread a core at import, so on a 64-core machine one program's `import numpy` took
64 of its executor.max_processes and a test process's more than its slot's pids budget allows (an
attacker's reading of pids.max), and sums split over threads may differ in their last bits."""
WARM_UP = """
from typing import List
def f(xs: List[int], k: int = 2) -> list:
    return sorted({x * k for x in xs if x % 2 == 0})
assert f([1, 2, 4]) == [4, 8], f"{f([1, 2, 4])!r}"
"""
"""Run once in each zygote: the first compile in a process builds the compiler's state
(0.8 ms here), which each child would otherwise build again."""


@functools.lru_cache(maxsize=16)
def _limits(cfg_key: str, limit: float, language: str, judge_side: bool = False) -> tuple:
    """(resource, soft, hard) for one process, never above the hard limits the machine allows."""
    cfg = json.loads(cfg_key)
    cpu = max(1, math.ceil(limit))
    mb = 1 << 20
    address_mb = cfg["memory_mb"] + (spawner.runner.NODE_RESERVE_MB if language == "javascript" else 0)
    # hard = soft: SIGXCPU can be ignored, and a child has no timer (ITIMER_PROF is not inherited):
    # with a second's grace, children that ignored it passed at 1.9 s each of a 1 s limit
    wanted = [(resource.RLIMIT_CPU, cpu, cpu), (resource.RLIMIT_AS, address_mb * mb, None),
              (resource.RLIMIT_CORE, 0, None), (resource.RLIMIT_STACK, STACK_MB * mb, None)]
    if not judge_side:
        wanted += [(resource.RLIMIT_NPROC, cfg["max_processes"], None),
                   (resource.RLIMIT_FSIZE, cfg["max_file_mb"] * mb, None),
                   (resource.RLIMIT_NOFILE, cfg["max_open_files"], None)]
    out = []
    for which, soft, wanted_hard in wanted:
        _, old_hard = resource.getrlimit(which)
        hard = soft if wanted_hard is None else wanted_hard
        if old_hard != resource.RLIM_INFINITY:
            hard = min(hard, old_hard)
        out.append((which, min(soft, hard), hard))
    return tuple(out)


class Program:
    """One program the worker has started: what the spawner and the test process said."""

    def __init__(self, request: dict) -> None:
        self.request = request
        self.id = request["id"]
        self.limit = float(request["limit"])
        self.split = request["mode"] in ("split", "live") and request["language"] == "python"
        self.live = self.split and request["mode"] == "live"
        """Objects cross live (runner.TestObject, judge.Remote): the canary found the task needs it."""
        self.admitted = time.monotonic()
        self.pid: int | None = None
        """The program's process, once the spawner started it."""
        self.stat: int | None = None
        """Its /proc/<pid>/stat, open while it is in flight (see ``_runnable``)."""
        self.judge: Judge | None = None
        self.judge_end: socket.socket | None = None
        self.judged: dict | None = None
        """The test process's verdict (split path)."""
        self.judge_exit: int | None = None
        """Set when the test process died before it gave a verdict (its exit code)."""
        self.judge_walled = False
        self.done: dict | None = None
        """The spawner's report on the program's process."""
        self.done_at = 0.0
        """When that report came."""

    @property
    def tested(self) -> bool:
        """The split path's tests are over: a verdict, or the test process died."""
        return self.judged is not None or self.judge_exit is not None


class Judge:
    """A long-lived test process (judge.py) and the program it is testing, if any."""

    def __init__(self, memory_mb: int) -> None:
        self.pid, self.sock = judge.start(memory_mb)
        self.sock.setblocking(False)
        self.pidfd = os.pidfd_open(self.pid)
        self.stat = _open_stat(self.pid)
        self.schedstat = _open_stat(self.pid, "schedstat")
        self.program: Program | None = None
        self.tasks: set[str] = set()


class Worker:
    """The worker's state and event loop (see module docstring)."""

    def __init__(self, cfg: dict, harness: socket.socket, forker: socket.socket,
                 shared_looks: spawner.SharedLooks) -> None:
        self.cfg = cfg
        self.limits_key = json.dumps({k: cfg[k] for k in ("memory_mb", "max_processes", "max_file_mb",
                                                           "max_open_files")})
        self.harness = harness
        self.buffer = bytearray(CONTROL_BUFFER)
        self.backlog: collections.deque[tuple[dict, int]] = collections.deque()
        self.programs: dict[int, Program] = {}
        self.last_admitted = 0.0
        """When the newest program in flight was started (see TICK_MAX_S)."""
        self.tasks: dict[str, dict] = {}
        """Each task's prompt, tests and entry point, sent once by the harness (``define``)."""
        self.poller = select.poll()
        self.poller.register(harness, select.POLLIN)
        self.spawner = spawner.Spawner(cfg, forker, self.poller, self._from_spawner, shared_looks)
        self.judges: dict[int, tuple[Judge, str]] = {}
        """Test processes by the descriptor that speaks for them (socket or pidfd)."""
        for _ in range(cfg["max_in_flight"]):
            self._add_judge()

    def _add_judge(self) -> None:
        new = Judge(self.cfg["judge_memory_mb"])
        for fd, role in ((new.sock.fileno(), "verdict"), (new.pidfd, "pidfd")):
            self.judges[fd] = (new, role)
            self.poller.register(fd, select.POLLIN)

    def serve(self) -> None:
        """Serve the harness until it hangs up (or the fork server dies: the harness restarts us)."""
        while True:
            for fd, _ in self.poller.poll(self._timeout()):
                if fd == self.harness.fileno():
                    if not self._from_harness():
                        self.spawner.close()
                        return
                elif self.spawner.owns(fd):
                    self.spawner.handle(fd)
                elif fd in self.judges:
                    self._from_judge(*self.judges[fd])
            self.spawner.backstop()
            self._admit()
            self._judge_backstop()

    def _timeout(self) -> int:
        backstop = self.spawner.next_check()
        if self.backlog and len(self.programs) < self.cfg["max_in_flight"]:
            age = time.monotonic() - self.last_admitted
            look = max(YOUNG_S - age, min(age, TICK_MAX_S))
            return int(look * 1000) + 1 if backstop < 0 else min(int(look * 1000) + 1, backstop)
        if any(p.judge is not None and p.done is not None for p in self.programs.values()):
            return 100 if backstop < 0 else min(100, backstop)
        return backstop

    def _from_harness(self) -> bool:
        message, fds = isolation.receive(self.harness, self.buffer, 1)
        if not message:
            return False
        request = json.loads(message)
        if "define" in request:
            self.tasks[request["define"]] = request
            return True
        if request["language"] not in ("python", "javascript") or (
                request["language"] == "javascript" and not self.cfg.get("node")):
            for fd in fds:
                os.close(fd)
            why = ("node is not installed" if request["language"] == "javascript"
                   else f"no runner for language {request['language']!r}")
            self._reply(request["id"], "infra_error", why, 0.0, False)
            return True
        self.backlog.append((request, fds[0]))
        return True

    def _admit(self) -> None:
        while self.backlog and len(self.programs) < self.cfg["max_in_flight"] and not self._busy():
            request, code_fd = self.backlog.popleft()
            self.last_admitted = time.monotonic()
            try:
                self._start(request, code_fd)
            except Exception as exc:  # noqa: BLE001 - our failure: an infra_error, the worker goes on
                self._reply(request["id"], "infra_error", f"could not start: {type(exc).__name__}: {exc}",
                            0.0, False)
            finally:
                os.close(code_fd)

    def _busy(self) -> bool:
        """Whether RUNNABLE_PER_WORKER programs in flight are runnable (young, or their
        processes in state R or D)."""
        now = time.monotonic()
        runnable = 0
        for program in self.programs.values():
            if now - program.admitted < YOUNG_S or program.pid is None:
                runnable += 1
            else:
                tester = program.judge.stat if program.judge and not program.tested else None
                runnable += _runnable(program.stat) or _runnable(tester)
            if runnable >= RUNNABLE_PER_WORKER:
                return True
        return False

    def _start(self, request: dict, code_fd: int) -> None:
        program = Program(request)
        fds = [code_fd]
        program_end = None
        if program.split:
            judge_end, program_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            judge_end.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
            program.judge_end = judge_end
            fds.append(program_end.fileno())
        start = {"id": program.id, "language": request["language"], "limit": program.limit,
                 "mode": ("live" if program.live else "split") if program.split else "in_process",
                 "limits": _limits(self.limits_key, program.limit, request["language"]),
                 "entry_point": self.tasks[request["task"]]["entry_point"] if program.split else "",
                 "wall_factor": self.cfg["wall_factor"]}
        self.programs[program.id] = program
        try:
            self.spawner.start(start, fds)
        finally:
            if program_end is not None:
                program_end.close()

    def _from_spawner(self, report: dict) -> None:
        """What the Spawner says of a program: ``started`` (its pid) or ``done``."""
        if "started" in report:
            program = self.programs[report["started"]]
            program.pid = report["pid"]
            program.stat = _open_stat(program.pid)
            if program.split:
                self._start_tests(program)
            return
        program = self.programs[report["done"]]
        program.done, program.done_at = report, time.monotonic()
        if program.judge_end is not None:  # the program never started: no tests either
            program.judge_end.close()
            program.judge_end = None
            program.judge_exit = 0
        self._complete(program)

    def _start_tests(self, program: Program) -> None:
        tester = next(j for j, role in self.judges.values() if role == "verdict" and j.program is None)
        key = program.request["task"]
        job = {"pid": program.pid, "task": key, "limit": program.limit, "live": program.live}
        if key not in tester.tasks:  # each test process keeps the tasks it was sent
            job["define"] = self.tasks[key]
            tester.tasks.add(key)
        try:
            socket.send_fds(tester.sock, [json.dumps(job).encode()], [program.judge_end.fileno()])
        finally:
            program.judge_end.close()
            program.judge_end = None
        tester.program = program
        program.judge = tester
        self.spawner.tested_by(program.id, tester.pid, _tester_delay(tester.schedstat))

    def _from_judge(self, tester: Judge, role: str) -> None:
        """A verdict on the test process's socket, or (its pidfd) its death. An event may be
        stale (a descriptor number reused by a new test process in this round): the socket is
        non-blocking and the wait does not block, so a stale one does nothing."""
        program = tester.program
        if role == "verdict":
            try:
                message = tester.sock.recv(1 << 16)
            except BlockingIOError:
                return
            if message and program is not None:
                try:
                    program.judged = json.loads(message)
                except ValueError:  # our side's fault, this program's alone: never the worker's end
                    program.judged = {"status": "infra_error", "type": "",
                                      "message": "the test process's verdict could not be read"}
                tester.program = None
                self._complete(program)
            return  # an empty read is its death, which the pidfd reports
        pid, status, _ = os.wait4(tester.pid, os.WNOHANG)
        if pid == 0:
            return
        # The test process died: replace it; its program, if any, has no verdict.
        for fd in (tester.sock.fileno(), tester.pidfd):
            self.poller.unregister(fd)
            del self.judges[fd]
        tester.sock.close()
        for fd in (tester.pidfd, tester.stat, tester.schedstat):
            if fd is not None:
                os.close(fd)
        tester.stat = tester.schedstat = None  # their numbers may be reused at once: never read them again
        self._add_judge()
        if program is not None and program.judged is None:
            program.judge_exit = os.waitstatus_to_exitcode(status)
            self._complete(program)

    def _complete(self, program: Program) -> None:
        """Reply once the spawner reported and, on the split path, the tests are over."""
        if program.done is None or (program.split and not program.tested) or program.id not in self.programs:
            return
        del self.programs[program.id]
        if program.stat is not None:
            os.close(program.stat)
            program.stat = None
        done, cpu = program.done, program.done["cpu"]
        if program.split and program.judge is not None:
            cpu += float((program.judged or {}).get("cpu", 0.0))
            status, detail = outcome.split_verdict(done, program.judged, program.judge_exit or 0,
                                                   program.judge_walled, program.limit)
        elif program.split:  # the program's process never started
            status, detail = "infra_error", f"sandbox setup failed: {done['setup']}"
        else:
            status, detail = outcome.in_process_verdict(done, program.limit)
        self._reply(program.id, status, detail, cpu, program.split)

    def _judge_backstop(self) -> None:
        """Kill a test process that outlives its program's process by JUDGE_GRACE_S (stuck in C
        code, or sleeping): the program's verdict is a timeout and a fresh test process comes."""
        now = time.monotonic()
        for program in self.programs.values():
            tester = program.judge
            # Counted from the program's end, not the tests' start: a program killed at the
            # backstop leaves its tests a moment to report before they are killed too.
            if (program.done is not None and tester is not None and not program.tested
                    and not program.judge_walled and now - program.done_at > JUDGE_GRACE_S
                    and now - program.admitted > program.limit * self.cfg["wall_factor"]):
                program.judge_walled = True
                os.kill(tester.pid, signal.SIGKILL)

    def _reply(self, ident: int, status: str, detail: str, cpu: float, verified: bool) -> None:
        self.harness.send(json.dumps({"id": ident, "status": status, "detail": detail[:4000], "cpu": cpu,
                                      "verified": verified}).encode())


def _open_stat(pid: int, name: str = "stat") -> int | None:
    """A descriptor of the process's /proc/<pid>/stat, or another file there (None if it is gone)."""
    try:
        return os.open(f"/proc/{pid}/{name}", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None


def _tester_delay(schedstat: int | None) -> float:
    """Seconds a single-threaded process (a test process) has waited for a core, read again from
    its open schedstat file (opening it for each program cost about 15 us); 0 where unreadable."""
    try:
        return spawner.schedstat_times(os.pread(schedstat, 100, 0))[1] if schedstat is not None else 0.0
    except (OSError, IndexError, ValueError):
        return 0.0


def _runnable(stat: int | None) -> bool:
    """Whether the process is in state R (running or waiting for a core), read again from its open
    stat file. D is not runnable: a parent blocked in vfork until its child execs or exits, or a
    read waiting on a disk, needs no core (two programs blocked in vfork held their worker's two
    runnable places until the backstop, and the correct programs queued behind them waited). Opening
    /proc/<pid>/stat each time cost the worker about 40 us a look (cProfile, thread time),
    and it looks at every program in flight whenever programs wait to start. The descriptor
    stays bound to that process: once it is gone, the read fails (not runnable)."""
    if stat is None:
        return False
    try:
        return os.pread(stat, 512, 0).rpartition(b")")[2][1:2] == b"R"
    except OSError:
        return False


def _isolate(cfg: dict) -> list[str]:
    """Isolate this worker once; returns the layers that held (root: forks into a PID namespace)."""
    cfg["root_tier"] = False
    if os.geteuid() != 0 or cfg["network"] == "none":
        return []
    held = []
    if cfg.get("cgroup"):
        isolation.join_cgroup(cfg["cgroup"])
        held.append("pids-cgroup")
    isolation.unshare(isolation.CLONE_NEWNET | isolation.CLONE_NEWNS | isolation.CLONE_NEWPID
                      | isolation.CLONE_NEWIPC)
    child = os.fork()
    if child == 0:
        isolation.prctl(isolation.PR_SET_PDEATHSIG, signal.SIGKILL)  # nor the outer process
    if child:  # the outer process only waits: PID 1 of the new namespace is the worker
        os.closerange(0, 1 << 16)
        _, status = os.waitpid(child, 0)
        os._exit(os.waitstatus_to_exitcode(status) & 0xFF)
    cfg["workspace"] = isolation.lock_filesystem(cfg["scratch_mb"])
    isolation.mount_private_proc()
    isolation.drop_bounding_set()
    cfg["root_tier"] = True
    return ["netns", "pidns", "ipcns", "ro-fs", *held]


def _join_memory_cgroup(path: str | None) -> list[str]:
    """Join the worker's memory cgroup (workers._make_memory_cgroup), everything it starts with
    it; the layer's name where that held. When the cgroup's memory runs out, the kernel ends a
    program's process first: each takes the highest oom_score_adj as it starts (raising it needs no
    privilege; runner.prepare), and this process, its fork server and its test processes, where it
    may, the lowest."""
    if not path:
        return []
    try:
        isolation.join_cgroup(path)
    except OSError:
        return []
    with contextlib.suppress(OSError):  # lowering it needs CAP_SYS_RESOURCE, which a container may lack
        isolation.set_oom_score_adj(-1000)
    return ["memory-cgroup"]


def _start_fork_server(cfg: dict, harness_fd: int) -> socket.socket:
    """Fork the fork server (spawner.py; before this worker reads any task); returns the socket
    to it. Its hello names the layers that held and the settings its set-up decided."""
    worker_end, spawner_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    pid = os.fork()
    if pid == 0:
        try:
            worker_end.close()
            os.close(harness_fd)
            for fd in ([cfg["looks_fd"]] if cfg.get("looks_fd") is not None else []) + cfg["slot_clocks"]:
                os.close(fd)
            isolation.set_name(b"evalkit-forker")
            layers = _fork_server_setup(cfg)
            spawner_end.send(json.dumps({"layers": layers, "settings": {
                key: cfg[key] for key in ("private_mounts", "uid_base")}}).encode())
            spawner.serve_forks(spawner_end, cfg["slot_joins"], [
                [fd for fd in fds if fd is not None] for fds in itertools.zip_longest(
                    cfg["slot_memory"], cfg["slot_sched"])])
        except BaseException as exc:  # noqa: BLE001 - tell the worker, which tells the harness
            try:
                import traceback  # noqa: PLC0415 - only when failing

                text = "".join(traceback.format_exception(exc))[-2000:]
                spawner_end.send(json.dumps({"failed": text}).encode())
            finally:
                os._exit(1)
        os._exit(0)
    spawner_end.close()
    for fd in cfg["slot_joins"] + cfg["slot_memory"] + cfg["slot_sched"]:  # the fork server's alone
        os.close(fd)
    return worker_end


def _open_slot_clocks(cfg: dict) -> None:
    """Open each program slot's cpuacct cgroup (workers._make_cpu_cgroup) while the mounts are
    writable: ``slot_joins``, its ``cgroup.procs``, for the fork server (each program's process
    writes itself there as it starts, runner.prepare), and ``slot_clocks``, its ``cpuacct.usage``,
    for the backstop (spawner.Spawner); descriptors numbered 100 or above, by slot. Both empty where
    there is no such cgroup: the backstop then estimates what it cannot see."""
    cfg["slot_joins"], cfg["slot_clocks"] = [], []
    if not cfg.get("cpu_cgroup"):
        return
    try:
        for slot in range(cfg["max_in_flight"]):
            folder = f"{cfg['cpu_cgroup']}/slot-{slot}"
            cfg["slot_joins"].append(isolation.move_high(os.open(f"{folder}/cgroup.procs",
                                                                 os.O_WRONLY | os.O_CLOEXEC)))
            cfg["slot_clocks"].append(isolation.move_high(os.open(f"{folder}/cpuacct.usage",
                                                                  os.O_RDONLY | os.O_CLOEXEC)))
    except OSError:
        for fd in cfg["slot_joins"] + cfg["slot_clocks"]:
            os.close(fd)
        cfg["slot_joins"], cfg["slot_clocks"] = [], []


def _open_slot_memory(cfg: dict) -> None:
    """Open each program slot's memory cgroup.procs (workers._make_memory_cgroup) while the mounts
    are writable: ``slot_memory``, by slot, for the fork server (each program's process writes
    itself there as it starts, runner.prepare); empty where there is no such cgroup."""
    cfg["slot_memory"] = _open_procs([f"{cfg['memory_cgroup']}/slot-{slot}" for slot in range(
        cfg["max_in_flight"])] if cfg.get("memory_cgroup") else [])


def _open_slot_sched(cfg: dict) -> None:
    """Open each program slot's ``cpu`` cgroup.procs (workers._make_sched_cgroups): ``slot_sched``, by
    slot, for the fork server, as ``_open_slot_memory``; empty where there are none."""
    cfg["slot_sched"] = _open_procs(cfg.get("sched_cgroups") or [])


def _slot_weights_layer(cfg: dict) -> list[str]:
    """``["cpu-cgroup"]`` where each program slot is a scheduling group of the ``cpu`` controller (its
    own cgroup, or its cpuacct cgroup where the two controllers share a hierarchy), which its
    program's processes join as they start: together they weigh what one session weighs, however
    many sessions they make; else []."""
    return ["cpu-cgroup"] if cfg["slot_sched"] or (cfg["slot_joins"] and cfg.get("cpuacct_schedules")) else []


def _open_procs(folders: list[str]) -> list[int]:
    """Each folder's cgroup.procs, open for writing (numbered 100 or above); [] if one cannot be."""
    opened: list[int] = []
    try:
        for folder in folders:
            opened.append(isolation.move_high(os.open(f"{folder}/cgroup.procs", os.O_WRONLY | os.O_CLOEXEC)))
    except OSError:
        for fd in opened:
            os.close(fd)
        return []
    return opened


def _fork_server_setup(cfg: dict) -> list[str]:
    """The fork server's own isolation and warm state; returns the layers that held."""
    layers = []
    cfg["private_mounts"], cfg["uid_base"] = False, None
    last_uid = cfg["slot_uid_base"] + cfg["max_in_flight"] - 1
    if os.geteuid() == 0 and (cfg["root_tier"] or _can_become(last_uid)):
        # As root, programs run as the slots' uids also where the namespaces did not hold (no
        # CAP_SYS_ADMIN, as in a default Docker container, or executor.network=none): as root
        # they would keep every other capability. Where they cannot, the tier lacks "uid" and the
        # harness warns.
        cfg["uid_base"] = cfg["slot_uid_base"]
        layers.append("uid")
    if cfg["root_tier"]:
        isolation.unshare(isolation.CLONE_NEWNS)
        under_tmp = isolation.minimal_root(cfg["keep"], cfg["workspace"], cfg["hide"])
        isolation.prepare_private_scratch(cfg["scratch_mb"], under_tmp)
        cfg["private_mounts"] = True
        layers += ["minimal-fs", "tmpfs"]
        os.chdir("/tmp")
    isolation.make_subreaper()
    os.environ.clear()  # every program's environment: nothing of the harness's, its scratch as home
    os.environ.update({"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/tmp", "TMPDIR": "/tmp",
                       "LANG": "C.UTF-8", "PYTHONHASHSEED": "0", **ONE_THREAD})
    _preload(cfg.get("preload", ()))
    bpf = cfg.get("seccomp_bpf", {}).get("private_scratch" if cfg["private_mounts"] else "plain")
    if bpf:  # last: the set-up above mounts; every program's process inherits it (isolation.py)
        try:
            isolation.install_seccomp(bytes.fromhex(bpf))
            layers.append("seccomp")
        except OSError as exc:  # the tier names why, and the harness warns
            layers.append(f"seccomp failed: {exc}")
    return layers


def _can_become(uid: int) -> bool:
    """Whether a program could run as ``uid``: a process of ours can drop to it (a user namespace
    that maps too few uids, as rootless containers have, cannot) and then still read the
    interpreter's import path (outside the minimal root, an interpreter under /root is not)."""
    folders = [path for path in sys.path if os.path.isdir(path)]  # as root: the uid may not even see them
    pid = os.fork()
    if pid == 0:
        try:
            isolation.become(uid)
            readable = all(os.access(path, os.R_OK | os.X_OK) for path in folders)
        except OSError:
            readable = False
        os._exit(0 if readable else 1)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0


def _preload(modules) -> None:
    """Import what most programs import, once, so each forked child need not; compile and run
    WARM_UP; seed random and freeze the heap so children start identical and copy few pages."""
    for name in modules:
        try:
            __import__(name)
        except ImportError:
            pass
    exec(compile(WARM_UP, "warm-up", "exec", dont_inherit=True), {})  # noqa: S102 - our own constant
    if "random" in sys.modules:
        sys.modules["random"].seed(0)
    gc.collect()
    gc.freeze()


def main() -> None:
    """Isolate, start the fork server, say hello with the layers that held, then serve."""
    cfg = json.loads(sys.argv[1])
    # Programs import from the harness's path, not from this folder (put first only to import us).
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if p != here]
    sys.path += [p for p in cfg.get("sys_path", ()) if p not in sys.path]
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a program signalling PID 1 must not stop us
    isolation.prctl(isolation.PR_SET_PDEATHSIG, signal.SIGKILL)  # never outlive the harness
    isolation.set_name(b"evalkit-worker")
    harness_fd = cfg["control_fd"]
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    memory_layer = _join_memory_cgroup(cfg.get("memory_cgroup"))
    _open_slot_clocks(cfg)
    _open_slot_memory(cfg)
    _open_slot_sched(cfg)
    try:
        layers = _isolate(cfg)
    except OSError as exc:
        layers = [f"isolation failed: {exc}"]
        cfg["root_tier"] = False
    layers += memory_layer + _slot_weights_layer(cfg)
    isolation.prctl(isolation.PR_SET_DUMPABLE, 0)  # the test processes too: no program may trace them
    forker = _start_fork_server(cfg, harness_fd)
    # Mapped once isolated (that forks into the PID namespace) and the fork server forked: no
    # program's process holds it (spawner.SharedLooks).
    shared_looks = spawner.SharedLooks(cfg.get("looks_fd"), cfg.get("workers", 1), cfg.get("worker_index", 0))
    hello = json.loads(forker.recv(CONTROL_BUFFER) or b'{"failed": "the fork server exited"}')
    harness = socket.socket(fileno=harness_fd)
    if "failed" in hello:
        harness.send(json.dumps({"failed": hello["failed"]}).encode())
        return
    if cfg.get("workspace"):  # the tests' temporary files (the rest of this view is read-only)
        os.environ["TMPDIR"] = cfg["workspace"]
    _preload(cfg.get("judge_preload", ()))
    layers += hello["layers"]
    cfg.update(hello["settings"])
    layers.append("rlimits")
    harness.send(json.dumps({"isolation": "+".join(layers)}).encode())
    try:
        Worker(cfg, harness, forker, shared_looks).serve()
    except BaseException as exc:  # noqa: BLE001 - the harness restarts us; it says why
        import traceback  # noqa: PLC0415 - only when failing

        harness.send(json.dumps({"crashed": "".join(traceback.format_exception(exc))[-3000:]}).encode())
        raise


if __name__ == "__main__":
    main()
