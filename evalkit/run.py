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

from tqdm import tqdm

from evalkit import prompts
from evalkit.benchmarks import Benchmark, load_benchmark
from evalkit.config import ArmConfig, RunConfig, sampling_params
from evalkit.execution import make_executor
from evalkit.models import DemoServer, ModelClient, ResponseStore, steady_gc
from evalkit.records import ArmSpec, Prices, RenderedPrompt, RunResults, Task, TemplateId, TemplateSource
from evalkit.reporting import write_reports
from evalkit.rundir import limits_after_canary, run_header, run_id_of, timed, utc_now
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


def arm_spec(arm: PreparedArm) -> ArmSpec:
    """What results.json records of an arm: its label, model, template and parameters."""
    template, model = arm.template, arm.config.model
    return ArmSpec(arm=arm.config.label, model=model.name, synthetic=model.synthetic,
                   template=TemplateId(template.family, template.version, template.sha256),
                   params=next(iter(arm.prompts.values())).params.as_dict(),
                   prices=Prices(model.price_per_1k_prompt, model.price_per_1k_completion))


def _template_sources(arms: list[PreparedArm]) -> dict[str, TemplateSource]:
    """The arms' template texts by hash, so reports can show diffs after the registry moved on."""
    return {arm.template.sha256: TemplateSource(arm.template.family, arm.template.version,
                                                arm.template.source_text) for arm in arms}


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
    rows = await scorer.score_generations(arm.config, prompt, task, generations)
    for row in rows:
        samples.write(row)
    bars[1].update(len(rows))


def execute_run(cfg: RunConfig, run_dir: Path) -> RunResults:
    """The whole pipeline for `evalkit run`; returns what results.json holds."""
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
        registries = {arm.config.prompt.registry for arm in arms}
        header = run_header(run_id, bench, executor.isolation, templates=_template_sources(arms),
                            registry=registries.pop() if len(registries) == 1 else None)
        samples = SamplesFile(run_dir / "samples.jsonl")
        stack.callback(samples.close)
        with timed(timings, "generation_and_scoring"):  # overlapped: answers execute as they arrive
            with steady_gc():
                asyncio.run(_generate_all(cfg, arms, bench.tasks, scorer, samples, store))
    header = dataclasses.replace(header, finished_at=utc_now(), timings_s=timings)
    results = write_reports(run_dir, header, [arm_spec(arm) for arm in arms], cfg.scoring, cfg.report)
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
