"""What the demo endpoint's synthetic models answer to a fill-in-the-middle prompt (pure functions).

``demo-oracle`` answers the task's reference middle. ``demo-buggy`` answers it too but,
deterministically from (seed, task_id, sample index), breaks about 40% of its middles the
ways FIM models do: a wrong line, the suffix's first line written again, a middle cut short,
prose instead of code, or nothing. A FIM model continues raw text, so there is no fence.
Neither is ever a model result.
"""

from __future__ import annotations

from typing import Sequence

from evalkit.models.demo_answers import BUGGY, ORACLE, _unit
from evalkit.records import Task

BREAK_SHARE = 0.4
BREAKAGE_WEIGHTS = {"wrong_line": 4, "repeated_suffix_line": 3, "truncated": 3, "prose": 2, "empty": 2}
"""How often each breakage is drawn, relative to the others."""


def breakage(seed: int | None, task_id: str, index: int) -> str | None:
    """Which way demo-buggy breaks this middle, or None when it answers correctly."""
    if _unit("fim-break", seed, task_id, index) >= BREAK_SHARE:
        return None
    point = _unit("fim-kind", seed, task_id, index) * sum(BREAKAGE_WEIGHTS.values())
    for kind, weight in BREAKAGE_WEIGHTS.items():
        point -= weight
        if point < 0:
            return kind
    return next(reversed(BREAKAGE_WEIGHTS))


def _wrong_line(middle: str) -> str:
    """The middle's last code line replaced by a plausible wrong one at the same indentation."""
    lines = middle.split("\n")
    for i in range(len(lines) - 1, -1, -1):
        if lines[i].strip():
            indent = lines[i][: len(lines[i]) - len(lines[i].lstrip())]
            lines[i] = indent + "return None"
            return "\n".join(lines)
    return middle + "return None"


def _repeated_suffix_line(middle: str, suffix: str) -> str:
    """The middle followed by the suffix's first code line again (the duplicated closing line)."""
    line = next((line for line in suffix.split("\n") if line.strip()), "")
    joiner = "" if middle.endswith("\n") or not middle else "\n"
    return middle + joiner + line + "\n" if line else middle + "\n    pass\n"


def break_middle(kind: str, task: Task) -> str:
    """The reference middle broken the named way."""
    middle = task.reference
    if kind == "empty":
        return ""
    if kind == "prose":
        return f"The missing code computes the result of `{task.entry_point}` from its arguments."
    if kind == "truncated":
        return middle[: max(1, len(middle.rstrip()) // 2)] if middle.strip() else "("
    if kind == "repeated_suffix_line":
        return _repeated_suffix_line(middle, task.suffix)
    return _wrong_line(middle)


def answer(model: str, task: Task, seed: int | None, index: int) -> str:
    """The middle a demo model writes for one sample."""
    if model == ORACLE:
        return task.reference
    kind = breakage(seed, task.task_id, index) if model == BUGGY else None
    return task.reference if kind is None else break_middle(kind, task)


class FimIndex:
    """Finds the completion task a fill-in-the-middle request is about: the task whose prefix and
    suffix stand in the prompt where a FIM format puts them (or whose suffix is the request's
    ``suffix`` field), longest first."""

    def __init__(self, tasks: Sequence[Task]) -> None:
        self._by_entry: dict[str, list[Task]] = {}
        generation: dict[str, list[str]] = {}
        for task in tasks:
            if task.kind == "completion":
                self._by_entry.setdefault(task.entry_point, []).append(task)
            else:
                generation.setdefault(task.entry_point, []).append(task.prompt)
        for group in self._by_entry.values():
            group.sort(key=lambda t: len(t.prompt) + len(t.suffix), reverse=True)
        self._held_by_generation = {
            t.task_id for name, group in self._by_entry.items() for t in group
            if any(t.prompt in prompt and t.suffix in prompt for prompt in generation.get(name, ()))}
        """Holes whose prefix and suffix a generation prompt holds (a span of a docstring, with nothing
        below it): in a chat turn, where text may follow the suffix, they cannot be told from it."""

    def find(self, text: str, suffix: str | None = None, chat: bool = False) -> Task | None:
        """The completion task of a raw prompt (and a FIM API's ``suffix``); None when none fits. A
        prompt that holds no task's suffix but ends with a task's prefix is a prefix-only completion
        (the ``completion_text`` family): the first such task, the one of the longest prefix.
        ``chat``: ``text`` is a chat turn, which may go on after the suffix (an instruction around
        the prefix and the suffix), and is no prefix-only completion (a generation prompt may end
        with a task's code)."""
        prefix_only: Task | None = None
        # a hole with nothing below it, in a chat turn, only where a FIM format marks the suffix's
        # place: a generation request's code, a blank line after it, matched such holes otherwise
        marked = chat and any(mark in text for mark in SUFFIX_MARKS)
        for name, group in self._by_entry.items():
            if name not in text and (suffix is None or name not in suffix):
                continue
            for task in group:
                if task.prompt not in text:
                    continue
                if suffix is not None:
                    if task.suffix == suffix and _near_end(text, task.prompt):
                        return task
                elif chat:
                    if (task.task_id not in self._held_by_generation and (task.suffix.strip() or marked)
                            and _in_fim_order(text, task.prompt, task.suffix, tail=len(text))):
                        return task
                elif _in_fim_order(text, task.prompt, task.suffix):
                    return task
                if not chat and suffix is None and text.endswith(task.prompt) and (
                        prefix_only is None or len(task.prompt) > len(prefix_only.prompt)):
                    prefix_only = task
        return prefix_only


SUFFIX_MARKS = ("[SUFFIX]", "<|fim_suffix|>", "<fim_suffix>", "<SUF>", "<｜fim▁hole｜>", "<|suffix|>")
"""The tokens FIM formats put where the suffix goes (Codestral, Qwen and CodeGemma, StarCoder,
Code Llama, DeepSeek, the gateway's gpt completion)."""
FIM_GAP = 48
"""Most characters a FIM format puts between the prefix and the suffix, or after the last of them
(its control tokens: ``<|fim_suffix|>``, ``<｜fim▁hole｜>``, ``[PREFIX]``)."""


def _near_end(text: str, part: str) -> bool:
    return len(text) - (text.rfind(part) + len(part)) <= FIM_GAP


def _in_fim_order(text: str, prefix: str, suffix: str, tail: int = FIM_GAP) -> bool:
    """Whether ``prefix`` and ``suffix`` stand in ``text`` as a FIM prompt puts them: prefix then
    suffix (PSM) or suffix then prefix (SPM), apart by control tokens only, and at most ``tail``
    characters from the end. Found anywhere, another hole of the same program matched
    (HumanEval/50's second function repeats its first, so a hole's suffix was found inside
    another's prefix)."""
    start = text.rfind(prefix)
    rest = text[start + len(prefix):]
    gap = rest.find(suffix)
    if 0 <= gap <= FIM_GAP and len(rest) - gap - len(suffix) <= tail:  # prefix, tokens, suffix
        return True
    before = text[:start].rfind(suffix)
    return bool(suffix) and before >= 0 and start - before - len(suffix) <= FIM_GAP and len(rest) <= tail
