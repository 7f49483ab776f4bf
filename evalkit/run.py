"""`evalkit run`: the stages in order, nothing more (`evalkit score` is score.py).

    benchmark -> prompts -> models -> postprocess -> execution -> metrics -> reporting

Generation is asynchronous; each answer is post-processed and handed to the
executor as soon as it arrives, so execution overlaps generation.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from pathlib import Path
from typing import Any

from evalkit import prompts
from evalkit.benchmarks import Benchmark, load_benchmark
from evalkit.config import ArmConfig, RunConfig, check_k_is_measurable, sampling_params
from evalkit.execution import make_executor
from evalkit.models import DemoServer, ModelClient, ResponseStore, steady_gc
from evalkit.progress import progress
from evalkit.records import RenderedPrompt, Task
from evalkit.reporting import write_reports
from evalkit.rundir import limits_after_canary, run_id_of, run_meta, timed, utc_now
from evalkit.samples import SamplesFile
from evalkit.scoring import Scorer


@dataclasses.dataclass(frozen=True)
class PreparedArm:
    """An arm with its template loaded and every task's prompt rendered."""

    config: ArmConfig
    template: prompts.Template
    prompts: dict[str, RenderedPrompt]


def prepare_arm(arm: ArmConfig, tasks: tuple[Task, ...]) -> PreparedArm:
    """Load the arm's template and render all prompts: template errors stop here, before any call."""
    template = prompts.load_template(arm.prompt.registry, arm.prompt.family, arm.prompt.version,
                                      arm.model.api, arm.prompt.kind)
    rendered = {}
    for task in tasks:
        prompt = prompts.render(template, task, fold_system=arm.prompt.fold_system)
        rendered[task.task_id] = dataclasses.replace(prompt, params=sampling_params(prompt.params, arm.model))
    return PreparedArm(config=arm, template=template, prompts=rendered)


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
        with progress(total, "generate", initial=len(samples.done)) as gen_bar, \
                progress(total, "execute ", initial=len(samples.done)) as exec_bar:
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
                    samples: SamplesFile, bars: tuple[Any, Any]) -> None:
    prompt = arm.prompts[task.task_id]
    generations = await client.generate(prompt, cfg.n_samples, cfg.seed)
    label = arm.config.label
    generations = [g for g in generations if (label, task.task_id, g.sample_index) not in samples.done]
    bars[0].update(len(generations))
    bars[0].set_postfix_str(f"concurrency={client.limit}", refresh=False)
    rows = await scorer.score_generations(arm.config, prompt, task, generations)
    for row in rows:
        samples.write(row)
    bars[1].update(len(rows))


def execute_run(cfg: RunConfig, run_dir: Path) -> dict[str, Any]:
    """The whole pipeline for `evalkit run`; returns results.json's content."""
    check_k_is_measurable(cfg)  # a sweep job; a single run was checked before it started
    bench = load_benchmark(cfg.dataset)
    arms = [prepare_arm(arm, bench.tasks) for arm in cfg.arms]
    run_dir.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    with contextlib.ExitStack() as stack:
        arms = _start_demo_if_needed(arms, bench, stack)
        executor = stack.enter_context(make_executor(cfg.executor))
        with timed(timings, "calibration_and_canary"):
            limits = limits_after_canary(bench, executor, cfg)
        store = (stack.enter_context(ResponseStore(cfg.store.path))
                 if cfg.store.enabled and cfg.store.path else None)
        run_id = run_id_of(run_dir)
        scorer = Scorer(executor, limits, cfg.scoring, run_id=run_id)
        arms_meta = {arm.config.label: _arm_meta(arm) for arm in arms}
        registries = {arm.config.prompt.registry for arm in arms}
        meta = run_meta(run_id, bench, executor.isolation, arms_meta,
                        registry=registries.pop() if len(registries) == 1 else None)
        samples = SamplesFile(run_dir / "samples.jsonl")
        stack.callback(samples.close)
        with timed(timings, "generation_and_scoring"):  # overlapped: answers execute as they arrive
            with steady_gc():
                asyncio.run(_generate_all(cfg, arms, bench.tasks, scorer, samples, store))
    meta["finished_at"] = utc_now()
    meta["timings_s"] = timings
    results = write_reports(run_dir, meta, cfg.scoring, cfg.report)
    scorer.check_infra_errors(cfg.executor.max_infra_errors)  # exit 2 after the reports (issue 15)
    return results


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
