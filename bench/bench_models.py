"""Benchmark of the models stage against loopback servers of fixed latency.

1. 2,000 requests to a server answering in 100 ms with room for 64 at once:
   wall time vs the ideal (2000 / 64 x 0.1 s) and harness CPU per request.
2. The same against a server that answers 429 above 16 concurrent requests:
   throughput vs that server's ideal (16 / 0.1 s) with the adaptive limiter,
   and no sample lost.

Run: python bench/bench_models.py [--requests 2000] [--repeats 3] [--store]
The server runs in its own process, so harness CPU is the client's alone.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LATENCY_S = 0.1


def serve(mode: str, capacity: int) -> None:
    """The server process: prints its port, then serves until killed."""
    from aiohttp import web

    room = asyncio.Semaphore(capacity)
    state = {"in_flight": 0}

    async def models(_request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": "bench", "object": "model"}]})

    async def chat(request: web.Request) -> web.Response:
        body = await request.json()
        if mode == "limit" and state["in_flight"] >= capacity:
            return web.json_response({"error": {"message": "rate limited", "code": 429}}, status=429)
        state["in_flight"] += 1
        try:
            async with room:
                await asyncio.sleep(LATENCY_S)
        finally:
            state["in_flight"] -= 1
        text = f"answer seed={body.get('seed')}"
        return web.json_response({
            "id": "x", "object": "chat.completion", "created": 0, "model": body["model"],
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                         "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 3, "total_tokens": 13}})

    app = web.Application()
    app.router.add_get("/v1/models", models)
    app.router.add_post("/v1/chat/completions", chat)

    async def main() -> None:
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
        await site.start()
        print(site._server.sockets[0].getsockname()[1], flush=True)  # noqa: SLF001 - ephemeral port
        await asyncio.Event().wait()

    asyncio.run(main())


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
    ideal = args.requests / 64 * LATENCY_S
    walls = []
    for _ in range(args.repeats):
        proc, url = start_server("fixed", 64)
        try:
            walls.append(asyncio.run(drive_bare(url, args.requests, 64))["wall_s"])
        finally:
            proc.kill()
            proc.wait()
    wall = statistics.median(walls)
    print(f"floor (bare aiohttp client, same server and machine): median wall {wall:.2f} s "
          f"(x{wall / ideal:.3f} of ideal)")


def phase(name: str, mode: str, capacity: int, start: int, args: argparse.Namespace) -> None:
    ideal = args.requests / capacity * LATENCY_S
    runs = []
    for _ in range(args.repeats):
        proc, url = start_server(mode, capacity)
        try:
            store = Path(tempfile.mkdtemp()) / "bench.sqlite" if args.store else None
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
