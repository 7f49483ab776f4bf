"""`evalkit run` and `evalkit score`: the stages in order, nothing more.

    benchmark -> prompts -> models -> postprocess -> execution -> metrics -> reporting

Generation is asynchronous; each answer is post-processed and handed to the
executor as soon as it arrives, so execution overlaps generation.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

from tqdm import tqdm

import evalkit
from evalkit import prompts
from evalkit.benchmarks import Benchmark, load_benchmark
from evalkit.config import ArmConfig, ConfigError, RunConfig, sampling_params
from evalkit.execution import LocalExecutor, calibrate, canary, make_executor
from evalkit.models import DemoServer, ModelClient, ResponseStore
from evalkit.records import RenderedPrompt, Task
from evalkit.reporting import write_reports
from evalkit.samples import SamplesFile
from evalkit.scoring import Scorer


@dataclasses.dataclass(frozen=True)
class PreparedArm:
    """An arm with its template loaded and every task's prompt rendered."""

    config: ArmConfig
    template: Any
    prompts: dict[str, RenderedPrompt]


def prepare_arm(arm: ArmConfig, tasks: tuple[Task, ...]) -> PreparedArm:
    """Load the arm's template and render all prompts: template errors stop here, before any call."""
    template = prompts.load_template(arm.prompt.registry, arm.prompt.family, arm.prompt.version,
                                      arm.model.api)
    rendered = {}
    for task in tasks:
        prompt = prompts.render(template, task, fold_system=arm.prompt.fold_system)
        rendered[task.task_id] = dataclasses.replace(prompt, params=sampling_params(prompt.params, arm.model))
    return PreparedArm(config=arm, template=template, prompts=rendered)


def run_id_of(run_dir: Path) -> str:
    """A run's id: its directory's name, with the sweep's for a sweep job (whose dirs are 0, 1, ...)."""
    return f"{run_dir.parent.name}-{run_dir.name}" if run_dir.name.isdigit() else run_dir.name


def run_meta(run_id: str, bench: Benchmark, arms: list[PreparedArm], isolation: str) -> dict[str, Any]:
    """results.json's top-level fields and each arm's identity, written before the first sample."""
    registries = {arm.config.prompt.registry for arm in arms}
    return {
        "run_id": run_id,
        "started_at": utc_now(),
        "finished_at": None,
        "evalkit_version": evalkit.__version__,
        "prompts_commit": _git_commit(next(iter(registries))) if len(registries) == 1 else None,
        "host": {"cpu": _cpu_name(), "cores": os.cpu_count(), "isolation": isolation},
        "dataset": bench.info(),
        "arms_meta": {arm.config.label: _arm_meta(arm) for arm in arms},
    }


def _arm_meta(arm: PreparedArm) -> dict[str, Any]:
    template, model = arm.template, arm.config.model
    first = next(iter(arm.prompts.values()))
    return {
        "model": model.name,
        "synthetic": model.synthetic,
        "template": {"family": template.family, "version": template.version, "sha256": template.sha256,
                     "source_text": template.source_text},
        "params": first.params.as_dict(),
        "prices": {"prompt": model.price_per_1k_prompt, "completion": model.price_per_1k_completion},
    }


async def _generate_all(cfg: RunConfig, arms: list[PreparedArm], tasks: tuple[Task, ...],
                        scorer: Scorer, samples: SamplesFile, store: ResponseStore | None) -> None:
    clients = {arm.config.label: ModelClient(arm.config.model, store) for arm in arms}
    try:
        for arm in arms:
            if not arm.config.model.offline:
                await clients[arm.config.label].check()
        total = len(arms) * len(tasks) * cfg.n_samples
        with tqdm(total=total, desc="generate", unit="sample", initial=len(samples.done)) as gen_bar, \
                tqdm(total=total, desc="execute ", unit="sample", initial=len(samples.done)) as exec_bar:
            jobs = [
                _one_task(arm, task, clients[arm.config.label], cfg, scorer, samples, (gen_bar, exec_bar))
                for arm in arms for task in tasks
                if any((arm.config.label, task.task_id, i) not in samples.done for i in range(cfg.n_samples))
            ]
            await asyncio.gather(*jobs)
    finally:
        for client in clients.values():
            await client.aclose()


async def _one_task(arm: PreparedArm, task: Task, client: ModelClient, cfg: RunConfig, scorer: Scorer,
                    samples: SamplesFile, bars: tuple[tqdm, tqdm]) -> None:
    prompt = arm.prompts[task.task_id]
    generations = await client.generate(prompt, cfg.n_samples, cfg.seed)
    label = arm.config.label
    generations = [g for g in generations if (label, task.task_id, g.sample_index) not in samples.done]
    bars[0].update(len(generations))
    bars[0].set_postfix_str(f"concurrency={client.limit}", refresh=False)
    rows = await scorer.score_generations(arm.config, arm.template, prompt, task, generations)
    for row in rows:
        samples.write(row)
    bars[1].update(len(rows))


def execute_run(cfg: RunConfig, run_dir: Path) -> dict[str, Any]:
    """The whole pipeline for `evalkit run`; returns results.json's content."""
    bench = load_benchmark(cfg.dataset)
    arms = [prepare_arm(arm, bench.tasks) for arm in cfg.arms]
    run_dir.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:
        arms = _start_demo_if_needed(arms, bench, stack)
        executor = stack.enter_context(make_executor(cfg.executor))
        limits = limits_after_canary(bench, executor, cfg)
        store = ResponseStore(cfg.store.path) if cfg.store.enabled and cfg.store.path else None
        scorer = Scorer(executor, limits, cfg.scoring, run_id=run_id_of(run_dir))
        meta = run_meta(run_id_of(run_dir), bench, arms, executor.isolation)
        samples = SamplesFile(run_dir / "samples.jsonl")
        stack.callback(samples.close)
        asyncio.run(_generate_all(cfg, arms, bench.tasks, scorer, samples, store))
    meta["finished_at"] = utc_now()
    return write_reports(run_dir, meta, cfg.scoring, cfg.report)


def _start_demo_if_needed(arms: list[PreparedArm], bench: Benchmark,
                          stack: contextlib.ExitStack) -> list[PreparedArm]:
    if all(arm.config.model.base_url for arm in arms):
        return arms
    demo = stack.enter_context(DemoServer(bench.tasks))
    out = []
    for arm in arms:
        if arm.config.model.base_url:
            out.append(arm)
            continue
        model = dataclasses.replace(arm.config.model, base_url=demo.base_url)
        out.append(dataclasses.replace(arm, config=dataclasses.replace(arm.config, model=model)))
    return out


def limits_after_canary(bench: Benchmark, executor: LocalExecutor, cfg: RunConfig) -> dict[str, float]:
    """Per-task CPU limits; with executor.canary, stop (exit 2) when a reference solution fails here.

    A sandbox that breaks correct code would otherwise report a silent all-fail run.
    """
    limits = calibrate(list(bench.tasks), executor)
    if cfg.executor.canary:
        failing = canary(list(bench.tasks), executor, limits)
        if failing:
            names = ", ".join(f"{tid} ({v.status.value}: {v.detail[:60]})" for tid, v in failing[:3])
            raise ConfigError(
                f"canary: {len(failing)} reference solution(s) fail in this sandbox: {names}; "
                "correct code does not run here (a missing runtime such as node, or limits: try "
                "executor.memory_mb=2048 or executor.network=none), or the dataset's tests are wrong"
            )
    return limits


def utc_now() -> str:
    """The current time as results.json records it."""
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def _cpu_name() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def _git_commit(path: Path) -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(path), "log", "-1", "--format=%H", "--", "."],
                             capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None
