"""Benchmark of the models stage against loopback servers of fixed latency.

1. 2,000 requests to a server answering in 100 ms with room for 64 at once:
   wall time vs the ideal (2000 / 64 x 0.1 s) and harness CPU per request.
2. The same against a server that answers 429 above 16 concurrent requests:
   throughput vs that server's ideal (16 / 0.1 s) with the adaptive limiter,
   and no sample lost.

Run: python bench/bench_models.py [--requests 2000] [--repeats 3] [--store]

The server runs in its own process and spends little CPU per request (see
serve), so harness CPU is the client process's CPU time per request and the
wall time is the client's too. The floor is a bare aiohttp client against the
same server. Both run under steady_gc, as `evalkit run` runs its generation
stage. The ideal counts 31.25 rounds of 100 ms; but some connection has to
carry 32 of the 2,000 requests, so no client can do better than x1.024.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections import deque
from http import HTTPStatus
from pathlib import Path
from typing import cast

LATENCY_S = 0.1


class Endpoint:
    """The server's logic: every chat request answered LATENCY_S after it gets room.

    Mode "fixed" queues requests beyond ``capacity`` (answered in turn, never
    refused); mode "limit" answers them 429 at once.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, mode: str, capacity: int) -> None:
        self.loop, self.mode, self.capacity = loop, mode, capacity
        self.in_flight = 0
        self.waiting: deque[tuple[asyncio.Transport, dict]] = deque()

    def handle(self, transport: asyncio.Transport, path: str, raw: bytes) -> None:
        if path.endswith("/models"):
            reply(transport, 200, {"object": "list", "data": [{"id": "bench", "object": "model"}]})
        elif not path.endswith("/chat/completions"):
            reply(transport, 404, {"error": {"message": f"no route {path}"}})
        elif self.mode == "limit" and self.in_flight >= self.capacity:
            reply(transport, 429, {"error": {"message": "rate limited", "code": 429}})
        else:
            self.in_flight += 1
            if self.in_flight > self.capacity:
                self.waiting.append((transport, json.loads(raw)))
            else:
                self.loop.call_later(LATENCY_S, self.answer, transport, json.loads(raw))

    def answer(self, transport: asyncio.Transport, body: dict) -> None:
        self.in_flight -= 1
        if self.waiting:
            self.loop.call_later(LATENCY_S, self.answer, *self.waiting.popleft())
        text = f"answer seed={body.get('seed')}"
        reply(transport, 200, {
            "id": "x", "object": "chat.completion", "created": 0, "model": body["model"],
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                         "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 3, "total_tokens": 13}})


def reply(transport: asyncio.Transport, status: int, payload: dict) -> None:
    if transport.is_closing():
        return
    body = json.dumps(payload).encode()
    transport.write(b"HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                    % (status, HTTPStatus(status).phrase.encode(), len(body), body))


class Http(asyncio.Protocol):
    """HTTP/1.1 with keep-alive and Content-Length bodies: what both clients here send."""

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        self.buffer = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while (end := self.buffer.find(b"\r\n\r\n")) >= 0:
            lines = self.buffer[:end].decode("latin-1").split("\r\n")
            fields = dict(line.lower().split(":", 1) for line in lines[1:])
            start = end + 4
            stop = start + int(fields.get("content-length", 0))
            if len(self.buffer) < stop:
                return  # the rest of the body is on its way
            raw, self.buffer = self.buffer[start:stop], self.buffer[stop:]
            self.endpoint.handle(self.transport, lines[0].split()[1], raw)


def serve(mode: str, capacity: int) -> None:
    """The server process: prints its port, then serves until killed.

    A bare asyncio protocol, not a web framework: the server's CPU per request
    adds to every answer's latency (the floor's alike), and it is ~0.1 ms here
    (socket calls included) where aiohttp.web took ~0.2 ms.
    """
    loop = asyncio.new_event_loop()
    endpoint = Endpoint(loop, mode, capacity)
    server = loop.run_until_complete(
        loop.create_server(lambda: Http(endpoint), "127.0.0.1", 0, backlog=1024))
    print(server.sockets[0].getsockname()[1], flush=True)
    loop.run_forever()


def start_server(mode: str, capacity: int) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, __file__, "--serve", mode, "--capacity", str(capacity)],
                            stdout=subprocess.PIPE, text=True)
    port = int(proc.stdout.readline())
    return proc, f"http://127.0.0.1:{port}/v1"


async def drive(base_url: str, requests: int, start: int, store_path: Path | None) -> dict[str, float]:
    """Send ``requests`` one-sample generations; returns wall, CPU and outcome figures."""
    from evalkit.config import ModelConfig
    from evalkit.models import ModelClient, ResponseStore
    from evalkit.records import Api, Message, RenderedPrompt, SamplingParams, TemplateId

    cfg = ModelConfig(name="bench", base_url=base_url, api=Api.CHAT, family="mixtral", concurrency=start,
                      min_concurrency=1, max_concurrency=64, timeout_s=30, max_retries=10)
    store = ResponseStore(store_path) if store_path else None
    client = ModelClient(cfg, store)
    template = TemplateId("bench", "1.0.0", "0" * 64)
    prompts = [RenderedPrompt(task_id=f"B/{i}", api=Api.CHAT, template=template, params=SamplingParams(),
                              messages=(Message("user", f"task {i}"),)) for i in range(requests)]
    limits: list[int] = []

    async def sample_limit() -> None:
        while True:
            limits.append(client.limit)
            await asyncio.sleep(0.05)

    await client.check()  # as a run does first; also warms the openai client's lazy imports
    sampler = asyncio.create_task(sample_limit())
    cpu, wall = time.process_time(), time.perf_counter()
    results = await asyncio.gather(*(client.generate(p, 1, 1) for p in prompts))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    sampler.cancel()
    await client.aclose()
    if store:
        store.close()
    gens = [g for r in results for g in r]
    return {"wall_s": wall, "cpu_ms_per_request": 1000 * cpu / requests,
            "errors": sum(1 for g in gens if g.error), "samples": len(gens),
            "retries": client.stats.retries, "median_limit": statistics.median(limits)}


async def drive_bare(base_url: str, requests: int, concurrency: int) -> dict[str, float]:
    """The floor: a bare aiohttp client (no openai, no evalkit) against the same server."""
    import aiohttp

    room = asyncio.Semaphore(concurrency)
    async with aiohttp.ClientSession() as session:
        async def one(i: int) -> None:
            async with room, session.post(f"{base_url}/chat/completions", json={
                    "model": "bench", "messages": [{"role": "user", "content": f"task {i}"}]}) as resp:
                await resp.read()

        await one(-1)
        cpu, wall = time.process_time(), time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(requests)))
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {"wall_s": wall, "cpu_ms_per_request": 1000 * cpu / requests}


def floor(args: argparse.Namespace) -> None:
    from evalkit.models import steady_gc

    ideal = args.requests / 64 * LATENCY_S
    runs = []
    for _ in range(args.repeats):
        proc, url = start_server("fixed", 64)
        try:
            with steady_gc():  # as for the harness below, so the floor is measured alike
                runs.append(asyncio.run(drive_bare(url, args.requests, 64)))
        finally:
            proc.kill()
            proc.wait()
    wall = statistics.median(r["wall_s"] for r in runs)
    cpu = statistics.median(r["cpu_ms_per_request"] for r in runs)
    print(f"floor (bare aiohttp client, same server and machine): median wall {wall:.2f} s "
          f"(x{wall / ideal:.3f} of ideal); client CPU {cpu:.3f} ms/request")


def phase(name: str, mode: str, capacity: int, start: int, args: argparse.Namespace) -> None:
    from evalkit.models import steady_gc

    ideal = args.requests / capacity * LATENCY_S
    runs = []
    for _ in range(args.repeats):
        proc, url = start_server(mode, capacity)
        try:
            store = Path(tempfile.mkdtemp()) / "bench.sqlite" if args.store else None
            with steady_gc():  # as evalkit run wraps its generation stage
                runs.append(asyncio.run(drive(url, args.requests, start, store)))
        finally:
            proc.kill()
            proc.wait()
    wall = statistics.median(r["wall_s"] for r in runs)
    cpu = statistics.median(r["cpu_ms_per_request"] for r in runs)
    print(f"{name}: {args.requests} requests, ideal {ideal:.2f} s; median wall {wall:.2f} s "
          f"(x{wall / ideal:.3f} of ideal, throughput {ideal / wall:.1%} of ideal); "
          f"harness CPU {cpu:.3f} ms/request; runs: "
          + ", ".join(f"{r['wall_s']:.2f}s/{r['cpu_ms_per_request']:.3f}ms" for r in runs)
          + f"; samples {runs[-1]['samples']:.0f}, errors {sum(r['errors'] for r in runs):.0f}, "
          f"retries {runs[-1]['retries']:.0f}, median limit {runs[-1]['median_limit']:.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serve", choices=["fixed", "limit"])
    parser.add_argument("--capacity", type=int, default=64)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--store", action="store_true", help="also write every answer to a response store")
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.capacity)
        return
    floor(args)
    phase("fixed 100 ms, 64 at once", "fixed", 64, 64, args)
    phase("429 above 16 concurrent, adaptive", "limit", 16, 8, args)


if __name__ == "__main__":
    main()
