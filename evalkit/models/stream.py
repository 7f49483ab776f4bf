"""Streamed answers (server-sent events) read through the openai client, with each choice's time
to first token: in an editor a completion is only useful if its first line arrives at once."""

from __future__ import annotations

import time
from typing import Any

import openai
from openai._models import FinalRequestOptions

from evalkit.models.retry import (
    Choice,
    Failure,
    StreamCut,
    answer_text,
    answered_by,
    content_parts,
    declines,
    named,
    reasoning_of,
    refusal_of,
    require_answered,
    token_counts,
)
from evalkit.records import valid_text


async def post_streaming(oa: openai.AsyncOpenAI, options: FinalRequestOptions, body: dict[str, Any],
                         chat: bool, started: float) -> tuple[list[Choice], int, int, dict[str, Any]]:
    """POST ``body`` with ``stream=true`` and read the events to the end.

    Returns (choices sorted by index, prompt_tokens, completion_tokens, what answered it), each
    choice with ``ttft_s``: seconds from ``started`` (``time.perf_counter()`` before the request)
    to its first non-empty text. Usage is asked for (``stream_options.include_usage``) and 0 when
    the server sends none. What answered is ``answered_by`` of the events' ``model`` and the
    response's headers, as for a whole response: without it a re-pointed alias went unnoticed
    when answers were streamed. Raises a retryable Failure for a stream without choices, or one
    that ended before each choice said why it finished (a connection cut mid-answer).
    """
    streamed = body | {"stream": True, "stream_options": {"include_usage": True}}
    events = await oa.request(object, options.model_copy(update={"json_data": streamed}), stream=True,
                              stream_cls=openai.AsyncStream[object])
    texts: dict[int, list[str]] = {}
    refusals: dict[int, list[str]] = {}  # chat deltas' refusal: the answer where there is no content
    declined: set[int] = set()  # choices that carried a refusal, text or not (Choice.declined)
    reasoned: set[int] = set()  # choices whose deltas carried reasoning text (Choice.elsewhere)
    finish: dict[int, str] = {}
    first: dict[int, float] = {}
    prompt_tokens = completion_tokens = 0
    model = None
    async for event in events:
        if not isinstance(event, dict):
            raise Failure("malformed stream event from the endpoint", retryable=True, answered=True)
        model = model or event.get("model")
        for pos, choice in enumerate(event.get("choices") or []):
            index = int(choice.get("index", pos))
            delta = (choice.get("delta") or {}) if chat else {}
            try:
                text, refused = content_parts(delta.get("content") if chat else choice.get("text"))
            except TypeError:
                raise Failure("malformed stream event from the endpoint (an answer's piece is not text)",
                              retryable=True, answered=True) from None
            refused = refusal_of(delta) or refused
            if declines(delta):
                declined.add(index)
            if reasoning_of(delta).strip():
                reasoned.add(index)
            texts.setdefault(index, [])
            for part, into in ((text, texts), (refused, refusals)):
                if part:
                    first.setdefault(index, time.perf_counter() - started)
                    into.setdefault(index, []).append(valid_text(part))
            if choice.get("finish_reason"):
                finish[index] = named(str(choice["finish_reason"]))
        prompt_tokens, completion_tokens = token_counts(event.get("usage"),
                                                         (prompt_tokens, completion_tokens))
    if not texts:
        raise Failure("the endpoint streamed no choices", retryable=True, answered=True)
    unfinished = sorted(set(texts) - set(finish))
    if unfinished:  # scored, a cut answer is a model failure that the connection made
        raise StreamCut(f"the stream ended before choice {unfinished[0]} finished (no finish_reason): a "
                        "dropped connection")
    answers = {i: answer_text("".join(parts), "".join(refusals.get(i, ()))) for i, parts in texts.items()}
    choices = [Choice(i, answers[i], finish[i], first.get(i), declined=i in declined,
                      elsewhere=i in reasoned and not answers[i].strip()) for i in sorted(answers)]
    require_answered(choices)
    return choices, prompt_tokens, completion_tokens, answered_by(model, events.response.headers)
