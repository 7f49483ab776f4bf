"""LocalExecutor: a pool of isolated worker interpreters that run programs.

Each worker is a separate interpreter (zygote.py) that isolates itself once and
runs several programs at once, each in its own sandboxed process with its tests in
a trusted one; the harness never executes generated code. One harness thread per
worker feeds it programs from a shared queue (the program's text as a sealed memory
file, so no worker process reads it), so ``submit`` returns a Future at once and
``run`` streams verdicts as they finish. A program whose verdict is ``infra_error``
(our side failed) is retried on a restarted worker, ``cfg.infra_retries`` times.
"""

from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import logging
import math
import os
import queue
import subprocess
import sys
import threading
from collections import OrderedDict
from typing import Callable, Iterable, Iterator

from evalkit.config import ExecutorConfig
from evalkit.execution.program import program_digest, routed
from evalkit.execution.workers import Worker, check_slot_count, start_worker, usable_cores, worker_settings
from evalkit.postprocess.completion import PARSED_AT_MOST, parse_error
from evalkit.records import Program, Status, Verdict, valid_text

log = logging.getLogger(__name__)

AHEAD = 2
"""Programs sent to each worker beyond what it may run at once: the next starts as soon as a
slot frees, rather than waiting for the harness thread, which may be waiting for the GIL."""
_SHARED_CAP = 200_000
"""How many verdicts of identical programs are remembered (bounded memory)."""


class SharedVerdicts:
    """Identical programs (same language, limit, path, source and tests) execute once and share
    one Future.

    Models repeat themselves at low temperature; the memory is bounded (oldest forgotten first).
    """

    def __init__(self, cap: int = _SHARED_CAP) -> None:
        self._cap = cap
        self._lock = threading.Lock()
        self._futures: OrderedDict[bytes, cf.Future] = OrderedDict()

    def get_or_start(self, program: Program, start: Callable[[Program], cf.Future]) -> cf.Future:
        """The Future of an identical program already started, or of `start(program)`."""
        digest = program_digest(program)
        with self._lock:
            future = self._futures.get(digest)
            if future is None:
                future = self._futures[digest] = start(program)
                if len(self._futures) > self._cap:
                    self._futures.popitem(last=False)
            else:
                self._futures.move_to_end(digest)
        return future


def stream_verdicts(submit: Callable[[Program], cf.Future], programs: Iterable[Program],
                    window: int) -> Iterator[tuple[str, Verdict]]:
    """Submit programs keeping at most `window` in flight; yield (key, Verdict) as each finishes.

    Each Future puts itself on one queue when done: ``concurrent.futures.wait`` over the
    window installs and removes a waiter on every pending Future for each verdict, which
    cost this thread 0.1 to 0.2 ms a program with 20 in flight (cProfile, thread time)."""
    finished: queue.SimpleQueue[cf.Future] = queue.SimpleQueue()
    pending: dict[cf.Future, list[str]] = {}
    it = iter(programs)
    exhausted = False
    while True:
        while not exhausted and len(pending) < window:
            program = next(it, None)
            if program is None:
                exhausted = True
                break
            future = submit(program)
            if future in pending:  # an identical program's, shared (SharedVerdicts)
                pending[future].append(program.key)
            else:
                pending[future] = [program.key]
                future.add_done_callback(finished.put)
        if not pending:
            return
        future = finished.get()
        for key in pending.pop(future):
            yield key, future.result()


MAX_CHECKED_SOURCE = 1 << 20
"""Largest program whose reported syntax error is checked (a longer one's report stands)."""
_COMPILE_APART = (
    "import resource, sys\n"
    "memory, cpu = int(sys.argv[1]), int(sys.argv[2])\n"
    "resource.setrlimit(resource.RLIMIT_AS, (memory, memory))\n"
    "resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))\n"
    "resource.setrlimit(resource.RLIMIT_CORE, (0, 0))\n"
    "code = sys.stdin.buffer.read().decode('utf-8', 'surrogateescape')\n"
    "try:\n"
    "    compile(code, 'solution.py', 'exec', dont_inherit=True)\n"
    "except (SyntaxError, ValueError):\n"
    "    sys.exit(1)\n")
"""A throwaway interpreter's whole compilation of a program, with the memory and (whole seconds of)
CPU time given on its command line: exit 0 if it compiles, 1 if it does not, anything else if it
could not tell."""


def _as_its_process_reads(code: str) -> str | None:
    """``code`` as the program's process reads it from its memory file (``workers.Worker.send``
    encodes it with surrogateescape, ``runner.split_text`` decodes it so), or None where it cannot
    be sent so."""
    try:
        return code.encode("utf-8", "surrogateescape").decode("utf-8", "surrogateescape")
    except UnicodeError:
        return None


def _compiles(code: str, cpu_s: float, memory_mb: int) -> bool:
    """Whether ``code`` compiles as the runner compiles it (nothing of it runs here), for a program
    that reported a syntax error: one of up to PARSED_AT_MOST that does not parse is settled
    here; any other is compiled whole by a throwaway interpreter, which a compile-time error (`break`
    outside a loop), a forged report and a program built to exhaust the compiler all reach, with what
    the program's own process had to compile it: its CPU limit ``cpu_s`` (rounded up to whole
    seconds, as RLIMIT_CPU counts) and ``memory_mb``. Where that is not enough, the report stands."""
    text = _as_its_process_reads(code)
    if len(code) > MAX_CHECKED_SOURCE or text is None:
        return False  # its report stands
    # parsed here only where that is cheap: 500 KB of names parsed took 0.5 GB and 2 s of the
    # harness, for each program that reported a syntax error (a second tester's trial)
    if len(code) <= PARSED_AT_MOST and parse_error(text, "solution.py") is not None:
        return False
    limits = [str(memory_mb << 20), str(max(1, math.ceil(cpu_s)))]
    try:  # with nothing of the harness's environment (its keys)
        done = subprocess.run([sys.executable, "-I", "-S", "-W", "ignore", "-c", _COMPILE_APART, *limits],
                              input=text.encode("utf-8", "surrogateescape"), capture_output=True,
                              timeout=10 * max(1.0, cpu_s), check=False, env={})
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def syntax_error_of(program: Program) -> Verdict | None:
    """The syntax_error a Python program's process would report on loading it, found by parsing it
    here (``postprocess.completion.parse_error``), or None: a program that does not parse took a
    process, a test process and a fork server's time for a verdict this thread gives in 40 us (300
    of the 1,000 distinct programs of the execution benchmark's HumanEval file). What only compiling
    finds (`break` outside a loop), what depends on how deep the parser's stack already is
    (RecursionError, MemoryError), and a program over PARSED_AT_MOST, are left to the
    program's process."""
    if program.language != "python":
        return None
    text = _as_its_process_reads(program.code)
    error = None if text is None else parse_error(text, "solution.py")
    if not isinstance(error, (SyntaxError, ValueError)):  # ValueError: a null byte
        return None
    return Verdict(Status.SYNTAX_ERROR, valid_text(f"{type(error).__name__}: {str(error)[:2000]}"))


class LocalExecutor:
    """Runs Programs in isolated worker processes (see module docstring).

    ``isolation`` names the layers that held, e.g.
    ``netns+pidns+ipcns+ro-fs+pids-cgroup+memory-cgroup+cpu-cgroup+uid+minimal-fs+tmpfs+seccomp+rlimits``
    as root on Linux, ``seccomp+rlimits`` or ``rlimits`` elsewhere. ``in_process_tasks`` holds the tasks
    whose tests the canary found cannot be split from the program: they run in one process,
    their verdicts unverified; ``live_tasks`` those whose tests and program hold each other's
    objects: split, the objects crossing live (``Program.live``).
    """

    def __init__(self, cfg: ExecutorConfig) -> None:
        self.cfg = cfg
        self.in_process_tasks: set[str] = set()
        self.live_tasks: set[str] = set()
        n = cfg.workers or usable_cores()
        check_slot_count(n, cfg.max_in_flight)
        self._settings, seccomp_missing = worker_settings(cfg)
        self._looks_fd = (os.memfd_create("evalkit-looks", os.MFD_CLOEXEC) if hasattr(os, "memfd_create")
                          else None)
        """The workers' shared record of their programs' waits (spawner.SharedLooks), kept for restarts."""
        if self._looks_fd is not None:
            self._settings.update(looks_fd=self._looks_fd, workers=n)
        self._queue: queue.Queue = queue.Queue()
        self._restart_error: BaseException | None = None
        self._shared = SharedVerdicts()
        self._aborted = False
        """Set when the run is left on an error or Ctrl-C (``__exit__``): nothing is retried or restarted."""
        self._broken: BaseException | None = None
        """Set when ``recycle`` failed: the executor has no workers."""
        self._workers: list[Worker] = []
        self._threads: list[threading.Thread] = []
        try:
            self._start(self._spawn(n))
        except BaseException:
            self._close_looks()
            raise
        self.workers = n
        """How many worker processes run programs (results.json's ``host.workers``)."""
        self.isolation = self._workers[0].isolation
        _warn_if_weaker(self.isolation, seccomp_missing, cfg.network)

    def _spawn(self, n: int) -> list[Worker]:
        """Start n worker processes side by side (``_start`` waits for their hello)."""
        workers: list[Worker] = []
        try:
            for i in range(n):
                workers.append(start_worker(i, self.cfg, self._settings))
        except BaseException:
            for worker in workers:
                worker.close()
            raise
        return workers

    def _start(self, spawned: list[Worker]) -> None:
        """Wait for the spawned workers' hello, then feed them."""
        try:
            for worker in spawned:
                worker.await_hello()
        except BaseException:
            for worker in spawned:
                worker.close()
            raise
        self._workers = spawned
        n = len(spawned)
        self._threads = [threading.Thread(target=self._serve, args=(i,), daemon=True,
                                          name=f"evalkit-exec-{i}") for i in range(n)]
        for thread in self._threads:
            thread.start()

    def submit(self, program: Program) -> cf.Future:
        """Queue a program; the Future resolves to its Verdict."""
        self._check_usable()
        program = routed(program, self.in_process_tasks, self.live_tasks)
        if not self.cfg.share_identical:
            return self._enqueue(program)
        return self._shared.get_or_start(program, self._enqueue)

    def _enqueue(self, program: Program) -> cf.Future:
        future: cf.Future = cf.Future()
        verdict = syntax_error_of(program)
        if verdict is not None:
            future.set_result(verdict)
        else:
            self._queue.put((program, future, 0))
        return future

    @property
    def capacity(self) -> int:
        """How many submitted programs keep every worker fed: each worker's in-flight limit and
        the few sent ahead, twice over (the harness refills while verdicts come back). Callers
        that pace their submissions (``run``, `evalkit score`) keep this many waiting, so that
        programs that sleep never leave a worker without a runnable one, on 2 cores or 64."""
        return (self.cfg.max_in_flight + AHEAD) * len(self._workers) * 2

    def run(self, programs: Iterable[Program]) -> Iterator[tuple[str, Verdict]]:
        """Execute programs, yielding (key, Verdict) as each finishes; ``capacity`` are in
        flight, so memory stays bounded for any number of programs."""
        self._check_usable()
        return stream_verdicts(self.submit, programs, window=self.capacity)

    def _check_usable(self) -> None:
        if self._broken is not None:
            raise RuntimeError(f"the execution workers could not be replaced: {self._broken}")

    def recycle(self) -> None:
        """Replace every worker by a fresh one (after the canary: the workers that ran the
        reference solutions are discarded). Call with nothing in flight."""
        try:
            fresh = self._spawn(len(self._workers))  # they isolate themselves while the old ones stop
            try:
                self._stop()
            finally:
                self._workers = []
                self._start(fresh)
        except BaseException as exc:
            self._broken = exc  # run() and submit() say so, rather than wait on no worker
            raise

    def _serve(self, index: int) -> None:
        """Feed worker `index` from the shared queue and resolve its verdicts; restart it after
        any failure (its programs in flight go back to the queue)."""
        window = self.cfg.max_in_flight + AHEAD
        stopping = False
        while True:
            worker = self._workers[index]
            while not stopping and not worker.failed and len(worker.sent) < self._share(window):
                try:
                    item = self._queue.get(block=not worker.sent)
                except queue.Empty:
                    break
                if item is None:
                    stopping = True
                elif (item[2] or item[1].set_running_or_notify_cancel()) and not worker.send(*item):
                    self._retry_or_fail(*item, RuntimeError("the execution worker did not take it"))
            if not worker.sent:
                if stopping or self._aborted:
                    return
                if worker.failed and not self._restart(index):
                    stopping = self._fail_one_queued(index)
                continue
            try:
                # while there is room, look at the queue again every 5 ms
                room = len(worker.sent) < window and not stopping
                message = worker.receive(timeout=0.005 if room else None)
            except (OSError, ConnectionError, ValueError) as exc:
                self._worker_failed(index, exc)
                continue
            if message is not None and "crashed" in message:
                self._crashed(index, message["crashed"])
            elif message is not None:
                self._resolve(worker, message)

    def _share(self, window: int) -> int:
        """How many programs a worker may hold now: ``window``, or, when there is less work than that
        for each, its even share of all there is (queued, and held by the workers that are up), at
        least one. The first worker's thread to wake took ``window`` of a small run, 10 of 16 with 8
        slots each, and 2 of them waited for a slot while 2 of the other worker's stood idle."""
        up = [worker for worker in self._workers if not worker.failed]
        work = self._queue.qsize() + sum(len(worker.sent) for worker in up)
        return max(1, min(window, math.ceil(work / max(1, len(up)))))

    def _resolve(self, worker: Worker, message: dict) -> None:
        program, future, attempts = worker.sent.pop(message["id"])
        detail = valid_text(message["detail"])  # a program's exception may hold a lone surrogate
        verdict = Verdict(Status(message["status"]), detail, float(message["cpu"]),
                          verified=bool(message["verified"]))
        if verdict.status is Status.SYNTAX_ERROR and program.language == "python" and \
                _compiles(program.code, program.timeout_s, self.cfg.memory_mb):
            # the program wrote a load report of its own (an attacker's trial): its failure is an error
            verdict = dataclasses.replace(verdict, status=Status.ERROR, detail=(
                f"the program reported a syntax error its code does not have ({detail})")[:2000])
        if verdict.status is Status.INFRA_ERROR:
            worker.failed = True  # restarted once its other programs are done
            log.info("program %s of %s: infra_error (%s); worker restarted%s", program.key, program.task_id,
                     detail, ", program retried" if attempts < self.cfg.infra_retries else "")
            if attempts < self.cfg.infra_retries:
                self._queue.put((program, future, attempts + 1))
                return
        future.set_result(verdict)

    def _crashed(self, index: int, trace: str) -> None:
        """Worker `index` said it crashed (its traceback): as _worker_failed, and the trace shown,
        unless the run is being left (Ctrl-C ends its workers: not news)."""
        self._worker_failed(index, RuntimeError(trace.strip().splitlines()[-1]))
        if not self._aborted:
            sys.stderr.write(f"evalkit: execution worker failed:\n{trace}\n")

    def _worker_failed(self, index: int, exc: BaseException) -> None:
        """The worker died (never the program's fault): its programs go back to the queue, or
        end as infra_error once their retries are spent; a fresh worker takes its place."""
        worker = self._workers[index]
        log.info("execution worker %d failed (%s); %d program(s) it held go to a fresh one", index, exc,
                 len(worker.sent))
        for program, future, attempts in worker.sent.values():
            self._retry_or_fail(program, future, attempts, exc)
        worker.sent.clear()
        worker.failed = True

    def _retry_or_fail(self, program: Program, future: cf.Future, attempts: int, exc: BaseException) -> None:
        if self._aborted:
            future.set_result(Verdict(Status.INFRA_ERROR, "the run was stopped"))
        elif attempts < self.cfg.infra_retries:
            self._queue.put((program, future, attempts + 1))
        else:
            future.set_result(Verdict(Status.INFRA_ERROR, f"execution worker failed: {exc}"))

    def _restart(self, index: int) -> bool:
        """A fresh worker in place of worker `index`; False if it could not start."""
        self._workers[index].close()
        try:
            self._workers[index] = start_worker(index, self.cfg, self._settings).await_hello()
        except (OSError, RuntimeError, ValueError, ConnectionError) as exc:
            self._restart_error = exc
            return False
        return True

    def _fail_one_queued(self, index: int) -> bool:
        """With no worker to run it, the next queued program is an infra_error (so run() never
        hangs); True when the queue said stop instead."""
        item = self._queue.get()
        if item is None:
            return True
        if item[2] or item[1].set_running_or_notify_cancel():
            item[1].set_result(Verdict(Status.INFRA_ERROR,
                                       f"execution worker restart failed: {self._restart_error}"))
        return False

    def _stop(self) -> None:
        for _ in self._threads:
            self._queue.put(None)
        for thread in self._threads:
            thread.join()
        for worker in self._workers:
            worker.close()

    def close(self) -> None:
        """Stop the workers (their namespaces die with them) and remove their cgroups."""
        try:
            self._stop()
        finally:
            self._close_looks()

    def _close_looks(self) -> None:
        if self._looks_fd is not None:
            os.close(self._looks_fd)
            self._looks_fd = None

    def _abort(self) -> None:
        """Cancel the programs still queued, and end those running: a worker in its own PID
        namespace is killed with every process in it. Without one (no root) a program could
        outlive its killed worker, so those workers finish what they hold (each program ends by
        its backstop at the latest)."""
        self._aborted = True
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is not None and not item[1].cancel():  # a retry's Future is running already
                item[1].set_result(Verdict(Status.INFRA_ERROR, "the run was stopped"))
        for worker in self._workers:
            if "pidns" in worker.isolation.split("+"):
                worker.kill()

    def __enter__(self) -> LocalExecutor:
        return self

    def __exit__(self, kind: type[BaseException] | None, *exc: object) -> None:
        if kind is not None:  # left on an error or Ctrl-C: nothing queued or running is wanted
            self._abort()
        self.close()


_FULL_TIER = ("netns", "pidns", "ipcns", "ro-fs", "uid", "minimal-fs", "tmpfs", "seccomp", "pids-cgroup",
              "memory-cgroup", "cpu-cgroup")
"""Every layer the full tier has: a missing one is said on stderr."""
_CGROUP_LAYERS = frozenset({"pids-cgroup", "memory-cgroup", "cpu-cgroup"})


def _warn_if_weaker(isolation_tier: str, seccomp_missing: str | None, network: str) -> None:
    """Say on stderr, once per process, which layers did not hold and what that lets programs do
    (results.json records the tier)."""
    held = set(isolation_tier.split("+"))
    missing = [layer for layer in _FULL_TIER if layer not in held]
    if missing and not _warned:
        _warned.append(True)
        why = f" ({seccomp_missing})" if seccomp_missing and "seccomp" in missing else ""
        if set(missing) <= _CGROUP_LAYERS:  # a cgroup v2 host, say: every other layer held
            print(f"evalkit: sandbox layers missing: {', '.join(missing)}; isolation={isolation_tier} (no "
                  "cgroup v1 hierarchy for them here, and evalkit does not use cgroup v2 yet: memory is "
                  "limited per process by its address-space rlimit, processes by RLIMIT_NPROC, and a "
                  "program's helpers in sessions of their own each weigh as much as a program; README, "
                  "Execution sandbox)", file=sys.stderr)
            return
        cause = ("executor.network=none" if network == "none"
                 else "not root" if os.geteuid() != 0 else "the namespaces did not hold")
        who = ("as root" if os.geteuid() == 0 and "uid" not in held
               else "as your user" if os.geteuid() != 0 else "as unprivileged uids")
        # the filter refuses socket(2): without it and a network namespace, the network is theirs
        reach = "; they can reach the network" if not {"netns", "seccomp"} & held else ""
        print(f"evalkit: sandbox layers missing: {', '.join(missing)}{why}; isolation={isolation_tier} "
              f"({cause}: programs run {who}{reach}; README, Execution sandbox)", file=sys.stderr)


_warned: list[bool] = []
