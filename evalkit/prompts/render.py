"""Rendering a loaded template for one task, and showing the request it makes."""

from __future__ import annotations

import difflib
import sys
import traceback
from typing import Any

from jinja2 import TemplateError as JinjaError
from jinja2.sandbox import SandboxedEnvironment

from evalkit.prompts.registry import KNOWN_VARIABLES, Template, TemplateError, environment
from evalkit.records import Api, Message, RenderedPrompt, Task

CURSOR_MARKER = "{{cursor}}"
"""The text that marks the cursor inside the file content (the gateway's marker)."""


def variables(task: Task) -> dict[str, Any]:
    """Every known template variable for ``task`` (None when the task has no value)."""
    values: dict[str, Any] = dict.fromkeys(KNOWN_VARIABLES)
    values.update(
        prefix=task.prompt,
        suffix=task.suffix,
        instruction=task.instruction,
        user_instruction=task.instruction,
        language=task.language,
        file_name=task.file_name,
        cursor=CURSOR_MARKER,
    )
    return values


def render(template: Template, task: Task, fold_system: bool = False) -> RenderedPrompt:
    """The exact prompt ``template`` gives ``task``.

    A trailing assistant turn is a prefill: it stays the final message (the models
    stage asks the server to continue it) and is also returned in ``prefill``.
    ``fold_system`` puts the system text at the top of the first user turn, for
    chat templates (Mistral's) that refuse a system role. For the completions API
    the turns are joined into one text, prefill last.
    """
    env = environment(template.search_path)
    context = variables(task)
    turns = [(role, _render_turn(env, template, role, source, line, context))
             for role, source, line in template.turns]
    prefill = turns[-1][1] if turns[-1][0] == "assistant" else ""
    if fold_system and turns[0][0] == "system" and len(turns) > 1:
        system = turns.pop(0)[1]
        role, text = turns[0]
        turns[0] = (role, f"{system}\n\n{text}" if system else text)
    turns = [(role, text) for role, text in turns if text or role == "user"]
    common = dict(task_id=task.task_id, api=template.api, template=template.id, params=template.params,
                  prefill=prefill, postprocess=template.postprocess)
    if template.api is Api.COMPLETIONS:
        body = "\n\n".join(text for role, text in turns if role != "assistant")
        return RenderedPrompt(text=body + prefill, **common)
    return RenderedPrompt(messages=tuple(Message(role, text) for role, text in turns), **common)


def _render_turn(env: SandboxedEnvironment, template: Template, role: str, source: str, line: int,
                 context: dict[str, Any]) -> str:
    try:
        return env.from_string(source).render(context).strip()
    except JinjaError as exc:
        where = _failing_place(template, line)
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise TemplateError(f"{where}: cannot render prompt_template.{role}: {message}") from None


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


def describe_request(prompt: RenderedPrompt, model_name: str) -> dict[str, Any]:
    """The JSON body that would be POSTed for ``prompt`` (to /chat/completions or /completions).

    A prefilled chat prompt asks vLLM to continue the final assistant message
    (``continue_final_message``) instead of opening a new one. Endpoints without
    that extension (OpenAI, some proxies) ignore or reject the two fields; then
    the answer starts a fresh assistant turn and the prefill is still prepended
    to it before post-processing, which may duplicate the tag it holds.
    """
    params = prompt.params
    body: dict[str, Any] = {"model": model_name}
    if prompt.api is Api.CHAT:
        body["messages"] = [{"role": m.role, "content": m.content} for m in prompt.messages]
        if prompt.prefill:
            body["add_generation_prompt"] = False
            body["continue_final_message"] = True
    else:
        body["prompt"] = prompt.text
    body.update(max_tokens=params.max_tokens, temperature=params.temperature, top_p=params.top_p, n=1)
    if params.stop:
        body["stop"] = list(params.stop)
    if params.seed is not None:
        body["seed"] = params.seed
    return body


def template_diff(a: Template, b: Template) -> str:
    """Unified diff of two templates' source text (file and partials)."""
    return "".join(difflib.unified_diff(
        a.source_text.splitlines(keepends=True), b.source_text.splitlines(keepends=True),
        fromfile=f"{a.family}/{a.version}", tofile=f"{b.family}/{b.version}"))
