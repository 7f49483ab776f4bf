"""Turning a cleaned answer into the code under test, and the lenient reading of a raw answer."""

from __future__ import annotations

import ast
import re

from evalkit.postprocess.completion import NOT_PARSED, parsed
from evalkit.records import Task

_FENCED_BLOCK = re.compile(r"^`{3}[^\n`]*\n(.*?)(?:^`{3}|\Z)", flags=re.MULTILINE | re.DOTALL)
_TAGGED_BLOCK = re.compile(r"<new_code>(.*?)(?:</new_code>|\Z)", flags=re.DOTALL)


def lenient_extract(raw: str) -> str:
    """The first fenced code block of ``raw``; else the ``<new_code>`` content; else ``raw``.

    An unterminated block (the answer hit max_tokens) runs to the end of the text.
    """
    for pattern in (_FENCED_BLOCK, _TAGGED_BLOCK):
        match = pattern.search(raw)
        if match:
            return match.group(1)
    return raw


def _top_level_def(name: str, language: str = "python") -> re.Pattern[str] | None:
    """Where ``name`` is defined at top level, for the languages whose definitions we recognise."""
    name = re.escape(name)
    if language == "python":
        return re.compile(rf"^(?:async[ \t]+)?def[ \t]+{name}[ \t]*\(", flags=re.MULTILINE)
    if language == "javascript":
        return re.compile(rf"^(?:export[ \t]+)?(?:(?:async[ \t]+)?function\b[ \t]*\*?[ \t]*{name}[ \t]*\("
                          rf"|class[ \t]+{name}\b)", flags=re.MULTILINE)
    return None


_JS_ONE_LINE_DECLARATION = re.compile(r"^(?:const|let|var|import)\b[^\n]*;[ \t]*$")


def _without_repeated_declarations(head: str, body: str) -> str:
    """JavaScript refuses a second ``const``/``let``/``import`` of a name (a SyntaxError where Python
    just re-imports): drop the head's one-line top-level declarations that the answer repeats verbatim."""
    repeated = {line.rstrip() for line in body.split("\n") if _JS_ONE_LINE_DECLARATION.match(line)}
    kept = [line for line in head.split("\n") if line.rstrip() not in repeated]
    return "\n".join(kept)


def _starts_with_prefix(body: str, prefix: str) -> bool:
    """True when ``body`` opens with every line of ``prefix`` (trailing spaces ignored)."""
    want = [line.rstrip() for line in prefix.strip("\n").split("\n")]
    have = [line.rstrip() for line in body.split("\n")[:len(want)]]
    return bool(prefix.strip()) and want == have


def assemble(task: Task, answer: str) -> str:
    """The code under test: the task's prefix followed by ``answer``, joined the way an editor holds it.

    - an empty answer stays empty (the caller scores it ``empty``);
    - an answer that repeats the whole prefix is already the whole program;
    - a Python or JavaScript answer that defines the entry point at top level
      (``def name(``; ``function name(`` or ``class name``) replaces the prefix's
      definition: the prefix's lines before that definition (imports, helpers)
      are kept, then the answer; for JavaScript, one-line declarations of the
      prefix that the answer repeats (``const fs = require('fs');``) are kept once;
    - otherwise the answer continues the prefix.

    A completion task (fill in the middle) is always prefix + answer + suffix, even for an
    empty answer: the middle goes where the cursor is, and an empty span can be right.
    """
    if task.kind == "completion":
        return task.program_text(answer)
    if not answer.strip():
        return ""
    prefix = task.prompt
    body = answer.lstrip("\n")
    if _starts_with_prefix(body, prefix):
        return body
    pattern = _top_level_def(task.entry_point, task.language) if task.entry_point else None
    if pattern is not None and pattern.search(body):
        starts = [m.start() for m in pattern.finditer(prefix)]
        head = prefix[:starts[-1]] if starts else prefix
        if task.language == "javascript":
            head = _without_repeated_declarations(head, body)
        if head and not head.endswith("\n"):
            head += "\n"
        return head + body
    return prefix + answer


def new_code(task: Task, answer: str) -> str:
    """What ``answer`` adds to the task's prefix, to compare with the reference (which continues the
    prefix): the answer without the prefix it repeats, found as ``assemble`` finds it (line by line,
    blank lines at its edges and trailing spaces aside), or, for Python, where it restates the entry
    point's definition the prefix holds, that definition's body without a docstring the prefix
    holds. Compared whole,
    a correct program that repeated the prompt without its two leading blank lines had an edit
    similarity of 0.07 to 0.15, and exact match 0. A fill-in-the-middle answer is kept whole."""
    if task.kind == "completion":
        return answer
    if answer.startswith(task.prompt):
        return answer[len(task.prompt):]
    body = answer.lstrip("\n")
    if _starts_with_prefix(body, task.prompt):
        return "\n".join(body.split("\n")[len(task.prompt.strip("\n").split("\n")):])
    pattern = _top_level_def(task.entry_point, task.language) if task.entry_point else None
    if task.language == "python" and pattern is not None and pattern.search(task.prompt):
        # the prompt defines the entry point, so the reference continues it: a restated definition's
        # body is what the answer adds (where the prompt does not, the reference is the definition)
        return _body_of_definition(body, task) or answer
    return answer


def _body_of_definition(code: str, task: Task) -> str | None:
    """The lines of the top-level ``def`` of the entry point in ``code`` after its signature and after
    a docstring its prefix already has, with what follows the definition; None where ``code`` does
    not parse or defines no such function."""
    try:
        module = parsed(code)
    except NOT_PARSED:  # MemoryError too: an answer of megabytes is read as it is given
        return None
    found = next((node for node in module.body if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
                  and node.name == task.entry_point), None)
    if found is None or not found.body:
        return None
    first = found.body[0]
    docstring = isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
    said = first.value.value if docstring else None
    if isinstance(said, str) and len(found.body) > 1 and said.strip() and said.strip() in task.prompt:
        first = found.body[1]  # the prompt's own docstring, repeated
    return "\n".join(code.split("\n")[first.lineno - 1:])
