"""Derive the IDE-style completion sets (datasets/ide_completion_*.jsonl) from evalkit's instruct sets.

Usage: PYTHONPATH=. python bench/make_ide_completion.py [--check]     (from the repository root)

Maintenance only: the data files are the source of truth and a run never derives anything.
Run this after editing datasets/instruct_python.jsonl or instruct_javascript.jsonl (it needs node
for the JavaScript set), then update the hashes in datasets/ide_completion.md. ``--check`` derives
again and exits 1 when a data file differs from what this script writes.

Each instruct task is a real file: its prompt (a prefix ending in the comment that asks for the
code) followed by its reference. A hole is cut out of the reference:

- one line (``<set>/<task>/L<i>``, ``i`` the 0-based line of the reference): an indented code line
  inside a definition, not the definition's header, not a line that only closes a bracket;
- one block (``<set>/<task>/L<i>_L<j>``, inclusive) where one fits: the body of a ``for``,
  ``while``, ``if``, ``else``, ``with`` or ``try`` statement, 2 to 8 lines, its header above the hole.

prompt = the file's prefix + the reference lines above the hole; the middle (``reference``) = the
hole's lines with their indentation and newline; suffix = the reference lines below it + the file's
own suffix. So prompt + middle + suffix is exactly the instruct task's passing program.

Among a task's candidate holes the order is a shuffle seeded by sha256 of the task id and line
numbers; the first candidate is taken whose middle, left out, makes the tests fail (the middle is
replaced by ``pass`` at its indentation in Python, by nothing in JavaScript), so the tests always
exercise the hole, and whose reference middle the gateway's completion steps (the lenient reading)
leave unchanged.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import re
import sys
from pathlib import Path
from typing import Any

from evalkit.benchmarks import jsonl
from evalkit.config import ExecutorConfig
from evalkit.execution import LocalExecutor, program_for
from evalkit.postprocess import COMPLETION_STEPS, postprocess
from evalkit.records import Status, Task

DATA_DIR = Path(__file__).resolve().parents[1] / "datasets"
"""This checkout's datasets/ (read and written here, whichever evalkit is imported)."""
SOURCES = {"python": "instruct_python", "javascript": "instruct_javascript"}
"""Language -> the instruct set its completion set is cut from."""
FIELD_ORDER = ("task_id", "language", "file_name", "instruction", "prompt", "suffix", "entry_point",
               "tests", "reference")
MIN_BLOCK_LINES, MAX_BLOCK_LINES = 2, 8
LEFT_OUT_TIMEOUT_S = 2.0
"""CPU limit of a program with the hole left out (references take milliseconds; some loop forever)."""

_PY_BLOCK = re.compile(r"^(\s*)(?:async\s+)?(?:for|while|if|elif|else|with|try|except|finally)\b.*:\s*$")
_JS_BLOCK = re.compile(r"^(\s*)(?:\}\s*)?(?:for|while|if|else|try|catch|finally)\b.*\{\s*$")
_CLOSING = re.compile(r"^\s*[)\]}]")
_COMMENT = re.compile(r"^\s*(#|//|/\*|\*|\"\"\"|''')")
_BARE_KEYWORD = re.compile(r"^\s*(?:else|try|finally|except)\s*:\s*$")


def _indent(line: str) -> str:
    return line[: len(line) - len(line.lstrip())]


def single_lines(lines: list[str]) -> list[tuple[int, int]]:
    """Holes of one line: indented code lines after the first, none that only closes a bracket."""
    return [(i, i) for i, line in enumerate(lines) if i > 0 and line.strip() and _indent(line)
            and re.search(r"\w", line) and not _CLOSING.match(line) and not _COMMENT.match(line)
            and not _BARE_KEYWORD.match(line)]


def _block_end(lines: list[str], header: int, language: str) -> int:
    """The last line of the body under ``lines[header]`` (trailing blank lines excluded)."""
    depth = len(_indent(lines[header]))
    end = header
    for i in range(header + 1, len(lines)):
        line = lines[i]
        if not line.strip():
            continue
        if len(_indent(line)) <= depth:
            break
        end = i
    if language == "javascript" and end + 1 < len(lines) and not lines[end + 1].lstrip().startswith("}"):
        return header  # not a braced body that closes at the header's indentation
    return end


def blocks(lines: list[str], language: str) -> list[tuple[int, int]]:
    """Holes of a block: a loop's, condition's, ``with``'s or ``try``'s body of 2 to 8 lines."""
    header = _PY_BLOCK if language == "python" else _JS_BLOCK
    found = []
    for i, line in enumerate(lines):
        if header.match(line):
            end = _block_end(lines, i, language)
            if MIN_BLOCK_LINES <= end - i <= MAX_BLOCK_LINES:
                found.append((i + 1, end))
    return found


def hole_task(source: Task, name: str, first: int, last: int) -> Task:
    """The completion task with the reference's lines ``first..last`` (inclusive) as the hole."""
    lines = source.reference.splitlines(keepends=True)
    where = f"L{first}" if first == last else f"L{first}_L{last}"
    return dataclasses.replace(
        source, task_id=f"{name}/{source.task_id.split('/', 1)[1]}/{where}",
        prompt=source.prompt + "".join(lines[:first]), reference="".join(lines[first:last + 1]),
        suffix="".join(lines[last + 1:]) + source.suffix, kind="completion")


def left_out(task: Task) -> str:
    """The program with the hole's code left out (what the tests must catch)."""
    if task.language == "python":
        return task.prompt + _indent(task.reference) + "pass\n" + task.suffix
    return task.prompt + task.suffix


def _shuffled(source: Task, holes: list[tuple[int, int]]) -> list[tuple[int, int]]:
    return sorted(holes, key=lambda h: hashlib.sha256(f"{source.task_id}:{h}".encode()).hexdigest())


def _keeps_reference(task: Task) -> bool:
    return postprocess(task.reference, COMPLETION_STEPS, task.prompt, task.suffix) == task.reference


def choose(sources: list[Task], name: str, executor: LocalExecutor) -> list[Task]:
    """One single-line hole per task and one block where one fits, in the sources' order."""
    queues: dict[tuple[int, str], list[Task]] = {}
    for n, source in enumerate(sources):
        lines = source.reference.splitlines()
        for variant, holes in (("line", single_lines(lines)), ("block", blocks(lines, source.language))):
            candidates = [hole_task(source, name, a, b) for a, b in _shuffled(source, holes)]
            queues[(n, variant)] = [t for t in candidates if _keeps_reference(t)]
    chosen: dict[tuple[int, str], Task] = {}
    while any(queues.values()):
        heads = {key: queue.pop(0) for key, queue in queues.items() if queue}
        programs = [program_for(t, left_out(t), t.task_id, LEFT_OUT_TIMEOUT_S) for t in heads.values()]
        programs = [dataclasses.replace(p, split=False) for p in programs]
        verdicts = dict(executor.run(programs))
        broken = [v.detail for v in verdicts.values() if v.status is Status.INFRA_ERROR]
        if broken:  # a sandbox that runs nothing would make every candidate look right
            raise SystemExit(f"the sandbox could not run a program: {broken[0]}")
        for key, task in heads.items():
            if not verdicts[task.task_id].passed:
                chosen[key] = task
                queues[key] = []
    return [chosen[key] for key in sorted(chosen, key=lambda k: (k[0], k[1] != "line"))]


def row_of(task: Task) -> dict[str, Any]:
    """A Task-schema row, fields in the instruct sets' order."""
    return {field: getattr(task, field) for field in FIELD_ORDER}


def derive(language: str, executor: LocalExecutor) -> str:
    """The JSON Lines text of one language's completion set."""
    source_name = SOURCES[language]
    rows = jsonl.read_rows(DATA_DIR / f"{source_name}.jsonl")
    sources = [jsonl.to_task(row) for _, row in rows]
    tasks = choose(sources, f"ide_completion_{language}", executor)
    return "".join(json.dumps(row_of(t), ensure_ascii=False) + "\n" for t in tasks)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when a data file is out of date")
    args = parser.parse_args()
    stale = []
    with LocalExecutor(ExecutorConfig(share_identical=False)) as executor:
        for language in SOURCES:
            path = DATA_DIR / f"ide_completion_{language}.jsonl"
            text = derive(language, executor)
            if args.check:
                if not path.is_file() or path.read_text(encoding="utf-8") != text:
                    stale.append(str(path))
            else:
                path.write_text(text, encoding="utf-8")
            print(f"{path}: {text.count(chr(10))} tasks")
    if stale:
        print(f"out of date: {', '.join(stale)} (run python bench/make_ide_completion.py)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
