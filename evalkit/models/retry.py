"""What a failed request means: retry it, back off, or give up with a clear line."""

from __future__ import annotations

import email.utils
import hashlib
import json
import math
import random
import re
import time
from dataclasses import dataclass
from typing import Any, Sequence

import httpx
import openai

from evalkit.config import ConfigError
from evalkit.records import printable, valid_text
from evalkit.secrets import redact

RETRY_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})
NOT_AN_API_STATUS = frozenset({405, 501})
"""What a server that is not an OpenAI-compatible API answers a POST (a static file server,
Python's http.server, a web page): never retried, whatever other 5xx are."""
_HTML_TAG = re.compile(r"<[^>]*>")
_HTML_HEAD = re.compile(r"<head\b.*?</head>", re.S | re.I)
"""An HTML page's head: its title repeats the body's heading."""
OVERLOAD_STATUS = frozenset({429, 503})


class EndpointError(ConfigError):
    """The endpoint cannot serve this run (unreachable, unknown model, bad key, offline miss)."""

    masked = True
    """Its message quotes the endpoint only through ``classify``, which masked every secret and every
    piece of one there; the words around it are evalkit's, which a last pass masking pieces garbled
    (the credential ``builduser:pa55w0rd`` made "user:password the server accepts" "***ssword ...")."""


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter; a server's Retry-After wins when present."""

    base_s: float = 0.5
    max_s: float = 30.0
    max_retry_after_s: float = 120.0

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """Seconds to wait before retry number ``attempt + 1``."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_retry_after_s) + random.uniform(0, 0.05)
        ceiling = min(self.max_s, self.base_s * 2**attempt)
        return ceiling / 2 + random.uniform(0, ceiling / 2)  # "equal jitter": never ~0, never in step


class Failure(Exception):
    """One failed attempt, classified (the message is already free of secrets)."""

    def __init__(self, message: str, retryable: bool, overload: bool = False,
                 retry_after: float | None = None, status: int | None = None, proxy: bool = False,
                 timed_out: bool = False, answered: bool = False) -> None:
        # an error body may hold a lone surrogate, which no file takes, and control characters, which a
        # terminal acts on (an attacker's trial put the bytes of a body encoded twice on the terminal)
        message = printable(valid_text(message))
        super().__init__(message)
        self.message, self.retryable, self.overload = message, retryable, overload
        self.retry_after, self.status = retry_after, status
        self.proxy = proxy
        """True when a LiteLLM proxy answered (its x-litellm-* headers or its error text)."""
        self.timed_out = timed_out
        """True when no answer came within model.timeout_s."""
        self.answered = answered
        """True when the server answered 200 with something that is not a completion response."""


class StreamCut(Failure):
    """A streamed answer that ended before its finish_reason: the connection dropped mid-answer
    (retried as any dropped connection; never scored as the model's code)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=True)


class BodyCut(Failure):
    """An answer whose body ended before the length its headers gave, or mid-message: the server
    answered, then the connection closed (retried as any dropped connection; never scored). It was
    called an endpoint that could not be reached, "start the server", of a server that was up."""

    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=True)


class AnswerTooLong(Failure):
    """An answer longer than ``transport.MAX_ANSWER_MB``, read no further (the HTTP layer raises it): a
    server or a proxy that sends without end ran the harness out of memory before (an attacker's idea).
    Not retried: asked again it would be as long."""

    def __init__(self, read_mb: int) -> None:
        super().__init__(f"its answer ran past {read_mb} MiB, where evalkit stops reading one",
                         retryable=False, answered=True)


class NotHttp(Failure):
    """A reply the HTTP client cannot parse as HTTP (the HTTP layer raises it): another protocol's
    greeting on the port, a header line past the client's limit. Something listens there and
    answered, so never "cannot reach ...; start the server", which it was. Not retried: asked
    again it would answer the same."""

    def __init__(self, said: str) -> None:
        super().__init__(f"its reply is not HTTP evalkit can read: {' '.join(said.split())}"[:300],
                         retryable=False, answered=True)


class ClosedUnanswered(Failure):
    """A connection the server accepted and closed before any answer began (no status line came): a
    TLS port asked in plain HTTP, a server that fails on the request, a proxy that refuses it. It was
    "cannot reach ...; start the server", of a server that is up. Retried as a dropped connection (a
    pooled connection the server had closed ends so too)."""

    def __init__(self, said: str) -> None:
        super().__init__(f"it closed the connection without answering ({said})"[:300], retryable=True)


_UNREADABLE = (ValueError, RecursionError, OverflowError, MemoryError)
"""What reading an answer that is not JSON, or JSON built to break a reader, raises (JSONDecodeError and
UnicodeDecodeError are ValueErrors; nesting 200,000 deep, ``Infinity`` where a count goes, objects by the
million). A hostile endpoint's were called "cannot reach the model endpoint ...; start the server"."""


_CUT_BODY = re.compile(r"ContentLengthError|ClientPayloadError|RemoteProtocolError|incomplete|"
                       r"complete message body|TransferEncodingError", re.IGNORECASE)
"""What the HTTP clients say of a body cut short (aiohttp's, httpx's, http.client's): by the error's
name, or (httpx's protocol errors, which also name replies that are not HTTP) by its message."""
_UNANSWERED = re.compile(r"without sending a response", re.IGNORECASE)
"""What httpx says of a connection closed before any status line."""


class AnswerFailed(Failure):
    """An answer whose finish_reason says the server failed it (``error``: OpenRouter's mid-stream
    error; ``abort``: vLLM aborted the request): retried as a dropped connection is, never scored as
    the model's code nor stored. Of a request for ``n`` choices, the whole request is asked again:
    its other choices would come back under sample indexes another seed's request then fills."""

    def __init__(self, message: str, retryable: bool = True) -> None:
        super().__init__(message, retryable=retryable)


FAILED_FINISH = frozenset({"error", "abort"})
"""finish_reasons a server gives an answer it failed, not one the model finished."""
FILTERED_FINISH = frozenset({"content_filter"})
"""finish_reasons of an answer the endpoint's filter withheld: its refusal, not the model's code (it
was scored ``empty``, and a gate blamed the template); asked again it is withheld again."""


def require_answered(choices: Sequence[Choice]) -> None:
    """Raise AnswerFailed when a choice's finish_reason says the server failed it (FAILED_FINISH,
    retried) or its filter withheld it (FILTERED_FINISH, not retried)."""
    failed = next((c for c in choices if c.finish_reason.lower() in FAILED_FINISH | FILTERED_FINISH), None)
    if failed is None:
        return
    if failed.finish_reason.lower() in FILTERED_FINISH:
        raise AnswerFailed(f"choice {failed.index} ended with finish_reason {failed.finish_reason!r}: the "
                           "endpoint's filter withheld the answer", retryable=False)
    raise AnswerFailed(f"choice {failed.index} ended with finish_reason {failed.finish_reason!r}: the "
                       "server failed that answer")


def retry_after_s(headers: httpx.Headers) -> float | None:
    """Seconds the server asks us to wait (retry-after-ms, Retry-After seconds or HTTP date)."""
    # An unreadable header means "no hint", never an exception: this runs while classifying a failure.
    value = headers.get("retry-after-ms")
    if value:
        seconds = _finite(value)
        if seconds is not None:
            return seconds / 1000
    value = headers.get("retry-after")
    if not value:
        return None
    seconds = _finite(value)
    if seconds is not None:
        return seconds
    try:
        return max(0.0, email.utils.parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError, OverflowError):
        return None


def is_proxy(headers: httpx.Headers) -> bool:
    """True when a LiteLLM proxy sent these response headers."""
    return any(name.lower().startswith("x-litellm") for name in headers)


def _finite(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def server_message(exc: openai.APIStatusError) -> str:
    """The error message the server put in its body, on one short line."""
    body: Any = exc.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        body = inner.get("message", inner) if isinstance(inner, dict) else inner
    text = str(body or exc.response.reason_phrase)
    if text.lstrip()[:1] == "<":  # an HTML error page: its words, not its markup
        text = _HTML_TAG.sub(" ", _HTML_HEAD.sub(" ", text))
    return " ".join(text.split())[:300]


def _connection_failure(exc: openai.APIConnectionError, secrets: Sequence[str]) -> Failure:
    """A connection that failed (retried), that closed before the answer it began was whole, that
    closed unanswered, or whose reply was not HTTP (what httpx's parser says of each, for streams)."""
    cause = exc.__cause__ or exc
    said = redact(f"{type(cause).__name__}: {cause}", secrets)
    if isinstance(cause, httpx.RemoteProtocolError) and not _CUT_BODY.search(str(cause)):
        if _UNANSWERED.search(str(cause)):
            return ClosedUnanswered(said)
        return NotHttp(redact(str(cause), secrets))  # a status line or headers it could not parse
    if isinstance(cause, httpx.ReadError) and _from_httpcore(cause):
        # a stream's request (httpx's own connection) fails so before its headers came, a reset by a TLS
        # port asked in plain HTTP among them; the aiohttp transport names one closed unanswered itself
        return ClosedUnanswered(redact(_first_reason(cause), secrets))
    if _CUT_BODY.search(said):
        return BodyCut(f"the connection closed before the answer was whole ({said})"[:300])
    return Failure(f"connection failed: {said}"[:300], retryable=True)


def _from_httpcore(exc: BaseException) -> bool:
    """Whether httpx raised ``exc`` from its own connection (httpcore), not from the aiohttp transport,
    which raises its ReadErrors from aiohttp's errors."""
    inner = exc.__cause__ or exc.__context__
    return inner is not None and type(inner).__module__.partition(".")[0] == "httpcore"


def _first_reason(exc: BaseException) -> str:
    """``exc`` as its type and message, or, where it says nothing (httpx's ReadError), what it was raised
    from that does (``ConnectionResetError: [Errno 104] Connection reset by peer``)."""
    seen: BaseException | None = exc
    for _ in range(8):  # a chain is short; never loop on one that refers back to itself
        if seen is None or str(seen):
            break
        seen = seen.__cause__ or seen.__context__
    shown = seen if seen is not None and str(seen) else exc
    return f"{type(shown).__name__}: {shown}" if str(shown) else type(shown).__name__


def classify(exc: Exception, secrets: Sequence[str], timeout_s: float) -> Failure:  # noqa: PLR0911
    """Turn an exception from one attempt into a Failure."""
    if isinstance(exc, Failure):  # ours, maybe quoting the body (which may echo the key)
        exc.message = redact(exc.message, secrets)
        exc.args = (exc.message,)
        return exc
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        message = redact(f"HTTP {status}: {server_message(exc)}", secrets)
        retryable = (status in RETRY_STATUS or status >= 500) and status not in NOT_AN_API_STATUS
        return Failure(message, retryable=retryable,
                       overload=status in OVERLOAD_STATUS,
                       retry_after=retry_after_s(exc.response.headers), status=status,
                       proxy=is_proxy(exc.response.headers) or "litellm" in message.lower())
    if isinstance(exc, openai.APITimeoutError):
        return Failure(f"no answer within {timeout_s:g} s (model.timeout_s)", retryable=True, timed_out=True)
    if isinstance(exc, openai.APIConnectionError):
        if isinstance(exc.__cause__, (Failure, *_UNREADABLE)):  # under the client's send, which wraps it
            return classify(exc.__cause__, secrets, timeout_s)
        return _connection_failure(exc, secrets)
    if isinstance(exc, _UNREADABLE):  # an answer that came and cannot be read: never "start the server"
        said = redact(f"{type(exc).__name__}: {exc}", secrets)[:200]
        return Failure(f"its answer could not be read ({said})", retryable=not isinstance(exc, MemoryError),
                       answered=True)
    if isinstance(exc, httpx.TimeoutException):  # reading a stream the server began: the client wraps none
        return StreamCut(f"then sent nothing for {timeout_s:g} s (model.timeout_s)")
    if isinstance(exc, httpx.TransportError):  # a stream reset or cut mid-answer (httpx.ReadError)
        said = redact(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__, secrets)
        return StreamCut(f"the connection failed mid-answer ({said})"[:300])
    if isinstance(exc, openai.APIError):  # an error event in a stream the server had begun with 200
        status = _status_of(exc.body) or 500  # what a server says so once it has sent 200: its failure
        message = redact(f"the endpoint reported an error in its stream: {' '.join(exc.message.split())}",
                         secrets)[:300]
        retryable = (status in RETRY_STATUS or status >= 500) and status not in NOT_AN_API_STATUS
        return Failure(message, retryable=retryable, overload=status in OVERLOAD_STATUS, status=status,
                       proxy="litellm" in message.lower())
    return Failure(redact(f"{type(exc).__name__}: {exc}", secrets)[:300], retryable=False)


def _status_of(error: object) -> int | None:
    """The HTTP status a stream's error event names in its ``code`` (LiteLLM sends "500"), if any."""
    code = error.get("code") if isinstance(error, dict) else None
    try:
        status = int(code)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return status if 100 <= status <= 599 else None


ANSWERED_BY_HEADERS = ("x-litellm-model-id", "x-litellm-model-api-base")
"""A LiteLLM proxy's response headers that name the deployment behind an alias (not its version:
upgrading the proxy changes no answer)."""


def answered_by(model: object, headers: httpx.Headers) -> dict[str, Any]:
    """What an answer says answered it: the model its body (or its stream's events) names, and a
    proxy's deployment headers, each cut to NAME_CHARS."""
    return {"model": _named(model), **{h: _named(headers[h]) for h in ANSWERED_BY_HEADERS if h in headers}}


NAME_CHARS = 200
"""The most of a name an answer gives (its model, a proxy's deployment) that evalkit keeps: an endpoint's
30 MiB model name was a 30 MiB warning line and made run.json and both reports 30 MiB each (an attacker's
trial). A longer one keeps its start and its sha256, so two names never read as one."""


def named(value: str) -> str:
    """A name or word an answer gives (its model, a proxy's deployment, a finish_reason) as evalkit keeps
    it: valid text with each control character as U+FFFD (``printable``: they reached samples.jsonl and
    gate.md as sent, an attacker's trial), and past NAME_CHARS its start, its length and its sha256."""
    text = printable(valid_text(value))
    if len(text) <= NAME_CHARS:
        return text
    digest = hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    return f"{text[:NAME_CHARS]}... ({len(value):,} characters, sha256 {digest})"


def _named(value: object) -> object:
    return named(value) if isinstance(value, str) else value


@dataclass(frozen=True, slots=True)
class Choice:
    """One choice of a response."""

    index: int
    text: str
    finish_reason: str
    ttft_s: float | None = None
    """Seconds to the first token, for a streamed answer; None otherwise."""
    declined: bool = False
    """The answer carried a refusal (OpenAI's ``refusal`` field or part), whatever its value: an
    empty one is the model's answer, never text the endpoint dropped."""
    elsewhere: bool = False
    """The answer's content was empty and its message carried text in a reasoning field
    (``reasoning_content``, ``reasoning``): a reasoning parser put the generation there, so the
    answer is not the model's empty code (scored so, a night read as a template FAIL, exit 0)."""


def parse_response(content: bytes, chat: bool) -> tuple[list[Choice], int, int, object]:
    """(choices sorted by index, prompt_tokens, completion_tokens, the model the body names) from a
    response body.

    Raises a retryable Failure for a body that is not a completion response.
    """
    try:
        data = json.loads(content)
    except ValueError:
        raise Failure(f"malformed response from the endpoint (not JSON: {_start_of(content)})",
                      retryable=True, answered=True) from None
    error = data.get("error") if isinstance(data, dict) else None
    if error and not (isinstance(data.get("choices"), list) and data["choices"]):
        # a 200 with an error object (some proxies send one for a failed backend): what it said, as a
        # failed answer; it read "KeyError: {...", "point model.base_url at the API" (a nightly owner's trial)
        said = error.get("message") if isinstance(error, dict) else error
        raise AnswerFailed(f"it answered 200 with an error: {' '.join(str(said or error).split())[:200]}")
    try:
        choices = []
        for pos, c in enumerate(data["choices"]):
            holder = c["message"] if chat else c
            said = holder.get("content") if chat else c["text"]
            text, refused = content_parts(said)
            text = valid_text(answer_text(text, refusal_of(holder) or refused))
            finish = named(str(c.get("finish_reason") or "stop"))
            choices.append(Choice(int(c.get("index", pos)), text, finish,
                                  declined=declines(holder) or declines({"content": said}),
                                  elsewhere=not text.strip() and bool(reasoning_of(holder).strip())))
        prompt_tokens, completion_tokens = token_counts(data.get("usage"))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        what = (f"no {exc.args[0]!r} field" if isinstance(exc, KeyError) and exc.args
                else "a field of the wrong type, or null")
        if isinstance(data, dict) and isinstance(data.get("choices"), list):  # a completion, one choice
            # of which could not be read (a null message): the server's fault, not a wrong address
            raise AnswerFailed(f"it answered a choice it could not read ({what})") from None
        raise Failure(f"malformed response from the endpoint ({what}: {_start_of(content)})",
                      retryable=True, answered=True) from None
    if not choices:
        raise Failure("the endpoint returned no choices", retryable=True, answered=True)
    require_answered(choices)
    return sorted(choices, key=lambda c: c.index), prompt_tokens, completion_tokens, data.get("model")


MAX_TOKENS_COUNTED = 1 << 40
"""More tokens than any request uses: a usage beyond it is not a count (10**30 ended a run with a
traceback, exit 3, where the response store's integers stop)."""


def token_counts(usage: object, previous: tuple[int, int] = (0, 0)) -> tuple[int, int]:
    """(prompt_tokens, completion_tokens) of a response's ``usage``; a count that is missing, not a
    whole number, negative or beyond MAX_TOKENS_COUNTED is ``previous``'s (0: the server said none).
    Usage is information: it never makes an answer malformed."""
    usage = usage if isinstance(usage, dict) else {}
    counts = []
    for name, before in zip(("prompt_tokens", "completion_tokens"), previous, strict=True):
        value = usage.get(name)
        ok = isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_TOKENS_COUNTED
        counts.append(value if ok else before)
    return counts[0], counts[1]


def content_parts(content: object) -> tuple[str, str]:
    """(text, refusal) of an answer's content, or of a streamed piece of it: a string (or null) is
    text; a list of content parts (``[{"type": "text", "text": ...}]``, as some servers answer) gives
    its text parts' text and its refusal parts' (``{"type": "refusal", "refusal": ...}``, OpenAI's).
    Anything else is not an answer (TypeError: a malformed response, retried), never its Python repr
    scored as the model's code."""
    if content is None or isinstance(content, str):
        return content or "", ""
    if isinstance(content, list) and all(isinstance(p, dict) for p in content):
        texts = [p.get("text") for p in content if p.get("type") == "text"]
        refusals = [p.get("refusal") for p in content if p.get("type") == "refusal"]
        if (texts or refusals) and all(isinstance(t, str) for t in texts):  # a refusal not text: none
            return "".join(texts), "".join(r for r in refusals if isinstance(r, str))
    raise TypeError(f"an answer's content is {type(content).__name__}, not text")


def declines(holder: dict) -> bool:
    """Whether a message, a delta or their content holds a refusal (OpenAI's), text or not."""
    content = holder.get("content")
    return holder.get("refusal") is not None or isinstance(content, list) and any(
        isinstance(p, dict) and p.get("type") == "refusal" for p in content)


REASONING_FIELDS = ("reasoning_content", "reasoning")
"""Where vLLM's and other reasoning parsers put a message's or a delta's reasoning text."""


def reasoning_of(holder: dict) -> str:
    """A message's or a delta's reasoning text (REASONING_FIELDS), "" where it has none."""
    return "".join(text for text in (holder.get(name) for name in REASONING_FIELDS) if isinstance(text, str))


def refusal_of(holder: dict) -> str:
    """A message's or a delta's ``refusal`` field (OpenAI's, for a model that declines to answer);
    "" where it has none, or one that is not text."""
    refusal = holder.get("refusal")
    return refusal if isinstance(refusal, str) else ""


def answer_text(text: str, refusal: str) -> str:
    """The answer: its text or, where that is blank, the model's refusal. A refusal is the model's own
    answer, scored as the model's code like a refusal written as text, and kept as the sample's raw
    output (it was scored as an empty answer, and samples.jsonl hid why)."""
    return text if text.strip() or not refusal else refusal


def _start_of(content: bytes) -> str:
    """The first words of a body that is not a completion response (an HTML page's, not its markup)."""
    text = re.sub(r"<[^>]*>", " ", content[:2000].decode("utf-8", "replace"))
    return " ".join(text.split())[:80] or "an empty body"
