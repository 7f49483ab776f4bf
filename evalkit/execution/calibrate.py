"""Per-task CPU limits calibrated from the reference solutions, and the canary.

As EvalPlus does: a task's limit is a multiple of its reference solution's
measured CPU time with a floor, so a slow correct answer never times out and an
infinite loop costs little. Measurements are made and cached per distinct reference
program (content hash) and machine; limits are recomputed from them with the current floor
and factor.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import platform
import sys
from pathlib import Path
from typing import Callable, Hashable, Sequence

from evalkit.execution.program import names_from_the_program, program_digest, program_for, prompt_alike_names
from evalkit.records import Program, Task, Verdict

log = logging.getLogger(__name__)

_REPEATS = 2
"""Reference runs per task; the largest CPU time is kept (noise only ever adds)."""


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


def reference_program(task: Task, limit_s: float) -> Program:
    """The program of the task's reference solution, as a sample's program is built, sharing with
    the tests' process only the definitions of the task's own text (``prompt_alike_names``)."""
    return program_for(task, task.program_text(task.reference), task.task_id, limit_s,
                       alike=prompt_alike_names(task))


def reference_key(task: Task) -> str:
    """The content hash under which the task's reference run is measured and cached: the same
    for tasks whose reference programs and tests are the same text (every hole of one infilling
    problem is the whole canonical solution with the same tests)."""
    return program_digest(reference_program(task, 0.0), with_limit=False).hex()


def _distinct(tasks: Sequence[Task], key: Callable[[Task], Hashable]) -> dict[Hashable, list[Task]]:
    """Tasks grouped by key, groups and tasks in first-seen order."""
    groups: dict[Hashable, list[Task]] = {}
    for task in tasks:
        groups.setdefault(key(task), []).append(task)
    return groups


def measure(tasks: Sequence[Task], executor, limit_s: float) -> dict[str, float]:
    """Largest CPU seconds of each distinct reference program over a few runs, by reference_key
    (tasks sharing a reference program run it once)."""
    groups = _distinct(tasks, reference_key)
    programs = [dataclasses.replace(reference_program(group[0], limit_s), key=f"{content}\0{i}")
                for i in range(_REPEATS) for content, group in groups.items()]
    cpu: dict[str, float] = {}
    for key, verdict in executor.run(programs):
        content = key.split("\0")[0]
        cpu[content] = max(cpu.get(content, 0.0), verdict.duration_s)
    return cpu


def _cache_path(cfg, isolation: str) -> Path:
    return cfg.cache_folder / f"cpu-{machine_id(isolation)}.json"


def _read_cache(path: Path) -> dict[str, float]:
    try:
        return {k: float(v) for k, v in json.loads(path.read_text())["cpu_s"].items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}


@dataclasses.dataclass(frozen=True)
class Calibration:
    """What calibration found for a run's tasks."""

    limits: dict[str, float]
    """Each task's CPU limit in seconds (``calibrate``)."""
    reference_cpu_s: dict[str, float]
    """Each task's reference solution's measured CPU seconds, its tests' included: how long the
    task's programs take, roughly (more calls of the entry point, more time)."""


def calibrate(tasks: Sequence[Task], executor) -> dict[str, float]:
    """Per-task CPU limit: max(cfg.timeout_s, cfg.timeout_factor x reference CPU time)
    (``calibration``'s limits)."""
    return calibration(tasks, executor).limits


def calibration(tasks: Sequence[Task], executor) -> Calibration:
    """Per-task CPU limits and the reference CPU times they come from.

    Measured CPU times are cached in ``cfg.cache_dir`` (default reports/cache), one file per
    machine id, keyed by the reference program's content hash (``reference_key``): a reference
    program is measured once, whichever tasks and datasets share it. Workers that measured
    reference solutions are replaced, as after the canary (``executor.canary=false`` too).
    """
    cfg = executor.cfg
    path = _cache_path(cfg, executor.isolation)
    cached = _read_cache(path)
    keys = {t.task_id: reference_key(t) for t in tasks}
    missing = [t for t in tasks if keys[t.task_id] not in cached]
    if missing:
        # Generous limit while measuring: a slow reference must be measured, not cut off.
        measured = measure(missing, executor, cfg.timeout_s * cfg.timeout_factor)
        _replace_workers(executor)
        cached.update(measured)
        path.parent.mkdir(parents=True, exist_ok=True)
        # Another process (a parallel sweep job) may have written meanwhile: keep its entries. One
        # temporary file per process, so that such jobs neither interleave their writes nor rename
        # each other's file away.
        stored = _read_cache(path) | measured
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"cpu_s": stored}, indent=0, sort_keys=True))
        tmp.replace(path)
    cpu = {t.task_id: cached[keys[t.task_id]] for t in tasks}
    return Calibration({task_id: round(max(cfg.timeout_s, cfg.timeout_factor * seconds), 3)
                        for task_id, seconds in cpu.items()}, cpu)


def _replace_workers(executor) -> None:
    """Discard the workers that ran reference solutions (``recycle``), so that no sample's
    program runs in a worker whose memory held one (executors without workers have none)."""
    recycle = getattr(executor, "recycle", None)
    if recycle is not None:
        recycle()


def canary(tasks: Sequence[Task], executor, limits: dict[str, float]) -> list[tuple[str, Verdict]]:
    """Run every task's reference solution under its limit; return the ones that do not pass.

    Each distinct reference program (same text, tests and limit) runs once and its verdict
    stands for every task that shares it. The references run through the split path (tests
    in a trusted process); a task whose reference fails there but passes with objects crossing
    live (``Program.live``) is added to ``executor.live_tasks``, one that passes only with code
    and tests in one process to ``executor.in_process_tasks``: its samples run that way, their
    verdicts marked unverified. A non-empty result means the run cannot be trusted (wrong
    tests, a broken sandbox, limits too tight): the caller stops with exit 2 and names these
    tasks. The workers that ran the references are then replaced (``executor.recycle``), so
    no program runs in a worker that held a reference solution.
    """
    def limit(task: Task) -> float:
        return limits.get(task.task_id, executor.cfg.timeout_s)

    content_of = {t.task_id: (reference_key(t), limit(t)) for t in tasks}
    groups = _distinct(tasks, lambda t: content_of[t.task_id])
    programs = {content: dataclasses.replace(reference_program(group[0], limit(group[0])), key=str(i))
                for i, (content, group) in enumerate(groups.items())}
    for content, group in groups.items():
        names = names_from_the_program(group[0])
        if names and programs[content].split:
            moved = [t.task_id for t in group]
            log.info("canary: %s unverified (code and tests in one process): the tests use %s, which the "
                     "program defines", f"task {moved[0]} runs" if len(moved) == 1
                     else f"tasks {', '.join(moved)} run", ", ".join(sorted(names)))
            executor.in_process_tasks.update(moved)
            programs[content] = dataclasses.replace(programs[content], split=False)
    by_key = {program.key: content for content, program in programs.items()}
    failing = {by_key[key]: verdict for key, verdict in executor.run(programs.values()) if not verdict.passed}
    split = [content for content in failing if programs[content].split]
    for key, verdict in executor.run(dataclasses.replace(programs[content], live=True) for content in split):
        if verdict.passed:
            content = by_key[key]
            moved = [t.task_id for t in groups[content]]
            log.info("canary: %s objects crossing live (the tests and the program use each other's): "
                     "with plain data alone, the reference failed: %s",
                     f"task {moved[0]} runs with" if len(moved) == 1 else
                     f"tasks {', '.join(moved)} run with",
                     failing.pop(content).detail[:200])
            executor.live_tasks.update(moved)
    retry = [dataclasses.replace(programs[content], split=False) for content in split if content in failing]
    for key, verdict in executor.run(retry):
        if verdict.passed:
            content = by_key[key]
            moved = [t.task_id for t in groups[content]]
            # evalkit.log names each task that runs unverified, and why (report.md gives counts only)
            log.info("canary: %s unverified (code and tests in one process): with the tests apart, the "
                     "reference failed: %s", f"task {moved[0]} runs" if len(moved) == 1
                     else f"tasks {', '.join(moved)} run", failing.pop(content).detail[:200])
            executor.in_process_tasks.update(moved)
    _replace_workers(executor)
    return [(t.task_id, failing[content_of[t.task_id]]) for t in tasks if content_of[t.task_id] in failing]
