"""Source of datasets/instruct_javascript.jsonl: the tasks written out readably.

Edit the tasks here, then regenerate the data file (a test checks they agree):

    python datasets/instruct_javascript_build.py

Same shape as instruct_python (see instruct_python_build.py): `prompt` is the
file content above the cursor and ends in a `//` comment saying what to write;
`reference` continues it; `tests` defines ``function check(candidate)`` with
node's ``assert/strict``. Programs run with node (a documented requirement).
The tasks themselves live in instruct_javascript_tasks.py.
"""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA_FILE = HERE / "instruct_javascript.jsonl"
PREFIX = "instruct_javascript/"


def _clean(code: str) -> str:
    return textwrap.dedent(code.lstrip("\n")).rstrip() + "\n"


def task(name: str, file_name: str, entry_point: str, prompt: str, reference: str,
         tests: str) -> dict[str, str]:
    """One row of the Task schema (datasets/README.md)."""
    return {
        "task_id": PREFIX + name,
        "language": "javascript",
        "file_name": file_name,
        "instruction": "",
        "prompt": _clean(prompt),
        "suffix": "",
        "entry_point": entry_point,
        "tests": _clean(tests),
        "reference": _clean(reference),
    }


def all_tasks() -> list[dict[str, str]]:
    """Every task, in file order."""
    sys.path.insert(0, str(HERE))
    try:
        import instruct_javascript_tasks as part
    finally:
        sys.path.remove(str(HERE))
    return part.tasks(task)


def render() -> str:
    """The JSON Lines text of the data file."""
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in all_tasks())


if __name__ == "__main__":
    DATA_FILE.write_text(render(), encoding="utf-8")
    print(f"wrote {DATA_FILE}")
