"""Hostile completions for HumanEval/0 (has_close_elements), with the verdict each must get.

A data table, reused by the executor tests and by an `evalkit score` based test.
Each completion continues the HumanEval/0 prompt (it starts inside the function
body); hostile code after the body runs at module level, before the tests.
Placeholders filled by ``render``: ``{port}`` (a loopback TCP server of the
harness that must see no connection), ``{victim}`` (a file outside the sandbox
that must survive), ``{outside}`` (a directory that must stay empty).
``contained``: the entry is only safe to run once containment is verified
(pids cgroup / PID namespace / no capabilities), see test_execution_hostile.py.
"""

from __future__ import annotations

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
"""), Status.ERROR, contained=True),
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
    Hostile("replaces_builtins", _after(WRONG, "import builtins\n"
                                        "builtins.AssertionError = type('AssertionError', (Exception,), {})\n"
                                        "builtins.isinstance = lambda *a: True"), Status.FAILED),
    Hostile("deep_recursion", _after(WRONG, "def f(n):\n    return f(n + 1)\nf(0)"), Status.ERROR),
    Hostile("c_stack_overflow", _after(WRONG, "import sys\nsys.setrecursionlimit(10 ** 8)\nnested = []\n"
                                       "for _ in range(10 ** 6):\n    nested = [nested]\nrepr(nested)"),
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
)


def render(hostile: Hostile, port: int, victim: str, outside: str) -> str:
    """The completion with its placeholders filled."""
    return (hostile.completion.replace("{port}", str(port)).replace("{victim}", victim)
            .replace("{outside}", outside))


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


def containment_problem(ex: LocalExecutor) -> str | None:
    """Why dangerous programs must not run here, or None when containment is verified."""
    needed = ("pidns", "no-caps", "pids-cgroup")
    missing = [tier for tier in needed if tier not in ex.isolation.split("+")]
    if missing:
        return f"containment missing ({', '.join(missing)}; isolation={ex.isolation})"
    for cgroup in worker_cgroups(ex):
        if int((cgroup / "pids.max").read_text()) != CFG.max_processes + 2:
            return f"pids cgroup {cgroup} has no limit"
    return None
