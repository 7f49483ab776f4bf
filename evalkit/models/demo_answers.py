"""What the demo endpoint's synthetic models answer (pure functions).

``demo-oracle`` answers with the task's reference solution inside a markdown
fence, the way chat models answer. ``demo-buggy`` answers the same way but,
deterministically from (seed, task_id, sample index), breaks about 40% of its
answers the ways real models do. Neither is ever a model result.
"""

from __future__ import annotations

import hashlib
import re
from typing import Sequence

from evalkit.records import Task

ORACLE = "demo-oracle"
BUGGY = "demo-buggy"
MODELS = (ORACLE, BUGGY)
BREAK_SHARE = 0.4
# How often each breakage is drawn, relative to the others. Infinite loops are
# rare in real answers, and each one costs a whole CPU limit to execute.
BREAKAGE_WEIGHTS = {"off_by_one": 4, "wrong_return": 4, "missing_import": 3, "syntax_error": 3,
                    "infinite_loop": 1, "empty": 2, "prose": 3}
BREAKAGES = tuple(BREAKAGE_WEIGHTS)
_MODULES = ("math", "collections", "itertools", "functools", "heapq", "string")


def _unit(*parts: object) -> float:
    digest = hashlib.sha256(":".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def breakage(seed: int | None, task_id: str, index: int) -> str | None:
    """Which way demo-buggy breaks this sample, or None when it answers correctly."""
    if _unit("break", seed, task_id, index) >= BREAK_SHARE:
        return None
    point = _unit("kind", seed, task_id, index) * sum(BREAKAGE_WEIGHTS.values())
    for kind, weight in BREAKAGE_WEIGHTS.items():
        point -= weight
        if point < 0:
            return kind
    return BREAKAGES[-1]


def _indent(code: str) -> str:
    for line in code.splitlines():
        if line.strip():
            return line[: len(line) - len(line.lstrip())]
    return "    "


def _off_by_one(code: str) -> str:
    for pattern, repl in ((r"range\(len\((\w+)\)\)", r"range(len(\1) - 1)"), (r" < ", " <= "),
                          (r" > ", " >= "), (r"\b(\d+)\b", None)):
        match = re.search(pattern, code)
        if match:
            new = str(int(match.group(1)) + 1) if repl is None else match.expand(repl)
            return code[: match.start()] + new + code[match.end():]
    return code.replace("return ", "return 1 + ", 1)


def _wrong_return(code: str, language: str = "python") -> str:
    nothing = "return null;" if language == "javascript" else "return None"
    lines = code.splitlines()
    for i in range(len(lines) - 1, -1, -1):
        stripped = lines[i].lstrip()
        if stripped.startswith("return"):
            lines[i] = lines[i][: len(lines[i]) - len(stripped)] + nothing
            return "\n".join(lines)
    return code.rstrip() + "\n" + _indent(code) + nothing


def _missing_import(code: str, prompt: str) -> str:
    used = prompt + code
    module = next((m for m in _MODULES if m not in used), "numpy")
    return f"{_indent(code)}_unused = {module}.__name__\n{code}"


def _syntax_error(code: str) -> str:
    lines = code.splitlines()
    for i, line in enumerate(lines):
        if line.rstrip().endswith(":"):
            lines[i] = line.rstrip()[:-1]
            return "\n".join(lines)
    return code.rstrip() + ")"


def break_answer(kind: str, task: Task) -> str:
    """The reference solution broken the named way, as a whole answer text."""
    code = task.reference.rstrip()
    if kind == "empty":
        return ""
    if kind == "prose":
        return (f"Here is the implementation of `{task.entry_point}`:\n\n"
                f"```{task.language}\n{task.prompt}{code}\n```\n\n"
                "It handles the edge cases described in the docstring.")
    if kind == "off_by_one":
        code = _off_by_one(code)
    elif kind == "wrong_return":
        code = _wrong_return(code, task.language)
    elif kind == "missing_import":
        code = _missing_import(code, task.prompt)
    elif kind == "syntax_error":
        code = _syntax_error(code)
    elif kind == "infinite_loop":
        loop = "while (true) {}" if task.language == "javascript" else "while True: pass"
        code = f"{_indent(code)}{loop}\n{code}"
    return fence(task.prompt + code, task.language)


def fence(code: str, language: str = "python") -> str:
    """Code as a chat model answers it: inside a markdown fence tagged with the task's language."""
    return f"```{language}\n" + code + "\n```"


def answer(model: str, task: Task, seed: int | None, index: int) -> str:
    """The full answer text of a demo model for one sample."""
    correct = fence(task.prompt + task.reference.rstrip(), task.language)
    if model == ORACLE:
        return correct
    kind = breakage(seed, task.task_id, index)
    return correct if kind is None else break_answer(kind, task)


OPEN_TAG, CLOSE_TAG = "<new_code>", "</new_code>"


def continue_prefill(answer: str, prefill: str) -> str:
    """``answer`` written as the continuation of a prefilled assistant turn.

    A prefill that opens ``<new_code>`` (Claude's templates) is answered the way
    such a model answers: the code without a markdown fence, then the closing tag.
    """
    if answer.startswith(prefill):
        return answer[len(prefill):]
    if prefill.strip() == OPEN_TAG:
        code = "\n".join(line for line in answer.split("\n") if not line.startswith("```"))
        return code + CLOSE_TAG
    return answer


class TaskIndex:
    """Finds which task a prompt is about: the longest task prompt that occurs in it."""

    def __init__(self, tasks: Sequence[Task]) -> None:
        self._by_entry: dict[str, list[tuple[str, Task]]] = {}
        for task in tasks:
            if task.prompt.strip():
                self._by_entry.setdefault(task.entry_point, []).append((task.prompt.strip(), task))

    def find(self, text: str) -> Task | None:
        """The task whose prompt occurs in ``text``, longest match; None when none does."""
        # Cheap pre-filter on the entry point's name, then the full check; longest first, so a
        # task whose prompt contains another's still wins.
        candidates = [e for name, group in self._by_entry.items() if name in text for e in group]
        for prompt, task in sorted(candidates, key=lambda e: len(e[0]), reverse=True):
            if prompt in text:
                return task
        return None


def count_tokens(text: str) -> int:
    """A rough token count (whitespace-separated words)."""
    return len(text.split())


def truncate(text: str, stop: Sequence[str], max_tokens: int | None) -> tuple[str, str]:
    """Apply stop sequences and max_tokens as a server does: (text, finish_reason)."""
    cut = min((i for s in stop if s and (i := text.find(s)) >= 0), default=-1)
    if cut >= 0:
        text = text[:cut]
    if max_tokens is not None and count_tokens(text) > max_tokens:
        words = list(re.finditer(r"\S+", text))
        return text[: words[max_tokens - 1].end()] if max_tokens > 0 else "", "length"
    return text, "stop"
