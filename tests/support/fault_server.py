"""A fault-injecting OpenAI-compatible server for tests: real HTTP on loopback.

A request names its case in its prompt text (``case=<name>``); ``script(case,
actions)`` queues what the next requests of that case get, one action per
request, then ``ok``. Actions:

    ok | length | fewer | empty | empty_error | error_only | nullmessage | malformed | reset | slow:<s>
    | 429 | 429:ra=<s>
    | 500 | 502 | 503 | roles400 | 401 | parts | noparts | surrogate | 500surrogate | usage:<json>
    | finish:<reason> (the last choice ends with that finish_reason, as OpenRouter's ``error``)
    | endless (200, then a body without end: 256 MiB, or until the client stops reading)
    | bomb (200, then a small gzip body that decodes to 128 MiB) | gzip (the answer, gzip-encoded)
    | x-gzip (the same, its encoding named x-gzip)
    | trickle (200, then a byte every 0.2 s, without end) | deep (200, JSON nested 200,000 deep)
    | longname (the answer names a model of a million characters) | escapedname (its name holds ESCAPES)
    | not_http (another protocol's greeting) | huge_header (200 with a header line of 64 KiB)
    | tls_alert (a TLS alert record) | close (the connection closed, no byte answered)
    | half_headers (a status line and part of the headers, then the close)
    | escapes | 500escapes (a 200 page, or a 500's message, holding what a terminal acts on: ESCAPES)
    | refusal:<shape> (chat: each message declines, as REFUSALS[shape] shapes it)

``require_key`` makes every route answer 401 (echoing the key sent, as some
servers do) unless the right bearer key comes.
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import json
import re
import socket
import ssl
import struct
import threading
import time
from collections import defaultdict, deque
from pathlib import Path
from typing import Any

from evalkit.models.demo import JsonHandler, QuietHTTPServer

CASE = re.compile(r"case=([\w.-]+)")
PROMPT_TOKENS = 10
"""Every prompt's token count, as the usage of every answer says."""
REFUSAL = "I'm sorry, but I can't help with that."
"""What the ``refusal`` action's model says."""
REFUSALS = {
    "field": {"content": None, "refusal": REFUSAL},  # OpenAI's models
    "blank": {"content": "\n", "refusal": REFUSAL},
    "empty_parts": {"content": [{"type": "text", "text": ""}], "refusal": REFUSAL},
    "part": {"content": [{"type": "refusal", "refusal": REFUSAL}]},  # OpenAI's content part
    "not_text": {"content": None, "refusal": {"reason": "policy"}},
    "part_not_text": {"content": [{"type": "refusal", "refusal": {"reason": "policy"}}]},
}
"""The ``refusal`` action's message fields, by shape."""
ROLES_MESSAGE = "Conversation roles must alternate user/assistant/user/assistant/..."


class _Handler(JsonHandler):
    server: _Server

    def _error(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        self.send_api_error(status, message, "error", headers)

    def _auth_ok(self) -> bool:
        key, wanted = self.server.fault.require_key, self.server.fault.require_authorization
        sent = self.headers.get("Authorization", "")
        if (key is None and wanted is None) or sent in (f"Bearer {key}", wanted):
            return True
        self._error(401, f"Incorrect API key provided: {sent.removeprefix('Bearer ')}")
        return False

    def do_GET(self) -> None:  # noqa: N802
        if not self._auth_ok():
            return
        if self.path.rstrip("/") == "/v1/models":
            fault = self.server.fault
            fault.listings += 1
            # vLLM's shape: `created` is the listing's own time (a second later at each listing here),
            # `root` the weights path
            extra = ({"created": int(time.time() + fault.clock_skew_s) + fault.listings, "root": fault.root,
                      "owned_by": "vllm"}
                     if fault.root else {})
            if fault.created is not None:  # Ollama's shape: the model's own time, the same at each listing
                extra |= {"created": fault.created, "owned_by": fault.owned_by}
            if fault.max_model_len is not None:
                extra["max_model_len"] = fault.max_model_len
            self.send_json(200, {"object": "list", "data": [{"id": m, "object": "model", **extra}
                                                        for m in fault.models]})
        elif self.path == "/api/tags" and self.server.fault.digests:  # Ollama's list of its models
            self.send_json(200, {"models": [{"name": name, "model": name, "digest": digest}
                                            for name, digest in self.server.fault.digests.items()]})
        elif self.path in self.server.fault.versions:
            self.send_json(200, {"version": self.server.fault.versions[self.path]})
        else:
            self._error(404, "Not Found")

    def do_POST(self) -> None:  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
        if not self._auth_ok():
            return
        chat = self.path.endswith("/chat/completions")
        if not (chat or self.path.endswith("/completions")) or not self.path.startswith("/v1/"):
            self._error(404, "Not Found")
            return
        models = self.server.fault.models  # an untagged name is Ollama's `name:latest`
        if body.get("model") not in models and f"{body.get('model')}:latest" not in models:
            self._error(404, f"The model `{body.get('model')}` does not exist.")
            return
        room = self.server.fault.max_model_len
        if room is not None and PROMPT_TOKENS + (body.get("max_tokens") or 0) > room:  # vLLM's refusal
            wanted = PROMPT_TOKENS + body["max_tokens"]
            self._error(400, f"This model's maximum context length is {room} tokens. However, you requested "
                             f"{wanted} tokens ({PROMPT_TOKENS} in the messages, {body['max_tokens']} in the "
                             "completion). Please reduce the length of the messages or completion.")
            return
        text = json.dumps(body.get("messages") or body.get("prompt"))
        match = CASE.search(text)
        case = match.group(1) if match else ""
        action = self.server.fault.next_action(case, body)
        self.server.fault.enter()
        try:
            self._act(action, case, body, chat)
        finally:
            self.server.fault.leave()

    def _act(self, action: str, case: str, body: dict[str, Any], chat: bool) -> None:
        name, _, arg = action.partition(":")
        if name in ERRORS:
            self._error(*ERRORS[name])
        elif name == "429":
            headers = {"Retry-After": arg.removeprefix("ra=")} if arg else None
            self._error(429, "rate limited", headers)
        elif name == "401":
            self._error(401, f"Incorrect API key provided: {self.headers.get('Authorization', '')}")
        elif name in NOT_COMPLETIONS:
            self.send_body(200, NOT_COMPLETIONS[name])
        elif name == "reset":
            self._reset()
        elif name in ("not_http", "huge_header", "tls_alert", "close", "half_headers"):
            self._no_http_answer(name)
        elif name in ("endless", "bomb", "trickle", "deep"):
            self._hostile(name)
        else:
            if name == "slow":
                time.sleep(float(arg))
            n = 1 if name == "fewer" else int(body.get("n") or 1)
            n = 0 if name in ("empty", "empty_error") else n
            finish = "length" if name == "length" else "stop"
            answer = _completion(case, body, n, finish, chat, self.server.fault.answer_text)
            if name == "empty_error":  # LiteLLM's 200 of no choices beside an error object
                answer["error"] = {"message": "litellm.BudgetExceededError: budget of key exceeded"}
            if name == "error_only":  # a proxy's 200 of an error object alone
                answer = {"error": {"message": "backend exploded", "code": 500}}
            _doctor(answer, name, arg, chat)
            if name in ("gzip", "x-gzip"):  # x-gzip: an old name for gzip, which aiohttp does not decode
                self.send_body(200, gzip.compress(json.dumps(answer).encode()), {"Content-Encoding": name})
                return
            self.send_json(200, answer)

    def _hostile(self, name: str) -> None:
        """The answers of an attacker's (or a broken proxy's) endpoint: see the module's docstring."""
        if name == "trickle":
            self._trickle()
        elif name == "deep":
            self.send_body(200, b"[" * 200_000 + b"]" * 200_000)
        else:
            self._without_end(compressed=name == "bomb")

    def _no_http_answer(self, name: str) -> None:
        """No answer (``close``: the request read, the connection closed), or a reply HTTP clients refuse
        to parse: another protocol's greeting on the port (``not_http``), a TLS alert (``tls_alert``), or a
        200 with a header line of 64 KiB (``huge_header``, past aiohttp's line limit)."""
        self.close_connection = True
        if name == "close":
            return
        if name == "half_headers":  # a status line and part of the headers, then the close
            self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Request-Id: 1")
            return
        if name == "not_http":
            self.wfile.write(b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n")
        elif name == "tls_alert":  # what a TLS server says to a request in plain HTTP
            self.wfile.write(b"\x15\x03\x01\x00\x02\x02\x46")
        else:
            self.wfile.write(b"HTTP/1.1 200 OK\r\nX-Padding: " + b"a" * (1 << 16) + b"\r\n"
                             b"Content-Length: 2\r\n\r\n{}")

    def _without_end(self, compressed: bool) -> None:
        """200, then far more body than an answer has (a broken proxy's, or an attacker's)."""
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.close_connection = True
        if compressed:
            body = _bomb()
            self.send_header("Content-Encoding", "gzip")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        self.send_header("Connection", "close")  # the body ends when the connection does
        self.end_headers()
        chunk = b" " * (1 << 20)
        with contextlib.suppress(OSError):  # the client stopped reading
            for _ in range(256):
                self.wfile.write(chunk)

    def _trickle(self) -> None:
        """200, then a byte every 0.2 s (an SSE comment), until the client goes away."""
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        with contextlib.suppress(OSError):
            for _ in range(3000):
                self.wfile.write(b":")
                self.wfile.flush()
                time.sleep(0.2)

    def _reset(self) -> None:
        """Headers and half a body, then a TCP reset."""
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "500")
        self.end_headers()
        self.wfile.write(b'{"id": "x", "choi')
        self.wfile.flush()
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        self.connection.close()

    def finish(self) -> None:
        try:
            super().finish()
        except OSError:
            pass  # the reset case closed the socket already


ESCAPES = "\x1b[2J\x1b]0;owned\x07\u202e"
"""What a terminal acts on: clear the screen, retitle the window and ring, then show the rest reversed."""
NOT_COMPLETIONS = {"malformed": b'{"id": "x", "choices": [{"index": 0, "mess',
                   "escapes": f"<html>{ESCAPES} not an API</html>".encode()}
"""Actions answered 200 with a body that is not a completion."""
ERRORS = {"500": (500, "injected 500"), "502": (502, "injected 502"), "503": (503, "injected 503"),
          "roles400": (400, ROLES_MESSAGE),
          "500surrogate": (500, "bad \ud800 thing"),  # a lone surrogate, as JSON's escape carries it
          "500escapes": (500, f"backend {ESCAPES} exploded")}
"""Actions answered with an OpenAI-shaped error: (status, message)."""


@functools.cache
def _bomb() -> bytes:
    """128 MiB of spaces, gzipped: about 128 KiB."""
    return gzip.compress(b" " * (128 << 20), compresslevel=9)


def _doctor(answer: dict[str, Any], name: str, arg: str, chat: bool) -> None:
    """Change a well-formed ``answer`` as action ``name`` (with ``arg``) asks."""
    if name == "finish":  # the server failed this choice (OpenRouter's "error", vLLM's "abort")
        answer["choices"][-1]["finish_reason"] = arg
    if chat and name in ("parts", "noparts"):  # content as a list of parts, as some servers send
        for choice in answer["choices"]:
            text = choice["message"]["content"]
            choice["message"]["content"] = (
                [{"type": "text", "text": text[:7]}, {"type": "text", "text": text[7:]}]
                if name == "parts" else [{"type": "image_url", "image_url": {"url": "x"}}])
    if chat and name == "refusal":
        for choice in answer["choices"]:
            choice["message"].update(REFUSALS[arg])
    if chat and name == "nullmessage":
        answer["choices"][0]["message"] = None
    if name == "longname":  # a model name of a million characters
        answer["model"] = "m" + "x" * 1_000_000
    if name == "escapedname":  # a model name holding what a terminal acts on
        answer["model"] = "m" + ESCAPES
    if name == "usage":  # counts no server means (10**30, negative, a string)
        answer["usage"] = {"prompt_tokens": json.loads(arg), "completion_tokens": 5}
    if name == "surrogate":  # a lone surrogate, as JSON's escape carries it: no UTF-8 text has one
        for choice in answer["choices"]:
            holder, key = (choice["message"], "content") if chat else (choice, "text")
            holder[key] += " # \ud800"


def _completion(case: str, body: dict[str, Any], n: int, finish: str, chat: bool,
                answer_text: str | None = None) -> dict[str, Any]:
    choices = []
    for i in range(n):
        text = answer_text if answer_text is not None else f"answer {case} seed={body.get('seed')} choice={i}"
        if finish == "length":
            text = text[:10]
        choice: dict[str, Any] = {"index": i, "finish_reason": finish}
        if chat:
            choice["message"] = {"role": "assistant", "content": text}
        else:
            choice["text"] = text
        choices.append(choice)
    return {"id": "cmpl-fault", "object": "chat.completion" if chat else "text_completion", "created": 0,
            "model": body.get("model"), "choices": choices,
            "usage": {"prompt_tokens": PROMPT_TOKENS, "completion_tokens": 5 * n,
                      "total_tokens": PROMPT_TOKENS + 5 * n}}


class _Server(QuietHTTPServer):
    fault: FaultServer


class FaultServer:
    """The scripted server; a context manager with ``base_url`` and a request log."""

    def __init__(self, models: tuple[str, ...] = ("m",), require_key: str | None = None,
                 tls: tuple[Path, Path] | None = None) -> None:
        self.models = models
        self.require_key = require_key
        self.require_authorization: str | None = None
        """When set, the whole Authorization header every request must carry (basic auth, say)."""
        self.root: str | None = None
        """When set, /v1/models lists models as vLLM does: this weights path, created = now."""
        self.created: int | None = None
        """When set, /v1/models lists models as Ollama does: this ``created`` (the model's modified
        time), owned by ``library``."""
        self.owned_by = "library"
        """``owned_by`` of the models listed with ``created`` (Ollama's ``library`` by default)."""
        self.clock_skew_s = 0.0
        """How far the server's clock (its listing's ``created``) is from ours."""
        self.max_model_len: int | None = None
        """When set, /v1/models lists it and requests whose prompt and max_tokens exceed it get vLLM's 400."""
        self.listings = 0
        """GET /v1/models requests answered."""
        self.digests: dict[str, str] = {}
        """When set, GET /api/tags lists these models (name: digest) as Ollama does; else 404."""
        self.versions: dict[str, str] = {}
        """Paths at the server's root that say its release (vLLM's ``/version``, Ollama's ``/api/version``),
        answered ``{"version": ...}``; any other is 404."""
        self.answer_text: str | None = None
        """When set, the text of every choice of a well-formed answer (code a test wants run)."""
        self.requests: list[dict[str, Any]] = []
        """One entry per completion request: case, action, body."""
        self.in_flight = 0
        self.max_in_flight = 0
        """Most completion requests seen in progress at once."""
        self._scripts: dict[str, deque[str]] = defaultdict(deque)
        self._lock = threading.Lock()
        self._http = _Server(("127.0.0.1", 0), _Handler)
        self._http.fault = self
        self._scheme = "https" if tls else "http"
        if tls:  # (certificate, key): HTTPS, as an endpoint behind an internal CA serves
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls)
            self._http.socket = context.wrap_socket(self._http.socket, server_side=True)
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:port/v1`` (https:// where it serves TLS)."""
        return f"{self._scheme}://127.0.0.1:{self._http.server_address[1]}/v1"

    def script(self, case: str, actions: list[str]) -> None:
        """Queue the actions the next requests of ``case`` get."""
        with self._lock:
            self._scripts[case].extend(actions)

    def next_action(self, case: str, body: dict[str, Any]) -> str:
        """The scripted action for this request of ``case`` (``ok`` when none is left); logs it."""
        with self._lock:
            queue = self._scripts.get(case)
            action = queue.popleft() if queue else "ok"
            self.requests.append({"case": case, "action": action, "body": body})
            return action

    def enter(self) -> None:
        """A completion request starts being answered."""
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def leave(self) -> None:
        """A completion request has been answered."""
        with self._lock:
            self.in_flight -= 1

    def count(self, case: str) -> int:
        """Completion requests received for ``case``."""
        with self._lock:
            return sum(1 for r in self.requests if r["case"] == case)

    def __enter__(self) -> FaultServer:
        self._thread = self._http.serve_in_thread("fault-server", poll_interval=0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self._http.stop(self._thread)
