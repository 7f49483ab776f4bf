"""HumanEval infilling: HumanEval's solutions with a hole to fill in the middle.

Bavarian et al., "Efficient Training of Language Models to Fill in the Middle" (2022),
https://arxiv.org/abs/2207.14255. The four data files of OpenAI's human-eval-infilling
repository (MIT licence) are vendored in datasets/humaneval_infilling/ with their
licence and provenance; rows are read with ``datasets``. A program is prompt + middle +
suffix, then the tests and ``check(entry_point)``, exactly as that harness builds it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from evalkit.config import DATASETS_DIR
from evalkit.records import Task

DATA_DIR = DATASETS_DIR / "humaneval_infilling"

SUBSETS = {
    "infilling_single_line": "HumanEval-SingleLineInfilling.jsonl.gz",
    "infilling_multi_line": "HumanEval-MultiLineInfilling.jsonl.gz",
    "infilling_random_span": "HumanEval-RandomSpanInfilling.jsonl.gz",
    "infilling_random_span_light": "HumanEval-RandomSpanInfillingLight.jsonl.gz",
}
"""evalkit dataset name -> vendored data file."""

REQUIRED = ("task_id", "prompt", "test", "entry_point")
"""String fields a row must have non-empty; ``suffix`` and ``canonical_solution`` may be empty
(a random span can be empty or whitespace, a masked last line leaves no suffix)."""


def data_file(name: str) -> Path:
    """The vendored data file of one subset."""
    return DATA_DIR / SUBSETS[name]


def to_task(row: Mapping[str, Any]) -> Task:
    """An infilling row as a completion Task: the hole's reference text is ``reference``."""
    for name in ("suffix", "canonical_solution"):
        if not isinstance(row.get(name), str):
            raise ValueError(f"field {name!r} must be a string")
    return Task(
        task_id=row["task_id"],
        language="python",
        prompt=row["prompt"],
        suffix=row["suffix"],
        entry_point=row["entry_point"],
        tests=row["test"],
        reference=row["canonical_solution"],
        file_name="solution.py",
        kind="completion",
    )
