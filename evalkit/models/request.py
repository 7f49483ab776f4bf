"""The request body sent for a rendered prompt: built here and nowhere else.

``ModelClient`` posts these bodies and ``evalkit prompts render`` prints them, so
what a user reviews is what the endpoint receives, seed and ``n`` included.
"""

from __future__ import annotations

import hashlib
from typing import Any

from evalkit.records import Api, RenderedPrompt

PATHS = {Api.CHAT: "chat/completions", Api.COMPLETIONS: "completions"}
"""Where each API's requests go, under the endpoint's ``/v1`` base URL."""


def derive_seed(seed: int, task_id: str, sample_index: int) -> int:
    """A per-sample seed from the run seed, the task and the sample index (31 bits)."""
    digest = hashlib.sha256(f"{seed}:{task_id}:{sample_index}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


def base_seed(prompt: RenderedPrompt, run_seed: int) -> int:
    """The seed per-sample seeds derive from: the params' own seed, else the run's."""
    return prompt.params.seed if prompt.params.seed is not None else run_seed


def request_body(prompt: RenderedPrompt, model: str, *, seed: int, n: int = 1) -> dict[str, Any]:
    """The JSON body POSTed for ``prompt`` to ``PATHS[prompt.api]``.

    A prefilled chat prompt asks vLLM to continue the final assistant message
    (``continue_final_message``) instead of opening a new one. Endpoints without
    that extension (OpenAI, some proxies) ignore or reject the two fields; then
    the answer starts a fresh assistant turn and the prefill is still prepended
    to it before post-processing, which may duplicate the tag it holds.
    """
    params = prompt.params
    body: dict[str, Any] = {"model": model}
    if prompt.api is Api.CHAT:
        body["messages"] = [{"role": m.role, "content": m.content} for m in prompt.messages]
        if prompt.messages and prompt.messages[-1].role == "assistant":
            body["continue_final_message"] = True
            body["add_generation_prompt"] = False
    else:
        body["prompt"] = prompt.text
        if prompt.suffix:
            body["suffix"] = prompt.suffix
    body.update(temperature=params.temperature, top_p=params.top_p, max_tokens=params.max_tokens,
                n=n, seed=seed)
    if params.stop:
        body["stop"] = list(params.stop)
    if params.top_k is not None:  # vLLM's and Ollama's extra field, sent only where asked for
        body["top_k"] = params.top_k
    return body


def first_requests(prompt: RenderedPrompt, model: str, *, n_samples: int, run_seed: int,
                   use_n: bool) -> list[dict[str, Any]]:
    """The bodies the client sends first for ``n_samples`` fresh samples of ``prompt``.

    One request asking for all samples with the API's ``n`` (seeded for sample 0)
    where the model config allows it, else one request per sample with its own
    seed. A server that refuses or ignores ``n`` gets separate requests after that.
    """
    seed = base_seed(prompt, run_seed)
    if use_n and n_samples > 1:
        return [request_body(prompt, model, seed=derive_seed(seed, prompt.task_id, 0), n=n_samples)]
    return [request_body(prompt, model, seed=derive_seed(seed, prompt.task_id, i)) for i in range(n_samples)]
