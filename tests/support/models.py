"""Shared helpers for the models stage's tests: real HumanEval tasks and hand-built prompts."""

from __future__ import annotations

import socket
from dataclasses import replace
from typing import Any

from evalkit.config import ModelConfig
from evalkit.records import Api, Message, RenderedPrompt, SamplingParams, Task, TemplateId
from tests.support.prompts import humaneval_tasks  # noqa: F401 - re-exported for the models tests

TEMPLATE = TemplateId(family="test", version="1.0.0", sha256="0" * 64)


def chat_prompt(task: Task, *, prefill: str = "", system: bool = True, **params: Any) -> RenderedPrompt:
    """A chat prompt for ``task`` (optionally with a prefilled assistant turn)."""
    messages = [Message("user", f"Complete this file:\n```python\n{task.prompt}```")]
    if system:
        messages.insert(0, Message("system", "You are a careful Python programmer."))
    if prefill:
        messages.append(Message("assistant", prefill))
    return RenderedPrompt(task_id=task.task_id, api=Api.CHAT, template=TEMPLATE,
                          params=SamplingParams(**params), messages=tuple(messages), prefill=prefill)


def text_prompt(task: Task, **params: Any) -> RenderedPrompt:
    """A completions-API prompt for ``task``."""
    return RenderedPrompt(task_id=task.task_id, api=Api.COMPLETIONS, template=TEMPLATE,
                          params=SamplingParams(**params), text=f"[INST] Complete:\n{task.prompt} [/INST]")


def case_prompt(case: str, task_id: str = "T/0", **params: Any) -> RenderedPrompt:
    """A chat prompt that asks the fault server for the scripted case ``case``."""
    return RenderedPrompt(task_id=task_id, api=Api.CHAT, template=TEMPLATE, params=SamplingParams(**params),
                          messages=(Message("user", f"case={case} please answer"),))


def model_config(base_url: str, name: str = "m", **over: Any) -> ModelConfig:
    """A ModelConfig for a loopback test server."""
    cfg = ModelConfig(name=name, base_url=base_url, api=Api.CHAT, family="mixtral", concurrency=4,
                      max_retries=3, timeout_s=5.0)
    return replace(cfg, **over)


def closed_port_url() -> str:
    """An endpoint URL on 127.0.0.1 where nothing listens (the port was free a moment ago)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}/v1"
