"""Running the real `evalkit` command as a user would: a separate process, its exit code and output."""

from __future__ import annotations

import contextlib
import json
import locale
import os
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from tests.support import preloaded

TESTS = Path(__file__).resolve().parents[1]
"""The tests folder."""
REPO = TESTS.parent
"""The project checkout the tests run from."""
FIXTURES = TESTS / "fixtures"
"""Data the tests read, vendored with its provenance and licence."""


_DRAWS_PLOTS = ("run", "score")
"""The commands whose reports draw plots (``report.plots``)."""
_SHOWS_ONLY = ("-h", "--help", "--hydra-help", "-c", "--cfg", "-i", "--info", "-sc", "--shell-completion")
"""Options with which a command only shows something (its help, its config): it writes no report."""


def run_evalkit(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
                timeout: float = 300) -> subprocess.CompletedProcess:
    """Run `python -m evalkit ARGS` as a real process; returns its completed process (text).

    A run or score draws no plots unless ARGS set ``report.plots``: drawing them was a quarter of
    the CPU of each of the suite's small runs (1.2 of 4.5 s), and the tests that look at plots ask.
    """
    if (args and args[0] in _DRAWS_PLOTS and not any(a.startswith("report.plots") for a in args)
            and not set(args) & set(_SHOWS_ONLY)):
        args = (*args, "report.plots=false")
    full_env = _environment(env)
    command = [sys.executable, "-m", "evalkit", *args]
    server = _Preloaded.serving(full_env)
    if server is not None:
        with contextlib.suppress(_Gone):
            return server.run(command, cwd or REPO, full_env, timeout)
    return subprocess.run(command, cwd=cwd or REPO, env=full_env,
                          capture_output=True, text=True, timeout=timeout, check=False)


def _environment(env: dict[str, str] | None) -> dict[str, str]:
    full_env = dict(os.environ)
    full_env.update(env or {})
    full_env.setdefault("HF_DATASETS_OFFLINE", "1")
    full_env.setdefault("HF_HUB_OFFLINE", "1")
    return full_env


class _Gone(Exception):
    """The preloaded interpreter ended before it started the command: it runs in a new one instead."""


class _Preloaded:
    """This test process's preloaded interpreter (tests/support/preloaded.py), started at first use."""

    _server: _Preloaded | None = None
    _failed = False
    _lock = threading.Lock()

    def __init__(self) -> None:
        self.env = _environment(None)
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        boot = f"import runpy; runpy.run_path({str(Path(preloaded.__file__))!r}, run_name='__main__')"
        self.process = subprocess.Popen([sys.executable, "-c", boot, str(theirs.fileno())], cwd=REPO,
                                        env=self.env, pass_fds=[theirs.fileno()],
                                        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        theirs.close()
        self.control = mine
        self.control.settimeout(120)
        if self.control.recv(16) != b"ready":
            raise OSError("the preloaded interpreter did not start")
        self.control.settimeout(None)
        self.sending = threading.Lock()

    @classmethod
    def serving(cls, env: dict[str, str]) -> _Preloaded | None:
        """The server, or None when this command needs a new interpreter."""
        if os.environ.get("EVALKIT_TESTS_NEW_INTERPRETER") == "1" or cls._failed:
            return None
        with cls._lock:
            if cls._server is None or cls._server.process.poll() is not None:
                try:
                    cls._server = cls()
                except OSError:
                    cls._failed = True
                    return None
        server = cls._server
        changed = {k for k in env.keys() | server.env.keys() if env.get(k) != server.env.get(k)}
        if any(k.startswith(preloaded.IMPORT_TIME_VARIABLES) for k in changed):
            return None
        return server

    def run(self, command: list[str], cwd: Path, env: dict[str, str],
            timeout: float) -> subprocess.CompletedProcess:
        """`command` forked from the preloaded interpreter; returns as subprocess.run(text=True) does."""
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        null = os.open(os.devnull, os.O_RDONLY)
        reply, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        request = json.dumps({"args": command[3:], "cwd": str(cwd), "env": env}).encode()
        try:
            with self.sending:
                socket.send_fds(self.control, [request], [null, out_w, err_w, theirs.fileno()])
        except OSError as exc:
            for fd in (out_r, err_r):
                os.close(fd)
            reply.close()
            raise _Gone from exc
        finally:
            for fd in (null, out_w, err_w):
                os.close(fd)
            theirs.close()
        with reply:
            reply.settimeout(60)
            started = reply.recv(1024)
            if not started:  # it ended between the request and the fork
                for fd in (out_r, err_r):
                    os.close(fd)
                raise _Gone
            pid = json.loads(started)["pid"]
            deadline = time.monotonic() + timeout
            streams = _read_until_closed({out_r: bytearray(), err_r: bytearray()}, deadline)
            if streams is None:
                os.kill(pid, signal.SIGKILL)
                raise subprocess.TimeoutExpired(command, timeout)
            reply.settimeout(max(1.0, deadline - time.monotonic()))
            returncode = json.loads(reply.recv(1024))["returncode"]
        return subprocess.CompletedProcess(command, returncode, _text(streams[out_r]), _text(streams[err_r]))


def _read_until_closed(buffers: dict[int, bytearray], deadline: float) -> dict[int, bytearray] | None:
    """Read each pipe into its buffer until every writer closed it; None at the deadline. Closes the pipes."""
    with selectors.DefaultSelector() as selector:
        for fd in buffers:
            selector.register(fd, selectors.EVENT_READ)
        try:
            while selector.get_map():
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                for key, _ in selector.select(left):
                    data = os.read(key.fd, 1 << 16)
                    if data:
                        buffers[key.fd] += data
                    else:
                        selector.unregister(key.fd)
        finally:
            for fd in buffers:
                os.close(fd)
    return buffers


def _text(data: bytearray) -> str:
    """Bytes as subprocess.run(text=True) decodes them: the locale's encoding, universal newlines."""
    text = bytes(data).decode(locale.getpreferredencoding(False))
    return text.replace("\r\n", "\n").replace("\r", "\n")
