"""ModelClient: bounded, retried, recorded calls to one OpenAI-compatible endpoint.

Every call goes through the ``openai`` package's async client (with its own
retries off: evalkit retries, so that backoff, Retry-After and the adaptive
limit are one policy). Answers come from the response store when it has them;
new answers are stored; failures after retries become Generations with
``error`` set (infra_error), never exceptions.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import math
import time
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import httpx
import openai
from openai._models import FinalRequestOptions

from evalkit.config import ModelConfig
from evalkit.models import diagnose
from evalkit.models.limiter import AdaptiveLimiter
from evalkit.models.request import PATHS, base_seed, derive_seed, request_body
from evalkit.models.retry import (
    Choice,
    EndpointError,
    Failure,
    RetryPolicy,
    answered_by,
    classify,
    parse_response,
)
from evalkit.models.store import ResponseStore, StoredResponse, asked_by, request_key, source_key
from evalkit.models.stream import post_streaming
from evalkit.models.transport import basic_auth, http_client
from evalkit.records import Api, Generation, RenderedPrompt, Usage, valid_text
from evalkit.secrets import key_values, redact, secret_values

__all__ = ["ClientStats", "EndpointError", "ModelClient", "RetryPolicy"]

log = logging.getLogger(__name__)
LONG_WAIT_S = 10.0
"""A wait before a retry this long or longer is a warning (the terminal shows it), not only in evalkit.log."""


@dataclass
class ClientStats:
    """Counters for the progress bar, the run log and the run's exit code."""

    requests: int = 0
    retries: int = 0
    cached: int = 0
    errors: int = 0
    answered: int = 0
    """Samples the endpoint answered in this run."""
    refused: int = 0
    """Samples that failed at once on an error no retry can fix (401, 404, 400, ...)."""
    first_error: str = ""
    """The explanation of the first failed sample (cause and fix)."""
    cached_from: dict[str, float] = field(default_factory=dict)
    """Runs whose stored answers were reused: run id -> when the first one was stored."""
    answered_before: int = 0
    """Samples of this arm the run directory held answered when this attempt began (a resumed run)."""
    blank: int = 0
    """Answers of this attempt whose text was empty or blank."""
    blank_tokens: int = 0
    """The completion tokens the endpoint reported for those blank answers."""
    dropped: int = 0
    """Answers of this attempt with no text at all although the endpoint reported at least
    ``DROPPED_MIN_TOKENS`` completion tokens for each: text the endpoint generated and did not send."""
    dropped_tokens: int = 0
    """The completion tokens the endpoint reported for those answers."""
    blank_unreported: int = 0
    """Blank answers for which the endpoint reported no token counts at all."""
    blank_refusals: int = 0
    """Blank answers of this attempt that carried a refusal (OpenAI's): the model declined."""

    def problem(self, max_error_rate: float) -> str | None:  # noqa: PLR0911 - one return a way a run fails
        """Why this arm's results cannot be trusted, or None: no answer at all, more answers without
        the text the endpoint reported tokens for, or more samples without an answer (refused, or
        failed after every retry), than ``max_error_rate`` allows.

        Both kinds count: a backend that dies mid-run leaves its samples ``infra_error``, which
        pass@k leaves out, so the run would otherwise report a number over the tasks that happened
        to be answered first. The rate is over this attempt's samples and those an earlier attempt
        answered (a resumed run that asked only the failures again said "no answer at all" of an arm
        whose table showed its answers).
        """
        asked = self.answered + self.errors + self.dropped + self.answered_before
        limit = f"model.max_error_rate={max_error_rate:g}"
        if self.errors and not self.answered and not self.cached and not self.answered_before:
            return f"no answer at all ({self.errors} samples failed): {self.first_error}"
        if asked and self.dropped / asked > max_error_rate:
            # scored `empty`, such answers read as a template regression at the gate (half of a
            # night's answers dropped by a proxy: a FAIL blamed on the template, exit 0)
            why = (f"though the endpoint reported {self.dropped_tokens} completion tokens for them"
                   if self.dropped_tokens else "their text in the message's reasoning field")
            return (f"{self.dropped} of {asked} answers came back with no text, {why} ({limit}): the "
                    "generation is not in the answer's content (message.content, or the completion's text); "
                    "a reasoning parser or a proxy may put it elsewhere or drop it; they are infra_error, "
                    "not stored: a resumed run asks them again")
        if self.answered and self.blank == self.answered and self.blank_tokens > self.blank \
                and self.blank_refusals < self.blank:  # a model that declined every task answered so
            # what answered spent tokens on text evalkit never saw: every sample `empty` measured the
            # endpoint (a reasoning parser, a proxy that drops message.content), not the template. A
            # token an answer (the end of sequence) is a model that stopped at once: empty answers, measured
            return (f"every one of its {self.answered} answers was empty, though the endpoint reported "
                    f"{self.blank_tokens} completion tokens for them: the generation is not in the "
                    "answer's content (message.content, or the completion's text); a reasoning parser or a "
                    "proxy may put it elsewhere or drop it")
        if self.answered and self.blank == self.answered == self.blank_unreported \
                and self.blank_refusals < self.blank:
            # no token count tells a model that answered nothing from an endpoint that sent no text:
            # scored `empty`, such a night FAILed the gate (or, blessed, PASSed the next), exit 0
            return (f"every one of its {self.answered} answers was empty, and the endpoint reported no "
                    "token counts to tell a model that wrote nothing from an endpoint that sent no text: "
                    "check that it puts the generation in the answer's content (message.content, or the "
                    "completion's text), not a reasoning field, and that any proxy passes it on")
        if not asked or self.errors / asked <= max_error_rate:
            return None
        if self.refused == self.errors:
            return (f"{self.errors} of {asked} samples were refused by the endpoint ({limit}): "
                    f"{self.first_error}")
        return (f"{self.errors} of {asked} samples got no answer ({self.refused} refused, "
                f"{self.errors - self.refused} failed after every retry; {limit}): {self.first_error}")


DROPPED_MIN_TOKENS = 2
"""Completion tokens from which an answer with no text is text the endpoint did not send: a model that
stops at once reports one, its end of sequence (which servers strip), or none."""

Sent = tuple[list[Choice], tuple[int, int], float, dict[str, Any]]
"""One answered request: choices, (prompt_tokens, completion_tokens), latency_s, what answered it
(``retry.answered_by``)."""


class Room(Protocol):
    """Where a run's answers wait after they came: a request is sent once there is room for its answers."""

    def take(self, answers: int) -> int | None:
        """Keep room for a request of ``answers`` answers: a ticket for ``done``; None when there is none."""

    async def wait(self, answers: int) -> None:
        """Return once ``take`` could keep room for ``answers`` answers."""

    def done(self, ticket: int) -> None:
        """The request ``take`` kept room for came back or failed: its room is given back."""


class ModelClient:
    """Calls one model; ``limit`` is the current adaptive concurrency."""

    def __init__(self, cfg: ModelConfig, store: ResponseStore | None = None, *,
                 retry: RetryPolicy | None = None, endpoint: str | None = None, direct: bool = False,
                 arm: str = "", room: Room | None = None) -> None:
        """``endpoint`` names the endpoint in ``identity`` instead of its base URL (for one whose
        URL changes from run to run, such as the embedded demo's); ``direct``: never through a proxy
        the environment names (the embedded demo, on loopback in this process); ``arm``: the label
        of the run's arm it asks for, which the store records with each answer; ``room``: a request
        is sent once it has room for its answers (``scoring.WaitingAnswers``: the answers that came
        and wait for execution)."""
        self.cfg = cfg
        self._room = room
        self.store = store
        self.retry = retry or RetryPolicy()
        self.limiter = AdaptiveLimiter(cfg.concurrency, cfg.min_concurrency, cfg.max_concurrency)
        self.stats = ClientStats()
        self.identity: dict[str, Any] = {"base_url": endpoint or cfg.base_url, "model": cfg.name}
        """What answers: the base URL and model id, and after ``check()`` the server's /v1/models
        entry and what the probe's answer says answered it. Stored answers are keyed by it."""
        self.asked_by = asked_by(arm, str(self.identity["base_url"]))
        """The arm and address asking, as the store records them (``StoredResponse.asked_by``)."""
        self.served: tuple[str, ...] | None = None
        """The ids /v1/models lists (None when it could not be read): information for hints."""
        self.max_model_len: int | None = None
        """The model's context length as /v1/models lists it (vLLM's); None where it is not listed."""
        self._use_n = cfg.use_n
        key = cfg.api_key()
        self._secrets = tuple(s for s in {key, *secret_values()} if s and s != "EMPTY" and len(s) >= 4)
        self._sent_keys = tuple(k for k in {key, *key_values()} if k and len(k) >= ANSWER_MASKED_FROM)
        """The secrets an answer may echo: the keys model configs send (see ``_redacted``)."""
        auth = basic_auth(key) if cfg.auth == "basic" and key != "EMPTY" else None
        # No key: no Authorization header at all, said on each request as openai's client wants it
        # (it sent "Bearer EMPTY", which a proxy's 401 echoed beside evalkit's "no key was sent")
        self._headers: dict[str, Any] = {"Authorization": openai.Omit()} if key == "EMPTY" else {}
        self._oa = openai.AsyncOpenAI(base_url=cfg.base_url, api_key=key, max_retries=0,
                                      timeout=cfg.timeout_s, default_headers=auth,
                                      http_client=http_client(cfg.timeout_s, 0, streamed=cfg.stream,
                                                              env_proxy=not direct))
        self._chat = cfg.api is Api.CHAT
        # The options openai's post() would build on every call (a pydantic model with deep-copied
        # defaults; openai._models is private, but it is what post() passes to the public request()),
        # built once per API and copied with each body for a fraction of that. Absolute URLs, so
        # that openai and httpx parse a URL once instead of joining a path to the base.
        self._post_options = {
            api: FinalRequestOptions.construct(method="post", headers=self._headers,
                                          url=f"{str(self._oa.base_url).rstrip('/')}/{path}")
            for api, path in PATHS.items()}

    @property
    def limit(self) -> int:
        """Requests allowed in flight right now."""
        return self.limiter.limit

    @property
    def source(self) -> str:
        """The store's key for what answers (``source_key`` of ``identity``)."""
        return source_key(self.identity)

    def holds_own_answers(self) -> bool:
        """Whether the store holds answers of this model this run's arm asked at this address (a
        resumed run reuses them: ``rundir.require_same_endpoint`` compares what answers now with what did)."""
        return self.store is not None and self.store.holds_run_answers(self.asked_by, self.cfg.name)

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
            # Offline replay cannot ask the endpoint who it is: any source will do.
            hits = self.store.get_many(keys, None if self.cfg.offline else self.source,
                                       asked_by=self.asked_by)
            # Each hit names what answered it where the store kept that (``_keep``): a re-pointed
            # alias's answers replayed on resume after a kill were the run's own, unnamed, and passed
            # the gate. Rows from before: a hit for this source was answered by what answered the
            # probe; other hits, and offline any hit, by what the store does not say.
            probed = None if self.cfg.offline else self.identity.get("answered_by")
            out.update((i, _from_stored(prompt, hits[k], hits[k].answered_by or (
                probed if hits[k].source == self.source else None))) for i, k in enumerate(keys) if k in hits)
            for hit in hits.values():
                first = self.stats.cached_from.get(hit.run_id)
                self.stats.cached_from[hit.run_id] = min(first or hit.created_at, hit.created_at)
        self.stats.cached += len(out)
        missing = [i for i in range(n) if i not in out]
        if missing and self.cfg.offline:
            raise EndpointError(
                f"model.offline=true but the response store has no answer of {self.cfg.name} for "
                f"{prompt.task_id} sample {missing[0]}; "
                "run once with the endpoint or set model.offline=false")
        if len(missing) > 1 and self._use_n:
            fresh = await self._request_n(prompt, base, missing)
            self._keep(prompt, keys, fresh.values())
            out.update(fresh)
            missing = [i for i in missing if i not in out]

        async def one(index: int) -> Generation:
            # Each answer is stored as it comes: stored once the task's last one came, an answer
            # was lost, and asked again on resume, when the run was killed while others were in flight.
            generation = await self._request_one(prompt, base, index)
            self._keep(prompt, keys, (generation,))
            return generation

        if len(missing) == 1:  # the common case, without a gather's task and future
            out[missing[0]] = await one(missing[0])
        elif missing:
            out.update(zip(missing, await asyncio.gather(*map(one, missing)), strict=True))
        return [out[i] for i in range(n)]

    def _keep(self, prompt: RenderedPrompt, keys: list[str], generations: Iterable[Generation]) -> None:
        """Count and store (under ``keys``, by sample index) the fresh answers among ``generations``,
        each under the identity of what answered it (``answered_source``), not the probe's: a proxy
        alias re-pointed mid-run, or balanced over two deployments, answers some samples from another
        deployment than the probe's, and a run against that one must not reuse them."""
        new = [g for g in generations if not g.error]
        self.stats.answered += len(new)
        for blank in (g for g in new if not g.raw_output.strip()):
            self.stats.blank += 1
            self.stats.blank_tokens += blank.usage.completion_tokens or 0
            self.stats.blank_unreported += not (blank.usage.prompt_tokens or blank.usage.completion_tokens)
        if self.store is not None and new:
            self.store.put_many(_to_stored(self.cfg.name, keys[g.sample_index], prompt, g,
                                           self.answered_source(g.answered_by), self.asked_by) for g in new)

    def answered_source(self, answered: Any) -> str:
        """The store's key for what answered one answer: ``identity`` with that answer's
        ``answered_by`` in place of the probe's (the same key as ``source`` when they agree, or when
        no probe named what answers: ``check`` not called)."""
        probed = self.identity.get("answered_by")
        if answered is None or probed is None or answered == probed:
            return self.source
        return source_key({**self.identity, "answered_by": answered})

    async def _request_n(self, prompt: RenderedPrompt, seed: int,
                         indices: list[int]) -> dict[int, Generation]:
        """One request with the API's n; {} when the server rejects n (then separate requests)."""
        body = request_body(prompt, self.cfg.name, seed=derive_seed(seed, prompt.task_id, indices[0]),
                            n=len(indices))
        try:
            choices, usage, latency, answered = await self._send(body)
        except Failure as fail:
            # Only an error about n itself says separate requests may work; any other 400 (a key,
            # an alias, the roles) would fail the same way for each of them.
            if diagnose.names_n(fail):
                self._stop_using_n(f"it rejected n={len(indices)} ({fail.message})")
                return {}
            return {i: self._errored(prompt, i, fail) for i in indices}
        if len(choices) < len(indices):
            self._stop_using_n(f"it answered {len(choices)} choice(s) for n={len(indices)}")
        usages = _split(usage, len(choices[: len(indices)]))
        answered = self._clean(answered)
        self.stats.blank_refusals += sum(c.declined and not c.text.strip() for c in choices[:len(indices)])
        made = {i: _generation(prompt, i, c, u, latency, answered)
                for i, c, u in zip(indices, choices, usages, strict=False)}
        # The usage is the request's: a choice's own tokens are known only where every choice is
        # empty (an empty choice beside answered ones, given its even share, is no dropped text)
        every_empty = all(g.raw_output == prompt.prefill for g in made.values())
        made = {i: self._delivered(prompt, c, made[i]) if every_empty or c.elsewhere else made[i]
                for i, c in zip(indices, choices, strict=False)}
        return made

    def _stop_using_n(self, why: str) -> None:
        if self._use_n:
            self._use_n = False
            log.warning("%s at %s: %s; sending one request per sample from now on (model.use_n=false "
                        "skips the attempt)", self.cfg.name, self.cfg.base_url, why)

    async def _request_one(self, prompt: RenderedPrompt, seed: int, index: int) -> Generation:
        body = request_body(prompt, self.cfg.name, seed=derive_seed(seed, prompt.task_id, index))
        try:
            choices, usage, latency, answered = await self._send(body)
        except Failure as fail:
            return self._errored(prompt, index, fail)
        self.stats.blank_refusals += choices[0].declined and not choices[0].text.strip()
        return self._delivered(prompt, choices[0], _generation(prompt, index, choices[0], Usage(*usage),
                                                               latency, self._clean(answered)))

    def _delivered(self, prompt: RenderedPrompt, choice: Choice, generation: Generation) -> Generation:
        """``generation``, or a failed one where the endpoint sent no text for the completion tokens it
        reported (``DROPPED_MIN_TOKENS``): scored ``empty``, half a night's answers a proxy dropped read
        as a template regression at the gate. As a failed answer it is an ``infra_error``, never stored
        (a resumed run asks it again) and counted against ``model.max_error_rate``."""
        tokens = generation.usage.completion_tokens or 0
        if generation.raw_output != prompt.prefill or choice.declined or (
                tokens < DROPPED_MIN_TOKENS and not choice.elsewhere):
            return generation  # a refusal that is no text is still the model's (empty) answer
        self.stats.dropped += 1
        self.stats.dropped_tokens += tokens
        said = (f"though it reported {tokens} completion tokens for it" if not choice.elsewhere else
                "its text is in the message's reasoning field (reasoning_content)")
        error = (f"{self.cfg.base_url} sent no text for {self.cfg.name}'s answer: {said}; the generation "
                 "is not in the answer's content")
        log.info("model %s, %s sample %d: %s", self.cfg.name, prompt.task_id, generation.sample_index, error)
        return replace(generation, raw_output="", finish_reason="error", error=error)

    def _errored(self, prompt: RenderedPrompt, index: int, fail: Failure) -> Generation:
        self.stats.errors += 1
        self.stats.refused += not fail.retryable
        error = diagnose.explain(fail, self.cfg, self.served)
        if fail.retryable:
            attempts = self.cfg.max_retries + 1
            error += f" (gave up after {attempts} attempt{'s' if attempts > 1 else ''})"
        self.stats.first_error = self.stats.first_error or error
        log.info("model %s, %s sample %d: no answer: %s", self.cfg.name, prompt.task_id, index, error)
        return Generation(task_id=prompt.task_id, sample_index=index, raw_output="",
                          finish_reason="error", error=error)

    async def _post_streaming(self, post: FinalRequestOptions, body: dict[str, Any], chat: bool,
                              started: float) -> tuple[list[Choice], int, int, dict[str, Any]]:
        """``post_streaming`` within STREAM_DEADLINE_FACTOR x model.timeout_s: each read's own timeout
        never fired for a server that sent a byte a second, nor for lines openai's event reader takes
        hours of CPU over (an attacker's trials). A stall still ends at model.timeout_s, named so."""
        deadline = STREAM_DEADLINE_FACTOR * self.cfg.timeout_s
        try:
            async with asyncio.timeout(deadline):
                return await post_streaming(self._oa, post, body, chat, started)
        except TimeoutError:
            raise Failure(f"its answer, still coming, did not end within {deadline:g} s "
                          f"({STREAM_DEADLINE_FACTOR} x model.timeout_s)", retryable=True,
                          timed_out=True) from None

    async def _slot(self, answers: int) -> tuple[int, int]:
        """A slot of the limiter (its epoch) and, once it has one, room for its ``answers`` answers (a
        ticket): where the answers that came wait for execution fill the room, the slot is given back
        until there is room. Room is asked for with the slot in hand, not before: requests queued for
        slots, every task of a run at its start, had all passed an empty room."""
        while True:
            epoch = await self.limiter.acquire()
            ticket = self._room.take(answers) if self._room is not None else 0
            if ticket is not None:
                return epoch, ticket
            await self.limiter.release()
            await self._room.wait(answers)

    async def _send(self, body: dict[str, Any], timeout_retries: int | None = None) -> Sent:
        """POST with retries: (choices, (prompt_tokens, completion_tokens), latency_s, response)
        or Failure. ``timeout_retries``: at most this many of the retries may follow a timeout."""
        # The template decides the API (a chat body has messages, a completions body a prompt).
        chat = "messages" in body
        post = self._post_options[Api.CHAT if chat else Api.COMPLETIONS]
        attempt = 0
        answers = int(body.get("n") or 1)
        while True:
            epoch, ticket = await self._slot(answers)
            started = time.perf_counter()
            try:
                self.stats.requests += 1
                if self.cfg.stream:
                    choices, prompt_tokens, completion_tokens, answered = await self._post_streaming(
                        post, body, chat, started)
                else:
                    response = await self._oa.request(httpx.Response,
                                                      post.model_copy(update={"json_data": body}))
                    choices, prompt_tokens, completion_tokens, model = parse_response(response.content, chat)
                    answered = answered_by(model, response.headers)
                choices = [self._redacted(c) for c in choices]
            except Exception as exc:  # classified here; nothing escapes unclassified
                fail = classify(exc, self._secrets, self.cfg.timeout_s)
                if fail.overload:  # before the release: the freed slot goes to a waiter by the new limit
                    self.limiter.on_overload(epoch)
            else:
                self.limiter.on_success()
                return (choices, (prompt_tokens, completion_tokens), time.perf_counter() - started,
                        answered)
            finally:
                await self.limiter.release()
                if self._room is not None:
                    self._room.done(ticket)
            if not fail.retryable or attempt >= self.cfg.max_retries:
                raise fail
            if fail.timed_out and timeout_retries is not None:
                if timeout_retries <= 0:
                    raise fail
                timeout_retries -= 1
            self.stats.retries += 1
            delay = self.retry.delay(attempt, fail.retry_after)
            # a long wait is said on the terminal: a 429 with Retry-After: 3600 kept a run silent for
            # minutes (each wait is at most RetryPolicy.max_retry_after_s)
            log.log(logging.WARNING if delay >= LONG_WAIT_S else logging.INFO,
                    "model %s: %s; retry %d of %d in %.2f s", self.cfg.name, fail.message, attempt + 1,
                    self.cfg.max_retries, delay)
            await asyncio.sleep(delay)
            attempt += 1

    # -- pre-flight ---------------------------------------------------------------------------

    async def check(self, prompt: RenderedPrompt | None = None) -> None:
        """Prove that the endpoint answers this arm, or raise EndpointError with the cause and the fix.

        One real request: ``prompt``'s own body (its API, its template's messages or text, its
        prefill) with max_tokens 1, classified like any request. /v1/models is read first, as
        information only (a proxy answers it from its own config): its entry of this model goes
        into ``identity``, and so does what the probe's answer says answered it.
        """
        if self.cfg.offline:
            return
        self.identity["served"] = await self._served_entry()
        if self.identity["served"] is not None and (version := await self._server_version()) is not None:
            self.identity["server_version"] = version  # only where said: other identities stay as they were
        body = self._probe_body(prompt)
        fail: Failure | None = None
        try:
            _, (prompt_tokens, _), _, answered = await self._send(body, timeout_retries=PROBE_TIMEOUT_RETRIES)
        except Failure as exc:
            fail = exc
        if fail is not None:  # raised outside the except block: no chained openai error quoting a key
            if fail.timed_out:  # part of the cause, so said before the fix the explanation ends with
                fail.message += f" ({PROBE_TIMEOUT_RETRIES + 1} attempts)"
            raise EndpointError(diagnose.explain(fail, self.cfg, self.served))
        self.identity["answered_by"] = self._clean(answered)
        if prompt is not None:
            self._check_room(prompt, prompt_tokens)

    def _check_room(self, prompt: RenderedPrompt, prompt_tokens: int | None) -> None:
        """Raise EndpointError when the probe's prompt and max_tokens overflow the listed context.

        The probe asks for one token, so it fits where the arm's requests would not: vLLM refuses
        every request whose prompt and max_tokens exceed its max_model_len (400), which would be
        found only as every sample's infra_error. Only a listed max_model_len (vLLM's) is trusted."""
        room = self.max_model_len
        wanted = prompt.params.max_tokens
        if not (isinstance(room, int) and isinstance(prompt_tokens, int) and isinstance(wanted, int)):
            return
        if prompt_tokens + wanted > room:
            raise EndpointError(diagnose.explain(Failure(
                f"max_model_len is {room} tokens; the first prompt is {prompt_tokens} and max_tokens "
                f"{wanted}", status=400, retryable=False), self.cfg, self.served))

    async def _served_entry(self) -> dict[str, Any] | None:
        """This model's /v1/models entry (id, root, created, owned_by), if listed.

        A listing the server failed (5xx, 429) is asked once more: at a vLLM server the entry's root
        is the only name of the weights, and a run that recorded none cannot be resumed
        (``rundir.same_endpoint``). Not one that timed out or could not connect (the probe says why),
        nor one refused for good (404: no such route)."""
        wait_s = min(self.cfg.timeout_s, MODELS_TIMEOUT_S)
        for attempt in range(2):
            try:
                async with asyncio.timeout(wait_s):  # the whole listing, not each read of it
                    response = await self._oa.get("/models", cast_to=httpx.Response, options={
                        "timeout": wait_s, "headers": self._headers})
                entries = [m for m in response.json()["data"] if isinstance(m, dict)]
                listed_at = _server_time(response)
                break
            except openai.APIStatusError as exc:
                if attempt or not (exc.status_code >= 500 or exc.status_code == 429):
                    return None  # information only: the probe request says what matters
                await asyncio.sleep(LISTING_RETRY_S)
            except (openai.APIError, ValueError, KeyError, TypeError, TimeoutError, RecursionError):
                return None
        self.served = tuple(valid_text(redact(str(m.get("id")), self._sent_keys, pieces=False))
                            for m in entries)
        names = _tagged(self.cfg.name)
        entry = next((m for m in entries if m.get("id") in names), None)
        if entry is None:
            return None
        out = {k: entry[k] for k in IDENTITY_FIELDS if entry.get(k) is not None}
        if out.get("owned_by") not in STAMPING_SERVERS and (digest := await self._ollama_digest(names)):
            out["digest"] = digest
        room = entry.get("max_model_len")
        self.max_model_len = room if isinstance(room, int) and not isinstance(room, bool) else None
        # vLLM (and llama.cpp, SGLang) stamp each listing with its own clock's time (20 minutes off
        # ours on a host without NTP made every resume "another endpoint"): such a `created` names no
        # server version. Ollama's is the model's own time, which a pull just before the run renews.
        if isinstance(out.get("created"), (int, float)) and _listing_stamp(out["created"], listed_at,
                                                                            out.get("owned_by")):
            del out["created"]
        return self._clean(out)

    async def _ollama_digest(self, names: tuple[str, ...]) -> str | None:
        """The digest of this model's weights where the server is Ollama (GET /api/tags at its root),
        which names them exactly: a model pulled again under its tag has another. Its ``created``
        could not tell: a namespaced model's (``owned_by`` ``bartowski``, not ``library``) pulled
        minutes before a run was taken for a listing's time stamp and dropped, and a resume and
        store.reuse=true took the old weights' answers as the new ones'. Information only."""
        try:
            models = (await self._at_root("/api/tags"))["models"]
            digest = next(m.get("digest") for m in models
                          if isinstance(m, dict) and (m.get("name") in names or m.get("model") in names))
        except (openai.APIError, ValueError, KeyError, TypeError, StopIteration):
            return None
        return self._clean(digest) if isinstance(digest, str) and 0 < len(digest) <= 200 else None

    async def _server_version(self) -> str | None:
        """The server's release where it says it at its root (vLLM's GET /version, Ollama's GET
        /api/version: ``{"version": "0.6.3"}``), so that answers of a server upgraded under the same
        weights are never reused as its own (a researcher comparing before and after a vLLM upgrade
        got the same numbers twice). Information only, asked only of a server that listed its models."""
        for path in SERVER_VERSION_PATHS:
            try:
                said = await self._at_root(path)
            except (openai.APIError, ValueError):
                continue
            version = said.get("version") if isinstance(said, dict) else None
            if isinstance(version, str) and 0 < len(version) <= 100:
                return self._clean(version)
        return None

    async def _at_root(self, path: str) -> Any:
        """The decoded JSON a GET of ``path`` at the server's root (beside /v1) answers, within
        VERSION_TIMEOUT_S: what the server says of itself, information only (openai.APIError,
        ValueError where it says nothing readable)."""
        root = str(self._oa.base_url).rstrip("/").removesuffix("/v1")
        response = await self._oa.get(root + path, cast_to=httpx.Response, options={
            "timeout": min(self.cfg.timeout_s, VERSION_TIMEOUT_S), "headers": self._headers})
        return response.json()

    def _clean(self, value: Any) -> Any:
        """``value`` (what the endpoint said about itself) with the keys sent masked in every string
        (whole: see ``redact``'s ``pieces``; no other secret reached the endpoint to be echoed) and a
        URL's credentials (a proxy's ``x-litellm-model-api-base`` may hold its backend's), and
        a number JSON cannot hold (``NaN``, ``Infinity``: Python's parser takes them) as its text, so
        run.json stays JSON that jq and other strict parsers read."""
        if isinstance(value, str):
            return valid_text(redact(value, self._sent_keys, pieces=False))
        if isinstance(value, float) and not math.isfinite(value):
            return str(value)
        if isinstance(value, dict):
            return {self._clean(k): self._clean(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self._clean(v) for v in value]
        return value

    def _redacted(self, choice: Choice) -> Choice:
        """``choice`` with the key masked in its text and finish reason (a model or proxy may echo it).

        Only the keys model configs send (this arm's, and another arm's, which an endpoint or a
        proxy they share may echo): masking every variable that looks like a secret changed the
        code scored (``MY_TOKEN=threshold`` made ``if distance < threshold:`` fail as
        ``if distance < ***:``), and no endpoint can echo a value no endpoint was sent."""
        keys = self._sent_keys
        text = redact(choice.text, keys, pieces=False, url_credentials=False)
        finish = redact(str(choice.finish_reason), keys, pieces=False, url_credentials=False)
        if text == choice.text and finish == choice.finish_reason:
            return choice
        return replace(choice, text=text, finish_reason=finish)

    def _probe_body(self, prompt: RenderedPrompt | None) -> dict[str, Any]:
        if prompt is None:
            body: dict[str, Any] = {"model": self.cfg.name}
            if self._chat:
                body["messages"] = [{"role": "user", "content": "ping"}]
            else:
                body["prompt"] = "ping"
        else:
            body = request_body(prompt, self.cfg.name, seed=base_seed(prompt, 0))
        body["max_tokens"] = 1
        return body


ANSWER_MASKED_FROM = 8
"""Shortest key masked in an answer, whose code is scored: a shorter one is a placeholder (``test``,
``dummy``, ``ollama``, LiteLLM's ``sk-1234``) that code holds as a word: with the key ``test``,
``list1=test.split(" ")`` became ``list1=***.split(" ")``, a correct answer a syntax error."""
PROBE_TIMEOUT_RETRIES = 1
"""Retries of the start-up probe after it waited model.timeout_s in vain: one, for a server that
loads the model on its first request (Ollama) and had not finished; a hung endpoint otherwise
held the run for every retry (model.max_retries + 1 waits, about 6 minutes by default) before
its one-line exit 2. Refused connections and 429/5xx answers keep every retry."""
LISTING_RETRY_S = 0.25
"""Wait before asking once more for a /v1/models listing the server failed (5xx, 429)."""
STREAM_DEADLINE_FACTOR = 2
"""A streamed answer ends within this many times model.timeout_s, however it keeps sending (a whole
response ends within model.timeout_s; a stream that is still sending is given more)."""
MODELS_TIMEOUT_S = 10.0
"""The /v1/models listing is information only: a server that does not answer it is not waited for."""
SERVER_VERSION_PATHS = ("/version", "/api/version")
"""Where vLLM and Ollama say their release, at the server's root (beside /v1)."""
VERSION_TIMEOUT_S = 5.0
"""The release is information only: a server that does not say it soon is not waited for."""
IDENTITY_FIELDS = ("id", "root", "created", "owned_by")
"""The /v1/models fields that say which weights are served (vLLM's root is the weights path). Not
``max_model_len``: a server restarted with another context length serves the same weights (its
resume was refused); the probe reads it apart (``ModelClient.max_model_len``)."""
FRESH_S = 600
"""A /v1/models ``created`` this close to our now is the listing's own time stamp, not the model's
(but Ollama's: ``MODEL_TIME_OWNERS``)."""
STAMP_SLACK_S = 2
"""A ``created`` this close to the listing's ``Date`` header is the listing's own time stamp."""
STAMPING_SERVERS = frozenset({"vllm", "llamacpp", "sglang"})
"""``owned_by`` of the servers whose ``created`` is the listing's own time, whatever their clock."""
MODEL_TIME_OWNERS = frozenset({"library"})
"""``owned_by`` of Ollama's models, whose ``created`` is the model's own time (a pull renews it)."""


def _tagged(name: str) -> tuple[str, ...]:
    """The ids a model name is listed under: itself, and Ollama's ``name:latest`` for an untagged one
    (Ollama serves ``mixtral`` as ``mixtral:latest``, and its listing names only the latter)."""
    return (name,) if ":" in name else (name, f"{name}:latest")


def _server_time(response: httpx.Response) -> float | None:
    """The server's clock when it answered (its ``Date`` header), None where it does not say."""
    try:
        return email.utils.parsedate_to_datetime(response.headers["date"]).timestamp()
    except (KeyError, TypeError, ValueError, IndexError):
        return None


def _listing_stamp(created: float, listed_at: float | None, owned_by: Any) -> bool:
    """Whether a /v1/models ``created`` is the listing's own time stamp: a stamping server's always;
    else one within seconds of the server's ``Date`` (its clock, however far from ours), or within
    FRESH_S of our now (a proxy in front, nginx, writes its own Date), except Ollama's."""
    owned_by = owned_by if isinstance(owned_by, str) else None  # a list or a mapping names no server
    if owned_by in STAMPING_SERVERS:
        return True
    try:
        when = float(created)
    except OverflowError:  # an integer no float holds: no time of any clock
        return False
    if listed_at is not None and abs(when - listed_at) <= STAMP_SLACK_S:
        return True
    return owned_by not in MODEL_TIME_OWNERS and abs(when - time.time()) < FRESH_S
def _split(usage: tuple[int, int], parts: int) -> list[Usage]:
    """A request's usage shared among its samples (sums are kept exactly)."""
    parts = max(parts, 1)
    (pq, pr), (cq, cr) = divmod(usage[0], parts), divmod(usage[1], parts)
    return [Usage(pq + (i < pr), cq + (i < cr)) for i in range(parts)]


def _generation(prompt: RenderedPrompt, index: int, choice: Choice, usage: Usage,
                latency: float, answered: dict[str, Any]) -> Generation:
    return Generation(task_id=prompt.task_id, sample_index=index, raw_output=prompt.prefill + choice.text,
                      finish_reason=choice.finish_reason, usage=usage, latency_s=latency,
                      ttft_s=choice.ttft_s, answered_by=answered)


def _from_stored(prompt: RenderedPrompt, r: StoredResponse, answered: Any) -> Generation:
    return Generation(task_id=prompt.task_id, sample_index=r.sample_index, raw_output=prompt.prefill + r.text,
                      finish_reason=r.finish_reason, usage=Usage(r.prompt_tokens, r.completion_tokens),
                      latency_s=r.latency_s, cached=True, answered_by=answered)


def _to_stored(model: str, key: str, prompt: RenderedPrompt, g: Generation, source: str,
               asker: str) -> StoredResponse:
    return StoredResponse(key=key, model=model, task_id=g.task_id, sample_index=g.sample_index,
                          text=g.raw_output[len(prompt.prefill):], finish_reason=g.finish_reason,
                          prompt_tokens=g.usage.prompt_tokens, completion_tokens=g.usage.completion_tokens,
                          latency_s=g.latency_s, source=source, asked_by=asker, answered_by=g.answered_by)
