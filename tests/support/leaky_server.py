"""An OpenAI-compatible server on loopback that echoes the API key back, as careless servers and
proxies do: for the secrets tests (real HTTP, driven by the real openai client).

Modes:

    partial400   the probe (max_tokens 1) is answered; every other request gets a 400 whose
                 message quotes the first 8 characters of the key sent
    urlencoded401  every completion request gets a 401 quoting the key URL-encoded
    identity     answers, but /v1/models lists the key as the model's ``root`` and ``owned_by``,
                 the answer's ``model`` is the key and its x-litellm-model-* headers carry it
"""

from __future__ import annotations

import json
import threading
import urllib.parse
from typing import Any

from evalkit.models.demo import JsonHandler, QuietHTTPServer


class _Handler(JsonHandler):
    server: _Server

    def _key(self) -> str:
        return self.headers.get("Authorization", "").removeprefix("Bearer ")

    def do_GET(self) -> None:  # noqa: N802
        leaky = self.server.leaky
        if self.path.rstrip("/") != "/v1/models":
            self.send_api_error(404, "Not Found")
            return
        key = self._key()
        extra = {"root": f"/weights/{key}", "owned_by": key} if leaky.mode == "identity" else {}
        self.send_json(200, {"object": "list", "data": [{"id": leaky.model, "object": "model", **extra}]})

    def do_POST(self) -> None:  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
        leaky, key = self.server.leaky, self._key()
        with leaky.lock:
            leaky.requests += 1
        if leaky.mode == "urlencoded401":
            self.send_api_error(401, f"Invalid key {urllib.parse.quote(key, safe='')}", "auth_error")
        elif leaky.mode == "partial400" and body.get("max_tokens") != 1:
            self.send_api_error(400, f"bad request for key partial {key[:8]}...")
        elif leaky.mode == "identity":
            headers = {"x-litellm-model-id": key,
                       "x-litellm-model-api-base": f"http://backend:8000/v1?key={urllib.parse.quote(key)}"}
            self.send_json(200, _answer(body, key), headers)
        else:
            self.send_json(200, _answer(body, body.get("model")))


def _answer(body: dict[str, Any], model: Any) -> dict[str, Any]:
    chat = "messages" in body
    text = "    return None\n"
    choice: dict[str, Any] = {"index": 0, "finish_reason": "stop"}
    if chat:
        choice["message"] = {"role": "assistant", "content": text}
    else:
        choice["text"] = text
    n = int(body.get("n") or 1)
    return {"id": "cmpl-leaky", "object": "chat.completion" if chat else "text_completion", "created": 0,
            "model": model, "choices": [{**choice, "index": i} for i in range(n)],
            "usage": {"prompt_tokens": 10, "completion_tokens": 5 * n, "total_tokens": 10 + 5 * n}}


class _Server(QuietHTTPServer):
    leaky: LeakyServer


class LeakyServer:
    """The server as a context manager with ``base_url``; ``requests`` counts completion requests."""

    def __init__(self, mode: str, model: str = "m") -> None:
        self.mode, self.model = mode, model
        self.requests = 0
        self.lock = threading.Lock()
        self._http = _Server(("127.0.0.1", 0), _Handler)
        self._http.leaky = self
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:port/v1``."""
        return f"http://127.0.0.1:{self._http.server_address[1]}/v1"

    def __enter__(self) -> LeakyServer:
        self._thread = self._http.serve_in_thread("leaky-server", poll_interval=0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self._http.stop(self._thread)
