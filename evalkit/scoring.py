"""From an answer to a scored sample: post-process, assemble, execute, measure.

Both readings of every answer are executed: the faithful one (the gateway's
post-processing: what a user would get, the primary score) and the lenient one
(the first fenced block: what the model could write apart from format breakage).
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import Future
from typing import Any, Sequence

from evalkit import postprocess
from evalkit.config import ArmConfig, ScoringConfig
from evalkit.execution import LocalExecutor, program_for
from evalkit.metrics import COMPLETION_METRICS, load_metrics, similarity_scores
from evalkit.records import Generation, Reading, RenderedPrompt, SampleResult, Status, Task, Usage, Verdict
from evalkit.samples import SamplesFile


def load_run_metrics(scoring: ScoringConfig, completion: bool) -> None:
    """Load (once per process) the metrics a run needs, before its first sample, not during;
    ``completion``: the run scores fill-in-the-middle tasks. Raises ConfigError for a bad name."""
    load_metrics(tuple(scoring.metrics) + (COMPLETION_METRICS if completion else ()), scoring.embedding_model)


class Scorer:
    """Scores answers of one run with one executor, shared by every arm."""

    def __init__(self, executor: LocalExecutor, limits: dict[str, float], scoring: ScoringConfig,
                 run_id: str, completion: bool = False) -> None:
        self.executor = executor
        self.limits = limits
        """Per-task CPU-seconds limits from calibration: every task of the run has one."""
        self.scoring = scoring
        self.run_id = run_id
        self.infra_errors: list[tuple[str, str]] = []
        """(task_id, sample key) of every execution that ended in infra_error after its retries."""
        load_run_metrics(scoring, completion)

    def _execute(self, task: Task, code: str, key: str) -> Future[Verdict] | Verdict:
        if not code.strip():
            return Verdict(Status.EMPTY, "nothing left after post-processing")
        return self.executor.submit(program_for(task, code, key, self.limits[task.task_id]))

    async def verdicts(self, task: Task, codes: Sequence[str], key: str) -> list[Verdict]:
        """Execute each code (empty ones are EMPTY without running) and wait for all verdicts."""
        pending = [self._execute(task, code, f"{key}/{i}") for i, code in enumerate(codes)]
        verdicts = list(await asyncio.gather(*(_awaitable(p) for p in pending)))
        self.infra_errors += [(task.task_id, f"{key}/{i}") for i, v in enumerate(verdicts)
                              if v.status is Status.INFRA_ERROR]
        return verdicts

    def infra_error_problem(self, max_infra_errors: int) -> str | None:
        """The reason to exit 2, naming the tasks, when more executions than allowed ended in
        infra_error (evalkit's failure, after retries): pass@k would silently shrink. Asked after
        the reports are written, so nothing done is lost."""
        if len(self.infra_errors) <= max_infra_errors:
            return None
        tasks = sorted({task_id for task_id, _ in self.infra_errors})
        named = ", ".join(tasks[:10]) + (" ..." if len(tasks) > 10 else "")
        return (
            f"{len(self.infra_errors)} execution(s) ended in infra_error after retries "
            f"(executor.max_infra_errors={max_infra_errors}), tasks: {named}; "
            "the reports are written; see the verdicts' detail in samples.jsonl")

    def similarity_of(self, pairs: Sequence[tuple[Task, str]]) -> list[dict[str, float]]:
        """Similarity of each (task, code) to that task's reference, in one call: the metric
        modules cost a few milliseconds per call, so callers batch."""
        names = tuple(self.scoring.metrics)
        if any(task.kind == "completion" for task, _ in pairs):
            names += tuple(m for m in COMPLETION_METRICS if m not in names)
        if not names or not pairs:
            return [{} for _ in pairs]
        scores = similarity_scores([prediction_code(task, code) for task, code in pairs],
                                   [task.reference for task, _ in pairs],
                                   names, self.scoring.embedding_model)
        return [{name: float(values[i]) for name, values in scores.items()} for i in range(len(pairs))]

    async def score_generations(self, arm: ArmConfig, prompt: RenderedPrompt, task: Task,
                                generations: Sequence[Generation]) -> list[tuple[dict[str, Any], bool]]:
        """samples.jsonl rows for one task's generations of one arm, without their similarity
        metrics, each with whether it gets them (an answer that failed to arrive does not): the
        caller fills them in batches (``SimilarityBatch``)."""
        faithful = [postprocess.postprocess(g.raw_output, prompt.postprocess, task.prompt, task.suffix)
                    for g in generations]
        lenient = [postprocess.lenient_reading(task, g.raw_output) for g in generations]
        codes = [postprocess.assemble(task, c) for c in faithful]  # "" for a blank answer
        lenient_codes = [postprocess.assemble(task, c) for c in lenient]
        key = f"{arm.label}/{task.task_id}"
        lenient_run = (self.verdicts(task, lenient_codes, key + "/l") if self.scoring.lenient
                       else _not_scored(len(codes)))
        faithful_v, lenient_v = await asyncio.gather(self.verdicts(task, codes, key + "/f"), lenient_run)
        rows = []
        for i, gen in enumerate(generations):
            verdict, lenient_verdict = faithful_v[i], lenient_v[i]
            if gen.error:
                verdict = lenient_verdict = Verdict(Status.INFRA_ERROR, gen.error)
            rows.append((SampleResult(
                run_id=self.run_id, arm=arm.label, model=arm.model.name, template=prompt.template,
                task_id=task.task_id, sample_index=gen.sample_index, params=prompt.params.as_dict(),
                prompt=prompt.as_json(), raw_output=gen.raw_output, completion=faithful[i],
                finish_reason=gen.finish_reason, usage=gen.usage, latency_s=gen.latency_s,
                verdict=verdict, lenient=Reading(lenient[i], lenient_verdict),
                metrics={}, cached=gen.cached, ttft_s=gen.ttft_s,
            ).to_json(), not gen.error))
        return rows

    async def score_code(self, task: Task, code: str, whole_program: bool,
                         ident: dict[str, Any]) -> dict[str, Any]:
        """One samples.jsonl row for code made elsewhere (`evalkit score`), without its
        similarity metrics: the caller fills `metrics` in batches (`similarity_of`)."""
        program = code if whole_program else task.program_text(code)
        if not code.strip() and task.kind != "completion":  # an empty middle can be right
            program = ""
        key = f"{ident['arm']}/{task.task_id}"
        (verdict,) = await self.verdicts(task, [program], key)
        return SampleResult(
            run_id=self.run_id, arm=ident["arm"], model=ident["model"], template=ident["template"],
            task_id=task.task_id, sample_index=ident["sample_index"], params={}, prompt=None,
            raw_output=code, completion=code, finish_reason="", usage=Usage(), latency_s=0.0,
            verdict=verdict, lenient=Reading(code, verdict), metrics={}, cached=False,
        ).to_json()


class SimilarityBatch:
    """Executed rows waiting for their similarity metrics, computed together and then appended
    to samples.jsonl, once ``size`` rows wait or the first has waited ``every_s`` seconds.

    A call of an `evaluate` module costs 20 to 40 ms whatever its size (its Arrow writer and
    fingerprint): `evalkit run` on the demo spent 8.6 s of its 13.3 s scoring stage in 492 calls,
    one per task and arm, and `evalkit score` 1.0 s in 26 calls of 256 rows. An interrupted run
    loses at most ``every_s`` of work, and none when it calls ``flush`` on its way out.
    """

    def __init__(self, scorer: Scorer, samples: SamplesFile, size: int = 4096, every_s: float = 2.0) -> None:
        self.scorer, self.samples = scorer, samples
        self.size, self.every_s = size, every_s
        self._rows: list[tuple[Task, dict[str, Any], bool]] = []
        self._since = 0.0

    def add(self, task: Task, row: dict[str, Any], measured: bool = True) -> None:
        """Queue a row of `task` (its ``completion`` is compared with the reference if ``measured``)."""
        if not self._rows:
            self._since = time.monotonic()
        self._rows.append((task, row, measured))
        if len(self._rows) >= self.size or time.monotonic() - self._since >= self.every_s:
            self.flush()

    def flush(self) -> None:
        """Compute the queued rows' metrics in one call per metric and write them."""
        rows, self._rows = self._rows, []
        measured = [(task, row["completion"]) for task, row, wanted in rows if wanted]
        metrics = iter(self.scorer.similarity_of(measured))
        for _, row, wanted in rows:
            self.samples.write(row | {"metrics": next(metrics) if wanted else {}})


def prediction_code(task: Task, code: str) -> str:
    """The new code of an answer, without prefix text it repeats (so the oracle matches exactly)."""
    if code.startswith(task.prompt):
        return code[len(task.prompt):]
    return code


async def _awaitable(value: Future[Verdict] | Verdict) -> Verdict:
    if isinstance(value, Verdict):
        return value
    return await asyncio.wrap_future(value)


async def _not_scored(n: int) -> list[Verdict]:
    return [Verdict(Status.EMPTY, "lenient reading not scored")] * n
