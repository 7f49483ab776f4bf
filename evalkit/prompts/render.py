"""Rendering a loaded template for one task, and diffing two templates."""

from __future__ import annotations

import difflib
import sys
import traceback
from typing import Any

from jinja2 import TemplateError as JinjaError

from evalkit.prompts.registry import Template, TemplateError, compiled, mvp_text
from evalkit.prompts.variables import variables
from evalkit.records import Api, Message, RenderedPrompt, Task, joined_text

CURSOR_MARKER = "{{cursor}}"
"""The text that marks the cursor inside the file content (templates print it from a raw block)."""


def render(template: Template, task: Task, fold_system: bool = False) -> RenderedPrompt:
    """The exact prompt ``template`` gives ``task``: each turn as the gateway renders it.

    A trailing assistant turn is a prefill: it stays the final message (the models
    stage asks the server to continue it) and is also returned in ``prefill``.
    ``fold_system`` puts the system text at the top of the first user turn, for
    chat templates (Mistral's) that refuse a system role. For the completions API
    the turns are joined into one text, prefill last.
    """
    context = variables(task, template.kind)
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


def _render_turn(template: Template, role: str, source: str, line: int, context: dict[str, Any]) -> str:
    try:
        if template.two_pass:
            # The first releases: Jinja2 once without variables, then Python-format placeholders per request.
            fill = {key: "" if value is None else value for key, value in context.items()}
            text = mvp_text(template.root, source, template.kind).format_map(fill)
        else:
            text = compiled(template.root, source).render(context)
    except Exception as exc:  # a template is data: 1/0, a bad format or an include cycle is its problem
        why = _reason(exc)
        if isinstance(exc, RecursionError):
            cycle = _include_cycle(template)
            why = (f"its includes never end (an include cycle: {cycle})" if cycle
                   else f"a macro calls itself without end ({why})")
        raise TemplateError(f"{_failing_place(template, line)}: cannot render prompt_template.{role}: "
                            f"{why}") from None
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


def _include_cycle(template: Template) -> str:
    """The partials that include one another without end, in the traceback being handled
    (``a.jinja -> b.jinja -> a.jinja``, relative to the registry); "" if it shows none (a macro
    that calls itself). Jinja names the frame in which an included template starts "top-level
    template code"; a macro's frames, in the same file, are named otherwise."""
    files = [frame.filename for frame in traceback.extract_tb(sys.exc_info()[2])
             if frame.filename.endswith(".jinja") and frame.name == "top-level template code"]
    period = next((n for n in range(1, len(files) // 2 + 1) if files[-n:] == files[-2 * n:-n]), 0)
    if not period:
        return ""
    root = str(template.root).rstrip("/") + "/"
    return " -> ".join(name.removeprefix(root) for name in [*files[-period:], files[-period]])


def _failing_place(template: Template, offset: int) -> str:
    """file:line of the innermost template frame of the exception being handled."""
    tb = sys.exc_info()[2]
    place = f"{template.path}:{offset}"
    for frame in traceback.extract_tb(tb):
        if frame.filename.endswith(".jinja"):
            place = f"{frame.filename}:{frame.lineno}"
        elif frame.filename == "<template>":
            place = f"{template.path}:{(frame.lineno or 1) + offset - 1}"
    return place


def template_diff(a: Template, b: Template) -> str:
    """Unified diff of two templates' source text (file and partials)."""
    return "".join(difflib.unified_diff(
        a.source_text.splitlines(keepends=True), b.source_text.splitlines(keepends=True),
        fromfile=f"{a.family}/{a.version}", tofile=f"{b.family}/{b.version}"))
