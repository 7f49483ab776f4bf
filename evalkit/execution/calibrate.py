"""Per-task CPU limits calibrated from the reference solutions, and the canary.

As EvalPlus does: a task's limit is a multiple of its reference solution's
measured CPU time with a floor, so a slow correct answer never times out and an
infinite loop costs little. Measurements are cached per dataset content hash
and machine; limits are recomputed from them with the current floor and factor.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import platform
import sys
from pathlib import Path
from typing import Sequence

from evalkit.execution.program import program_for
from evalkit.records import Task, Verdict

_REPEATS = 2
"""Reference runs per task; the largest CPU time is kept (noise only ever adds)."""


def dataset_hash(tasks: Sequence[Task]) -> str:
    """sha256 over what decides a reference run (id, prompt, reference, tests, entry point), in order."""
    digest = hashlib.sha256()
    for task in tasks:
        for value in (task.task_id, task.prompt, task.reference, task.tests, task.entry_point):
            digest.update(value.encode())
            digest.update(b"\0")
    return digest.hexdigest()


def machine_id(isolation: str) -> str:
    """What makes CPU times comparable: host, CPU model, Python and isolation tier."""
    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next((line.split(":", 1)[1].strip() for line in fh if line.startswith("model name")), cpu)
    except OSError:
        pass
    raw = f"{platform.node()}|{cpu}|{os.cpu_count()}|{sys.version.split()[0]}|{isolation}"
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


def _reference_code(task: Task) -> str:
    return task.program_text(task.reference)


def measure(tasks: Sequence[Task], executor, limit_s: float) -> dict[str, float]:
    """Largest CPU seconds of each task's reference solution over a few runs."""
    programs = [program_for(t, _reference_code(t), f"{t.task_id}\0{i}", limit_s)
                for i in range(_REPEATS) for t in tasks]
    cpu: dict[str, float] = {}
    for key, verdict in executor.run(programs):
        task_id = key.split("\0")[0]
        cpu[task_id] = max(cpu.get(task_id, 0.0), verdict.duration_s)
    return cpu


def calibrate(tasks: Sequence[Task], executor) -> dict[str, float]:
    """Per-task CPU limit: max(cfg.timeout_s, cfg.timeout_factor x reference CPU time).

    Measured CPU times are cached in ``cfg.cache_dir`` (default reports/cache) under
    the dataset's content hash and the machine's id.
    """
    cfg = executor.cfg
    cache_dir = Path(cfg.cache_dir) if cfg.cache_dir else Path("reports") / "cache"
    path = cache_dir / f"cpu-{dataset_hash(tasks)[:16]}-{machine_id(executor.isolation)}.json"
    cached: dict[str, float] = {}
    if path.is_file():
        try:
            cached = {k: float(v) for k, v in json.loads(path.read_text())["cpu_s"].items()}
        except (ValueError, KeyError, TypeError):
            cached = {}
    missing = [t for t in tasks if t.task_id not in cached]
    if missing:
        # Generous limit while measuring: a slow reference must be measured, not cut off.
        cached.update(measure(missing, executor, cfg.timeout_s * cfg.timeout_factor))
        cache_dir.mkdir(parents=True, exist_ok=True)
        # One temporary file per process: parallel sweep jobs calibrating the same dataset must
        # neither interleave their writes nor rename each other's file away.
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"cpu_s": cached}, indent=0, sort_keys=True))
        tmp.replace(path)
    return {t.task_id: round(max(cfg.timeout_s, cfg.timeout_factor * cached[t.task_id]), 3) for t in tasks}


def canary(tasks: Sequence[Task], executor, limits: dict[str, float]) -> list[tuple[str, Verdict]]:
    """Run every task's reference solution under its limit; return the ones that do not pass.

    The references run through the split path (tests in a trusted process); a task whose
    reference fails there but passes with code and tests in one process is added to
    ``executor.in_process_tasks``: its samples run that way, their verdicts marked unverified.
    A non-empty result means the run cannot be trusted (wrong tests, a broken sandbox,
    limits too tight): the caller stops with exit 2 and names these tasks. The workers that
    ran the references are then replaced (``executor.recycle``), so no program runs in a
    worker that held a reference solution.
    """
    programs = {t.task_id: program_for(t, _reference_code(t), t.task_id,
                                       limits.get(t.task_id, executor.cfg.timeout_s)) for t in tasks}
    failing = {task_id: verdict for task_id, verdict in executor.run(programs.values()) if not verdict.passed}
    retry = [dataclasses.replace(programs[task_id], split=False)
             for task_id in failing if programs[task_id].split]
    for task_id, verdict in executor.run(retry):
        if verdict.passed:
            del failing[task_id]
            executor.in_process_tasks.add(task_id)
    recycle = getattr(executor, "recycle", None)
    if recycle is not None:
        recycle()
    order = {t.task_id: i for i, t in enumerate(tasks)}
    return sorted(failing.items(), key=lambda item: order[item[0]])
