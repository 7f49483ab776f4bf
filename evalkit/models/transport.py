"""An httpx client over aiohttp, for the openai client.

httpx's own connection pool (httpcore 1.0) re-scans every connection on every
pool event, which costs several ms of CPU per request at 64 connections;
aiohttp's connector does the same job in a fraction of that. The openai client
still builds its requests and receives its responses as httpx objects.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

try:
    import aiohttp
except ImportError:  # pragma: no cover - aiohttp comes with datasets; fall back to httpx's pool
    aiohttp = None  # type: ignore[assignment]

_SKIP = frozenset({"host", "content-length", "transfer-encoding", "connection"})


class AiohttpTransport(httpx.AsyncBaseTransport):
    """Sends httpx requests with one aiohttp session per event loop."""

    def __init__(self, max_connections: int = 0) -> None:
        self.max_connections = max_connections
        self._session: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _session_now(self) -> Any:
        loop = asyncio.get_running_loop()
        if self._session is None or self._loop is not loop or self._session.closed:
            # A session belongs to one loop; a client reused under a new asyncio.run gets a new one.
            connector = aiohttp.TCPConnector(limit=self.max_connections, ttl_dns_cache=300)
            self._session = aiohttp.ClientSession(connector=connector, auto_decompress=False,
                                                  cookie_jar=aiohttp.DummyCookieJar())
            self._loop = loop
        return self._session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send one request; aiohttp errors become the httpx errors the openai client expects."""
        limits = request.extensions.get("timeout") or {}
        total = max((v for v in limits.values() if v is not None), default=None)
        headers = [(k, v) for k, v in request.headers.multi_items() if k.lower() not in _SKIP]
        body = await request.aread()
        try:
            async with self._session_now().request(
                    request.method, str(request.url), headers=headers, data=body or None,
                    allow_redirects=False, timeout=aiohttp.ClientTimeout(total=total)) as resp:
                content = await resp.read()
                return httpx.Response(status_code=resp.status, headers=list(resp.raw_headers),
                                      content=content, request=request)
        except asyncio.TimeoutError as exc:
            raise httpx.ReadTimeout(f"no answer within {total} s", request=request) from exc
        except aiohttp.ClientConnectorError as exc:
            raise httpx.ConnectError(str(exc), request=request) from exc
        except aiohttp.ClientError as exc:
            raise httpx.ReadError(f"{type(exc).__name__}: {exc}", request=request) from exc

    async def aclose(self) -> None:
        """Close the session of the current loop."""
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None


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


def http_client(timeout_s: float, max_connections: int) -> httpx.AsyncClient | None:
    """The httpx client the openai client should use (None: openai's default)."""
    if aiohttp is None:
        return None
    return DirectClient(AiohttpTransport(max_connections), timeout_s)
