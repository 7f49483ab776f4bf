"""The embedded demo endpoint: a real OpenAI-compatible HTTP server on loopback.

It serves GET /v1/models, POST /v1/chat/completions and POST /v1/completions
(n, temperature, max_tokens, stop, seed) for the synthetic models of
``demo_answers``, which read what the rendered prompt asks for. evalkit starts
it in-process when a demo model is selected; ``serve_demo`` runs it standalone
(``evalkit serve-demo --port N``).
"""

from __future__ import annotations

import hashlib
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Mapping, Sequence

from evalkit.config import ConfigError
from evalkit.models import demo_answers as da
from evalkit.models import demo_fim
from evalkit.records import Task


class _ApiError(Exception):
    def __init__(self, status: int, message: str, kind: str = "invalid_request_error") -> None:
        super().__init__(message)
        self.status, self.message, self.kind = status, message, kind


def _stops(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(s, str) for s in value):
        return value
    raise _ApiError(400, "'stop' must be a string or a list of strings")


def _int(body: dict[str, Any], name: str, default: int | None, low: int = 0) -> int | None:
    value = body.get(name, default)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise _ApiError(400, f"'{name}' must be an integer >= {low}")
    return value


class DemoApp:
    """The request logic, apart from HTTP: a body in, an OpenAI response dict out."""

    def __init__(self, tasks: Sequence[Task]) -> None:
        self.index = da.TaskIndex(tasks)
        self.fim_index = demo_fim.FimIndex(tasks)

    def models(self) -> dict[str, Any]:
        """The /v1/models listing."""
        return {"object": "list", "data": [
            {"id": m, "object": "model", "created": 0, "owned_by": da.OWNER}
            for m in da.MODELS]}

    def complete(self, body: dict[str, Any], chat: bool) -> dict[str, Any]:
        """Answer a chat or completions request body."""
        model = body.get("model")
        if model not in da.MODELS:
            raise _ApiError(404, f"The model `{model}` does not exist.", "NotFoundError")
        n = _int(body, "n", 1, low=1)
        seed = _int(body, "seed", None)
        max_tokens = _int(body, "max_completion_tokens", None)
        if max_tokens is None:  # not `or`: max_completion_tokens=0 is a limit too
            max_tokens = _int(body, "max_tokens", None)
        stops = _stops(body.get("stop"))
        text, prefill = self._prompt_text(body) if chat else (self._text(body), "")
        if chat:  # the gateway's completion templates with a system turn: the hole is in the last turn
            fim_task = self.fim_index.find(body["messages"][-1]["content"], chat=True)
        else:
            fim_task = self.fim_index.find(text, body.get("suffix"))
        task = fim_task or self.index.find(text)
        asks = da.read_prompt(text, prefill)
        choices, completion_tokens = [], 0
        for i in range(n):
            if fim_task:  # a fill-in-the-middle prompt: the middle, as a FIM model answers
                answer = demo_fim.answer(model, fim_task, seed, i)
            else:
                answer = da.answer(model, task, seed, i, asks) if task else da.NO_TASK
            answer, finish = da.truncate(answer, stops, max_tokens)
            completion_tokens += da.count_tokens(answer)
            choice: dict[str, Any] = {"index": i, "finish_reason": finish, "logprobs": None}
            if chat:
                choice["message"] = {"role": "assistant", "content": answer}
            else:
                choice["text"] = answer
            choices.append(choice)
        prompt_tokens = da.count_tokens(text)
        digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:24]
        return {
            "id": ("chatcmpl-" if chat else "cmpl-") + digest,
            "object": "chat.completion" if chat else "text_completion",
            "created": int(time.time()),
            "model": model,
            "choices": choices,
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens},
        }

    @staticmethod
    def _text(body: dict[str, Any]) -> str:
        prompt = body.get("prompt")
        if isinstance(prompt, list) and len(prompt) == 1:
            prompt = prompt[0]
        if not isinstance(prompt, str):
            raise _ApiError(400, "'prompt' must be a string")
        return prompt

    @staticmethod
    def _prompt_text(body: dict[str, Any]) -> tuple[str, str]:
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise _ApiError(400, "'messages' must be a non-empty list")
        contents = []
        for m in messages:
            if not isinstance(m, dict) or not isinstance(m.get("content"), str):
                raise _ApiError(400, "each message needs a role and a string content")
            contents.append(m["content"])
        last = messages[-1]
        continues = bool(body.get("continue_final_message")) or body.get("add_generation_prompt") is False
        prefill = last["content"] if last.get("role") == "assistant" and continues else ""
        return "\n".join(contents), prefill


class JsonHandler(BaseHTTPRequestHandler):
    """Base handler of the loopback endpoints (this one and the tests' fault server):
    keep-alive, JSON answers, OpenAI-shaped errors, no logging."""

    protocol_version = "HTTP/1.1"  # keep-alive, as the openai client expects

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        """Log nothing."""
        return  # quiet: a progress bar owns the terminal

    def send_json(self, status: int, payload: Any, headers: Mapping[str, str] | None = None) -> None:
        """Answer ``payload`` as JSON."""
        self.send_body(status, json.dumps(payload).encode(), headers)

    def send_body(self, status: int, data: bytes, headers: Mapping[str, str] | None = None) -> None:
        """Answer ``data`` labelled as JSON, as it is (a fault server sends broken bodies so)."""
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def send_api_error(self, status: int, message: str, kind: str = "invalid_request_error",
                       headers: Mapping[str, str] | None = None) -> None:
        """Answer an error in the OpenAI API's shape."""
        self.send_json(status, {"error": {"message": message, "type": kind, "param": None, "code": status}},
                       headers)


class QuietHTTPServer(ThreadingHTTPServer):
    """A threading HTTP server served from a daemon thread; a client hanging up is no error."""

    daemon_threads = True
    block_on_close = False
    request_queue_size = 256
    """The listen backlog: at socketserver's default of 5, connections beyond it while a run sends 64 at
    once lost their SYN and waited for the client's retransmission, a whole second (about 3% of the
    default run's requests took 1 to 1.6 s, and a latency gate between two demo runs FAILed)."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Print the traceback of a failed request, unless the client just went away (OSError)."""
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)

    def serve_in_thread(self, name: str, poll_interval: float = 0.1) -> threading.Thread:
        """Start serving in a daemon thread; returns the thread."""
        thread = threading.Thread(target=self.serve_forever, name=name, daemon=True,
                                  kwargs={"poll_interval": poll_interval})
        thread.start()
        return thread

    def stop(self, thread: threading.Thread | None) -> None:
        """Stop serving, close the socket and wait for the serving thread."""
        self.shutdown()
        self.server_close()
        if thread is not None:
            thread.join(timeout=5)


class _Handler(JsonHandler):
    server: _Server

    def _error(self, err: _ApiError) -> None:
        self.send_api_error(err.status, err.message, err.kind)

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        if self.path.rstrip("/") == "/v1/models":
            self.send_json(200, self.server.app.models())
        else:
            self._error(_ApiError(404, f"no route {self.path}; the demo endpoint serves /v1/...", "NotFound"))

    def do_POST(self) -> None:  # noqa: N802 - stdlib name
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        path = self.path.rstrip("/")
        try:
            if path not in ("/v1/chat/completions", "/v1/completions"):
                raise _ApiError(404, f"no route {self.path}; the demo endpoint serves /v1/...", "NotFound")
            try:
                body = json.loads(raw)
            except ValueError:
                raise _ApiError(400, "request body is not JSON") from None
            if not isinstance(body, dict):
                raise _ApiError(400, "request body must be a JSON object")
            answer = self.server.app.complete(body, chat=path.endswith("chat/completions"))
            if body.get("stream"):
                self.send_events(answer)
            else:
                self.send_json(200, answer)
        except _ApiError as err:
            self._error(err)

    def send_events(self, answer: dict[str, Any]) -> None:
        """``answer`` as server-sent events (``stream=true``): one chunk per choice, then the usage."""
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        chat = answer["object"] == "chat.completion"
        for choice in answer["choices"]:
            text = choice["message"]["content"] if chat else choice["text"]
            piece = {"delta": {"role": "assistant", "content": text}} if chat else {"text": text}
            delta = {"index": choice["index"], "finish_reason": choice["finish_reason"], **piece}
            chunk = {**answer, "object": answer["object"] + (".chunk" if chat else ""), "choices": [delta]}
            chunk.pop("usage")
            self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
        usage = {**answer, "choices": []}
        self.wfile.write(f"data: {json.dumps(usage)}\n\ndata: [DONE]\n\n".encode())
        self.close_connection = True


class _Server(QuietHTTPServer):
    app: DemoApp


class DemoServer:
    """The demo endpoint on ``host``:``port`` (0: an ephemeral port), in a daemon thread.

    Use as a context manager, or call ``start()`` and ``stop()``; ``base_url``
    ends in ``/v1``.
    """

    def __init__(self, tasks: Sequence[Task], host: str = "127.0.0.1", port: int = 0) -> None:
        self.tasks = tuple(tasks)
        self.host, self.port = host, port
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        """``http://host:port/v1`` once started."""
        if self._server is None:
            raise RuntimeError("DemoServer is not started")
        return f"http://{self.host}:{self.port}/v1"

    def start(self) -> DemoServer:
        """Bind and serve in a daemon thread; returns self."""
        if self._server is None:
            try:
                server = _Server((self.host, self.port), _Handler)
            except OSError as exc:  # a port in use, a host that does not resolve or is not this machine's
                raise ConfigError(f"cannot serve the demo endpoint on {self.host}:{self.port}: "
                                  f"{exc.strerror or exc}") from None
            server.app = DemoApp(self.tasks)
            self._server, self.port = server, server.server_address[1]
            self._thread = server.serve_in_thread("evalkit-demo")
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._server is not None:
            self._server.stop(self._thread)
            self._server, self._thread = None, None

    def __enter__(self) -> DemoServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve_demo(tasks: Sequence[Task], port: int = 8000, host: str = "127.0.0.1",
               on_ready: Callable[[str], None] | None = None,
               stop: threading.Event | None = None) -> None:
    """Serve the demo endpoint until interrupted (Ctrl-C) or ``stop`` is set.

    ``on_ready(base_url)`` is called once the server listens (the CLI prints the URL).
    """
    server = DemoServer(tasks, host=host, port=port).start()
    stop = stop or threading.Event()
    if on_ready is not None:
        on_ready(server.base_url)
    try:
        while not stop.wait(0.5):  # a timed wait keeps Ctrl-C responsive
            pass
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
