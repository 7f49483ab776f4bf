"""Rendering a loaded template for one task, and diffing two templates."""

from __future__ import annotations

import difflib
import sys
import traceback
from collections.abc import Mapping
from typing import Any

from jinja2 import TemplateError as JinjaError

from evalkit.prompts.registry import Template, TemplateError, compiled, mvp_text
from evalkit.prompts.variables import variables
from evalkit.records import Api, Message, RenderedPrompt, Task, joined_text

CURSOR_MARKER = "{{cursor}}"
"""The text that marks the cursor inside the file content (templates print it from a raw block)."""


def render(template: Template, task: Task, fold_system: bool = False,
           enhancer: Mapping[str, Any] | None = None) -> RenderedPrompt:
    """The exact prompt ``template`` gives ``task``: each turn as the gateway renders it.

    A trailing assistant turn is a prefill: it stays the final message (the models
    stage asks the server to continue it) and is also returned in ``prefill``.
    ``fold_system`` puts the system text at the top of the first user turn, for
    chat templates (Mistral's) that refuse a system role. For the completions API
    the turns are joined into one text, prefill last. ``enhancer``: the prompt enhancer's
    lists (``examples_array``, ``related_files``, ...) in place of a benchmark task's empty ones,
    merged in as the gateway merges them (a generation template's).
    """
    context = variables(task, template.kind)
    if enhancer and template.kind == "generations":
        context |= enhancer
    turns = [(role, _render_turn(template, role, source, line, context))
             for role, source, line in template.turns]
    prefill = turns[-1][1] if turns[-1][0] == "assistant" else ""
    if fold_system and turns[0][0] == "system" and len(turns) > 1:
        system = turns.pop(0)[1]
        role, text = turns[0]
        turns[0] = (role, f"{system}\n\n{text}" if system else text)
    turns = [(role, text) for role, text in turns if text or role == "user"]
    common = dict(task_id=task.task_id, api=template.api, template=template.id, params=template.params,
                  prefill=prefill, postprocess=template.postprocess,
                  suffix=task.suffix if template.sends_suffix else "")
    if template.api is Api.COMPLETIONS:
        body = "\n\n".join(text for role, text in turns if role != "assistant")
        return RenderedPrompt(text=body + prefill, **common)
    return RenderedPrompt(messages=tuple(Message(role, text) for role, text in turns), **common)


MVP_CONTEXT_CHARS = 500
"""Characters of code above and below the cursor the first releases' editor side sent (the gateway's
reference: "the last ~500 characters above the cursor and the first ~500 below"). Sent whole, 44 of
HumanEval's prompts kept a signature the first releases never showed the model (a checker's trial)."""
ABOVE_CURSOR = frozenset({"prefix", "trimmed_content_above_cursor"})
BELOW_CURSOR = frozenset({"suffix", "trimmed_content_below_cursor"})


def _render_turn(template: Template, role: str, source: str, line: int, context: dict[str, Any]) -> str:
    try:
        if template.two_pass:
            # The first releases: Jinja2 once without variables, then Python-format placeholders per request.
            fill = {key: "" if value is None else value for key, value in context.items()}
            for key in ABOVE_CURSOR & fill.keys():  # the editor side then sent the code nearest the cursor
                fill[key] = fill[key][-MVP_CONTEXT_CHARS:]
            for key in BELOW_CURSOR & fill.keys():
                fill[key] = fill[key][:MVP_CONTEXT_CHARS]
            text = mvp_text(template.root, source, template.kind).format_map(fill)
        else:
            text = compiled(template.root, source).render(context)
    except Exception as exc:  # a template is data: 1/0, a bad format or an include cycle is its problem
        place, why = _failing_place(template, line), _reason(exc)
        if isinstance(exc, RecursionError):
            place, why = _endless(template, line) or (place, "a macro or a recursive loop calls itself "
                                                             "without end")
        # A partial's problem is the partial's, whichever turn includes it: said alike from every
        # turn, lint lists it once (it was once per role that included the partial).
        what = f"prompt_template.{role}" if place.startswith(f"{template.path}:") else "this partial"
        raise TemplateError(f"{place}: cannot render {what}: {why}") from None
    joined = joined_text(text)  # a Jinja string's "\ud83d\ude00" renders as two halves
    if joined is None:  # the task's text cannot hold one (datasets refuse it): the template's string
        raise TemplateError(f"{template.path}:{line}: prompt_template.{role} renders a lone surrogate (a "
                            "\\ud800 to \\udfff escape in a Jinja string), which is not text")
    return joined


def _reason(exc: Exception) -> str:
    """The first line of an error; a Python error (not Jinja's own) also says its type."""
    message = str(exc).splitlines()[0] if str(exc) else ""
    if isinstance(exc, JinjaError):
        return message or type(exc).__name__
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


TOP_LEVEL = "top-level template code"
"""Jinja's name for the frame in which a template (or an included one) starts; a macro's or a
recursive loop's frames, in the same file, are named otherwise."""


def _endless(template: Template, offset: int) -> tuple[str, str] | None:
    """(place, why) of the RecursionError being handled, the same however deep it was raised (lint
    says each distinct problem once): partials that include, import or extend one another in a
    cycle, named from its first file by name, or a macro or recursive loop calling itself, placed
    where it is first called. None where the traceback shows no repeating part."""
    frames = [frame for frame in traceback.extract_tb(sys.exc_info()[2]) if _in_template(frame, template)]
    steps = [(frame.filename, frame.name == TOP_LEVEL, frame.lineno) for frame in frames]
    period = next((n for n in range(1, len(steps) // 2 + 1) if steps[-n:] == steps[-2 * n:-n]), 0)
    if not period:
        return None
    repeating = steps[-period:]
    entered = [name for name, top, _ in repeating if top]
    first = next(frame for frame, step in zip(frames, steps, strict=True) if step in repeating)
    if not entered or set(entered) != {name for name, _, _ in repeating}:  # a file called into, not entered
        return _place(first, template, offset), "a macro or a recursive loop calls itself without end"
    start = entered.index(min(entered))
    cycle = entered[start:] + entered[:start]
    root = str(template.root).rstrip("/") + "/"
    entry = next(frame for frame in frames if frame.filename == cycle[0] and frame.name == TOP_LEVEL)
    shown = " -> ".join(name.removeprefix(root) for name in [*cycle, cycle[0]])
    return (_place(entry, template, offset),
            f"partials include, import or extend one another without end (a cycle: {shown})")


def _in_template(frame: traceback.FrameSummary, template: Template) -> bool:
    """Whether a traceback frame is a template's: the file's own turn, or a partial under its registry."""
    under_root = frame.filename.startswith(str(template.root).rstrip("/") + "/")
    return frame.filename == "<template>" or (under_root and not frame.filename.endswith(".py"))


def _place(frame: traceback.FrameSummary, template: Template, offset: int) -> str:
    """file:line of a template's frame (a turn's lines counted from its line in the YAML file)."""
    if frame.filename == "<template>":
        return f"{template.path}:{(frame.lineno or 1) + offset - 1}"
    return f"{frame.filename}:{frame.lineno}"


def _failing_place(template: Template, offset: int) -> str:
    """file:line of the innermost template frame of the exception being handled."""
    frames = [f for f in traceback.extract_tb(sys.exc_info()[2]) if _in_template(f, template)]
    return _place(frames[-1], template, offset) if frames else f"{template.path}:{offset}"


def template_diff(a: Template, b: Template) -> str:
    """Unified diff of two templates' source text (file and partials)."""
    return "".join(difflib.unified_diff(
        a.source_text.splitlines(keepends=True), b.source_text.splitlines(keepends=True),
        fromfile=f"{a.family}/{a.version}", tofile=f"{b.family}/{b.version}"))
