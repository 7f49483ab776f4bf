"""Local JSON Lines files in evalkit's Task schema (documented in datasets/README.md).

One JSON object per line; blank lines are skipped. Rows are read with the
``json`` module rather than ``datasets`` so that every error names the exact
line of the file (``datasets`` unifies a file into one Arrow schema first and
loses both the line and, for missing keys, the difference between absent and
null).
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any, Mapping

from evalkit.config import ConfigError
from evalkit.records import NOT_JSON, Task, json_line_problem, valid_text

REQUIRED = ("task_id", "prompt", "entry_point", "tests", "reference")
OPTIONAL = ("language", "suffix", "instruction", "file_name")
DEFAULT_FILE_NAMES = {"python": "solution.py", "javascript": "solution.js"}


def require_file(path: Path) -> None:
    """Raise ConfigError unless path is a file (saying whether it is missing or something else)."""
    if not path.is_file():
        raise ConfigError(f"dataset file {path} {'is not a file' if path.exists() else 'does not exist'}; "
                          "set dataset.path to a JSON Lines file")


def read_rows(path: Path) -> list[tuple[int, dict[str, Any]]]:
    """(line number, object) for every non-blank line of a .jsonl or .jsonl.gz file."""
    require_file(path)
    opener = gzip.open if path.suffix == ".gz" else open
    rows = []
    try:
        with opener(path, "rt", encoding="utf-8") as fh:
            for number, raw in enumerate(fh, start=1):
                if not raw.strip():
                    continue
                try:
                    row = json.loads(raw)
                except NOT_JSON as exc:
                    raise ConfigError(f"{path}:{number}: not valid JSON ({json_line_problem(exc)})") from None
                if not isinstance(row, dict):
                    raise ConfigError(f"{path}:{number}: expected a JSON object, got {type(row).__name__}")
                rows.append((number, row))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"dataset file {path} could not be read: {exc}") from None
    return rows


def check_strings(row: Mapping[str, Any], required: tuple[str, ...], optional: tuple[str, ...] = ()) -> None:
    """Raise ValueError naming the first required field that is absent, empty or not a string
    (or optional field that is present but not a string)."""
    for name in required:
        if name not in row or row[name] is None:
            raise ValueError(f"missing field {name!r}")
        if not isinstance(row[name], str):
            raise ValueError(f"field {name!r} must be a string, not {type(row[name]).__name__}")
        if not row[name].strip():
            raise ValueError(f"field {name!r} is empty")
    for name in (*required, *optional):
        if isinstance(row.get(name), str) and valid_text(row[name]) != row[name]:
            raise ValueError(f"field {name!r} holds a lone surrogate (a \\ud800 to \\udfff escape), "
                             "which is not text")
    for name in optional:
        value = row.get(name)
        if value is not None and not isinstance(value, str):
            raise ValueError(f"field {name!r} must be a string, not {type(value).__name__}")


def to_task(row: Mapping[str, Any]) -> Task:
    """A Task-schema row as a Task; ValueError (message without location) for a bad row."""
    check_strings(row, REQUIRED, OPTIONAL)
    unknown = sorted(set(row) - set(REQUIRED) - set(OPTIONAL))
    if unknown:
        known = ", ".join(REQUIRED + OPTIONAL)
        raise ValueError(f"unknown field {unknown[0]!r} (Task schema fields: {known})")
    language = row.get("language") or "python"
    if language == "python" and not row["entry_point"].isidentifier():
        raise ValueError(f"field 'entry_point' must be a Python identifier, not {row['entry_point']!r}")
    return Task(
        task_id=row["task_id"],
        language=language,
        prompt=row["prompt"],
        entry_point=row["entry_point"],
        tests=row["tests"],
        reference=row["reference"],
        suffix=row.get("suffix") or "",
        instruction=row.get("instruction") or "",
        file_name=row.get("file_name") or DEFAULT_FILE_NAMES.get(language, "solution.txt"),
    )
