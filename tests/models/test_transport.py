"""The HTTP transport under the openai client: a proxy the environment names is used, as curl, httpx
and the openai package use it, and NO_PROXY exempts a host. A forward proxy on loopback in front of
the real demo endpoint records what went through it."""

from __future__ import annotations

import asyncio
import urllib.request

import pytest

from evalkit.models import EndpointError, ModelClient, RetryPolicy
from evalkit.models.demo import JsonHandler, QuietHTTPServer
from evalkit.models.transport import environment_proxy
from tests.support.models import chat_prompt, closed_port_url, humaneval_tasks, model_config

TASKS = humaneval_tasks()[:1]


class _ForwardProxy(JsonHandler):
    """An HTTP proxy: a request line with an absolute URL, forwarded there as it came."""

    seen: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        self._forward(None)

    def do_POST(self) -> None:  # noqa: N802 - stdlib name
        self._forward(self.rfile.read(int(self.headers.get("Content-Length") or 0)))

    def _forward(self, body: bytes | None) -> None:
        type(self).seen.append(f"{self.command} {self.path}")
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "proxy-connection")}
        direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never itself proxied
        with direct.open(urllib.request.Request(self.path, data=body, headers=headers,
                                                method=self.command), timeout=10) as answer:
            self.send_body(answer.status, answer.read())


@pytest.fixture()
def forward_proxy(monkeypatch):
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    httpd = QuietHTTPServer(("127.0.0.1", 0), _ForwardProxy)
    thread = httpd.serve_in_thread("forward-proxy")
    _ForwardProxy.seen = []
    environment_proxy.cache_clear()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    environment_proxy.cache_clear()  # the environment of the tests after this one
    httpd.stop(thread)


@pytest.fixture(scope="module")
def demo():
    from evalkit.models import DemoServer

    with DemoServer(TASKS) as server:
        yield server


def probe_error(cfg) -> str:
    async def go():
        client = ModelClient(cfg, retry=RetryPolicy(0.01, 0.02))
        try:
            await client.check()
        finally:
            await client.aclose()

    with pytest.raises(EndpointError) as raised:
        asyncio.run(go())
    return str(raised.value)


def _answer(demo, stream: bool = False, direct: bool = False) -> str:
    async def go():
        client = ModelClient(model_config(demo.base_url, name="demo-oracle", stream=stream),
                             retry=RetryPolicy(0.01, 0.02), direct=direct)
        try:
            await client.check(chat_prompt(TASKS[0]))
            (gen,) = await client.generate(chat_prompt(TASKS[0]), 1, seed=1)
            return gen
        finally:
            await client.aclose()

    gen = asyncio.run(go())
    assert not gen.error
    return gen.raw_output


def test_the_proxy_the_environment_names_carries_every_request(demo, forward_proxy, monkeypatch):
    # Without it, a run behind a corporate proxy could not reach its endpoint unless it streamed.
    monkeypatch.setenv("HTTP_PROXY", forward_proxy)
    assert "def " in _answer(demo)
    base = demo.base_url.rstrip("/")
    assert f"GET {base}/models" in _ForwardProxy.seen  # the listing too
    assert _ForwardProxy.seen.count(f"POST {base}/chat/completions") == 2  # the probe and the sample


def test_no_proxy_exempts_the_endpoint(demo, forward_proxy, monkeypatch):
    monkeypatch.setenv("http_proxy", forward_proxy)
    monkeypatch.setenv("no_proxy", "localhost,127.0.0.1")
    assert "def " in _answer(demo)
    assert _ForwardProxy.seen == []


@pytest.mark.parametrize("stream", [False, True])
def test_evalkit_s_own_demo_endpoint_is_never_reached_through_a_proxy(demo, forward_proxy, monkeypatch,
                                                                      stream):
    # A machine-wide HTTP_PROXY without NO_PROXY made the default `evalkit run` fail: its demo
    # endpoint, on loopback in the same process, was asked through a proxy that cannot reach it.
    monkeypatch.setenv("HTTP_PROXY", forward_proxy)
    assert "def " in _answer(demo, stream=stream, direct=True)
    assert _ForwardProxy.seen == []


class _RefusingProxy(JsonHandler):
    """A proxy that answers every request itself: 503 (it cannot reach the host, as Squid says so)
    or 407 (it wants credentials)."""

    status = 503

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        self.send_body(type(self).status, b"<html><body>proxy says no</body></html>",
                       {"Proxy-Authenticate": 'Basic realm="corp"'} if type(self).status == 407 else None)

    do_POST = do_CONNECT = do_GET


@pytest.fixture()
def refusing_proxy(forward_proxy):
    httpd = QuietHTTPServer(("127.0.0.1", 0), _RefusingProxy)
    thread = httpd.serve_in_thread("refusing-proxy")
    yield f"127.0.0.1:{httpd.server_address[1]}"
    httpd.stop(thread)


@pytest.mark.parametrize(("proxy", "status", "said"), [
    ("closed", None, "go through the proxy the environment names, http://127.0.0.1:9, which may have "
                     "answered this itself: list the endpoint's host in NO_PROXY"),
    ("refusing", 503, "go through the proxy the environment names, http://{where}, which may have answered"),
    ("refusing", 407, "the proxy the environment names, http://{where}, refused the request to"),
    ("tunnel", 503, "go through the proxy the environment names, http://{where}, which may have answered"),
    ("closed#", None, "go through the proxy the environment names, http://127.0.0.1:9, which may have "),
])
def test_an_endpoint_unreachable_through_the_proxy_names_it_never_its_password(
        monkeypatch, refusing_proxy, proxy, status, said):
    # "start the server or fix model.base_url" sent a user behind a corporate proxy to a server that
    # was up, and the proxy's 503 or 407 read as the endpoint's own; its URL's password reached the
    # terminal in the HTTP library's error.
    where = "127.0.0.1:9" if proxy.startswith("closed") else refusing_proxy
    # a password with "#" unencoded: a URL parser took part of it for the port and evalkit exited 3
    password = "hunter2-secret#1" if proxy == "closed#" else "hunter2-secret"
    _RefusingProxy.status = status or 503
    url = closed_port_url()
    if proxy == "tunnel":  # https: a CONNECT the proxy refuses, quoted with the proxy's URL
        url = url.replace("http://", "https://")
    monkeypatch.setenv("HTTPS_PROXY" if proxy == "tunnel" else "HTTP_PROXY", f"http://ci-user:{password}@{where}")
    message = probe_error(model_config(url, max_retries=0))
    assert said.format(where=where) in message, message
    assert "hunter2" not in message and "ci-user" not in message
    if proxy == "tunnel":  # the proxy's own 503 (a subclass of aiohttp's parse error) read "not HTTP"
        assert "503" in message and "not HTTP" not in message, message


def test_a_refused_connection_is_said_in_the_system_s_words_not_aiohttp_s_tls_setting(monkeypatch):
    # aiohttp's text, "Cannot connect to host 127.0.0.1:PORT ssl:default [Connect call failed ...]", sent
    # users of a plain http:// endpoint looking for a certificate problem.
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    url = closed_port_url()
    message = probe_error(model_config(url, max_retries=0))
    where = url.removeprefix("http://").removesuffix("/v1")
    assert f"cannot connect to {where}: Connection refused" in message, message
    assert "ssl" not in message.lower()
