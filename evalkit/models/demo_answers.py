"""What the demo endpoint's synthetic models answer (pure functions).

``demo-oracle`` answers with the task's reference solution in the form the
prompt asks for (``read_prompt``): the new code between ``<new_code>`` tags, or
bare after a ``<new_code>`` prefill, bare where fences are forbidden, else in a
markdown fence; only the new code where the prompt says not to repeat the
existing code. It passes every task under every shipped template.

``demo-buggy`` answers in a fence whatever the prompt says and,
deterministically from (seed, task_id, sample index), breaks about 40% of its
answers the ways real models do.

``demo-mimic`` imitates an instruction-tuned chat model such as Mixtral
(``mimic``): it breaks a smaller share of its code, and follows or ignores the
prompt's form rules the way such models do, so its scores depend on the
template. None of them is ever a model result.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from evalkit.records import Task

ORACLE = "demo-oracle"
BUGGY = "demo-buggy"
MIMIC = "demo-mimic"
MODELS = (ORACLE, BUGGY, MIMIC)
OWNER = "evalkit-demo (synthetic)"
"""The ``owned_by`` of the demo's models in /v1/models: a run that reaches the demo endpoint by its
URL (`serve-demo` through `model=openai_compatible`) is labelled synthetic by it, as the default run is."""
NO_TASK = "I found no task I know in this prompt."
"""The answer to a prompt that holds no known task."""
OPEN_TAG, CLOSE_TAG = "<new_code>", "</new_code>"
BREAK_SHARE = 0.4
# How often each breakage is drawn, relative to the others. Infinite loops are
# rare in real answers, and each one costs a whole CPU limit to execute.
BREAKAGE_WEIGHTS = {"off_by_one": 4, "wrong_return": 4, "missing_import": 3, "syntax_error": 3,
                    "infinite_loop": 1, "empty": 2, "prose": 3}
BREAKAGES = tuple(BREAKAGE_WEIGHTS)
_MODULES = ("math", "collections", "itertools", "functools", "heapq", "string")


def served_by_demo(served: Mapping[str, Any] | None) -> bool:
    """Whether a /v1/models entry (ModelClient.identity's ``served``) is one of the demo's models."""
    return isinstance(served, Mapping) and served.get("owned_by") == OWNER


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
    return fence(task.prompt + broken_reference(kind, task), task.language)


def broken_reference(kind: str, task: Task) -> str:
    """The reference solution (the new code) broken the named way (a code breakage, not a form one)."""
    code = task.reference.rstrip()
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
    return code


def fence(code: str, language: str = "python") -> str:
    """Code as a chat model answers it: inside a markdown fence tagged with the task's language."""
    return f"```{language}\n" + code + "\n```"


@dataclass(frozen=True, slots=True)
class Asks:
    """What a rendered prompt asks of an answer's form, as the demo models read its text."""

    tags: bool = False
    """The code goes between ``<new_code>`` and ``</new_code>``."""
    fences: bool = True
    """Markdown fences are allowed (no rule against them, no tags asked for)."""
    new_only: bool = False
    """Only the new code: the prompt says not to repeat the existing code."""
    escapes: bool = True
    """Escaping characters is not forbidden."""
    prefill: str = ""
    """The assistant turn the answer continues (``continue_final_message``)."""


_NO_FENCES = re.compile(r"markdown fences?|no fences|without fences", re.I)
_TAGS = re.compile(r"(between|inside) <new_code>", re.I)
_NEW_ONLY = re.compile(r"do not repeat|only the new code", re.I)
_NO_ESCAPES = re.compile(r"do not escape", re.I)


def read_prompt(text: str, prefill: str = "") -> Asks:
    """What the prompt text and its prefill ask for (see ``Asks``). A stop sequence needs no
    reading: the server cuts the answer at it, as a real one does."""
    tags = bool(_TAGS.search(text)) or prefill.strip() == OPEN_TAG
    return Asks(tags=tags, fences=not (tags or _NO_FENCES.search(text)),
                new_only=bool(_NEW_ONLY.search(text)), escapes=not _NO_ESCAPES.search(text),
                prefill=prefill)


def shaped(code: str, task: Task, asks: Asks) -> str:
    """``code`` in the form ``asks`` wants, as a model that follows every rule writes it."""
    if asks.prefill.strip() == OPEN_TAG:
        return "\n" + code + "\n" + CLOSE_TAG
    if asks.tags:
        return OPEN_TAG + "\n" + code + "\n" + CLOSE_TAG
    return code if not asks.fences else fence(code, task.language)


def answer(model: str, task: Task, seed: int | None, index: int, asks: Asks | None = None) -> str:
    """The full answer text of a demo model for one sample (the continuation of any prefill)."""
    asks = asks or Asks()
    if model == MIMIC:
        text = mimic(task, seed, index, asks)
    elif model == ORACLE:
        text = shaped(task.reference.rstrip() if asks.new_only or asks.tags else
                      task.prompt + task.reference.rstrip(), task, asks)
    else:
        kind = breakage(seed, task.task_id, index)
        text = (fence(task.prompt + task.reference.rstrip(), task.language) if kind is None
                else break_answer(kind, task))
    return continue_prefill(text, asks.prefill) if asks.prefill else text


MIMIC_BREAKS = {"off_by_one": 4, "wrong_return": 4, "missing_import": 3, "syntax_error": 3}
"""Code breakages of demo-mimic (it never loops forever), drawn in ``MIMIC_BREAK_SHARE`` of samples."""
MIMIC_BREAK_SHARE = 0.15
HABIT_SHARE = {"prose": 0.5, "trailer": 0.35, "escape": 0.3}
"""How often demo-mimic falls into each habit where the prompt leaves room for it: prose around a
fence (fences allowed), a closing tag and a remark after bare code (no stop tag can cut it), and
markdown-escaped underscores in bare code (escaping not forbidden)."""
_INTRO = "Here is the completed function:\n\n"
_OUTRO = "\n\nThis implementation follows the docstring."


def mimic(task: Task, seed: int | None, index: int, asks: Asks) -> str:
    """demo-mimic's answer: right or broken code (deterministic per sample), in the form its habits
    and the prompt's rules give it."""
    def habit(name: str) -> bool:
        return _unit("mimic", name, seed, task.task_id, index) < HABIT_SHARE[name]

    body = task.reference.rstrip()
    if _unit("mimic-break", seed, task.task_id, index) < MIMIC_BREAK_SHARE:
        point = _unit("mimic-kind", seed, task.task_id, index) * sum(MIMIC_BREAKS.values())
        kind = next(k for k in MIMIC_BREAKS if (point := point - MIMIC_BREAKS[k]) < 0)
        body = broken_reference(kind, task)
    code = body if asks.new_only or asks.tags else task.prompt + body
    if asks.tags or asks.prefill:
        # Tags asked for: it closes them and, out of habit, remarks on the code after the tag.
        return shaped(code, task, asks) + (_OUTRO if habit("trailer") else "")
    if asks.fences:
        chatty = habit("prose")
        return (_INTRO if chatty else "") + fence(code, task.language) + (_OUTRO if chatty else "")
    if asks.escapes and habit("escape"):
        code = code.replace("_", "\\_")
    # Bare code: it imitates the prompt's tags and closes its answer with one, then a remark.
    return code + ("\n" + CLOSE_TAG + _OUTRO if habit("trailer") else "")


def continue_prefill(answer: str, prefill: str) -> str:
    """``answer`` written as the continuation of a prefilled assistant turn.

    A prefill that opens ``<new_code>`` (Claude's templates) is answered the way
    such a model answers: the code without a markdown fence, then the closing tag.
    """
    if answer.startswith(prefill):
        return answer[len(prefill):]
    if prefill.strip() == OPEN_TAG and answer.startswith("```"):
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
        self._longest_first = sorted((e for group in self._by_entry.values() for e in group),
                                     key=lambda e: len(e[0]), reverse=True)
        """Every task, for a prompt that never names its function (sorted once, not per request)."""

    def find(self, text: str) -> Task | None:
        """The task whose prompt occurs in ``text``, longest match; else the task whose prompt's
        last ``TAIL`` characters do (a template that keeps only the end of the file, as the
        MVP's ``[-500:]`` does); None when none does."""
        # Cheap pre-filter on the entry point's name, then the full check; longest first, so a
        # task whose prompt contains another's still wins.
        candidates = sorted((e for name, group in self._by_entry.items() if name in text for e in group),
                            key=lambda e: len(e[0]), reverse=True)
        found = self._match(candidates, text)
        if found is None:  # a prompt that never names its function (an instruction): every task
            found = self._match(self._longest_first, text)
        return found

    def _match(self, candidates: list[tuple[str, Task]], text: str) -> Task | None:
        for prompt, task in candidates:
            if prompt in text:
                return task
        for prompt, task in candidates:
            if prompt[-self.TAIL:] in text:
                return task
        return None

    TAIL = 300
    """Characters of a prompt's end that identify its task when the whole prompt is not there."""


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
