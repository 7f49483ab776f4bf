"""A Python process that has imported evalkit's libraries and forks each `evalkit` command the tests run.

Every `python -m evalkit` the suite starts spent about 2 of its 3 to 4 s of CPU importing the same
libraries (openai, datasets with pyarrow, pandas, Hydra, pydantic, ...), and the suite starts about
two hundred of them: the largest share of its time. This process imports those libraries once per
test process; for each command it forks a process that takes the command's working directory,
environment, arguments and standard streams, and runs ``evalkit`` as ``python -m`` does. evalkit's
own modules are imported in each command's process, as in a new interpreter; only the third-party
libraries are shared. ``tests/support/cli.py`` starts a new interpreter instead when the command's
environment differs from this process's in a variable those libraries read while they are imported
(``IMPORT_TIME_VARIABLES``), or when ``EVALKIT_TESTS_NEW_INTERPRETER=1``.

Protocol, over a SOCK_SEQPACKET socket: a request is JSON ``{"args", "cwd", "env"}`` with four
descriptors (stdin, stdout, stderr, and one end of a reply socket). A forked process ("keeper")
forks the command, sends ``{"pid"}`` on the reply socket, waits for it and sends
``{"returncode"}``, negative for a signal as in subprocess.
"""

from __future__ import annotations

import json
import os
import socket
import sys

PRELOAD = ("openai", "datasets", "pandas", "hydra", "hydra.core.global_hydra", "hydra._internal.hydra",
           "omegaconf", "pydantic", "httpx", "jinja2", "numpy", "pyarrow", "rapidfuzz", "tqdm", "yaml",
           "aiohttp", "huggingface_hub")
"""What evalkit's commands import from outside evalkit, less ``evaluate``: evalkit imports it in its own
way (without scipy.stats), which its command's process still does."""
IMPORT_TIME_VARIABLES = ("PYTHON", "HF_", "HUGGINGFACE", "DATASETS", "EVALUATE", "OPENAI_LOG", "HOME",
                         "XDG_", "LANG", "LC_", "TZ", "MPL", "OMP_", "OPENBLAS", "MKL_", "ARROW", "SSL_",
                         "REQUESTS_CA", "CURL_CA")
"""Prefixes of the environment variables the preloaded libraries (or the interpreter) read as they
start, e.g. datasets' HF_DATASETS_OFFLINE and cache folders, and the certificates aiohttp's default
TLS context loads when it is imported (SSL_CERT_FILE: a test of an internal CA failed without it):
a command whose value differs from this process's runs in a new interpreter."""


def main() -> None:
    control = socket.socket(fileno=int(sys.argv[1]))
    for name in PRELOAD:
        __import__(name)
    control.send(b"ready")
    while True:
        try:
            message, fds, _, _ = socket.recv_fds(control, 1 << 20, 4)
        except (ConnectionError, OSError, KeyboardInterrupt):  # the test process is gone, or Ctrl-C
            return
        if not message:
            return
        if os.fork() == 0:
            control.close()
            _keep(json.loads(message), fds)
        for fd in fds:
            os.close(fd)
        _reap()


def _reap() -> None:
    """Collect the keepers that finished (each reports its command's code itself)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _keep(request: dict, fds: list[int]) -> None:
    """In the keeper: fork the command, report its pid and then its exit code."""
    stdin, stdout, stderr, reply_fd = fds
    reply = socket.socket(fileno=reply_fd)
    try:
        pid = os.fork()
        if pid == 0:
            reply.close()
            _command(request, stdin, stdout, stderr)
        for fd in (stdin, stdout, stderr):
            os.close(fd)
        reply.send(json.dumps({"pid": pid}).encode())
        _, status = os.waitpid(pid, 0)
        reply.send(json.dumps({"returncode": os.waitstatus_to_exitcode(status)}).encode())
    finally:
        os._exit(0)


def _command(request: dict, stdin: int, stdout: int, stderr: int) -> None:
    """In the command's process: become `python -m evalkit ARGS` in the request's folder and environment."""
    code = 1
    try:
        for fd, target in ((stdin, 0), (stdout, 1), (stderr, 2)):
            os.dup2(fd, target)
            os.close(fd)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        sys.path[0] = os.getcwd()  # what -m puts first
        sys.argv = ["-m", *request["args"]]
        import runpy  # noqa: PLC0415 - only in the command's process

        try:
            runpy._run_module_as_main("evalkit")  # what `python -m evalkit` runs
            code = 0
        except SystemExit as stop:
            code = _exit_code(stop.code)
    except BaseException:  # noqa: BLE001 - as the interpreter does: the traceback, exit 1
        import traceback  # noqa: PLC0415

        traceback.print_exc()
        code = 1
    finally:
        _exit(code)


def _exit_code(code: object) -> int:
    """What the interpreter exits with for SystemExit(code)."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    print(code, file=sys.stderr)
    return 1


def _exit(code: int) -> None:
    """End as the interpreter's own exit would: threads joined, exit handlers run, streams flushed."""
    import atexit  # noqa: PLC0415
    import threading  # noqa: PLC0415

    try:
        threading._shutdown()
        atexit._run_exitfuncs()
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
    finally:
        os._exit(code)


if __name__ == "__main__":
    main()
