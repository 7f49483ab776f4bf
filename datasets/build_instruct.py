"""Source of our instruction-style data files: the tasks written out readably.

Edit the tasks in the task modules, then regenerate the data files (a test checks
they agree):

    python datasets/build_instruct.py

Each task is shaped like an IDE request to the gateway: `prompt` is the file
content above the cursor and ends in a comment saying what to write (the
gateway's convention when the instruction is empty); `reference` is the code a
good answer writes after that comment; `tests` defines ``check(candidate)``
(for JavaScript with node's ``assert/strict``; programs run with node).
"""

from __future__ import annotations

import importlib
import json
import sys
import textwrap
from pathlib import Path
from typing import Callable

HERE = Path(__file__).resolve().parent

SETS: dict[str, tuple[str, tuple[str, ...]]] = {
    "instruct_python": ("python", ("instruct_python_tasks_a", "instruct_python_tasks_b")),
    "instruct_javascript": ("javascript", ("instruct_javascript_tasks",)),
}
"""Data set name -> (language, the task modules that hold its tasks, in order)."""


def _clean(code: str) -> str:
    return textwrap.dedent(code.lstrip("\n")).rstrip() + "\n"


def _row_maker(set_name: str, language: str) -> Callable[..., dict[str, str]]:
    def task(name: str, file_name: str, entry_point: str, prompt: str, reference: str,
             tests: str) -> dict[str, str]:
        """One row of the Task schema (datasets/README.md)."""
        return {
            "task_id": f"{set_name}/{name}",
            "language": language,
            "file_name": file_name,
            "instruction": "",
            "prompt": _clean(prompt),
            "suffix": "",
            "entry_point": entry_point,
            "tests": _clean(tests),
            "reference": _clean(reference),
        }

    return task


def all_tasks(set_name: str) -> list[dict[str, str]]:
    """Every task of one set, in file order."""
    language, modules = SETS[set_name]
    task = _row_maker(set_name, language)
    sys.path.insert(0, str(HERE))
    try:
        return [row for name in modules for row in importlib.import_module(name).tasks(task)]
    finally:
        sys.path.remove(str(HERE))


def render(set_name: str) -> str:
    """The JSON Lines text of one set's data file."""
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in all_tasks(set_name))


if __name__ == "__main__":
    for name in SETS:
        path = HERE / f"{name}.jsonl"
        path.write_text(render(name), encoding="utf-8")
        print(f"wrote {path}")
