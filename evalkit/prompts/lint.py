"""Checking every template of a registry before any model is called."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from evalkit.prompts.registry import TemplateError, families, load_template, versions
from evalkit.prompts.render import render
from evalkit.records import Task

SAMPLE_TASKS = (
    Task(task_id="lint/function", language="python", entry_point="add", tests="", reference="",
         prompt='def add(a: int, b: int) -> int:\n    """Return the sum of a and b."""\n',
         instruction="Complete the function `add`."),
    Task(task_id="lint/comment", language="python", entry_point="add", tests="", reference="",
         prompt="import math\n\n# a function add(a, b) that returns a + b\n", suffix="\n"),
)
"""A HumanEval-style task and an IDE-style one (instruction in a comment), used when none are given."""


def lint(registry: Path, tasks: Sequence[Task] | None = None) -> list[str]:
    """One line per problem in every template of ``registry``; empty when all are usable.

    Checks, on load, the YAML shape and param types, that includes resolve, that
    every variable is one the dataset provides and that post-processing steps
    exist; then that each template renders for ``tasks`` (or two built-in sample tasks).
    """
    registry = Path(registry)
    problems: list[str] = []
    found = families(registry)
    if not found:
        return [f"{registry}: no templates under code_generation/ or code_suggestions/generations/"]
    for family in found:
        for version in versions(registry, family):
            try:
                template = load_template(registry, family, version)
                for task in tasks or SAMPLE_TASKS:
                    render(template, task)
            except TemplateError as exc:
                problems.append(str(exc))
    return problems
