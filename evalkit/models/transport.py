"""An httpx client over aiohttp, for the openai client.

httpx's own connection pool (httpcore 1.0) re-scans every connection on every
pool event, which costs several ms of CPU per request at 64 connections;
aiohttp's connector does the same job in a fraction of that. The openai client
still builds its requests and receives its responses as httpx objects.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import os
import urllib.request
from collections.abc import AsyncIterator
from typing import Any

import httpx
import openai

from evalkit.models.retry import AnswerTooLong, BodyCut, ClosedUnanswered, Failure, NotHttp

try:
    import aiohttp
except ImportError:  # pragma: no cover - aiohttp comes with datasets; fall back to httpx's pool
    aiohttp = None  # type: ignore[assignment]

MAX_ANSWER_MB = 16
"""The most of one answer evalkit reads, decoded (a whole response, or a stream's events). The longest
a real one gets is ``n`` answers of ``max_tokens`` each: 200 of 8,192 tokens is about 7 MiB of JSON.
Read as JSON, a body can take 30 times its size (``{}`` by the million: an attacker's 60 MiB took 2 to 4
GB a request in flight), so the cap is no higher than that."""
_SKIP = frozenset({"host", "content-length", "transfer-encoding", "connection", "accept-encoding"})
_DECODED = frozenset({b"content-encoding", b"content-length"})
"""Headers of the body as sent, which the decoded body handed to httpx no longer matches."""


class AiohttpTransport(httpx.AsyncBaseTransport):
    """Sends httpx requests with one aiohttp session per event loop."""

    def __init__(self, max_connections: int = 0, env_proxy: bool = True) -> None:
        self.max_connections = max_connections
        self.env_proxy = env_proxy
        """Whether requests go through the proxy the environment names (``environment_proxy``)."""
        self._session: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _session_now(self) -> Any:
        loop = asyncio.get_running_loop()
        if self._session is None or self._loop is not loop or self._session.closed:
            # A session belongs to one loop; a client reused under a new asyncio.run gets a new one.
            connector = aiohttp.TCPConnector(limit=self.max_connections, ttl_dns_cache=300)
            # aiohttp decodes as it reads, so MAX_ANSWER_MB bounds the decoded answer: a small
            # compressed body can decode to gigabytes
            self._session = aiohttp.ClientSession(connector=connector, auto_decompress=True,
                                                  cookie_jar=aiohttp.DummyCookieJar())
            self._loop = loop
        return self._session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send one request; aiohttp errors become the httpx errors the openai client expects."""
        limits = request.extensions.get("timeout") or {}
        total = max((v for v in limits.values() if v is not None), default=None)
        headers = [(k, v) for k, v in request.headers.multi_items() if k.lower() not in _SKIP]
        headers.append(("Accept-Encoding", _decodable()))
        body = await request.aread()
        url = request.url
        answering = False
        try:
            async with self._session_now().request(
                    request.method, str(url), headers=headers, data=body or None,
                    proxy=environment_proxy(url.scheme, url.host, url.port) if self.env_proxy else None,
                    allow_redirects=False, timeout=aiohttp.ClientTimeout(total=total)) as resp:
                answering = True
                _refuse_undecoded(resp.headers.get("Content-Encoding", ""), _decodable())
                content = await _read_at_most(resp, MAX_ANSWER_MB << 20)
                headers = [(k, v) for k, v in resp.raw_headers if k.lower() not in _DECODED]
                return httpx.Response(status_code=resp.status, headers=headers, content=content,
                                      request=request)
        except asyncio.TimeoutError as exc:
            raise httpx.ReadTimeout(f"no answer within {total} s", request=request) from exc
        except aiohttp.ClientConnectorError as exc:
            raise httpx.ConnectError(connect_failure(exc), request=request) from exc
        except aiohttp.ClientHttpProxyError as exc:  # the proxy refused the tunnel: retried, as before
            raise httpx.ReadError(f"{type(exc).__name__}: {exc}", request=request) from exc
        except aiohttp.ClientResponseError as exc:  # a status line or header it cannot parse
            raise NotHttp(exc.message) from exc
        except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError) as exc:
            # aiohttp gives what it had parsed of a reply cut mid-headers as the error's message
            if answering or not isinstance(getattr(exc, "message", ""), str):
                raise BodyCut(f"the connection closed before the answer was whole ({type(exc).__name__})") \
                    from exc
            raise ClosedUnanswered(f"{type(exc).__name__}: {exc}") from exc
        except aiohttp.ClientError as exc:
            raise httpx.ReadError(f"{type(exc).__name__}: {exc}", request=request) from exc

    async def aclose(self) -> None:
        """Close the session of the current loop."""
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None


@functools.cache
def _decodable() -> str:
    """The encodings aiohttp decodes here: httpx's own list may name one it cannot (zstd, through
    another package than aiohttp's)."""
    from aiohttp import compression_utils  # noqa: PLC0415 - aiohttp is there when this transport is

    return "gzip, deflate" + (", br" if getattr(compression_utils, "HAS_BROTLI", False) else "")


def _refuse_undecoded(encoding: str, asked: str) -> None:
    """Raise where a body came in a coding evalkit did not ask for (``asked``, its Accept-Encoding) and so
    will not decode: ``x-gzip``, ``compress`` or several stacked (``gzip, gzip``), which aiohttp leaves
    encoded (read as it came, such a body was "not JSON", quoted as its compressed bytes: an attacker's
    trial), or any coding at all for a stream, which asks for none (a small gzip body can decode to
    gigabytes)."""
    coding = encoding.strip().lower()
    if coding in ("", "identity", *(name.strip() for name in asked.split(","))):
        return
    said = ("where evalkit asked for none (Accept-Encoding: identity)" if asked == "identity"
            else f"which evalkit cannot decode (it asked for {asked})")
    raise Failure(f"its answer came {coding[:60]}-encoded, {said}", retryable=False, answered=True)


async def _at_most(chunks: Any, limit: int) -> AsyncIterator[bytes]:
    """``chunks`` as they come; AnswerTooLong once they pass ``limit`` bytes."""
    read = 0
    async for chunk in chunks:
        read += len(chunk)
        if read > limit:
            raise AnswerTooLong(limit >> 20)
        yield chunk


async def _read_at_most(resp: Any, limit: int) -> bytes:
    """The aiohttp response's decoded body, at most ``limit`` bytes of it."""
    return b"".join([chunk async for chunk in _at_most(resp.content.iter_chunked(1 << 16), limit)])


class _StreamAtMost(httpx.AsyncByteStream):
    """An httpx response's body, at most ``limit`` bytes of it (a stream's events are read as they come)."""

    def __init__(self, stream: httpx.AsyncByteStream, limit: int) -> None:
        self._stream, self._limit = stream, limit

    def __aiter__(self) -> AsyncIterator[bytes]:
        return _at_most(self._stream, self._limit)

    async def aclose(self) -> None:
        await self._stream.aclose()


async def _ask_unencoded(request: httpx.Request) -> None:
    request.headers["Accept-Encoding"] = "identity"


async def _read_at_most_as_sent(response: httpx.Response) -> None:
    """Bound what httpx reads of ``response`` to MAX_ANSWER_MB, as sent: identity was asked for, so a
    body in another encoding is refused, not decoded (a small gzip body can decode to gigabytes)."""
    _refuse_undecoded(response.headers.get("Content-Encoding", ""), "identity")
    response.stream = _StreamAtMost(response.stream, MAX_ANSWER_MB << 20)


def connect_failure(exc: aiohttp.ClientConnectorError) -> str:
    """What failed and the system's reason: ``cannot connect to HOST:PORT: Connection refused``.

    aiohttp's own text names its connector's TLS setting ("ssl:default") for plain http:// URLs too,
    which sent users looking for a certificate problem; a TLS failure keeps aiohttp's text.
    """
    if isinstance(exc, aiohttp.ClientSSLError):
        return str(exc)
    error = exc.os_error
    errno = getattr(error, "errno", None)
    # asyncio's refused connect is OSError(111, "Connect call failed (addr)"): the number says it
    reason = os.strerror(errno) if isinstance(errno, int) and errno > 0 else (
        getattr(error, "strerror", None) or str(error))
    return f"cannot connect to {exc.host}:{exc.port}: {reason}"


@functools.lru_cache(maxsize=64)
def environment_proxy(scheme: str, host: str, port: int | None) -> str | None:
    """The proxy the environment names for this origin (HTTP_PROXY, HTTPS_PROXY, ALL_PROXY, either
    case), None where NO_PROXY exempts it: what curl, httpx and the openai package do by default.
    Without it a run behind a corporate proxy could not reach its endpoint unless it streamed
    (model.stream=true goes through httpx's own transport). Read once per origin and process, not
    with aiohttp's trust_env, which looks the proxy up on a thread for every request and takes
    ~/.netrc credentials that then clash with the API key's header."""
    proxies = urllib.request.getproxies_environment()
    proxy = proxies.get(scheme) or proxies.get("all")
    if not proxy:
        return None
    if urllib.request.proxy_bypass_environment(f"{host}:{port}" if port else host, proxies):
        return None
    return proxy if "://" in proxy else f"http://{proxy}"


class DirectClient(httpx.AsyncClient):
    """An httpx client whose send() hands the request straight to its AiohttpTransport.

    httpx's own send() wraps every request in an auth flow, a redirect loop,
    cookie extraction and a log record: ~0.06 ms of CPU per request, for nothing
    here. openai authenticates with a header it built, follows no redirects
    unless a request asks (evalkit's never do), and the aiohttp session keeps
    no cookies either.
    """

    def __init__(self, transport: AiohttpTransport, timeout_s: float) -> None:
        super().__init__(transport=transport, timeout=timeout_s)
        self._direct = transport

    async def send(self, request: httpx.Request, **_: Any) -> httpx.Response:
        """The response, fully read: the transport reads every body (evalkit streams nothing)."""
        if self.is_closed:
            raise RuntimeError("Cannot send a request, as the client has been closed.")
        return await self._direct.handle_async_request(request)


def basic_auth(credentials: str) -> dict[str, str]:
    """The HTTP basic-auth header of ``user:password`` (``model.auth=basic``), in place of the bearer
    token the openai client would send: a reverse proxy in front of a model server may ask for it."""
    return {"Authorization": "Basic " + base64.b64encode(credentials.encode()).decode()}


def http_client(timeout_s: float, max_connections: int, *, streamed: bool = False,
                env_proxy: bool = True) -> httpx.AsyncClient:
    """The httpx client the openai client should use. Streamed answers need httpx's own transport
    (ours reads whole bodies); either reads at most MAX_ANSWER_MB of an answer. ``env_proxy=False``:
    never through a proxy the environment names, for evalkit's own demo endpoint on loopback (a
    machine-wide HTTP_PROXY without NO_PROXY made the default `evalkit run` fail)."""
    if streamed or aiohttp is None:
        return openai.DefaultAsyncHttpxClient(timeout=timeout_s, trust_env=env_proxy, event_hooks={
            "request": [_ask_unencoded], "response": [_read_at_most_as_sent]})
    return DirectClient(AiohttpTransport(max_connections, env_proxy), timeout_s)
