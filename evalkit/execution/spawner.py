"""Programs' processes: the clean fork server that forks them, and the worker's view of them.

The **fork server** is forked by the worker before the worker reads any task and never reads
a program's text, a test or a reference solution: the program's text reaches the child as a
memory file the harness wrote (``code`` descriptor), so a program that reads its own memory
finds only the standard library. As root it lives in a minimal root (isolation.minimal_root).
Its loop (``serve_forks``) is as small as it can be: a process that forks shares every page
with the child until one of them writes it, so each page the parent writes after each fork is
a copy-on-write fault (2.4 us on a virtual machine); an event loop that also read pipes and
enforced limits wrote about 230 pages a program. It is the programs' parent and their
orphans' subreaper: it reaps them all and says how each ended.

``Spawner`` lives in the worker (which never runs generated code either): it gives each
program a slot, an unprivileged uid of its own (whose RLIMIT_NPROC bounds its processes), so
programs in flight together cannot signal or see one another; reads the program's pipes;
kills everything of the slot's uid when the program ends; and enforces the wall-clock
backstop: a program is killed once the time it ran or slept exceeds ``wall_factor`` x its CPU
limit; the time it waited for a core is left out, added up look by look (every LOOK_EVERY_S):
the longest run delay of any thread of its processes (/proc/<pid>/task/*/schedstat) less the
CPU its other threads used meanwhile (a fork bomb, or threads woken together, keep themselves
waiting), and its test process's less the program's CPU. It
reports ``started`` {id, pid} and ``done`` {id, exit, cpu, walled, setup, out, passed_signal,
report} to the worker.

Protocol between them, over a SOCK_SEQPACKET socket: the program's plan (JSON, its
descriptors as SCM_RIGHTS named by ``plan["roles"]``) in; ``S pid`` (or ``F errno``) for each
plan in order, and ``X pid exit cpu own_cpu uid`` for each process reaped (``cpu`` with the
children it waited for, ``own_cpu`` without; orphans too, whose uid names their program's slot), out.
"""

from __future__ import annotations

import collections
import json
import mmap
import os
import select
import signal
import socket
import struct
import time
from typing import Callable

import isolation  # sibling modules: the worker puts this folder on sys.path
import runner

LOOK_EVERY_S = 0.25
"""How often the backstop looks at a program still running: the run delays of threads and
processes that end between two looks are lost with them (three threads run one after another
under load, each seen only by a look at 3 s or not at all, made a correct program a timeout)."""
RATE_WINDOW_S = 1.0
"""How far back the looks at other programs set the rate of waits for a core that helpers ended
between two looks are given: the last look at each alone (within two intervals) had often seen
them run under 10 ms, helpers themselves unseen, and gave none."""
ThreadTimes = dict[tuple[int, int], tuple[float, float]]
"""(CPU seconds, seconds waited for a core) of threads, by (pid, tid)."""
MAX_STRETCH = 5
"""The backstop leaves out the time a program waited for a core, up to this many times its
wall-clock limit in all (15 s by default): processes that ended cannot be counted, and helpers
that each burn a little CPU, fork and exit kept one program waiting, and held its slot, 66 s."""
MAX_REPORT = 1 << 16
OUTPUT_TAIL = 300
CONTROL_BUFFER = 1 << 16
_TIMEOUT_SIGNALS = (signal.SIGXCPU, signal.SIGPROF, signal.SIGKILL)
_TICKS_PER_S = os.sysconf("SC_CLK_TCK")


class Running:
    """One program in flight: its process, pipes and what they said so far."""

    def __init__(self, request: dict, pid: int, slot: int, pipes: dict[str, int], workdir: str) -> None:
        self.workdir = workdir
        """The program's scratch directory where it has no private /tmp (removed after it), else ''."""
        self.id = request["id"]
        self.limit = float(request["limit"])
        self.token = request["token"]
        self.pid, self.slot, self.pipes = pid, slot, pipes
        self.started = time.monotonic()
        self.wall_limit = self.limit * request["wall_factor"]
        self.check_at = self.started + min(self.wall_limit, LOOK_EVERY_S)
        self.walled = False
        self.data = {name: bytearray() for name in pipes}
        self.waited = 0.0
        """Seconds the program waited for a core, added up look by look (``Spawner.backstop``)."""
        self.threads: ThreadTimes = {}
        """(CPU, run delay) of each thread of its processes at the last look, by (pid, tid)."""
        self.totals: dict[int, float] = {}
        """CPU seconds of each of its processes at the last look, their ended threads' included, by pid."""
        self.reaped = 0.0
        """CPU seconds of the processes its live processes had waited for, and of its orphans the
        fork server reaped, at the last look."""
        self.orphans_cpu = 0.0
        """CPU seconds of its processes that outlived their parent, reaped by the fork server (with
        what they had reaped): by its slot's uid, so where it has one."""
        self.looked_at = self.started
        """When the backstop last looked at it (its start before the first look)."""
        self.tester: tuple[int, float] | None = None
        """(pid, run delay when it took this program) of the test process calling the program:
        while it waits for a core, the program waits for its next call (``Spawner.tested_by``)."""


class SharedLooks:
    """What the backstop's looks of the last RATE_WINDOW_S found of the programs of every worker
    of one executor: (seconds their threads ran, seconds they waited for a core, when) a row per
    worker, in a memory file the harness made and passed to each (``looks_fd``). A program alone
    in its worker (one of 7 to one worker and 1 to the other) had no other program to measure the
    machine's waits by: its helpers that ended between looks lost theirs, and it was a `timeout`
    that passed beside others in its own worker.

    Mapped by the worker once it has forked the fork server (which closes the descriptor), and
    never into a child (MADV_DONTFORK; the test processes, trusted, keep mmap's own copy of the
    descriptor): where programs run as uids of their own, none can write the rates its
    neighbours are judged by. Without root they run as the harness's user, who holds the
    descriptor, as they can write anything else of that user's."""

    ROW = struct.Struct("3d")

    def __init__(self, fd: int | None, rows: int, row: int) -> None:
        self.row = row
        self.rows = rows
        self.memory: mmap.mmap | None = None
        if fd is None:
            return
        try:
            if os.fstat(fd).st_size < rows * self.ROW.size:  # every worker asks the same size
                os.ftruncate(fd, rows * self.ROW.size)
            memory = mmap.mmap(fd, rows * self.ROW.size)
            try:
                memory.madvise(mmap.MADV_DONTFORK)
            except OSError:  # shared with no program, or not at all
                memory.close()
            else:
                self.memory = memory
        except OSError:
            pass  # the other workers' programs go unseen; the fair share of runnable tasks still counts
        finally:
            os.close(fd)

    def publish(self, ran: float, waited: float, when: float) -> None:
        """This worker's programs' sums over their looks of the last RATE_WINDOW_S."""
        if self.memory is not None:
            self.ROW.pack_into(self.memory, self.row * self.ROW.size, ran, waited, when)

    def others(self, since: float) -> tuple[float, float]:
        """(seconds run, seconds waited) of the other workers' programs, from rows published since
        ``since`` (a row read while its worker writes it is read again)."""
        ran = waited = 0.0
        if self.memory is None:
            return ran, waited
        for row in range(self.rows):
            if row == self.row:
                continue
            offset = row * self.ROW.size
            first = self.ROW.unpack_from(self.memory, offset)
            while (again := self.ROW.unpack_from(self.memory, offset)) != first:
                first = again
            if first[2] >= since:
                ran, waited = ran + first[0], waited + first[1]
        return ran, waited


class Spawner:
    """The worker's side of the programs' processes (see module docstring)."""

    def __init__(self, cfg: dict, forker: socket.socket, poller: select.poll,
                 report: Callable[[dict], None], shared_looks: SharedLooks) -> None:
        self.cfg = cfg
        self.shared_looks = shared_looks
        """The other workers' programs' recent looks (``_others_waits_per_run``)."""
        self.forker = forker
        self.poller = poller
        self.report = report
        """Where ``started`` and ``done`` go (the worker)."""
        self.free_slots = list(range(cfg["max_in_flight"]))
        self.running: dict[int, Running] = {}
        self.by_fd: dict[int, tuple[Running, str]] = {}
        self.starting: list[tuple[dict, int, dict[str, int], str]] = []
        """Programs sent to the fork server whose pid it has not reported yet, oldest first."""
        self.by_pid: dict[int, Running] = {}
        self.buffer = bytearray(CONTROL_BUFFER)
        self.recent_looks: collections.deque[tuple[int, float, float, float]] = collections.deque()
        """(program id, seconds its threads ran, seconds they waited for a core, when) of each look of
        the last RATE_WINDOW_S, ended programs' too: the other programs' waits per second run say how
        long processes that ended between two looks waited (``_waited_since_last_look``)."""
        self.slot_clocks: list[int] = cfg.get("slot_clocks") or []
        """Each slot's CPU clock (its cpuacct cgroup's ``cpuacct.usage``, open), by slot, where the
        slots have them (zygote._open_slot_clocks): every process of the slot's program counts there."""
        self.slot_cpu = [_slot_cpu(fd) for fd in self.slot_clocks]
        """Each slot's CPU clock when the backstop last looked at its program, or when its last
        program ended (the start of the next one's first interval)."""
        self.scratch = "" if cfg["private_mounts"] else _scratch_root(cfg.get("scratch_root"))
        """Where programs without a tmpfs of their own get their directories: root's, not theirs
        to rename (so none can put a symbolic link where its directory was). The harness names it
        (``scratch_root``) and removes it once this worker is gone, killed too."""
        poller.register(forker, select.POLLIN)

    def owns(self, fd: int) -> bool:
        """Whether a poll event on fd is for this object (``handle``)."""
        return fd in self.by_fd or fd == self.forker.fileno()

    def handle(self, fd: int) -> None:
        """A poll event on one of its descriptors."""
        if fd == self.forker.fileno():
            self._from_fork_server()
        elif fd in self.by_fd:
            program, role = self.by_fd[fd]
            self._read(program, role, fd)

    def start(self, request: dict, fds: list[int]) -> None:
        """Have the fork server start a program: ``fds`` are its code (and, split, channel)
        descriptors, the caller's to close. A failure is reported as a ``done`` with ``setup``."""
        try:
            self._start(request, fds)
        except OSError as exc:  # no process or descriptor left: the worker reports an infra_error
            self.report({"done": request["id"], "setup": f"could not start the program: {exc}",
                         "exit": 0, "cpu": 0.0, "walled": False, "out": "", "passed_signal": False,
                         "report": ""})

    def _start(self, request: dict, fds: list[int]) -> None:
        slot = self.free_slots.pop()
        opened: list[int] = []
        try:
            pipes, roles, ends = {}, ["code", "channel"][: len(fds)], list(fds)
            for role in ("out", "setup") + (() if request["mode"] != "in_process" else ("result",)):
                read_end, write_end = os.pipe()
                opened += (read_end, write_end)
                pipes[role] = read_end
                roles.append(role)
                ends.append(write_end)
            request["token"] = os.urandom(16).hex()
            plan = self._plan(request, slot)
            plan["roles"] = roles
            socket.send_fds(self.forker, [json.dumps(plan).encode()], ends)
        except BaseException:
            self.free_slots.append(slot)
            for fd in opened:
                os.close(fd)
            raise
        for fd in ends[len(fds):]:  # the write ends: the fork server passed them on
            os.close(fd)
        for fd in pipes.values():
            os.set_blocking(fd, False)
        self.starting.append((request, slot, pipes, "" if self.cfg["private_mounts"] else plan["workdir"]))

    def _from_fork_server(self) -> None:
        """A program's pid (in the order they were sent) or how a process ended."""
        message = isolation.receive(self.forker, self.buffer)[0]
        if not message:
            raise RuntimeError("the fork server exited")
        kind, pid, status, cpu, own_cpu, uid = message.split(b" ")
        if kind == b"X":
            program = self.by_pid.pop(int(pid), None)
            if program is not None:
                self._finish(program, int(status), float(cpu), float(own_cpu))
            elif self.cfg["uid_base"] is not None:  # an orphan of the program of its uid's slot
                slot = int(uid) - self.cfg["uid_base"]
                program = next((each for each in self.running.values() if each.slot == slot), None)
                if program is not None:
                    program.orphans_cpu += float(cpu)
            return
        request, slot, pipes, workdir = self.starting.pop(0)
        if kind == b"F":  # fork failed: the worker reports an infra_error
            self.free_slots.append(slot)
            for fd in pipes.values():
                os.close(fd)
            _remove_tree(workdir)
            self.report({"done": request["id"], "setup": f"could not start the program: errno {int(pid)}",
                         "exit": 0, "cpu": 0.0, "walled": False, "out": "", "passed_signal": False,
                         "report": ""})
            return
        program = Running(request, int(pid), slot, pipes, workdir)
        self.running[program.id] = program
        self.by_pid[program.pid] = program
        for role, fd in pipes.items():
            if role != "setup":  # at most 2,000 bytes, written before the program runs: read at the end
                self.by_fd[fd] = (program, role)
                self.poller.register(fd, select.POLLIN)
        self.report({"started": program.id, "pid": program.pid})

    def _plan(self, request: dict, slot: int) -> dict:
        cfg = self.cfg
        uid = None if cfg["uid_base"] is None else cfg["uid_base"] + slot
        workdir = "/tmp" if cfg["private_mounts"] else _scratch_dir(self.scratch, uid)
        return {"language": request["language"], "mode": request["mode"], "limit": request["limit"],
                "id": request["id"], "slot": slot,
                "entry_point": request.get("entry_point", ""), "token": request["token"],
                "limits": request["limits"], "uid": uid, "private_mounts": cfg["private_mounts"],
                "workdir": workdir, "node": cfg.get("node"),
                "memory_mb": cfg["memory_mb"]}

    def _read(self, program: Running, role: str, fd: int) -> bool:
        """Read what the pipe holds (up to its cap); False once it is empty or closed."""
        try:
            chunk = os.read(fd, runner.READ_CHUNK)
        except BlockingIOError:
            return False
        if not chunk:
            if fd in self.by_fd:
                self.poller.unregister(fd)
                del self.by_fd[fd]
            return False
        cap = self.cfg["max_output_bytes"] if role == "out" else MAX_REPORT
        data = program.data[role]
        if len(data) < cap:
            data += chunk[: cap - len(data)]
        return True

    def _finish(self, program: Running, status: int, cpu: float, own_cpu: float) -> None:
        """The program's process ended (the fork server reaped it): kill what it left, read
        what its pipes still hold, report. ``cpu``: its CPU and that of the children it waited
        for; ``own_cpu``: its own, which its CPU limit bounds."""
        self._kill_slot(program, program.workdir)
        if self.slot_clocks:
            self.slot_cpu[program.slot] = _slot_cpu(self.slot_clocks[program.slot])
        for role, fd in program.pipes.items():
            while self._read(program, role, fd):
                pass
        for fd in program.pipes.values():
            if fd in self.by_fd:
                self.poller.unregister(fd)
                del self.by_fd[fd]
            os.close(fd)
        del self.running[program.id]
        self.free_slots.append(program.slot)
        if self.cfg["uid_base"] is None:  # else _kill_slot removed it
            _remove_tree(program.workdir)
        lines = bytes(program.data.get("result", b"")).split(b"\n")
        token = program.token.encode()
        reports = [line for line in lines if line[:1] in (b"S", b"E")]
        self.report({
            "done": program.id, "exit": status,
            "cpu": cpu, "own_cpu": own_cpu, "walled": program.walled,
            "setup": bytes(program.data["setup"]).decode("utf-8", "replace")[:2000],
            "out": bytes(program.data["out"][-OUTPUT_TAIL:]).decode("utf-8", "replace"),
            "passed_signal": b"P" + token in lines,
            "report": reports[0].decode("utf-8", "replace") if reports else "",
        })

    def _kill_slot(self, program: Running, workdir: str = "") -> None:
        """Kill what the program left running: every process of its slot's uid, or without
        root its process group (a program that called setsid() can escape that); then remove
        ``workdir`` if given, as the slot's uid where it has one."""
        if self.cfg["uid_base"] is None:
            try:
                os.killpg(program.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            return
        uid = self.cfg["uid_base"] + program.slot
        if os.getpid() == 1:  # this worker is its PID namespace's init (the full tier)
            isolation.kill_uid(uid)
            return
        isolation.kill_uid_apart(uid, (lambda: _remove_tree(workdir)) if workdir else None)
        if workdir:
            _quietly(os.rmdir, workdir)  # root's folder holds it; what the slot's uid could not empty stays

    def _threads(self, program: Running) -> ThreadTimes:
        """(CPU seconds, seconds waited for a core) of every thread of the program's live processes:
        every process of its slot's uid where it has one (one that left its session included),
        else those of its session."""
        if self.cfg["uid_base"] is None:
            return _threads_of(program.pid, _in_session(program.pid))
        return _threads_of(program.pid, _of_uid(self.cfg["uid_base"] + program.slot))

    def close(self) -> None:
        """The worker is leaving: remove the programs' scratch root, if empty."""
        if self.scratch:
            _quietly(os.rmdir, self.scratch)

    def next_check(self) -> int:
        """Milliseconds until the backstop must look again (-1: no program runs)."""
        soonest = min((program.check_at for program in self.running.values()), default=float("inf"))
        if soonest == float("inf"):
            return -1
        return max(0, int((soonest - time.monotonic()) * 1000) + 1)

    def tested_by(self, program_id: int, tester_pid: int, tester_delay: float) -> None:
        """The test process ``tester_pid`` (single-threaded), whose run delay is now
        ``tester_delay``, calls the program from now on: its waits for a core count as the
        program's (see ``backstop``)."""
        program = self.running.get(program_id)
        if program is not None:
            program.tester = (tester_pid, tester_delay)

    def backstop(self) -> None:
        """Kill programs past their wall-clock limit (see module docstring)."""
        now = time.monotonic()
        looked = False
        for program in list(self.running.values()):
            if program.walled or now < program.check_at:
                continue
            looked = True
            waited = program.waited = program.waited + self._waited_since_last_look(program)
            ran = now - program.started
            if ran - waited >= program.wall_limit or ran >= program.wall_limit * MAX_STRETCH:
                program.walled = True
                program.check_at = float("inf")
                self._kill_slot(program)
                try:
                    os.kill(program.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            else:
                due = program.started + program.wall_limit + waited + 0.01
                program.check_at = min(now + LOOK_EVERY_S, due)
        if looked:
            while self.recent_looks and self.recent_looks[0][3] < now - RATE_WINDOW_S:
                self.recent_looks.popleft()
            self.shared_looks.publish(sum(look[1] for look in self.recent_looks),
                                      sum(look[2] for look in self.recent_looks), now)

    def _others_waits_per_run(self, program_id: int) -> float:
        """Seconds the other programs' threads (this worker's and the other workers') waited for a
        core per second they ran, as the looks at them of the last RATE_WINDOW_S found (0 where
        those saw them run under 10 ms)."""
        since = time.monotonic() - RATE_WINDOW_S
        others = [(run, wait) for other, run, wait, when in self.recent_looks
                  if other != program_id and when >= since]
        others.append(self.shared_looks.others(since))
        ran = sum(run for run, _ in others)
        return sum(wait for _, wait in others) / ran if ran >= 0.01 else 0.0

    def _waited_since_last_look(self, program: Running) -> float:
        """Seconds the program waited for a core since the backstop's last look, not counting what
        its own processes kept it waiting: the longest wait of any of its threads (in any of its
        processes: a worker thread, a pool's process) beyond the CPU its other threads used in the
        same time (40 threads woken together, each waiting for the others, held a sleeping
        program's slot 12 s when their waits were added up), and at most the part of the interval
        its processes, those that ended included, did not use (a process that spun beside a storm
        of processes that each forked the next and ended, none of them seen, let a program that
        slept 6 s pass), and then its test process's, which it waits on between calls, beyond all
        of the program's CPU in that time (unseen included), within what is left of the interval.

        Threads and processes that lived and ended between two looks are never seen: a program
        that ran helpers one after another (``subprocess.run`` in each call, or short forks) was a
        `timeout` under load that passed alone, their waits for a core lost. The CPU no look saw
        (``_unseen_cpu``), times a rate of waits per second run, is counted as their wait, up to
        the part of the interval none of its processes was seen running or waiting. The rate is
        the higher of the other programs' threads' in their looks of the last RATE_WINDOW_S, in
        every worker (if those saw them run 10 ms or more), and the fair share of the tasks
        runnable now (16 such programs beside 6 CPU burners: 13 were a
        `timeout` on the first alone, none on both). Its own threads never set the rate (50 busy
        processes of its own, then helpers, stretched a blocked program to 12 s alone on an idle
        machine), nor does a rate measured long ago; and uncapped, a fork bomb's processes, each
        short-lived and keeping one another waiting, stretched it to the ceiling."""
        now = self._threads(program)
        steps = {key: (used - program.threads.get(key, (0.0, 0.0))[0],
                       delay - program.threads.get(key, (0.0, 0.0))[1]) for key, (used, delay) in now.items()}
        cpu = sum(used for used, _ in steps.values())
        unseen = self._unseen_cpu(program, steps, cpu)
        program.threads = now
        looked_at, program.looked_at = program.looked_at, time.monotonic()
        # Orphans of the slot's last program, reaped once this one started there, can make the
        # interval look over-used: that costs this look's credit, never more.
        waited = min(max((delay - (cpu - used) for used, delay in steps.values()), default=0.0),
                     max(0.0, program.looked_at - looked_at - cpu - unseen))
        delays = sum(delay for _, delay in steps.values())
        self.recent_looks.append((program.id, cpu, delays, program.looked_at))
        free = program.looked_at - looked_at - cpu - unseen - max(0.0, waited)
        if unseen > 0 and free > 0:
            rate = max(self._others_waits_per_run(program.id), _fair_share_waits_per_run(len(now)))
            credit = min(unseen * rate, free)
            waited, free = waited + credit, free - credit
        if program.tester is not None:
            tester_delay = _run_delay(program.tester[0])
            # Less all the program's CPU, unseen too, and within what is left of the interval: its
            # test process, kept busy decoding a padded message, waited behind processes of the
            # program's that ended between looks, and a program that slept 6 s passed.
            waited += min(max(0.0, tester_delay - program.tester[1] - cpu - unseen), max(0.0, free))
            program.tester = (program.tester[0], tester_delay)
        return max(0.0, waited)

    def _unseen_cpu(self, program: Running, steps: ThreadTimes, cpu: float) -> float:
        """CPU seconds the program's processes used since the last look that none of its live
        threads' ``steps`` (``cpu`` in all) shows: threads and processes that ended in between.

        Exact where its slot has a CPU clock: every process of the program is in the slot's
        cgroup from its fork, those the kernel reaped at once included (SIGCHLD ignored: their CPU
        reaches no parent, and a program that slept 6 s beside a chain of them, with a process
        waiting behind them, passed). Else an estimate that misses those: ended threads' CPU in
        their live processes' CPU clocks, what those processes waited for (``cutime``), and the
        slot's orphans the fork server reaped (short threads in processes left unreaped, none
        counted, let a program that slept 6 s pass)."""
        if self.slot_clocks:
            total = _slot_cpu(self.slot_clocks[program.slot])
            unseen = max(0.0, total - self.slot_cpu[program.slot] - cpu)
            self.slot_cpu[program.slot] = total
            return unseen
        totals = _process_cpu({pid for pid, _ in steps})
        seen_by_process: dict[int, float] = collections.defaultdict(float)
        for (pid, _), (used, _) in steps.items():
            seen_by_process[pid] += used
        threads_ended = sum(max(0.0, total - program.totals.get(pid, 0.0) - seen_by_process[pid])
                            for pid, total in totals.items())
        counted_of_ended = sum(total for pid, total in program.totals.items() if pid not in totals)
        reaped, program.reaped = program.reaped, _reaped_cpu(set(totals)) + program.orphans_cpu
        program.totals = totals
        return threads_ended + max(0.0, program.reaped - reaped - counted_of_ended)


def serve_forks(control: socket.socket, slot_joins: list[int], slot_groups: list[list[int]]) -> None:
    """The fork server's life, after its set-up (zygote.py): fork a program's process for each
    plan received, reap every child and orphan, until the worker hangs up (see module docstring).
    ``slot_joins``: each slot's cpuacct cgroup.procs, by slot, where the slots have CPU clocks;
    ``slot_groups``: by slot, the cgroup.procs of its other cgroups (memory, and ``cpu`` where that
    hierarchy is apart), where the slots have them (else empty)."""
    isolation.prctl(isolation.PR_SET_PDEATHSIG, signal.SIGKILL)
    null = isolation.move_high(os.open(os.devnull, os.O_RDONLY))
    wakeup, wakeup_write = os.pipe()
    os.set_blocking(wakeup, False)
    os.set_blocking(wakeup_write, False)
    signal.signal(signal.SIGCHLD, lambda signum, frame: None)
    signal.set_wakeup_fd(wakeup_write)
    poller = select.poll()
    poller.register(control, select.POLLIN)
    poller.register(wakeup, select.POLLIN)
    control_fd = control.fileno()
    while True:
        for fd, _ in poller.poll():
            if fd != control_fd:
                while _drained(wakeup):
                    pass
                _report_reaped(control)
            elif not _fork_one(control, null, slot_joins, slot_groups):
                return


def _fork_one(control: socket.socket, null: int, slot_joins: list[int], slot_groups: list[list[int]]) -> bool:
    """Fork the program's process of the next plan; False once the worker hung up."""
    message, fds, _, _ = socket.recv_fds(control, CONTROL_BUFFER, 8)
    if not message:
        return False
    fds = [isolation.move_high(fd) for fd in fds]  # see runner.prepare
    try:
        pid = isolation.fork_without_hooks()
    except OSError as exc:
        control.send(b"F %d 0 0 0 0" % exc.errno)
    else:
        if pid == 0:
            _child(message, fds, null, slot_joins, slot_groups)
        control.send(b"S %d 0 0 0 0" % pid)
    for fd in fds:
        os.close(fd)
    return True


def _report_reaped(control: socket.socket) -> None:
    while True:
        try:  # WNOWAIT: the process stays a zombie, whose own CPU /proc still shows, until wait4
            ended = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return
        if ended is None:
            return
        own = _stat_cpu(ended.si_pid)
        pid, status, usage = os.wait4(ended.si_pid, 0)
        cpu = usage.ru_utime + usage.ru_stime
        control.send(b"X %d %d %.6f %.6f %d" % (pid, os.waitstatus_to_exitcode(status), cpu,
                                                cpu if own is None else own[0], ended.si_uid))


def _stat_cpu(pid: int) -> tuple[float, float] | None:
    """(CPU seconds the process used itself, those of the children it waited for, which wait4 adds
    to its own) from its /proc stat's utime + stime and cutime + cstime; None where /proc does not
    say (gone meanwhile)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            fields = fh.read().rpartition(b")")[2].split()
        own, waited_for = int(fields[11]) + int(fields[12]), int(fields[13]) + int(fields[14])
        return own / _TICKS_PER_S, waited_for / _TICKS_PER_S
    except (OSError, IndexError, ValueError):
        return None


def _child(message: bytes, fds: list[int], null: int, slot_joins: list[int],
           slot_groups: list[list[int]]) -> None:
    """In the program's process, just forked: decode the plan, then runner.child (never returns)."""
    isolation.set_name(b"evalkit-program")
    plan = json.loads(message)
    plan["token"] = plan["token"].encode()
    ends = dict(zip(plan["roles"], fds, strict=True))
    ends["null"] = null
    if slot_joins:
        ends["cgroup"] = slot_joins[plan["slot"]]
    if slot_groups:
        ends["slot_groups"] = slot_groups[plan["slot"]]
    runner.child(plan, ends)


def _drained(fd: int) -> bool:
    try:
        return bool(os.read(fd, 4096))
    except BlockingIOError:
        return False


def schedstat_times(schedstat: bytes) -> tuple[float, float]:
    """(CPU seconds, seconds waited for a core) from a thread's /proc schedstat line; ValueError or
    IndexError where it is not one."""
    fields = schedstat.split()
    return int(fields[0]) / 1e9, int(fields[1]) / 1e9


def _slot_cpu(clock: int) -> float:
    """CPU seconds of every process a slot's cgroup has had, from its open ``cpuacct.usage``
    (nanoseconds, read again from the start: about 1 us); 0 where the kernel does not say."""
    try:
        return int(os.pread(clock, 32, 0)) / 1e9
    except (OSError, ValueError):
        return 0.0


def _process_cpu(pids: set[int]) -> dict[int, float]:
    """CPU seconds of each process, its ended threads' included (its process CPU clock, exact, a
    zombie's too), by pid; those gone meanwhile left out."""
    totals = {}
    for pid in pids:
        try:
            totals[pid] = time.clock_gettime(((~pid) << 3) | 2)  # MAKE_PROCESS_CPUCLOCK(pid, CPUCLOCK_SCHED)
        except OSError:
            pass
    return totals


def _reaped_cpu(pids: set[int]) -> float:
    """CPU seconds of the processes these processes have waited for (and those waited for in turn)."""
    return sum(times[1] for pid in pids if (times := _stat_cpu(pid)) is not None)


def _fair_share_waits_per_run(own_threads: int) -> float:
    """Seconds a CPU-bound process waits for a core per second it runs, where the scheduler shares
    the machine's cores equally among the tasks runnable now: the kernel's count of them
    (/proc/loadavg), less this worker (running, to read it) and the program's ``own_threads`` (as
    if all were runnable, so that no program raises its own rate), plus the one that waits. 0
    where /proc does not say."""
    try:
        with open("/proc/loadavg", "rb") as fh:
            runnable = int(fh.read().split()[3].split(b"/")[0])
    except (OSError, IndexError, ValueError):
        return 0.0
    cores = os.cpu_count() or 1
    return max(0, runnable - 1 - own_threads + 1 - cores) / cores


def _run_delay(pid: int) -> float:
    """Seconds a single-threaded process (a test process) has waited for a core (0 where the
    kernel does not say)."""
    try:
        with open(f"/proc/{pid}/schedstat", "rb") as fh:
            return schedstat_times(fh.read())[1]
    except (OSError, IndexError, ValueError):
        return 0.0


def _thread_times(pid: int) -> ThreadTimes:
    """(CPU seconds, seconds waited for a core) of each thread of the process by (pid, tid), from
    /proc/<pid>/task/*/schedstat (/proc/<pid>/schedstat is the main thread's alone: a program
    computing in a thread pool while its main thread waited on it was a `timeout` under load)."""
    out = {}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat", "rb") as fh:
                out[pid, int(tid)] = schedstat_times(fh.read())
        except (OSError, IndexError, ValueError):  # gone meanwhile
            continue
    return out


def _threads_of(pid: int, belongs: Callable[[str, list[bytes]], bool]) -> ThreadTimes:
    """``_thread_times`` of process ``pid`` and of every other live process ``belongs`` picks (by its
    /proc name and the fields of its stat after the command's name: state, ppid, pgrp, session, ...)."""
    threads = _thread_times(pid)
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == pid:
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as fh:
                fields = fh.read().rpartition(b")")[2].split()
            if not belongs(name, fields):
                continue
        except (OSError, StopIteration):  # gone meanwhile
            continue
        threads |= _thread_times(int(name))
    return threads


def _in_session(session: int) -> Callable[[str, list[bytes]], bool]:
    return lambda name, fields: int(fields[3]) == session


def _of_uid(uid: int) -> Callable[[str, list[bytes]], bool]:
    def belongs(name: str, fields: list[bytes]) -> bool:
        with open(f"/proc/{name}/status", "rb") as fh:  # the real uid, whether it is dumpable or not
            return int(next(line for line in fh if line.startswith(b"Uid:")).split()[1]) == uid
    return belongs


def _scratch_root(path: str | None = None) -> str:
    """A new directory under /tmp (``path``, or a fresh name there) that others may pass through
    but not list or change."""
    path = path or os.path.join("/tmp", f"evalkit-scratch-{os.urandom(6).hex()}")
    os.mkdir(path, 0o711)
    os.chmod(path, 0o711)  # whatever the umask
    return path


def _scratch_dir(root: str, uid: int | None) -> str:
    """A new private directory in ``root`` for a program without its own tmpfs, its slot's own."""
    path = os.path.join(root, f"evalkit-run-{os.urandom(6).hex()}")
    os.mkdir(path, 0o700)
    if uid is not None:
        os.chown(path, uid, uid)
    return path


def _remove_tree(path: str) -> None:
    """Remove path and all under it without recursion (a 1,500-deep tree is fine), following
    no symlink; never raises. A directory that cannot be emptied is left behind."""
    if not path:
        return
    stack, seen = [path], set()
    while stack:
        current = stack[-1]
        first_visit = current not in seen
        seen.add(current)
        pushed = False
        try:
            entries = list(os.scandir(current)) if first_visit else []
        except OSError:
            entries = []
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                stack.append(entry.path)
                pushed = True
            else:
                _quietly(os.unlink, entry.path)
        if not pushed:
            stack.pop()
            _quietly(os.rmdir, current)


def _quietly(remove, path: str) -> None:
    try:
        remove(path)
    except OSError:
        pass
