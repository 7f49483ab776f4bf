"""Completion (fill-in-the-middle) post-processing steps: pure ``str -> str`` functions.

Each mirrors one of the AI gateway's completion operations on a FIM model's middle.
Steps that must see the code around the cursor take it as the keywords ``prefix`` and
``suffix`` (:func:`evalkit.postprocess.steps.bind` fixes them). The gateway parses with
tree-sitter; evalkit checks "does not add parse errors" with Python's own parser, and only
where the surrounding code parses as Python.
"""

from __future__ import annotations

import ast
import re
import threading
import warnings
from collections.abc import Sequence

FIM_STOP_TOKENS = (
    "<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>", "<|file_separator|>", "<|fim_pad|>",
    "<|repo_name|>", "<|file_sep|>", "<|im_start|>", "<|im_end|>", "<|endoftext|>",
    "[PREFIX]", "[SUFFIX]", "[MIDDLE]", "[INST]", "[/INST]", "</s>",
    "<PRE>", "<SUF>", "<MID>", "<EOT>",
    "<｜fim▁begin｜>", "<｜fim▁hole｜>", "<｜fim▁end｜>", "<｜end▁of▁sentence｜>",
    "<fim_prefix>", "<fim_suffix>", "<fim_middle>", "<file_sep>",
)
"""Every FIM family's control tokens: a server that ignores a stop (or echoes it) leaves them in."""

FIM_PREFIX, FIM_SUFFIX = "{prefix}", "{suffix}"
"""Where the code above and below the cursor stand in a ``FIM_FORMATS`` layout."""
FIM_FORMATS = {
    "CodeGemma and Qwen2.5-Coder": ("<|fim_prefix|>", FIM_PREFIX, "<|fim_suffix|>", FIM_SUFFIX,
                                    "<|fim_middle|>"),
    "StarCoder2": ("<fim_prefix>", FIM_PREFIX, "<fim_suffix>", FIM_SUFFIX, "<fim_middle>"),
    "Code Llama": ("<PRE>", FIM_PREFIX, "<SUF>", FIM_SUFFIX, "<MID>"),
    "DeepSeek-Coder": ("<｜fim▁begin｜>", FIM_PREFIX, "<｜fim▁hole｜>", FIM_SUFFIX, "<｜fim▁end｜>"),
    "Codestral": ("[SUFFIX]", FIM_SUFFIX, "[PREFIX]", FIM_PREFIX),
}
"""Each FIM format's prompt, in order, by the models that read it (a model trained on one reads
another's markers, or misspelt ones, as plain text): what `evalkit prompts lint` checks a completion
template against."""

_LINE_COMMENT = {"python": ("#",), "javascript": ("//",), "typescript": ("//",)}
"""What starts a line comment, by language; a language not listed: any of ``#`` and ``//``."""
_BLOCK_OPEN, _BLOCK_CLOSE = "/*", "*/"
_DEFINITION = re.compile(r"^([ \t]*)(?:async[ \t]+)?(?:def|class|function)\b")


def cut_at_fim_stop(text: str, *, stops: Sequence[str] | None = None) -> str:
    """Cut the middle at the first of the stops its request was sent with, where the server should
    have cut it (one that ignores ``stop`` leaves them in): none where it was sent none; where they
    are not known (``None``: middles made elsewhere), at the first control token of any FIM family.

    Only the request's own: codegemma's code may hold ``'</s>'`` in a string, which is another
    family's token, and ``completion_text``'s stop is a blank line, which is no token at all. A
    gateway file without a stop list (deepseekcoder's, mistral's) was cut at every family's tokens:
    a correct middle holding ``'</s>'`` failed, and junk after ``<|endoftext|>`` passed, where the
    gateway hands the user the raw answer."""
    tokens = FIM_STOP_TOKENS if stops is None else stops
    cut = min((i for token in tokens if token and (i := text.find(token)) >= 0), default=-1)
    return text if cut < 0 else text[:cut]


def drop_comment_only(text: str, *, language: str = "") -> str:
    """A middle whose non-blank lines are all comments of the task's language adds no code: it
    becomes empty.

    The gateway's parser knows the file's language, and so does this: in Python a comment line
    starts with ``#`` (``*rest, last = parts`` and a random span's ``//= 2`` are code); in
    JavaScript with ``//``, or lies in a ``/* ... */`` block that opens at a line's start."""
    line_comment = _LINE_COMMENT.get(language.lower(), ("#", "//"))
    blocks = language.lower() != "python"
    in_block = False
    seen = False
    for line in text.split("\n"):
        body = line.strip()
        if not body:
            continue
        seen = True
        if blocks and (in_block or body.startswith(_BLOCK_OPEN)):
            in_block = _BLOCK_CLOSE not in body[0 if in_block else len(_BLOCK_OPEN):]
            if not in_block and not body.endswith(_BLOCK_CLOSE):
                return text  # code after the block's close on its line
            continue
        if not body.startswith(line_comment):
            return text
    return "" if seen else text


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" \t"))


def keep_min_context(text: str, *, prefix: str) -> str:
    """Keep the middle inside the smallest enclosing definition of where it starts.

    Where it starts is its first non-blank character, as the gateway's target point is: a
    middle that begins on a new line after the prefix's nested ``def`` has ended starts in the
    outer function, not in the nested one the prefix's last lines are in. The context is the
    innermost ``def``/``class``/``function`` still open there; a later middle line indented at
    or left of that definition's own line has left it (the model went on to write the next
    function): the middle is cut before it. Without an enclosing definition the middle is kept.
    """
    body = text.lstrip()
    if not body:
        return text
    start = len(text) - len(body)
    before = prefix + text[:start]
    line_start = before.rfind("\n") + 1
    if before[line_start:].strip():  # it starts mid-line: the line the prefix ends in is its context
        context = [line for line in before.split("\n") if line.strip()]
        cursor = _indent(context[-1]) + (1 if context[-1].rstrip().endswith(":") else 0)
    else:  # it starts a line of its own: that line's indentation
        context = [line for line in before[:line_start].split("\n") if line.strip()]
        cursor = len(before) - line_start
    open_indent = _enclosing_definition_indent(context, cursor)
    if open_indent is None:
        return text
    lines = text.split("\n")
    first = text[:start].count("\n")  # the line it starts on continues the context: not judged
    for i, line in enumerate(lines[first + 1:], start=first + 1):
        if line.strip() and _indent(line) <= open_indent:
            # a brace language's definition ends with its closing brace at its own indentation
            closes = _indent(line) == open_indent and line.strip()[0] in _CLOSERS
            return "\n".join(lines[:i + closes]) + "\n"
    return text


def _enclosing_definition_indent(lines: list[str], cursor: int) -> int | None:
    """Indentation of the innermost definition among ``lines`` (the non-blank lines before the
    cursor) that is still open at a cursor indented ``cursor`` deep."""
    for line in reversed(lines):
        match = _DEFINITION.match(line)
        if match and len(match.group(1)) < cursor:
            return len(match.group(1))
        if _indent(line) < cursor:
            cursor = _indent(line)
            if match is None and cursor == 0:
                return None
    return None


NOT_PARSED = (SyntaxError, ValueError, RecursionError, MemoryError)
"""What parsing model text can raise: ValueError for a null byte, RecursionError or MemoryError for
nesting deeper than the parser goes (`not not ... x` 10,000 times ended `evalkit score` with an
internal error, nothing written, an attacker's trial)."""


_PARSING = threading.Lock()
"""Held while warnings are ignored for a parse (the filters are the process's, not a thread's)."""


PARSED_AT_MOST = 64 * 1024
"""Longest model text (characters) the harness parses: its memory and time grow with the text (500 KB
of names took 0.5 GB and 2 s, 2 MB of ``x`` lines 2 GB and 10 s: a tester's and an attacker's trials),
while a program's own process parses it under its limits; up to this, a parse takes milliseconds, far
inside any CPU limit (a megabyte of code that does not parse outlasted a 1 s limit in its own process:
a timeout where the harness had said syntax_error, a tester's trial; so a longer one is no
syntax_error the harness tells)."""


def parsed(code: str, filename: str = "<middle>") -> ast.Module:
    """Model text ``code`` parsed in the harness, or one of NOT_PARSED: MemoryError, unparsed, above
    PARSED_AT_MOST. Only parsed (nothing folded, compiled or run; compiled here, string constants folded
    into gigabytes: 28 s and 8 GB for 360 KB of additions, a tester's trial), with warnings ignored as a
    program's own process ignores them (there a SyntaxWarning is printed, never an error; here, under
    the harness's `-W error`, a correct program's regex escape was a syntax error, and each warning of
    a program went to evalkit's terminal)."""
    if len(code) > PARSED_AT_MOST:
        raise MemoryError(f"not parsed in the harness: longer than {PARSED_AT_MOST:,} characters")
    with _PARSING, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return compile(code, filename, "exec", flags=ast.PyCF_ONLY_AST, dont_inherit=True)


def parse_error(code: str, filename: str = "<middle>") -> BaseException | None:
    """What parsing model text ``code`` in the harness raises (one of NOT_PARSED: ``parsed``), None if
    it parses."""
    try:
        parsed(code, filename)
    except NOT_PARSED as exc:
        return exc
    return None


def _parses(code: str) -> bool:
    return parse_error(code) is None


def trim_suffix_overlap(text: str, *, prefix: str, suffix: str, language: str = "") -> str:
    """Drop the middle's last lines when they repeat the suffix's first lines (the closing
    lines FIM models write again), unless that adds a parse error to the whole file.

    Non-blank lines compare with surrounding whitespace stripped; the longest repeat wins. Python
    is parsed; in another language (no parser here) a middle whose brackets balance closes only
    what it opened (``if (x) {`` ... ``}`` before the suffix's own ``}``) and is kept.
    """
    lines = text.split("\n")
    code = [i for i, line in enumerate(lines) if line.strip()]
    head = [line.strip() for line in suffix.split("\n") if line.strip()]
    for size in range(min(len(code), len(head)), 0, -1):
        if [lines[i].strip() for i in code[-size:]] == head[:size]:
            kept = lines[:code[-size]]
            trimmed = "\n".join(kept) + ("\n" if kept else "")
            if language.lower() not in ("", "python"):
                return text if _bracket_balance(text) >= 0 else trimmed
            if _parses(prefix + text + suffix) and not _parses(prefix + trimmed + suffix):
                return text
            return trimmed
    return text


_CLOSERS = ")]}"


def _bracket_balance(text: str) -> int:
    """Opening brackets less closing ones (strings and comments not told apart: a heuristic)."""
    return sum(text.count(o) - text.count(c) for o, c in zip("([{", _CLOSERS, strict=True))
