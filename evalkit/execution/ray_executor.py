"""RayExecutor: the LocalExecutor's sandbox on every node of a Ray cluster.

Each Ray actor owns a one-worker LocalExecutor, so a program runs in exactly
the sandbox it would get locally (same zygote, limits and isolation tier) on
whichever node the actor lives; the driver only ships programs and verdicts.
``submit`` returns a ``concurrent.futures.Future`` at once and resolves it when
the actor answers, so results stream back as they finish and the interface is
the LocalExecutor's: ``submit``, ``run``, ``isolation``, ``workers``, ``close``, ``with``.
Programs go to actors in batches of whatever is waiting when an actor has room:
one at a time when the load is light, up to ``_BATCH`` under load, where a call
per program would cost more than a short program's run.

``cfg.address`` names an existing cluster (``ray://head:10001`` or ``auto``);
with ``None`` a local Ray instance is started and stopped with the executor.
If Ray is already initialized in this process (a notebook, a test), that
instance is used and left running. Nodes need evalkit installed, as the driver.
"""

from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import logging
import platform
import queue
import threading
from typing import Any, Iterable, Iterator

from evalkit.config import ConfigError, ExecutorConfig
from evalkit.execution.executor import SharedVerdicts, stream_verdicts, syntax_error_of
from evalkit.execution.program import routed
from evalkit.records import Program, Status, Verdict

_CALLS_PER_ACTOR = 2
"""Calls in flight per actor: the next batch is already there when its worker frees up."""
_BATCH = 16
"""Most programs in one call (a batch's verdicts return together, so it stays small)."""
_START_TIMEOUT_S = 300.0
"""How long the actors may take to start (a cluster may have to scale up)."""


class _NodeExecutor:
    """The Ray actor: a LocalExecutor with one worker, on whatever node Ray places it."""

    def __init__(self, cfg: ExecutorConfig) -> None:
        from evalkit.execution.executor import LocalExecutor

        self._executor = LocalExecutor(cfg)

    def describe(self) -> tuple[str, str]:
        """The isolation tier that held on this node, and the node's name."""
        return self._executor.isolation, platform.node()

    def recycle(self) -> None:
        """Replace this node's worker (after the canary)."""
        self._executor.recycle()

    def execute(self, programs: list[Program]) -> list[Verdict]:
        """Run programs in this node's sandbox; their verdicts in order."""
        return [future.result() for future in [self._executor.submit(p) for p in programs]]

    def close(self) -> None:
        """Stop the worker and remove its cgroup."""
        self._executor.close()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ConfigError("executor=ray needs Ray: pip install 'evalkit[ray]' (or ray==2.60.0)") from None
    return ray


class RayExecutor:
    """Runs Programs as calls to sandboxed Ray actors (see module docstring).

    ``cfg.workers`` is the number of actors (None: one per CPU of the cluster); every
    other key means what it means for LocalExecutor, applied on each node.
    """

    def __init__(self, cfg: ExecutorConfig) -> None:
        ray = _import_ray()
        self.cfg = cfg
        self.in_process_tasks: set[str] = set()
        """Tasks whose tests cannot be split from the program (see LocalExecutor)."""
        self.live_tasks: set[str] = set()
        """Tasks whose objects cross live (see LocalExecutor)."""
        self._ray = ray
        self._owns_ray = False
        if not ray.is_initialized():
            self._init_ray(cfg.address)
        cpus = float(ray.cluster_resources().get("CPU", 1.0))
        n = cfg.workers or max(1, int(cpus))
        # Each actor keeps one worker busy: one CPU each, a share when more actors than CPUs are asked for.
        actor = ray.remote(_NodeExecutor).options(
            num_cpus=min(1.0, cpus / n), max_concurrency=_CALLS_PER_ACTOR, max_restarts=2,
            scheduling_strategy="SPREAD")
        node_cfg = dataclasses.replace(cfg, kind="local", workers=1, share_identical=False)
        self._actors = [actor.remote(node_cfg) for _ in range(n)]
        self._in_flight = [0] * n
        self._lock = threading.Lock()
        self._shared = SharedVerdicts()
        self._queue: queue.Queue = queue.Queue()
        self._slots = threading.Semaphore(n * _CALLS_PER_ACTOR)
        self._dispatcher = threading.Thread(target=self._dispatch_loop, daemon=True, name="evalkit-ray")
        self._dispatcher.start()
        try:
            described = ray.get([a.describe.remote() for a in self._actors], timeout=_START_TIMEOUT_S)
        except Exception as exc:  # GetTimeoutError, or an actor that could not start
            self.close()
            raise ConfigError(f"executor=ray: the {n} execution actor(s) did not start: {_first_line(exc)}"
                              ) from None
        tiers = sorted({tier for tier, _ in described})
        self.nodes = sorted({node for _, node in described})
        """Names of the nodes the actors run on."""
        self.workers = n
        """How many actors run programs, one worker each (results.json's ``host.workers``)."""
        # one tier in the normal case; a cluster of unlike nodes says so rather than hiding it
        self.isolation = tiers[0] if len(tiers) == 1 else "mixed: " + " | ".join(tiers)

    def _init_ray(self, address: str | None) -> None:
        try:
            if address:
                self._ray.init(address=address, logging_level=logging.WARNING)
            else:
                # a private single-node instance: no dashboard, a small object store (verdicts are tiny)
                self._ray.init(include_dashboard=False, logging_level=logging.WARNING,
                               object_store_memory=128 * 1024 * 1024)
                self._owns_ray = True
        except ConfigError:
            raise
        except Exception as exc:  # ConnectionError and Ray's own errors: one line, exit 2
            where = address or "a local Ray instance"
            raise ConfigError(f"executor=ray: cannot start or reach {where}: {_first_line(exc)}") from None

    def submit(self, program: Program) -> cf.Future:
        """Send a program to the least busy actor; the Future resolves to its Verdict."""
        program = routed(program, self.in_process_tasks, self.live_tasks)
        if not self.cfg.share_identical:
            return self._dispatch(program)
        return self._shared.get_or_start(program, self._dispatch)

    def _dispatch(self, program: Program) -> cf.Future:
        future: cf.Future = cf.Future()
        future.set_running_or_notify_cancel()
        verdict = syntax_error_of(program)
        if verdict is not None:
            future.set_result(verdict)
        else:
            self._queue.put((program, future))
        return future

    def _dispatch_loop(self) -> None:
        """Send what is waiting to the least busy actor whenever a call slot frees up."""
        while True:
            item = self._queue.get()
            if item is None:
                return
            self._slots.acquire()
            batch = [item]
            while len(batch) < _BATCH:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:  # closing: send this batch, then stop
                    self._queue.put(None)
                    break
                batch.append(item)
            with self._lock:
                index = min(range(len(self._actors)), key=self._in_flight.__getitem__)
                self._in_flight[index] += 1
            ref = self._actors[index].execute.remote([program for program, _ in batch])
            futures = [future for _, future in batch]
            ref.future().add_done_callback(lambda done, i=index, fs=futures: self._finish(i, done, fs))

    def _finish(self, index: int, done: cf.Future, futures: list[cf.Future]) -> None:
        with self._lock:
            self._in_flight[index] -= 1
        self._slots.release()
        try:
            verdicts = done.result()
        except Exception as exc:  # the actor or its node died: our failure, never the program's
            failed = Verdict(Status.INFRA_ERROR, f"ray execution failed: {_first_line(exc)}"[:500])
            verdicts = [failed] * len(futures)
        for future, verdict in zip(futures, verdicts, strict=True):
            future.set_result(verdict)

    def recycle(self) -> None:
        """Replace every actor's worker (after the canary: see LocalExecutor.recycle)."""
        self._ray.get([a.recycle.remote() for a in self._actors])

    @property
    def capacity(self) -> int:
        """How many submitted programs keep every actor fed (see LocalExecutor.capacity)."""
        return 2 * _CALLS_PER_ACTOR * _BATCH * len(self._actors)

    def run(self, programs: Iterable[Program]) -> Iterator[tuple[str, Verdict]]:
        """Execute programs, yielding (key, Verdict) as each finishes; a bounded window is in
        flight, so memory stays flat for any number of programs."""
        return stream_verdicts(self.submit, programs, self.capacity)

    def close(self) -> None:
        """Stop every actor's worker, then the actors; stop Ray if this executor started it."""
        ray = self._ray
        self._queue.put(None)
        self._dispatcher.join()
        try:
            ray.get([a.close.remote() for a in self._actors], timeout=60)
        except Exception:  # noqa: BLE001 - an actor already gone has nothing left to close
            pass
        for actor in self._actors:
            try:
                ray.kill(actor)
            except Exception:  # noqa: BLE001 - same
                pass
        self._actors = []
        if self._owns_ray:
            ray.shutdown()
            self._owns_ray = False

    def __enter__(self) -> RayExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
