"""ModelClient: bounded, retried, recorded calls to one OpenAI-compatible endpoint.

Every call goes through the ``openai`` package's async client (with its own
retries off: evalkit retries, so that backoff, Retry-After and the adaptive
limit are one policy). Answers come from the response store when it has them;
new answers are stored; failures after retries become Generations with
``error`` set (infra_error), never exceptions.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import httpx
import openai
from openai._models import FinalRequestOptions

from evalkit.config import ModelConfig, secret_values
from evalkit.models.limiter import AdaptiveLimiter
from evalkit.models.request import PATHS, base_seed, derive_seed, request_body
from evalkit.models.retry import Choice, EndpointError, Failure, RetryPolicy, classify, parse_response
from evalkit.models.store import ResponseStore, StoredResponse, request_key
from evalkit.models.stream import post_streaming
from evalkit.models.transport import http_client
from evalkit.records import Api, Generation, RenderedPrompt, Usage

__all__ = ["ClientStats", "EndpointError", "ModelClient", "RetryPolicy"]


@dataclass
class ClientStats:
    """Counters for the progress bar and the run log."""

    requests: int = 0
    retries: int = 0
    cached: int = 0
    errors: int = 0


class ModelClient:
    """Calls one model; ``limit`` is the current adaptive concurrency."""

    def __init__(self, cfg: ModelConfig, store: ResponseStore | None = None, *,
                 retry: RetryPolicy | None = None) -> None:
        self.cfg = cfg
        self.store = store
        self.retry = retry or RetryPolicy()
        self.limiter = AdaptiveLimiter(cfg.concurrency, cfg.min_concurrency, cfg.max_concurrency)
        self.stats = ClientStats()
        self._use_n = cfg.use_n
        key = cfg.api_key()
        self._secrets = tuple(s for s in {key, *secret_values()} if s and s != "EMPTY" and len(s) >= 4)
        self._oa = openai.AsyncOpenAI(base_url=cfg.base_url, api_key=key, max_retries=0,
                                      timeout=cfg.timeout_s,
                                      # streamed answers need httpx's own transport: ours reads whole bodies
                                      http_client=None if cfg.stream else http_client(cfg.timeout_s, 0))
        self._chat = cfg.api is Api.CHAT
        # The options openai's post() would build on every call (a pydantic model with deep-copied
        # defaults; openai._models is private, but it is what post() passes to the public request()),
        # built once per API and copied with each body for a fraction of that. Absolute URLs, so
        # that openai and httpx parse a URL once instead of joining a path to the base.
        self._post_options = {
            api: FinalRequestOptions.construct(method="post", url=f"{self._oa.base_url}{path}")
            for api, path in PATHS.items()}

    @property
    def limit(self) -> int:
        """Requests allowed in flight right now."""
        return self.limiter.limit

    async def aclose(self) -> None:
        """Close the HTTP connections (the store belongs to the caller)."""
        await self._oa.close()

    # -- generation ---------------------------------------------------------------------------

    async def generate(self, prompt: RenderedPrompt, n: int, seed: int) -> list[Generation]:
        """``n`` samples for one prompt, sample_index 0..n-1, stored ones first."""
        base = base_seed(prompt, seed)  # the seed per-sample seeds derive from
        keys: list[str] = []
        out: dict[int, Generation] = {}
        if self.store is not None:
            # Keyed on the body every sample shares: the run's base seed, no n.
            shared = request_body(prompt, self.cfg.name, seed=base)
            del shared["n"]
            keys = [request_key(self.cfg.name, prompt.api.value, shared, i) for i in range(n)]
            hits = self.store.get_many(keys)
            out.update((i, _from_stored(prompt, hits[k])) for i, k in enumerate(keys) if k in hits)
        self.stats.cached += len(out)
        missing = [i for i in range(n) if i not in out]
        if missing and self.cfg.offline:
            raise EndpointError(
                f"model.offline=true but the response store has no answer of {self.cfg.name} for "
                f"{prompt.task_id} sample {missing[0]}; "
                "run once with the endpoint or set model.offline=false")
        if len(missing) > 1 and self._use_n:
            out.update(await self._request_n(prompt, base, missing))
            missing = [i for i in missing if i not in out]
        if len(missing) == 1:  # the common case, without a gather's task and future
            out[missing[0]] = await self._request_one(prompt, base, missing[0])
        elif missing:
            fresh = await asyncio.gather(*(self._request_one(prompt, base, i) for i in missing))
            out.update(zip(missing, fresh, strict=True))
        new = [g for i, g in out.items() if not g.cached and not g.error]
        if self.store is not None and new:
            self.store.put_many(_to_stored(self.cfg.name, keys[g.sample_index], prompt, g) for g in new)
        return [out[i] for i in range(n)]

    async def _request_n(self, prompt: RenderedPrompt, seed: int,
                         indices: list[int]) -> dict[int, Generation]:
        """One request with the API's n; {} when the server refuses n (then separate requests)."""
        body = request_body(prompt, self.cfg.name, seed=derive_seed(seed, prompt.task_id, indices[0]),
                            n=len(indices))
        try:
            choices, usage, latency = await self._send(body)
        except Failure as fail:
            if fail.status in (400, 422):
                self._use_n = False  # the server may not support n: try separate requests
                return {}
            return {i: self._errored(prompt, i, fail) for i in indices}
        if len(choices) < len(indices):
            self._use_n = False  # the server ignores n; stop asking for it
        usages = _split(usage, len(choices[: len(indices)]))
        return {i: _generation(prompt, i, c, u, latency)
                for i, c, u in zip(indices, choices, usages, strict=False)}

    async def _request_one(self, prompt: RenderedPrompt, seed: int, index: int) -> Generation:
        body = request_body(prompt, self.cfg.name, seed=derive_seed(seed, prompt.task_id, index))
        try:
            choices, usage, latency = await self._send(body)
        except Failure as fail:
            return self._errored(prompt, index, fail)
        return _generation(prompt, index, choices[0], Usage(*usage), latency)

    def _errored(self, prompt: RenderedPrompt, index: int, fail: Failure) -> Generation:
        self.stats.errors += 1
        return Generation(task_id=prompt.task_id, sample_index=index, raw_output="",
                          finish_reason="error", error=self._explain(fail))

    def _explain(self, fail: Failure) -> str:
        where = f"{self.cfg.name} at {self.cfg.base_url}"
        if fail.status == 400 and "alternat" in fail.message.lower():
            return (f"{where} rejected the conversation ({fail.message}); this model's chat template "
                    "needs alternating user/assistant turns: set prompt.fold_system=true")
        if fail.status in (401, 403):
            return f"{where} refused the API key ({fail.message}); check ${self.cfg.api_key_env}"
        if fail.retryable:
            return f"{where}: {fail.message} (gave up after {self.cfg.max_retries + 1} attempts)"
        return f"{where}: {fail.message}"

    async def _send(self, body: dict[str, Any]) -> tuple[list[Choice], tuple[int, int], float]:
        """POST with retries: (choices, (prompt_tokens, completion_tokens), latency_s) or Failure."""
        # The template decides the API (a chat body has messages, a completions body a prompt).
        chat = "messages" in body
        post = self._post_options[Api.CHAT if chat else Api.COMPLETIONS]
        attempt = 0
        while True:
            epoch = await self.limiter.acquire()
            started = time.perf_counter()
            try:
                self.stats.requests += 1
                if self.cfg.stream:
                    choices, prompt_tokens, completion_tokens = await post_streaming(
                        self._oa, post, body, chat, started)
                else:
                    response = await self._oa.request(httpx.Response,
                                                      post.model_copy(update={"json_data": body}))
                    choices, prompt_tokens, completion_tokens = parse_response(response.content, chat)
            except Exception as exc:  # classified here; nothing escapes unclassified
                fail = classify(exc, self._secrets, self.cfg.timeout_s)
                if fail.overload:  # before the release: the freed slot goes to a waiter by the new limit
                    self.limiter.on_overload(epoch)
            else:
                self.limiter.on_success()
                return choices, (prompt_tokens, completion_tokens), time.perf_counter() - started
            finally:
                await self.limiter.release()
            if not fail.retryable or attempt >= self.cfg.max_retries:
                raise fail
            self.stats.retries += 1
            await asyncio.sleep(self.retry.delay(attempt, fail.retry_after))
            attempt += 1

    # -- pre-flight ---------------------------------------------------------------------------

    async def check(self) -> None:
        """Raise EndpointError with one helpful line unless the endpoint serves this model."""
        if self.cfg.offline:
            return
        fail: Failure | None = None
        served: list[str] | None = None
        try:
            response = await self._oa.get("/models", cast_to=httpx.Response)
            served = [m["id"] for m in response.json()["data"]]
        except (openai.APIStatusError, openai.APIConnectionError) as exc:
            fail = classify(exc, self._secrets, self.cfg.timeout_s)
        except (ValueError, KeyError, TypeError):
            pass  # no usable /models listing: probe with a tiny request below
        # Raised outside the except blocks: the openai error (which may quote the key) stays unchained.
        if fail is not None:
            self._raise_for(fail)
        if served is not None:
            if self.cfg.name in served:
                return
            shown = ", ".join(served[:5]) + (", ..." if len(served) > 5 else "")
            raise EndpointError(
                f"model {self.cfg.name!r} is not served at {self.cfg.base_url} "
                f"(it serves: {shown or 'nothing'}); "
                "set model.name to a served id (vLLM --served-model-name)")
        await self._probe()

    async def _probe(self) -> None:
        body: dict[str, Any] = {"model": self.cfg.name, "max_tokens": 1}
        if self._chat:
            body["messages"] = [{"role": "user", "content": "ping"}]
        else:
            body["prompt"] = "ping"
        path = "/chat/completions" if self._chat else "/completions"
        fail: Failure | None = None
        try:
            await self._oa.post(path, body=body, cast_to=httpx.Response)
        except (openai.APIStatusError, openai.APIConnectionError) as exc:
            fail = classify(exc, self._secrets, self.cfg.timeout_s)
        if fail is not None:
            self._raise_for(fail)

    def _raise_for(self, fail: Failure) -> None:
        url, name = self.cfg.base_url, self.cfg.name
        if fail.status is None and fail.retryable:
            raise EndpointError(f"cannot reach the model endpoint at {url} ({fail.message}); "
                                "start the server or fix model.base_url")
        if fail.status in (401, 403):
            hint = (f"set the environment variable {self.cfg.api_key_env} to a valid key"
                    if self.cfg.api_key_env
                    else "set model.api_key_env to the NAME of the variable holding the key")
            raise EndpointError(f"{url} refused the API key (HTTP {fail.status}); {hint}")
        if fail.status == 404:
            raise EndpointError(
                f"{url} answered 404 for model {name!r}: check that model.base_url ends in /v1 and that "
                "model.name is the server's served id (vLLM --served-model-name)")
        if fail.status is not None and fail.status >= 500:
            raise EndpointError(f"the model endpoint at {url} is failing ({fail.message}); try again later")


def _split(usage: tuple[int, int], parts: int) -> list[Usage]:
    """A request's usage shared among its samples (sums are kept exactly)."""
    parts = max(parts, 1)
    (pq, pr), (cq, cr) = divmod(usage[0], parts), divmod(usage[1], parts)
    return [Usage(pq + (i < pr), cq + (i < cr)) for i in range(parts)]


def _generation(prompt: RenderedPrompt, index: int, choice: Choice, usage: Usage,
                latency: float) -> Generation:
    return Generation(task_id=prompt.task_id, sample_index=index, raw_output=prompt.prefill + choice.text,
                      finish_reason=choice.finish_reason, usage=usage, latency_s=latency,
                      ttft_s=choice.ttft_s)


def _from_stored(prompt: RenderedPrompt, r: StoredResponse) -> Generation:
    return Generation(task_id=prompt.task_id, sample_index=r.sample_index, raw_output=prompt.prefill + r.text,
                      finish_reason=r.finish_reason, usage=Usage(r.prompt_tokens, r.completion_tokens),
                      latency_s=r.latency_s, cached=True)


def _to_stored(model: str, key: str, prompt: RenderedPrompt, g: Generation) -> StoredResponse:
    return StoredResponse(key=key, model=model, task_id=g.task_id, sample_index=g.sample_index,
                          text=g.raw_output[len(prompt.prefill):], finish_reason=g.finish_reason,
                          prompt_tokens=g.usage.prompt_tokens, completion_tokens=g.usage.completion_tokens,
                          latency_s=g.latency_s)
