"""From an answer to a scored sample: post-process, assemble, execute, measure.

Both readings of every answer are executed: the faithful one (the gateway's
post-processing: what a user would get, the primary score) and the lenient one
(the first fenced block: what the model could write apart from format breakage).
"""

from __future__ import annotations

import asyncio
import contextlib
from concurrent.futures import Future
from typing import Any, Callable, Iterable, Iterator, Sequence

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
        infra_error (evalkit's failure, after retries): pass@k would silently shrink. Asked once
        every sample is scored; results.json records it and the reports are written first."""
        if len(self.infra_errors) <= max_infra_errors:
            return None
        tasks = sorted({task_id for task_id, _ in self.infra_errors})
        named = ", ".join(tasks[:10]) + (" ..." if len(tasks) > 10 else "")
        return (
            f"{len(self.infra_errors)} execution(s) ended in infra_error after retries "
            f"(executor.max_infra_errors={max_infra_errors}), tasks: {named}; "
            "see the verdicts' detail in samples.jsonl")

    def similarity_of(self, pairs: Sequence[tuple[Task, str]]) -> list[dict[str, float]]:
        """Similarity of each (task, code) to that task's reference, in one call: the metric
        modules cost a few milliseconds per call, so callers batch."""
        names = tuple(self.scoring.metrics)
        if any(task.kind == "completion" for task, _ in pairs):
            names += tuple(m for m in COMPLETION_METRICS if m not in names)
        if not names or not pairs:
            return [{} for _ in pairs]
        scores = similarity_scores([postprocess.new_code(task, code) for task, code in pairs],
                                   [task.reference for task, _ in pairs],
                                   names, self.scoring.embedding_model)
        rows = [{name: float(values[i]) for name, values in scores.items()} for i in range(len(pairs))]
        middles = [(i, task, code) for i, (task, code) in enumerate(pairs) if task.kind == "completion"]
        for name, in_file in _MIDDLE_IN_FILE.items():
            if name in names and middles:
                (matched,) = similarity_scores([in_file(task, code) for _, task, code in middles],
                                               [in_file(task, task.reference) for _, task, _ in middles],
                                               ["exact_match"]).values()
                for (i, _, _), value in zip(middles, matched, strict=True):
                    rows[i][name] = float(value)
        return rows

    async def score_generations(self, arm: ArmConfig, prompt: RenderedPrompt, task: Task,
                                generations: Sequence[Generation]) -> list[tuple[dict[str, Any], bool]]:
        """samples.jsonl rows for one task's generations of one arm, without their similarity
        metrics, each with whether it gets them (an answer that failed to arrive does not): the
        caller fills them in batches (``SimilarityBatch``)."""
        stops = tuple(prompt.params.stop or ())  # what the request was sent with, if nothing
        faithful = [postprocess.postprocess(g.raw_output, prompt.postprocess, task.prompt, task.suffix,
                                            task.language, stops) for g in generations]
        lenient = [postprocess.lenient_reading(task, g.raw_output, stops) for g in generations]
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
                metrics={}, cached=gen.cached, ttft_s=gen.ttft_s, answered_by=gen.answered_by,
            ).to_json(), not gen.error))
        return rows

    async def score_code(self, task: Task, code: str, whole_program: bool,
                         ident: dict[str, Any], raw: str | None = None,
                         stops: Sequence[str] | None = None) -> dict[str, Any]:
        """One samples.jsonl row for code made elsewhere (`evalkit score`), without its
        similarity metrics: the caller fills `metrics` in batches (`similarity_of`). ``raw``: the
        endpoint's whole answer where the file records it (an evalkit run's samples.jsonl), which
        the lenient reading is taken from, as the run took it; ``stops``: the stop sequences its
        request was sent with, which a completion's lenient reading cuts at, as the run's did (None
        where the file does not say)."""
        key = f"{ident['arm']}/{task.task_id}"
        faithful = code
        # the lenient reading of the answer: for a generation, its first fenced block (an answer in
        # prose around a fence was a syntax error in both readings), joined as `evalkit run` joins it
        lenient = postprocess.lenient_reading(task, code if raw is None else raw, stops)
        if task.kind == "completion" and not whole_program:
            # a middle, faithfully as given (human-eval-infilling's harness runs prefix + completion +
            # suffix: a middle cut at every family's control tokens failed a correct one holding '</s>'
            # in a string and passed junk after '<|endoftext|>', 118 of 360 verdicts apart in a
            # checker's trial); leniently as the gateway's steps leave it, tokens a server left cut
            lenient_program = task.program_text(lenient)
        else:
            lenient_program = lenient if whole_program else postprocess.assemble(task, lenient)
        faithful_program = code if whole_program else task.program_text(faithful)
        if task.kind != "completion":  # a blank answer is `empty` (an empty middle can be right)
            faithful_program = faithful_program if code.strip() else ""
            lenient_program = lenient_program if lenient.strip() else ""
        programs = list(dict.fromkeys((faithful_program, lenient_program)))  # one where both agree
        verdicts = await self.verdicts(task, programs, key)
        verdict, lenient_verdict = verdicts[0], verdicts[-1]
        return SampleResult(
            run_id=self.run_id, arm=ident["arm"], model=ident["model"], template=ident["template"],
            task_id=task.task_id, sample_index=ident["sample_index"], params={}, prompt=None,
            raw_output=code if raw is None else raw, completion=faithful,
            finish_reason=ident.get("finish_reason", ""), usage=Usage(),
            latency_s=0.0,
            verdict=verdict, lenient=Reading(lenient, lenient_verdict), metrics={}, cached=False,
        ).to_json()


WAITING_ANSWERS_MB = 64
"""What the text of answers that came and wait for execution may hold before no request is sent: a
model that answered 1.4 MiB a sample grew a run by 5 MB for each answer generation was ahead of
execution, 1.9 GB at 400 samples (each answer is held as it came, post-processed and assembled for
both readings); normal answers of a few KiB never reach it."""


class WaitingAnswers:
    """The answers of a run that came and are not yet executed and queued for writing, counted by
    their text, with room kept for the requests in flight (the longest answer yet for each answer
    they ask): a request waits (``models.client.Room``) while they would pass
    ``WAITING_ANSWERS_MB``, so that generation ahead of execution holds a bounded amount of memory,
    not every answer of the run. A request is always sent when nothing is held or kept."""

    def __init__(self, limit_chars: int = WAITING_ANSWERS_MB << 20) -> None:
        self.limit_chars = limit_chars
        self.held = 0
        """Characters of answer text waiting now."""
        self.kept = 0
        """Characters of room kept for the answers of the requests in flight."""
        self.longest = 0
        """The longest answer that came yet, in characters."""
        self._freed: asyncio.Event | None = None

    def _fits(self, answers: int) -> bool:
        taken = self.held + self.kept
        return not taken or taken + answers * self.longest <= self.limit_chars

    def take(self, answers: int) -> int | None:
        """Keep room for ``answers`` answers as long as the longest yet, if they fit: the characters
        kept (the ticket ``done`` gives back), or None."""
        if not self._fits(answers):
            return None
        self.kept += answers * self.longest
        return answers * self.longest

    async def wait(self, answers: int) -> None:
        """Return once ``answers`` answers as long as the longest yet would fit."""
        while not self._fits(answers):
            self._freed = self._freed or asyncio.Event()
            self._freed.clear()
            await self._freed.wait()

    def done(self, ticket: int) -> None:
        """A request ``take`` kept room for came back: the room it kept is given back."""
        self.kept -= ticket
        self._free()

    @contextlib.contextmanager
    def holding(self, generations: Sequence[Generation]) -> Iterator[None]:
        """Count ``generations``' text as waiting inside the block."""
        size = sum(len(g.raw_output) for g in generations)
        self.longest = max([self.longest, *(len(g.raw_output) for g in generations)])
        self.held += size
        try:
            yield
        finally:
            self.held -= size
            self._free()

    def _free(self) -> None:
        if self._freed is not None:
            self._freed.set()


class SimilarityBatch:
    """Executed rows waiting for their similarity metrics, computed together and then appended
    to samples.jsonl, once ``size`` rows wait, or their answers hold ``WAITING_ANSWERS_MB``, or
    ``every_s`` seconds after the first of them (a timer on the running event loop), and on leaving
    the ``with`` block.

    A call of an `evaluate` module costs 20 to 40 ms whatever its size (its Arrow writer and
    fingerprint): `evalkit run` on the demo spent 8.6 s of its 13.3 s scoring stage in 492 calls,
    one per task and arm, and `evalkit score` 1.0 s in 26 calls of 256 rows. A run killed outright
    loses at most ``every_s`` of executed work; an interrupted one (Ctrl-C) none, as the block's
    exit writes what waits. Rows are dropped only once written: a failing metric keeps them
    queued and its error reaches the caller (at the next ``add`` when the timer met it), never
    the event loop's log.
    """

    def __init__(self, scorer: Scorer, samples: SamplesFile, size: int = 4096, every_s: float = 2.0) -> None:
        self.scorer, self.samples = scorer, samples
        self.size, self.every_s = size, every_s
        self._rows: list[tuple[Task, dict[str, Any], bool]] = []
        self._text = 0  # characters of answer the queued rows hold: long answers flush them early
        self._timer: asyncio.TimerHandle | None = None
        self._failed: Exception | None = None

    def add(self, task: Task, row: dict[str, Any], measured: bool = True) -> None:
        """Queue a row of `task` (its ``completion`` is compared with the reference if ``measured``);
        call from a coroutine."""
        self._raise_if_failed()
        if not self._rows:
            self._timer = asyncio.get_running_loop().call_later(self.every_s, self._flush_in_time)
        self._rows.append((task, row, measured))
        self._text += len(row.get("raw_output") or "")
        if len(self._rows) >= self.size or self._text >= WAITING_ANSWERS_MB << 20:
            self.flush()

    def flush(self) -> None:
        """Compute the queued rows' metrics in one call per metric and write them."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        measured = [(task, row["completion"]) for task, row, wanted in self._rows if wanted]
        metrics = iter(self.scorer.similarity_of(measured))
        rows, self._rows, self._text = self._rows, [], 0
        for _, row, wanted in rows:
            self.samples.write(row | {"metrics": next(metrics) if wanted else {}})

    def _flush_in_time(self) -> None:
        self._timer = None
        try:
            self.flush()
        except Exception as exc:  # noqa: BLE001 - kept for the caller: a timer's error would reach only the log
            self._failed = exc

    def _raise_if_failed(self) -> None:
        if self._failed is not None:
            raise self._failed

    def __enter__(self) -> SimilarityBatch:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        """Write what waits. When the block is left by an exception (Ctrl-C included), a failure
        here must not replace it: it is left out, and the rows with it."""
        if kind is None:
            self._raise_if_failed()
            self.flush()
            return
        with contextlib.suppress(Exception):
            self.flush()


@contextlib.contextmanager
def cancelled_on_error(jobs: Iterable[asyncio.Task]) -> Iterator[None]:
    """Cancel the jobs still running when the block fails (a sample's error, Ctrl-C): none of
    them adds a row to a SimilarityBatch already left, where it would never be written."""
    try:
        yield
    except BaseException:
        for job in list(jobs):
            job.cancel()
        raise


def _through_first_line(task: Task, middle: str) -> str:
    """The prefix and the middle through the end of its first non-blank line (the cursor's line as
    an editor shows the suggestion inline), then a line naming that line's indentation as it is
    written: ranked against the prefix's alone, a line one level deeper than the prefix ever goes
    matched the right one (20 spaces for 16, a syntax error), as both were its "next" level."""
    start = len(middle) - len(middle.lstrip())
    end = middle.find("\n", start)
    text = task.prompt + (middle if end < 0 else middle[:end])
    return f"{text}\n# indented {_indentation(text.rsplit(chr(10), 1)[-1])}"


def _in_file(task: Task, middle: str) -> str:
    """The file with ``middle`` at the cursor, then a line naming how each line is indented."""
    text = task.prompt + middle + task.suffix
    return f"{text}\n# indented {' '.join(_indentation(line) for line in text.splitlines() if line.strip())}"


def _indentation(line: str) -> str:
    """A line's indentation as written, spaces ``s`` and tabs ``t``: exact_match compares indentation
    by rank, with tabs as 4 columns, so a tab-indented middle in a file indented with spaces (a
    TabError) matched the reference."""
    return (line[:len(line) - len(line.lstrip())].replace(" ", "s").replace("\t", "t")) or "0"


_MIDDLE_IN_FILE: dict[str, Callable[[Task, str], str]] = {
    "exact_match": _in_file,
    "first_line_exact_match": _through_first_line,
}
"""A fill-in-the-middle answer's exact match is judged where it goes, by ``exact_match`` of the
file around it against the file around the reference: its indentation counts against the
prefix's (rank normalisation on the middle alone matched ``    total += 1`` for a line that
belongs in the loop, a syntax error), and so do whitespace at its edges (``... else`` before
the suffix's ``x``) and tabs for spaces. Blank lines and inner spacing still do not."""


async def _awaitable(value: Future[Verdict] | Verdict) -> Verdict:
    if isinstance(value, Verdict):
        return value
    return await asyncio.wrap_future(value)


async def _not_scored(n: int) -> list[Verdict]:
    return [Verdict(Status.EMPTY, "lenient reading not scored")] * n
