"""The execution worker: a small interpreter that forks one child per program.

Started by LocalExecutor as ``sys.executable -S -s -P -c BOOT`` (BOOT imports this
module and calls ``main`` with the settings JSON in ``sys.argv[1]``) with a
minimal environment. It isolates itself once (isolation.py), then serves
requests on stdin/stdout: 4-byte big-endian length + JSON
``{"code", "tests", "limit", "language"}`` in, the same framing with ``{"status",
"detail", "cpu"}`` out. Forking a warm worker costs well under a millisecond; a fresh
interpreter per program costs several.

What makes a program cheap to run here, on a virtual machine where each page fault costs
microseconds: a fork costs in proportion to the worker's anonymous memory, and the child
pays a copy-on-write fault for each page it writes. So the worker starts without site
(``-S``; the harness passes its sys.path, so installed packages still import), as .pth
files import modules nobody needs; it forks without the at-fork hooks
(isolation.fork_without_hooks); it compiles each task's tests, trusted text from the
dataset, once for all the task's samples; and it works out in advance all it can for the
child, which compiles only the code under test.

A program passes only on a positive signal: after ``exec`` of the code under test and
then of the tests (which end with ``check(...)``) returns in the original child process, the runner
writes a per-program random token to a dedicated pipe. Any early exit, signal or
exception leaves the token unwritten.

JavaScript programs (request ``"language": "javascript"``) get the same fork,
setup and limits, then the child execs node (found once at worker start) on a
small runner, NODE_RUNNER, that loads the program from a file in the child's
work dir and writes the same result lines; the token reaches the runner through
a pipe it reads and closes before the program starts.
"""

from __future__ import annotations

import _signal
import builtins
import functools
import gc
import json
import math
import os
import resource
import select
import signal
import struct
import sys
import time
import types

import isolation  # the sibling module; the worker puts this folder on sys.path

SCRATCH = "/tmp"
RESULT_FD = 3
READ_CHUNK = 1 << 16
MAX_REPORT = 1 << 16
EXIT_INFRA = 111
EXIT_LOST = 112
TOKEN_FD = 4
TESTS_KEPT = 64
NODE_RESERVE_MB = 1024
"""Address space node gets beyond memory_mb: V8 reserves ~700 MB of virtual memory at
start (code range, heap cages) whatever the heap size, so RLIMIT_AS = memory_mb alone
aborts node before it runs anything. The JS heap itself is bounded by
--max-old-space-size=memory_mb, processes and threads by RLIMIT_NPROC / the pids cgroup."""
NODE_RUNNER = r"""'use strict';
const fs = require('fs'), path = require('path'), vm = require('vm');
const writeSync = fs.writeSync, exit = (process.reallyExit || process.exit).bind(process);
const buf = Buffer.alloc(64), token = buf.toString('latin1', 0, fs.readSync(4, buf, 0, 64, null));
fs.closeSync(4);
function report(kind, err) {
  let name = 'Exception', message = '<unprintable>';
  try {
    const isErr = err !== null && (typeof err === 'object' || typeof err === 'function');
    name = isErr && err.code === 'ERR_ASSERTION' ? 'AssertionError'
      : isErr && typeof err.name === 'string' ? err.name : 'Exception';
    message = String(isErr && 'message' in err ? err.message : err).slice(0, 2000);
    message = message.split('\\').join('\\\\').split('\n').join('\\n');
  } catch (e) { /* a hostile error object must not hide the verdict */ }
  writeSync(3, kind + name + '\t' + message + '\n');
}
const file = path.resolve('solution.js');
try {  // compiled as require does (CommonJS wrapper): a syntax error, not one thrown at run time
  const params = ['exports', 'require', 'module', '__filename', '__dirname'];
  vm.compileFunction(fs.readFileSync(file, 'utf8'), params, {filename: file});
} catch (err) { report('S', err); exit(0); }
try { require(file); } catch (err) { report('E', err); exit(1); }
writeSync(3, 'P' + token + '\n');
exit(0);
"""


WARM_UP = """
from typing import List
def f(xs: List[int], k: int = 2) -> list:
    return sorted({x * k for x in xs if x % 2 == 0})
assert f([1, 2, 4]) == [4, 8], f"{f([1, 2, 4])!r}"
"""
"""Run once in the worker: the first compile in a process builds the compiler's state
(0.8 ms here), which each child would otherwise build again."""
_LIMITS: dict[tuple[float, str], list[tuple[int, int, int]]] = {}
"""Resource limits by (CPU limit, language): a few distinct values per run."""


def _minimal_env(workdir: str) -> dict[str, str]:
    return {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": workdir, "TMPDIR": workdir,
            "LANG": "C.UTF-8", "PYTHONHASHSEED": "0"}


def _limits(cfg: dict, limit: float, language: str) -> list[tuple[int, int, int]]:
    """(resource, soft, hard) for one program, never above the hard limits the machine allows.
    Worked out in the worker, once per CPU limit: the child only sets them."""
    key = (limit, language)
    if key not in _LIMITS:
        cpu = max(1, math.ceil(limit))
        mb = 1 << 20
        address_mb = cfg["memory_mb"] + (NODE_RESERVE_MB if language == "javascript" else 0)
        wanted = [(resource.RLIMIT_CPU, cpu, cpu + 1), (resource.RLIMIT_AS, address_mb * mb, None),
                  (resource.RLIMIT_NPROC, cfg["max_processes"], None),
                  (resource.RLIMIT_FSIZE, cfg["max_file_mb"] * mb, None),
                  (resource.RLIMIT_NOFILE, cfg["max_open_files"], None), (resource.RLIMIT_CORE, 0, None)]
        limits = []
        for which, soft, wanted_hard in wanted:
            _, old_hard = resource.getrlimit(which)
            hard = soft if wanted_hard is None else wanted_hard
            if old_hard != resource.RLIM_INFINITY:
                hard = min(hard, old_hard)
            limits.append((which, min(soft, hard), hard))
        _LIMITS[key] = limits
    return _LIMITS[key]


# Bound at import: a program may replace builtins before the runner reports on it.
_TYPE, _STR = type, str


def _report(kind: str, name: str, message: str) -> None:
    """One line 'KIND name<TAB>message' on the result pipe (no json: it uses builtins)."""
    line = kind + name + "\t" + message[:2000].replace("\\", "\\\\").replace("\n", "\\n") + "\n"
    os.write(RESULT_FD, line.encode("utf-8", "replace"))


def _describe(exc: BaseException) -> tuple[str, str]:
    try:
        return _STR(_TYPE(exc).__name__), _STR(exc)
    except BaseException:  # a hostile __str__ must not hide the verdict
        return "Exception", "<unprintable>"


def _child(cfg: dict, code: str, tests: str | types.CodeType, limits: list, limit: float, token: bytes,
           fds: tuple[int, int, str], language: str = "python") -> None:
    """Runs in the forked child; never returns, whatever the program does."""
    exit_ = os._exit  # bound now: the program may replace os._exit
    try:
        _prepare(cfg, limits, limit, fds)
        if language == "javascript":
            _exec_node(cfg, f"{code}\n{tests}", token)
    except BaseException as exc:  # our side failed: never blame the program
        try:
            _report("I", *_describe(exc))
        finally:
            exit_(EXIT_INFRA)
    try:
        _run_program(code, tests, token, os.write, exit_)
    finally:
        exit_(EXIT_LOST)


def _exec_node(cfg: dict, source: str, token: bytes) -> None:
    """Replace this child by node running NODE_RUNNER on the program, written to solution.js."""
    with open("solution.js", "w", encoding="utf-8") as fh:
        fh.write(source)
    r_tok, w_tok = os.pipe()
    os.write(w_tok, token)
    os.close(w_tok)
    if r_tok != TOKEN_FD:  # usually equal: fds above RESULT_FD were all closed in _prepare
        os.dup2(r_tok, TOKEN_FD)
        os.close(r_tok)
    os.set_inheritable(TOKEN_FD, True)  # the runner reads and closes it before the program runs
    # --v8-pool-size=1: fewer threads against the process limits; --random-seed: Math.random
    # repeats between runs (as PYTHONHASHSEED and random.seed do for Python).
    os.execv(cfg["node"], [cfg["node"], f"--max-old-space-size={cfg['memory_mb']}", "--v8-pool-size=1",
                           "--random-seed=1", "-e", NODE_RUNNER])


def _prepare(cfg: dict, limits: list[tuple[int, int, int]], limit: float, fds: tuple[int, int, str]) -> None:
    """The child's own session, descriptors, capabilities, directory and limits. Each step is a
    plain call: the child writes few pages, since each page it writes costs a copy-on-write fault."""
    w_out, w_res, workdir = fds
    os.setsid()
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(w_out, 1)
    os.dup2(w_out, 2)
    os.dup2(w_res, RESULT_FD)
    os.closerange(RESULT_FD + 1, 4096)
    # The worker ignores SIGINT (see main); the program gets Python's usual KeyboardInterrupt.
    # _signal, not signal: its wrapper's enum conversions alone fault in some 60 pages.
    _signal.signal(_signal.SIGINT, _signal.default_int_handler)
    if cfg["root_tier"]:
        isolation.drop_all_capabilities()
    os.chdir(workdir)
    if not cfg["private_scratch"]:  # with a private /tmp the worker's environment already names it
        os.environ.clear()
        os.environ.update(_minimal_env(workdir))
    for which, soft, hard in limits:
        resource.setrlimit(which, (soft, hard))
    # Sub-second CPU precision; RLIMIT_CPU is the backstop if this is disarmed.
    _signal.setitimer(_signal.ITIMER_PROF, limit)


def _run_program(source: str, tests: types.CodeType, token: bytes, write, exit_) -> None:
    my_pid = os.getpid()
    try:
        # dont_inherit: this file's `from __future__ import annotations` must not leak into the program
        code = compile(source, "solution.py", "exec", dont_inherit=True)
    except (SyntaxError, ValueError) as exc:  # ValueError: null bytes in source
        _report("S", *_describe(exc))
        exit_(0)
    try:
        # A real module in sys.modules: dataclasses, pickle and typing look the program's module up there.
        module = types.ModuleType("solution")
        module.__dict__["__builtins__"] = builtins
        sys.modules["solution"] = module
        exec(code, module.__dict__)  # noqa: S102 - isolated child
        exec(tests, module.__dict__)  # noqa: S102 - the tests see the program's names, as in one file
    except BaseException as exc:
        _report("E", *_describe(exc))
        exit_(1)
    if os.getpid() == my_pid:  # a forked copy of the program finishing the tests is not a pass
        write(RESULT_FD, b"P" + token + b"\n")
    exit_(0)


def _collect(pid: int, r_out: int, r_res: int, wall: float, cap: int) -> tuple[bytes, bytes, bool]:
    """Drain the child's output (up to cap, never blocking it) until it exits or the wall backstop."""
    deadline = time.monotonic() + wall
    pidfd = os.pidfd_open(pid)
    poller = select.poll()
    for fd in (r_out, r_res, pidfd):
        poller.register(fd, select.POLLIN)
    out, res, walled = bytearray(), bytearray(), False
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                walled = True
                break
            events = poller.poll(left * 1000)
            if any(fd == pidfd for fd, _ in events):
                break
            for fd, _ in events:
                chunk = os.read(fd, READ_CHUNK)
                if not chunk:
                    poller.unregister(fd)
                elif fd == r_out and len(out) < cap:
                    out += chunk[: cap - len(out)]
                elif fd == r_res and len(res) < MAX_REPORT:
                    res += chunk
    finally:
        os.close(pidfd)
    return bytes(out), bytes(res), walled


def _kill_everything(pid: int, pid_namespace: bool) -> None:
    """Kill the program and everything it started, and reap them."""
    try:
        if pid_namespace:
            os.kill(-1, signal.SIGKILL)  # as PID 1: every process of the namespace but us
        else:
            os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    while True:
        try:
            if os.waitpid(-1, 0 if pid_namespace else os.WNOHANG)[0] == 0:
                break
        except ChildProcessError:
            break


def _drain(fd: int, into: bytes) -> bytes:
    os.set_blocking(fd, False)
    chunks = [into]
    try:
        while len(b"".join(chunks)) < MAX_REPORT and (chunk := os.read(fd, READ_CHUNK)):
            chunks.append(chunk)
    except BlockingIOError:
        pass
    return b"".join(chunks)


def _clean_up(workdir: str, cfg: dict) -> None:
    """Remove what the program wrote: its directory, or with private scratch mounts (root) their
    contents. The program, uid 0, owned those mounts' roots: their mode is set back too."""
    if not cfg["private_scratch"]:
        try:
            os.rmdir(workdir)  # the common case: the program left nothing behind
        except OSError:
            _remove_tree(workdir)
        return
    for mount in cfg["scratch_mounts"]:
        usage = os.statvfs(mount)  # one call: inodes in use beyond the mount's own root
        if usage.f_files - usage.f_ffree > 1:
            for name in os.listdir(mount):
                _remove_tree(os.path.join(mount, name))
        os.chmod(mount, 0o1777)


def _remove_tree(path: str) -> None:
    """Remove path and what is under it, following no symlink. Not shutil.rmtree: shutil
    imports the archive modules, some 30 more mappings that every fork would copy."""
    if os.path.isdir(path) and not os.path.islink(path):
        for root, dirs, files in os.walk(path, topdown=False):
            for name in files:
                _quietly(os.unlink, os.path.join(root, name))
            for name in dirs:  # symlinks to directories are listed here, and not walked into
                entry = os.path.join(root, name)
                _quietly(os.unlink if os.path.islink(entry) else os.rmdir, entry)
        _quietly(os.rmdir, path)
    else:
        _quietly(os.unlink, path)


def _quietly(remove, path: str) -> None:
    try:
        remove(path)
    except OSError:
        pass


@functools.lru_cache(maxsize=TESTS_KEPT)
def _compiled_tests(tests: str) -> types.CodeType:
    """The task's tests compiled once for all its samples; the few most recent tasks are kept,
    since every page the worker holds makes each fork dearer."""
    return compile(tests, "tests.py", "exec", dont_inherit=True)


def run_one(cfg: dict, code: str, tests: str, limit: float, language: str = "python") -> dict:
    """Execute one program (code under test, then tests) in a forked child; its verdict as a dict."""
    if language not in ("python", "javascript"):
        return {"status": "infra_error", "detail": f"no runner for language {language!r}", "cpu": 0.0}
    if language == "javascript" and not cfg.get("node"):
        return {"status": "infra_error", "detail": "node is not installed", "cpu": 0.0}
    if language == "python":
        try:
            tests = _compiled_tests(tests)
        except (SyntaxError, ValueError) as exc:  # the dataset's fault, never the program's
            return {"status": "infra_error", "detail": f"the task's tests do not compile: {exc}", "cpu": 0.0}
    limits = _limits(cfg, limit, language)
    if cfg["private_scratch"]:  # the private /tmp is the program's directory, emptied after it
        workdir = SCRATCH
    else:
        workdir = os.path.join(SCRATCH, f"run-{os.urandom(6).hex()}")
        os.mkdir(workdir, 0o700)
    fds: list[int] = []
    try:
        r_out, w_out = os.pipe()
        fds += (r_out, w_out)
        r_res, w_res = os.pipe()
        fds += (r_res, w_res)
        token = os.urandom(16).hex().encode()
        pid = isolation.fork_without_hooks()
    except OSError:
        # No child (fds or processes exhausted): this worker lives on, so it must not leak them.
        for fd in fds:
            os.close(fd)
        _clean_up(workdir, cfg)
        raise
    if pid == 0:
        _child(cfg, code, tests, limits, limit, token, (w_out, w_res, workdir), language)
    os.close(w_out)
    os.close(w_res)
    try:
        out, res, walled = _collect(pid, r_out, r_res, limit * cfg["wall_factor"], cfg["max_output_bytes"])
        if walled:
            os.kill(pid, signal.SIGKILL)
        _, status, usage = os.wait4(pid, 0)
        _kill_everything(pid, cfg["pid_namespace"])
        res = _drain(r_res, res)
    finally:
        os.close(r_out)
        os.close(r_res)
        _clean_up(workdir, cfg)
    cpu = usage.ru_utime + usage.ru_stime
    status_name, detail = classify(res, token, status, cpu, limit, walled)
    if status_name in ("error", "infra_error") and not detail.endswith(")") and out:
        detail += " | output: " + out[-300:].decode("utf-8", "replace")
    return {"status": status_name, "detail": detail, "cpu": cpu}


_TIMEOUT_SIGNALS = (signal.SIGXCPU, signal.SIGPROF, signal.SIGKILL)


def classify(res: bytes, token: bytes, status: int, cpu: float,  # noqa: PLR0911
             limit: float, walled: bool) -> tuple[str, str]:
    """(status, detail) from the child's report, wait status and CPU time."""
    lines = res.split(b"\n")
    exit_code = os.waitstatus_to_exitcode(status)
    if b"P" + token in lines and exit_code == 0 and not walled:
        return "passed", ""
    if walled:
        return "timeout", f"wall-clock backstop reached (CPU limit {limit:.2f} s)"
    if cpu >= limit * 0.98 or (exit_code < 0 and -exit_code in _TIMEOUT_SIGNALS and cpu >= limit * 0.5):
        return "timeout", f"CPU limit {limit:.2f} s exceeded"
    reports = [line for line in lines if line[:1] in (b"S", b"E", b"I")]
    if reports:
        kind, payload = reports[0][:1], _payload(reports[0][1:])
        text = f"{payload.get('type', '?')}: {payload.get('message', '')}"
        if kind == b"I":
            return "infra_error", f"sandbox setup failed: {text}"
        if kind == b"S":
            return "syntax_error", text
        return ("failed" if payload.get("type") == "AssertionError" else "error"), text
    if exit_code < 0:
        return "error", f"killed by {signal.Signals(-exit_code).name}"
    return "error", f"exited with code {exit_code} before the tests finished"


def _payload(raw: bytes) -> dict:
    name, _, message = raw.decode("utf-8", "replace").partition("\t")
    message = message.replace("\\n", "\n").replace("\\\\", "\\")
    return {"type": name, "message": message}


def _isolate(cfg: dict) -> list[str]:
    """Isolate this worker once; returns the tiers that held (root: forks into a PID namespace)."""
    held = []
    cfg.update(root_tier=False, pid_namespace=False, private_scratch=False)
    if os.geteuid() != 0 or cfg["network"] == "none":
        return held
    if cfg.get("cgroup"):
        isolation.join_pids_cgroup(cfg["cgroup"])
        held.append("pids-cgroup")
    isolation.unshare(isolation.CLONE_NEWNET | isolation.CLONE_NEWNS | isolation.CLONE_NEWPID)
    child = os.fork()
    if child:  # the outer process only waits: PID 1 of the new namespace is the worker
        os.closerange(0, 3)
        _, status = os.waitpid(child, 0)
        os._exit(os.waitstatus_to_exitcode(status) & 0xFF)
    cfg["scratch_mounts"] = isolation.lock_filesystem(cfg["scratch_mb"])
    isolation.mount_private_proc()
    isolation.drop_bounding_set()
    isolation.prepare_to_drop_capabilities()
    cfg.update(root_tier=True, pid_namespace=True, private_scratch=True)
    return ["netns", "pidns", "ro-fs", "no-caps", *held]


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


def _read_exact(fd: int, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = os.read(fd, n - len(buf))
        if not chunk:
            raise EOFError
        buf += chunk
    return buf


def _send(fd: int, obj: dict) -> None:
    data = json.dumps(obj).encode()
    os.write(fd, struct.pack(">I", len(data)) + data)


def main() -> None:
    """Isolate, say hello with the tier, then serve requests until stdin closes."""
    cfg = json.loads(sys.argv[1])
    # Programs import from the harness's path, not from this folder (put first only to import us).
    sys.path[:] = [p for p in sys.path if p != os.path.dirname(os.path.abspath(__file__))]
    sys.path += [p for p in cfg.get("sys_path", ()) if p not in sys.path]
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a program signalling PID 1 must not stop us
    try:
        tiers = _isolate(cfg)
    except OSError as exc:
        tiers = [f"isolation failed: {exc}"]
    tiers.append("rlimits")
    if cfg["private_scratch"]:  # every program runs in SCRATCH: its environment is set once, here
        os.environ.clear()
        os.environ.update(_minimal_env(SCRATCH))
    inp, outp = os.dup(0), os.dup(1)
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(null, 1)
    _preload(cfg.get("preload", ()))  # last: _isolate's os.fork would reseed random
    _send(outp, {"isolation": "+".join(tiers)})
    while True:
        try:
            size = struct.unpack(">I", _read_exact(inp, 4))[0]
            request = json.loads(_read_exact(inp, size))
        except EOFError:
            break
        try:
            verdict = run_one(cfg, request["code"], request["tests"], float(request["limit"]),
                              request["language"])
        except Exception as exc:  # noqa: BLE001 - reported as infra_error, worker keeps serving
            verdict = {"status": "infra_error", "detail": f"{type(exc).__name__}: {exc}", "cpu": 0.0}
        _send(outp, verdict)


if __name__ == "__main__":
    main()
