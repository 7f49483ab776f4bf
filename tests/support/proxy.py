"""A loopback stand-in for a LiteLLM proxy (1.x): aliases in front of real backends, and its error shapes.

It forwards /v1/chat/completions and /v1/completions to the backend an alias
points to (the demo endpoint in the tests), with the model id rewritten, and
answers the way LiteLLM does where it matters to evalkit:

- /v1/models lists the aliases from its own config (static ``created`` and
  ``owned_by``), whether or not a backend is up;
- a key other than the master key: 400 "No connected db." (a proxy without a
  database) or 401 "Authentication Error, Invalid proxy server token passed";
- an unknown alias: 400 "Invalid model name passed in model=...";
- a backend that does not answer: 500 whose message carries the backend's
  connection error;
- a backend that rejects ``n`` (``reject_n``): 400 UnsupportedParamsError naming 'n';
- every answer carries ``x-litellm-model-id`` / ``x-litellm-model-api-base``
  naming the deployment behind the alias, as LiteLLM's response headers do.

``refuse_after`` makes it answer N completion requests and then refuse every
key: an endpoint that passes the start-up probe and fails the run.
``backend_dies_after`` makes the backend behind every alias stop answering after N
forwarded requests: the proxy's 500s for a backend that died mid-run. An alias routed to a list
of backends is balanced over them, each request to the next (``turn`` says which comes next);
``listing_fails`` makes the next N /v1/models listings answer 500. ``drop_content`` blanks the text
of every answer and keeps its usage: a proxy (or a reasoning parser) that moves the generation out
of ``message.content``.
"""

from __future__ import annotations

import hashlib
import json
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from evalkit.models.demo import JsonHandler, QuietHTTPServer

VERSION = "1.108.0-evalkit-test"


@dataclass
class Route:
    """Where an alias goes: the backend's /v1 URL and its served model id."""

    api_base: str
    model: str


class _Handler(JsonHandler):
    server: _Server

    def _litellm_error(self, status: int, message: str, kind: str | None) -> None:
        self.send_json(status, {"error": {"message": message, "type": kind, "param": None,
                                          "code": str(status)}}, {"x-litellm-version": VERSION})

    def _key_refused(self) -> bool:
        proxy = self.server.proxy
        sent = self.headers.get("Authorization", "").removeprefix("Bearer ")
        if proxy.master_key is None or (sent == proxy.master_key and not proxy.refusing()):
            return False
        if proxy.database:
            shown = sent[:proxy.echo_prefix] if proxy.echo_prefix else "sk-"
            self._litellm_error(401, "Authentication Error, Invalid proxy server token passed. "
                                f"Received API Key = {shown}...{sent[-4:]}", "auth_error")
        else:
            self._litellm_error(400, "No connected db.", "no_db_connection")
        return True

    def do_GET(self) -> None:  # noqa: N802
        if self.path.rstrip("/") not in ("/v1/models", "/models"):
            self._litellm_error(404, "Not Found", None)
            return
        if self.server.proxy.listing_failed():
            self._litellm_error(500, "litellm.InternalServerError: the model list is being reloaded", None)
            return
        data = [{"id": alias, "object": "model", "created": 1677610602, "owned_by": "openai"}
                for alias in self.server.proxy.routes]
        self.send_json(200, {"object": "list", "data": data}, {"x-litellm-version": VERSION})

    def do_POST(self) -> None:  # noqa: N802
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        path = self.path.rstrip("/").removeprefix("/v1")
        if path not in ("/chat/completions", "/completions"):
            self._litellm_error(404, "Not Found", None)
            return
        if self._key_refused():
            return
        body = json.loads(raw or b"{}")
        proxy = self.server.proxy
        route = proxy.pick(body.get("model"))
        if route is None:
            self._litellm_error(400, f"Invalid model name passed in model={body.get('model')}. Call "
                                "`/v1/models` to view available models for your key.",
                                "invalid_request_error")
            return
        if proxy.reject_n and int(body.get("n") or 1) > 1:
            self._litellm_error(400, f"litellm.UnsupportedParamsError: openai does not support parameters: "
                                f"['n'], for model={route.model}. To drop these, set `drop_params=True`",
                                None)
            return
        proxy.count()
        self._forward(route, body, path)

    def _forward(self, route: Route, body: dict[str, Any], path: str) -> None:
        data = json.dumps({**body, "model": route.model}).encode()
        request = urllib.request.Request(route.api_base + path, data=data,
                                         headers={"Content-Type": "application/json"})
        deployment = hashlib.sha256(f"{route.api_base}|{route.model}".encode()).hexdigest()[:16]
        headers = {"x-litellm-version": VERSION, "x-litellm-model-id": deployment,
                   "x-litellm-model-api-base": route.api_base}
        try:
            if self.server.proxy.backend_dead():
                raise ConnectionRefusedError("the backend died")
            with urllib.request.urlopen(request, timeout=10) as response:
                answer = response.read()
        except urllib.error.HTTPError as exc:
            inner = exc.read().decode(errors="replace")
            self._litellm_error(exc.code, f"litellm.BadRequestError: OpenAIException - {inner}", None)
            return
        except OSError as exc:
            self._litellm_error(500, "litellm.APIConnectionError: APIConnectionError: OpenAIException - "
                                f"Connection error. ({type(exc).__name__}) Received Model Group="
                                f"{body.get('model')}", None)
            return
        if body.get("stream"):  # the backend's events as they are, under the proxy's headers
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(answer)
            self.close_connection = True
            return
        answer = json.loads(answer)
        proxy = self.server.proxy
        if proxy.drops_content():
            for choice in answer.get("choices") or ():
                if "message" in choice:
                    said, choice["message"]["content"] = choice["message"]["content"], ""
                    if proxy.to_reasoning:  # a reasoning parser's: the generation in another field
                        choice["message"] |= {"content": None, "reasoning_content": said}
                else:
                    choice["text"] = ""
        if proxy.drop_usage:
            answer.pop("usage", None)
        self.send_json(200, answer, headers)


class _Server(QuietHTTPServer):
    proxy: LoopbackProxy


class LoopbackProxy:
    """The proxy on 127.0.0.1 (ephemeral port); a context manager with ``base_url``."""

    def __init__(self, routes: dict[str, Route | list[Route]], master_key: str | None = None, *,
                 database: bool = False, reject_n: bool = False, refuse_after: int | None = None,
                 backend_dies_after: int | None = None, echo_prefix: int = 0) -> None:
        self.routes = dict(routes)
        self.turn = 0
        """Which backend of a balanced alias the next request goes to (counted over all of them)."""
        self.listing_fails = 0
        self.master_key, self.database = master_key, database
        self.reject_n, self.refuse_after, self.backend_dies_after = reject_n, refuse_after, backend_dies_after
        self.echo_prefix = echo_prefix
        """With ``database``: how many leading characters of a refused key the 401 echoes (as some
        servers do, ``sk-proj-abc...wxyz``); 0: LiteLLM's own ``sk-...wxyz``."""
        self.forwarded = 0
        """Completion requests forwarded to a backend."""
        self.drop_content = False
        self.drop_every = 0
        """Blank the text of every Nth answer (a proxy that loses some): 0, none."""
        self.to_reasoning = False
        """Blanked text goes to the message's ``reasoning_content``, its content null (a reasoning parser)."""
        self.drop_usage = False
        """Answers go out without their ``usage``."""
        self._answers = 0
        self._lock = threading.Lock()
        self._http = _Server(("127.0.0.1", 0), _Handler)
        self._http.proxy = self
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:port/v1``."""
        return f"http://127.0.0.1:{self._http.server_address[1]}/v1"

    def repoint(self, alias: str, route: Route) -> None:
        """Point ``alias`` at another backend model (what an operator does in the proxy's config)."""
        self.routes[alias] = route

    def pick(self, alias: object) -> Route | None:
        """The backend the next request for ``alias`` goes to (None: no such alias)."""
        route = self.routes.get(alias) if isinstance(alias, str) else None
        if not isinstance(route, list):
            return route
        with self._lock:
            self.turn += 1
            return route[(self.turn - 1) % len(route)]

    def drops_content(self) -> bool:
        """Whether the answer being sent goes out without its text (``drop_content``, ``drop_every``)."""
        with self._lock:
            self._answers += 1
            return self.drop_content or (self.drop_every > 0 and self._answers % self.drop_every == 0)

    def listing_failed(self) -> bool:
        """True for each of the next ``listing_fails`` /v1/models listings."""
        with self._lock:
            self.listing_fails, failed = max(self.listing_fails - 1, 0), self.listing_fails > 0
            return failed

    def count(self) -> None:
        """One more request forwarded."""
        with self._lock:
            self.forwarded += 1

    def refusing(self) -> bool:
        """True once ``refuse_after`` requests were forwarded."""
        with self._lock:
            return self.refuse_after is not None and self.forwarded >= self.refuse_after

    def backend_dead(self) -> bool:
        """True once more than ``backend_dies_after`` requests were forwarded."""
        with self._lock:
            return self.backend_dies_after is not None and self.forwarded > self.backend_dies_after

    def __enter__(self) -> LoopbackProxy:
        self._thread = self._http.serve_in_thread("loopback-proxy", poll_interval=0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self._http.stop(self._thread)
