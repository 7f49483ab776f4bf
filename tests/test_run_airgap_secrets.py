"""Air-gapped by default, and no key anywhere: whole runs checked from the outside."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import urllib.parse
from pathlib import Path

import pytest

from tests.support.cli import REPO
from tests.support.leaky_server import LeakyServer

pytestmark = pytest.mark.slow  # real runs and processes: the full suite, not the fast tier

SENTINEL = "sk-evalkit-sentinel-7f3a9c1e5b2d"


def _can_isolate_network() -> bool:
    if not (shutil.which("unshare") and shutil.which("ip")):
        return False
    probe = subprocess.run(["unshare", "-n", "ip", "link", "set", "lo", "up"],
                           capture_output=True, check=False)
    return probe.returncode == 0


def _evalkit_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "evalkit", *args]


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGING"))}
    env.update(extra)
    return env


@pytest.mark.skipif(not _can_isolate_network(),
                    reason="needs `unshare -n` (root or user namespaces) and iproute2")
def test_demo_run_needs_no_network_beyond_loopback(tmp_path):
    """The whole default pipeline, in a network namespace where only 127.0.0.1 exists.

    No HF_*_OFFLINE variables are set by the test: evalkit must not reach for the hub by itself.
    """
    run = " ".join(_evalkit_argv("run", "dataset.limit=4", "n_samples=2", f"hydra.run.dir={tmp_path / 'run'}",
                                 f"store.path={tmp_path / 'store.sqlite'}",
                                 f"executor.cache_dir={tmp_path / 'cache'}"))
    proc = subprocess.run(["unshare", "-n", "sh", "-c", f"ip link set lo up && {run}"], cwd=REPO,
                          env=_clean_env(HF_HOME=str(tmp_path / "hf")), capture_output=True, text=True,
                          timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / "run" / "results.json").is_file()


def _files_under(*roots: Path) -> list[Path]:
    return [p for root in roots for p in root.rglob("*") if p.is_file()]


def test_api_key_lands_in_no_file_log_or_message(tmp_path):
    env = _clean_env(MIXTRAL_API_KEY=SENTINEL)
    common = [f"store.path={tmp_path / 'store.sqlite'}", f"executor.cache_dir={tmp_path / 'cache'}",
              "model.api_key_env=MIXTRAL_API_KEY", "dataset.limit=3", "n_samples=2"]
    ok = subprocess.run(_evalkit_argv("run", f"hydra.run.dir={tmp_path / 'ok'}", *common), cwd=REPO, env=env,
                        capture_output=True, text=True, timeout=300, check=False)
    assert ok.returncode == 0, ok.stderr[-2000:]
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    down = subprocess.run(
        _evalkit_argv("run", "model=mixtral", f"hydra.run.dir={tmp_path / 'down'}", *common,
                      "model.max_retries=0", f"model.base_url=http://127.0.0.1:{port}/v1"),
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert down.returncode == 2
    verbose = subprocess.run(
        _evalkit_argv("--verbose", "run", "model=mixtral", f"hydra.run.dir={tmp_path / 'verbose'}", *common,
                      "model.max_retries=0", f"model.base_url=http://127.0.0.1:{port}/v1"),
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert verbose.returncode != 0
    for proc in (ok, down, verbose):
        assert SENTINEL not in proc.stdout + proc.stderr
    files = _files_under(tmp_path)
    assert any(p.name == "samples.jsonl" for p in files) and any(p.suffix == ".log" for p in files)
    leaked = [p for p in files if SENTINEL.encode() in p.read_bytes()]
    assert leaked == []


B64_KEY = "Zx9+Qw7/Lm3=Rt5+Yu8/Io1=Pa2"
"""A key with + / = in a variable (K2) whose name says nothing of a key."""


def _key_forms() -> tuple[str, ...]:
    quoted = urllib.parse.quote(B64_KEY, safe="")
    return (B64_KEY, B64_KEY[:8], B64_KEY[8:16], quoted, quoted[:12], B64_KEY.replace("/", "\\/"))


@pytest.mark.parametrize(("mode", "code"), [("partial400", 2), ("urlencoded401", 2), ("identity", 0)])
def test_a_key_the_endpoint_echoes_lands_nowhere(tmp_path, mode, code):
    """An in-run 400 quoting the key's first 8 characters, a 401 quoting it URL-encoded, an endpoint
    that names itself by the key (/v1/models root and owned_by, the answer's model, x-litellm-model-*
    headers): none of it reaches samples.jsonl, results.json, a report, junit.xml, a log or the terminal."""
    env = _clean_env(K2=B64_KEY)
    with LeakyServer(mode) as srv:
        procs = [subprocess.run(
            _evalkit_argv(*verbose, "run", f"hydra.run.dir={tmp_path / f'run{i}'}",
                          f"store.path={tmp_path / 'store.sqlite'}",
                          f"executor.cache_dir={tmp_path / 'cache'}",
                          "model=openai_compatible", f"model.base_url={srv.base_url}", "model.name=m",
                          "model.family=mixtral", "model.api_key_env=K2", "model.max_retries=0",
                          "dataset.limit=2", "n_samples=1"),
            cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False)
            for i, verbose in enumerate(((), ("--verbose",)))]
        assert srv.requests > 0
    for proc in procs:
        assert proc.returncode == code, proc.stderr[-2000:]
        assert "***" in proc.stderr or code == 0
        assert [f for f in _key_forms() if f in proc.stdout + proc.stderr] == []
    files = _files_under(tmp_path)
    if mode != "urlencoded401":  # a refused probe writes no run
        names = {p.name for p in files}
        assert {"samples.jsonl", "results.json", "report.md", "report.html", "junit.xml"} <= names
    leaked = [(p.name, f) for p in files for f in _key_forms() if f.encode() in p.read_bytes()]
    assert leaked == []
