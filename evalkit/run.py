"""`evalkit run`: the stages in order, nothing more (`evalkit score` is score.py).

    benchmark -> prompts -> models -> postprocess -> execution -> metrics -> reporting

Generation is asynchronous; each answer is post-processed and handed to the
executor as soon as it arrives, so execution overlaps generation.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import sys
import time
from pathlib import Path

from evalkit import __version__, prompts
from evalkit.benchmarks import Benchmark, load_benchmark
from evalkit.config import (
    ArmConfig,
    ConfigError,
    ReportedError,
    RunConfig,
    check_k_is_measurable,
    sampling_params,
)
from evalkit.execution import LocalExecutor, make_executor
from evalkit.models import ClientStats, DemoServer, EndpointError, ModelClient, ResponseStore, steady_gc
from evalkit.models.demo_answers import MODELS as DEMO_MODELS
from evalkit.models.demo_answers import served_by_demo
from evalkit.progress import LineProgress, Progress, progress
from evalkit.records import ArmSpec, Prices, RenderedPrompt, RunResults, Task, TemplateId, TemplateSource
from evalkit.reporting import import_plotting, write_reports
from evalkit.rundir import (
    note_answers_stored,
    recorded_endpoint,
    require_resumable,
    require_same_endpoint,
    require_same_seed,
    require_unfinished,
    run_header,
    run_id_of,
    same_endpoint,
    start_canary,
    timed,
    utc_now,
)
from evalkit.samples import SamplesFile
from evalkit.scoring import Scorer, SimilarityBatch, WaitingAnswers, cancelled_on_error, load_run_metrics


@dataclasses.dataclass(frozen=True)
class PreparedArm:
    """An arm with its template loaded and every task's prompt rendered."""

    config: ArmConfig
    template: prompts.Template
    prompts: dict[str, RenderedPrompt]
    embedded_demo: bool = False
    """True when the arm talks to the demo endpoint evalkit started (an ephemeral port)."""


def prepare_arm(arm: ArmConfig, tasks: tuple[Task, ...]) -> PreparedArm:
    """Load the arm's template and render all prompts: template errors stop here, before any call."""
    template = prompts.template_for(arm)
    if template.api is not arm.model.api:  # the demo endpoint: the template chose the API
        arm = dataclasses.replace(arm, model=dataclasses.replace(arm.model, api=template.api))
    rendered = {}
    for task in tasks:
        prompt = prompts.render(template, task, fold_system=arm.prompt.fold_system)
        rendered[task.task_id] = dataclasses.replace(prompt, params=sampling_params(prompt.params, arm.model))
    return PreparedArm(config=arm, template=template, prompts=rendered)


def arm_spec(arm: PreparedArm, client: ModelClient | None = None, run_id: str = "") -> ArmSpec:
    """What results.json records of an arm: its label, model, template and parameters, and once
    it ran (``client``), what answered it and which earlier runs' stored answers it reused."""
    template, model = arm.template, arm.config.model
    # the demo endpoint reached by its URL (serve-demo) answers as synthetically as the embedded one
    synthetic = model.synthetic or (client is not None and served_by_demo(client.identity.get("served")))
    return ArmSpec(arm=arm.config.label, model=model.name, synthetic=synthetic,
                   template=TemplateId(template.family, template.version, template.sha256),
                   params=next(iter(arm.prompts.values())).params.as_dict(),
                   prices=Prices(model.price_per_1k_prompt, model.price_per_1k_completion),
                   cached_from=_cached_from(client.stats, run_id) if client else (),
                   endpoint=client.identity if client else {})


def _template_sources(arms: list[PreparedArm]) -> dict[str, TemplateSource]:
    """The arms' template texts by hash, so reports can show diffs after the registry moved on."""
    return {arm.template.sha256: TemplateSource(arm.template.family, arm.template.version,
                                                arm.template.source_text) for arm in arms}


@dataclasses.dataclass(frozen=True)
class _Stages:
    """What generation and scoring need besides the arms and tasks."""

    cfg: RunConfig
    bench: Benchmark
    executor: LocalExecutor
    """The run's executor (or a RayExecutor: the same interface)."""
    store: ResponseStore | None
    samples: SamplesFile
    run_id: str
    timings: dict[str, float]
    waiting: WaitingAnswers = dataclasses.field(default_factory=WaitingAnswers)
    """The answers that came and wait for execution: requests wait while they hold too much."""


async def _probe_calibrate_generate(stages: _Stages, arms: list[PreparedArm]) -> tuple[dict[str, ModelClient],
                                                                                        Scorer]:
    """Probe every arm, calibrate and run the canary, then generate and score every missing sample;
    returns each arm's (closed) client, whose ``stats`` and ``identity`` the run records, and the scorer."""
    cfg = stages.cfg
    clients: dict[str, ModelClient] = {}
    try:
        # One real request per arm, in its own shape, before anything slow: a bad key or a dead
        # backend is reported in seconds, not after calibrating thousands of infilling holes.
        with timed(stages.timings, "probe"):
            # The embedded demo listens on a new port each run: its identity is evalkit's version instead.
            clients.update({arm.config.label: ModelClient(arm.config.model, stages.store,
                                                          endpoint=f"embedded demo, evalkit {__version__}"
                                                          if arm.embedded_demo else None,
                                                          direct=arm.embedded_demo, arm=arm.config.label,
                                                          room=stages.waiting)
                            for arm in arms})
            for arm in arms:
                clients[arm.config.label].stats.answered_before = stages.samples.done.count(arm.config.label)
                try:
                    await clients[arm.config.label].check(next(iter(arm.prompts.values())))
                except EndpointError as exc:  # of several arms, say whose endpoint it is
                    if len(arms) == 1:
                        raise
                    raise EndpointError(f"arm {arm.config.label}: {exc}") from None
                await _recheck_identity(clients[arm.config.label], arm, stages.samples)
        completion = stages.bench.kind == "completion"
        with timed(stages.timings, "calibration_and_canary"):  # the loop has nothing else to do meanwhile
            checked = start_canary(stages.bench, stages.executor, cfg)
            load_run_metrics(cfg.scoring, completion)
            import_plotting(cfg.report)
            limits = (await asyncio.wrap_future(checked)).limits  # awaited: Ctrl-C cancels the wait
        scorer = Scorer(stages.executor, limits, cfg.scoring, run_id=stages.run_id, completion=completion)
        tasks, samples = stages.bench.tasks, stages.samples
        total = len(arms) * len(tasks) * cfg.n_samples
        # the batch's exit writes what was executed, also when interrupted: a new run resumes after it
        with timed(stages.timings, "generation_and_scoring"), \
                progress(total, "generate", initial=len(samples.done)) as gen_bar, \
                progress(total, "execute ", initial=len(samples.done)) as exec_bar, \
                SimilarityBatch(scorer, samples) as scored:
            jobs = [  # overlapped: answers execute as they arrive
                asyncio.ensure_future(
                    _one_task(arm, task, clients[arm.config.label], cfg, scorer, (scored, stages.waiting),
                              (gen_bar, exec_bar)))
                for arm in arms for task in tasks
                if any((arm.config.label, task.task_id, i) not in samples.done for i in range(cfg.n_samples))
            ]
            with cancelled_on_error(jobs):
                await asyncio.gather(*jobs)
            gen_bar.close()  # before execute's: the with closes them in reverse
    finally:
        for client in clients.values():
            await client.aclose()
    return clients, scorer


RECHECKS = 8
"""Probes more, at most, of an arm whose endpoint differs from the one that answered its samples: a
proxy that picks one of two deployments at random misses the recorded one 9 times in a row once in
512 resumes."""
RECHECK_DELAY_S = 0.25


async def _recheck_identity(client: ModelClient, arm: PreparedArm, samples: SamplesFile) -> None:
    """Refuse to resume an arm against another endpoint than the one that answered its samples
    (``require_same_endpoint``), after probing again up to RECHECKS times while they differ: a
    LiteLLM alias balanced over two deployments names one of them per answer (a resumed run was
    refused half the time). A re-pointed alias, or other weights, differ every time."""
    stored = client.holds_own_answers() and not client.cfg.offline  # replay asks no endpoint who it is
    before = recorded_endpoint(samples, arm.config.label, stored)
    for _ in range(RECHECKS if before is not None and not client.cfg.offline else 0):
        if same_endpoint(before, client.identity):
            break
        await asyncio.sleep(RECHECK_DELAY_S)
        await client.check(next(iter(arm.prompts.values())))
    require_same_endpoint(samples, arm.config.label, client.identity, stored)


def endpoint_problems(arms: list[PreparedArm], clients: dict[str, ModelClient]) -> tuple[str, ...]:
    """One line per arm whose endpoint gave no answer at all or refused too many requests."""
    out = []
    for arm in arms:
        problem = clients[arm.config.label].stats.problem(arm.config.model.max_error_rate)
        if problem:
            out.append(f"arm {arm.config.label}: {problem}")
    return tuple(out)


def _cached_from(stats: ClientStats, run_id: str) -> tuple[str, ...]:
    """Earlier runs whose stored answers an arm reused, as ``<run id> (<UTC date>)``."""
    return tuple(f"{rid or 'an unnamed run'} ({time.strftime('%Y-%m-%d %H:%M', time.gmtime(at))} UTC)"
                 for rid, at in sorted(stats.cached_from.items(), key=lambda item: item[1]) if rid != run_id)


async def _one_task(arm: PreparedArm, task: Task, client: ModelClient, cfg: RunConfig, scorer: Scorer,
                    queues: tuple[SimilarityBatch, WaitingAnswers], bars: tuple[Progress, Progress]) -> None:
    scored, waiting = queues
    prompt = arm.prompts[task.task_id]
    generations = await client.generate(prompt, cfg.n_samples, cfg.seed)
    label = arm.config.label
    generations = [g for g in generations if (label, task.task_id, g.sample_index) not in scored.samples.done]
    bars[0].update(len(generations))
    bars[0].set_postfix_str(f"concurrency={client.limit}", refresh=False)
    if isinstance(bars[0], LineProgress) and bars[0].n >= bars[0].total:
        bars[0].close()  # its last line now, with generation's own time (a terminal's bars close in order)
    with waiting.holding(generations):
        rows = await scorer.score_generations(arm.config, prompt, task, generations)
        for row, measured in rows:
            scored.add(task, row, measured)
    bars[1].update(len(rows))


def execute_run(cfg: RunConfig, run_dir: Path) -> RunResults:
    """The whole pipeline for `evalkit run`; returns what results.json holds."""
    check_k_is_measurable(cfg)  # a sweep job; a single run was checked before it started
    bench = load_benchmark(cfg.dataset)
    arms = [prepare_arm(arm, bench.tasks) for arm in cfg.arms]
    for line in cfg.left_out:  # once the registry proved usable: a registry that is not one says only that
        print(f"evalkit: {line}", file=sys.stderr)
    run_dir.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    with contextlib.ExitStack() as stack:
        samples = SamplesFile(run_dir / "samples.jsonl")
        stack.callback(samples.close)
        made = {arm.config.label: {"model": arm.config.model.name, "template": first.template,
                                   "params": first.params.as_dict()}
                for arm in arms for first in [next(iter(arm.prompts.values()))]}
        require_resumable(samples, bench, made, cfg.n_samples)  # before any worker or demo server starts
        require_same_seed(samples, cfg.seed)
        require_unfinished(samples, bench, list(made), cfg.n_samples)
        arms = _start_demo_if_needed(arms, bench, stack)
        executor = stack.enter_context(make_executor(cfg.executor))
        run_id = run_id_of(run_dir, samples)
        store = (stack.enter_context(ResponseStore(cfg.store.path, run_id=run_id, reuse=cfg.store.reuse,
                                                   on_first_answer=lambda: note_answers_stored(run_dir)))
                 if cfg.store.enabled and cfg.store.path else None)
        registries = {arm.config.prompt.registry for arm in arms}
        header = run_header(run_id, bench, executor, templates=_template_sources(arms),
                            registry=registries.pop() if len(registries) == 1 else None)
        stages = _Stages(cfg, bench, executor, store, samples, run_id, timings)
        with steady_gc():
            clients, scorer = asyncio.run(_probe_calibrate_generate(stages, arms))
    infra = scorer.infra_error_problem(cfg.executor.max_infra_errors)
    problems = [*endpoint_problems(arms, clients), *([infra] if infra else [])]
    header = dataclasses.replace(header, finished_at=utc_now(), timings_s=timings, problems=tuple(problems))
    specs = [arm_spec(arm, clients[arm.config.label], run_id) for arm in arms]
    results = write_reports(run_dir, header, specs, cfg.scoring, cfg.report)
    if problems:  # exit 2 after the reports, which say why (results.json's problems; bless, gate refuse it)
        error = ReportedError("; ".join(problems) + f"; the reports are written in {run_dir}", results)
        # what the endpoint said reached these lines only through classify, which masked every
        # secret and every piece of one: a last pass masking pieces garbled evalkit's own words
        # (a key refused mid-run, "set the environment variable ..." under a key holding "environment")
        error.masked = True
        raise error
    return results


def _start_demo_if_needed(arms: list[PreparedArm], bench: Benchmark,
                          stack: contextlib.ExitStack) -> list[PreparedArm]:
    if all(arm.config.model.base_url for arm in arms):
        return arms
    unknown = [arm.config.model.name for arm in arms
               if not arm.config.model.base_url and arm.config.model.name not in DEMO_MODELS]
    if unknown:  # its 404 told the user to fix a model.base_url they never set
        raise ConfigError(f"model.name={unknown[0]!r} is not a model of the embedded demo endpoint (it "
                          f"serves {', '.join(DEMO_MODELS)}); for your own server, pick its preset (model="
                          "openai_compatible, model=mixtral, ...) with model.base_url=... model.name=...")
    demo = stack.enter_context(DemoServer(bench.tasks))
    out = []
    for arm in arms:
        if arm.config.model.base_url:
            out.append(arm)
            continue
        model = dataclasses.replace(arm.config.model, base_url=demo.base_url)
        out.append(dataclasses.replace(arm, config=dataclasses.replace(arm.config, model=model),
                                       embedded_demo=True))
    return out
