"""Post-processing steps: named, pure, synchronous ``str -> str`` functions.

Each step mirrors one of the AI gateway's clean-up operations on a model's
answer. Steps that must see the file content above the cursor take it as the
keyword ``prefix``; :func:`bind` fixes it so every step in a chain is ``str -> str``.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from collections.abc import Callable, Sequence

from evalkit.postprocess import completion

FENCE_LINE = re.compile(r"^`{3}\S*[ \t]*(?:\n|$)", flags=re.MULTILINE)
STOP_TAGS = ("</new_code>",)
"""Stop sequences cut client-side too: some servers return the stop text or ignore it."""
OPEN_TAG = "<new_code>"
COMMENT_MARKERS = ("#", "//", "/*", "--")
MIN_REFLECTED_BLOCK = 5
"""A block of this many consecutive lines repeating the prefix may be reflection."""
SPECIAL_CHARS = "()[];.,$%&^*@#!{}/"


def strip_fences(text: str) -> str:
    """Delete every markdown fence line (three backticks, optional language tag), then trailing backticks."""
    return FENCE_LINE.sub("", text).rstrip("`")


def prepend_newline(text: str, *, prefix: str) -> str:
    """Start the answer on a new line when the prefix does not end with one.

    Code generation writes below the cursor line, unlike completion.
    """
    if text and prefix and not prefix.endswith("\n") and not text.startswith("\n"):
        return "\n" + text
    return text


def _is_comment(line: str) -> bool:
    return line.lstrip().startswith(COMMENT_MARKERS)


def _longest_run(answer: list[str], start: int, prefix: list[str], where: dict[str, list[int]]) -> int:
    """Length of the longest run of answer lines from ``start`` found consecutively in the prefix."""
    best = 0
    for j in where.get(answer[start], ()):
        k = 0
        while start + k < len(answer) and j + k < len(prefix) and answer[start + k] == prefix[j + k]:
            k += 1
        best = max(best, k)
    return best


def _is_large_block(lines: list[str]) -> bool:
    """A block long enough, and code-like enough, to be a copy rather than a coincidence.

    Mirrors the gateway's thresholds: at least 5 lines, fewer than 25% special
    characters and fewer than 35% distinct characters, so short runs of brackets
    or ``return`` lines stay.
    """
    chars = Counter("".join(line.strip() for line in lines))
    total = sum(chars.values())
    if len(lines) < MIN_REFLECTED_BLOCK or total == 0:
        return False
    special = sum(chars.get(c, 0) for c in SPECIAL_CHARS)
    return special / total < 0.25 and len(chars) / total < 0.35


def drop_reflection(text: str, *, prefix: str) -> str:
    """Drop what the model copied back from the prefix.

    The answer is cut into runs of consecutive lines that also occur
    consecutively in the prefix (lines compare with surrounding whitespace
    stripped; the longest run wins). A run that is a single comment line, or a
    large block (see :func:`_is_large_block`), is removed.
    """
    lines = text.split("\n")
    stripped = [line.strip() for line in lines]
    prefix_lines = [line.strip() for line in prefix.split("\n")]
    where: dict[str, list[int]] = {}
    for j, line in enumerate(prefix_lines):
        where.setdefault(line, []).append(j)
    kept: list[str] = []
    i = 0
    while i < len(lines):
        run = max(1, _longest_run(stripped, i, prefix_lines, where))
        block = lines[i:i + run]
        matched = stripped[i] in where
        reflected = matched and ((run == 1 and _is_comment(block[0])) or _is_large_block(block))
        if not reflected:
            kept.extend(block)
        i += run
    return "\n".join(kept)


def unescape_underscores(text: str) -> str:
    r"""Undo the markdown escaping of underscores (``\_``) that Mixtral writes into code."""
    return text.replace("\\_", "_")


def cut_at_stop(text: str) -> str:
    """Remove an opening ``<new_code>`` tag at the start and cut at the first stop tag."""
    body = text.lstrip()
    if body.startswith(OPEN_TAG):
        text = body[len(OPEN_TAG):]
    for tag in STOP_TAGS:
        text = text.split(tag, 1)[0]
    return text


def empty_if_blank(text: str) -> str:
    """Whitespace-only output becomes the empty string (verdict ``empty``)."""
    return "" if not text.strip() else text


STEPS: dict[str, Callable[..., str]] = {
    "cut_at_fim_stop": completion.cut_at_fim_stop,
    "drop_comment_only": completion.drop_comment_only,
    "keep_min_context": completion.keep_min_context,
    "trim_suffix_overlap": completion.trim_suffix_overlap,
    "strip_fences": strip_fences,
    "prepend_newline": prepend_newline,
    "drop_reflection": drop_reflection,
    "unescape_underscores": unescape_underscores,
    "cut_at_stop": cut_at_stop,
    "empty_if_blank": empty_if_blank,
}
"""Every step by the name templates use, built here and nowhere else."""

NEEDS_PREFIX = frozenset({"prepend_newline", "drop_reflection", "keep_min_context", "trim_suffix_overlap"})
"""Steps that take the task's prefix as a keyword; :func:`bind` supplies it."""
NEEDS_SUFFIX = frozenset({"trim_suffix_overlap"})
"""Steps that also take the code below the cursor as the keyword ``suffix``."""
NEEDS_LANGUAGE = frozenset({"drop_comment_only", "trim_suffix_overlap"})
"""Steps that take the task's language (``python``, ``javascript``) as the keyword ``language``."""
NEEDS_STOPS = frozenset({"cut_at_fim_stop"})
"""Steps that take the request's stop sequences as the keyword ``stops``."""

FIM_RAW_STEPS = ("cut_at_fim_stop",)
"""A self-hosted completion is read as the raw answer cut at its stops (the gateway cleans none up);
the lenient reading applies the gateway's completion steps (``COMPLETION_STEPS``)."""

COMPLETION_STEPS = ("cut_at_fim_stop", "drop_comment_only", "keep_min_context", "trim_suffix_overlap",
                    "empty_if_blank")
"""The gateway's completion clean-up in its order: the lenient reading of every completion. The
gateway's last step blanks a whitespace-only middle and leaves any other as it is (its spaces and
newlines are part of the code: ``... else `` before the suffix's value)."""


def bind(name: str, prefix: str, suffix: str = "", language: str = "",
         stops: Sequence[str] | None = None) -> Callable[[str], str]:
    """The step ``name`` as a ``str -> str`` function for a task whose prefix is ``prefix``
    (and whose code below the cursor is ``suffix``, in ``language``), asked with a template whose
    stop sequences are ``stops`` (None: not known, as for middles made elsewhere)."""
    try:
        step = STEPS[name]
    except KeyError:
        raise KeyError(f"unknown postprocess step {name!r}; known: {', '.join(STEPS)}") from None
    context = {"prefix": prefix} if name in NEEDS_PREFIX else {}
    if name in NEEDS_SUFFIX:
        context["suffix"] = suffix
    if name in NEEDS_LANGUAGE:
        context["language"] = language
    if name in NEEDS_STOPS:
        context["stops"] = None if stops is None else tuple(stops)
    return functools.partial(step, **context) if context else step
