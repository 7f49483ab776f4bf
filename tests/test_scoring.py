"""SimilarityBatch: executed rows reach samples.jsonl with their metrics, in time, and never silently lost;
WaitingAnswers: no request is sent while the answers that came and wait for execution fill its room."""

import asyncio
import json

import pytest

from evalkit.benchmarks import load_tasks
from evalkit.config import ArmConfig, DatasetConfig, ModelConfig, PromptConfig, ScoringConfig
from evalkit.models import ModelClient, RetryPolicy
from evalkit.prompts import load_template, render
from evalkit.records import Api, Generation, Reading, SampleResult, Status, Usage, Verdict
from evalkit.samples import SamplesFile
from evalkit.scoring import Scorer, SimilarityBatch, WaitingAnswers
from tests.support.fault_server import FaultServer
from tests.support.models import case_prompt, model_config
from tests.support.prompts import FIXTURE_REGISTRY


def _row(task, index: int, code: str) -> dict:
    verdict = Verdict(Status.PASSED, "")
    return SampleResult(
        run_id="r", arm="a", model="m", template=None, task_id=task.task_id, sample_index=index, params={},
        prompt=None, raw_output=code, completion=code, finish_reason="", usage=Usage(), latency_s=0.0,
        verdict=verdict, lenient=Reading(code, verdict), metrics={}, cached=False).to_json()


@pytest.fixture(scope="module")
def scorer():
    return Scorer(None, {}, ScoringConfig(), run_id="r")  # similarity only: no program is executed


def _written(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@pytest.mark.slow  # about half a second or more on 2 cores: the full suite
def test_a_lone_row_is_written_with_its_metrics_once_its_time_is_up(tmp_path, scorer):
    task = load_tasks(DatasetConfig(limit=1))[0]
    samples = SamplesFile(tmp_path / "samples.jsonl")

    async def one_row_then_wait() -> list[dict]:
        with SimilarityBatch(scorer, samples, every_s=0.2) as batch:
            batch.add(task, _row(task, 0, task.reference))
            await asyncio.sleep(0.6)  # no other row comes: the timer writes it
            return _written(samples.path)

    seen = asyncio.run(one_row_then_wait())
    assert [row["sample_index"] for row in seen] == [0]
    assert seen[0]["metrics"] == {"exact_match": 1.0, "edit_similarity": 1.0}


def test_a_failing_metric_keeps_its_rows_and_its_error_reaches_the_caller(tmp_path, scorer, monkeypatch):
    task = load_tasks(DatasetConfig(limit=1))[0]
    samples = SamplesFile(tmp_path / "samples.jsonl")
    real = scorer.similarity_of
    calls = []

    def fails_once(pairs):
        calls.append(len(pairs))
        if len(calls) == 1:
            raise RuntimeError("metric broke")
        return real(pairs)

    monkeypatch.setattr(scorer, "similarity_of", fails_once)

    async def rows_across_a_failure() -> None:
        batch = SimilarityBatch(scorer, samples, every_s=0.1)
        batch.add(task, _row(task, 0, task.reference))
        await asyncio.sleep(0.3)  # the timer's flush fails
        assert _written(samples.path) == []
        with pytest.raises(RuntimeError, match="metric broke"):  # at the next row, not in a log
            batch.add(task, _row(task, 1, task.reference))
        batch.flush()  # the row the failure kept is still there to write

    asyncio.run(rows_across_a_failure())
    assert [row["sample_index"] for row in _written(samples.path)] == [0]
    assert calls == [1, 1]


def test_leaving_on_an_interrupt_writes_what_waits_and_keeps_the_interrupt(tmp_path, scorer, monkeypatch):
    task = load_tasks(DatasetConfig(limit=1))[0]
    samples = SamplesFile(tmp_path / "samples.jsonl")

    async def interrupted() -> None:
        with SimilarityBatch(scorer, samples) as batch:
            batch.add(task, _row(task, 0, task.reference))
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        asyncio.run(interrupted())
    assert [row["sample_index"] for row in _written(samples.path)] == [0]

    monkeypatch.setattr(scorer, "similarity_of", lambda pairs: 1 / 0)

    async def interrupted_while_metrics_fail() -> None:
        with SimilarityBatch(scorer, samples) as batch:
            batch.add(task, _row(task, 1, task.reference))
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):  # not ZeroDivisionError: Ctrl-C still exits 130
        asyncio.run(interrupted_while_metrics_fail())


def test_a_middle_s_exact_match_is_judged_where_it_goes_in_the_file(scorer):
    # On the middle alone, indentation went by rank and edges were stripped: a line that belongs in
    # the loop matched one written outside it (a syntax error), and `else` matched `else `.
    task = next(t for t in load_tasks(DatasetConfig(name="infilling_single_line", limit=200))
                if t.reference.startswith("        ") and t.reference.strip())
    outdented = task.reference[4:]
    fits, moved, spaced = scorer.similarity_of([(task, task.reference), (task, outdented),
                                                (task, "\n" + task.reference.rstrip("\n") + "  \n")])
    assert fits["exact_match"] == fits["first_line_exact_match"] == 1.0
    assert moved["exact_match"] == moved["first_line_exact_match"] == 0.0
    assert spaced["exact_match"] == spaced["first_line_exact_match"] == 1.0  # blank lines, trailing blanks
    # one level deeper than the prefix ever goes: ranked against the prefix alone it was the same
    # "next" level as the right one (HumanEval/0's L3: 20 spaces for 16), a syntax error matched
    deepest = next(t for t in load_tasks(DatasetConfig(name="infilling_single_line",
                                                       task_ids=("SingleLineInfilling/HumanEval/0/L3",))))
    (deeper,) = scorer.similarity_of([(deepest, "    " + deepest.reference)])
    assert deeper["exact_match"] == deeper["first_line_exact_match"] == 0.0
    mid_line = next(t for t in load_tasks(DatasetConfig(name="infilling_random_span_light"))
                    if t.reference.endswith(" ") and t.reference.strip() and t.suffix[:1].isalnum())
    (glued,) = scorer.similarity_of([(mid_line, mid_line.reference.rstrip(" "))])
    assert glued["exact_match"] == 0.0
    # a tab for the four spaces the file indents with: a TabError in Python, no match
    first = next(t for t in load_tasks(DatasetConfig(name="infilling_single_line",
                                                     task_ids=("SingleLineInfilling/HumanEval/0/L0",))))
    assert first.reference.startswith("    ") and not first.reference.startswith("     ")
    (tabbed,) = scorer.similarity_of([(first, "\t" + first.reference[4:])])
    assert tabbed["exact_match"] == tabbed["first_line_exact_match"] == 0.0


def test_a_middle_that_repeats_the_prefix_is_scored_as_the_editor_would_insert_it(scorer):
    # Stripped of the prefix it repeats (as a generation's program is), such a middle had the
    # reference's edit similarity, 1.0: a template that makes a model echo the file went unseen.
    task = next(t for t in load_tasks(DatasetConfig(name="infilling_single_line", limit=40))
                if t.reference.strip())
    right, echoed = scorer.similarity_of([(task, task.reference), (task, task.prompt + task.reference)])
    assert right["edit_similarity"] == 1.0
    assert echoed["edit_similarity"] < 0.5 and echoed["exact_match"] == 0.0


def test_a_completion_whose_request_had_no_stop_is_run_as_the_raw_answer(monkeypatch):
    # The gateway's deepseekcoder file has no stop list: the request goes without one, and the gateway
    # hands the user the raw answer. A checker's run cut it at every FIM family's tokens instead: a
    # correct middle holding '</s>' in a string failed (a syntax error), and junk after
    # '<|endoftext|>' passed. A template with stops is still cut at its own, and only there.
    task = load_tasks(DatasetConfig(name="infilling_single_line",
                                    task_ids=("SingleLineInfilling/HumanEval/12/L0",)))[0]
    middle = "    if not strings and '</s>' != '':\n<|endoftext|>def junk(:\n"
    arm = ArmConfig("a", ModelConfig(name="m", base_url="http://127.0.0.1:9/v1", api=Api.COMPLETIONS,
                                     family="deepseekcoder"),
                    PromptConfig(family="deepseekcoder", registry=FIXTURE_REGISTRY, kind="completions"))
    ran: list[str] = []

    async def verdicts(task, programs, key):
        ran.extend(programs)
        return [Verdict(Status.PASSED, "")] * len(programs)

    scorer = Scorer(None, {}, ScoringConfig(lenient=False), run_id="r")
    monkeypatch.setattr(scorer, "verdicts", verdicts)
    codegemma_stops = ["<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>", "<|file_separator|>"]
    for family, raw, sent in (("deepseekcoder", middle, []),
                              ("codegemma", middle + "<|file_separator|>b.py\n", codegemma_stops)):
        template = load_template(FIXTURE_REGISTRY, family, kind="completions")
        rows = asyncio.run(scorer.score_generations(arm, render(template, task), task,
                                                    [Generation(task.task_id, 0, raw)]))
        assert rows[0][0]["params"]["stop"] == sent, family
        assert rows[0][0]["completion"] == middle, family
        assert ran[-1] == task.program_text(middle), family


ANSWER = "    x = 1\n" * 10_000
"""An answer of 100,000 characters: a model that writes far more than the task asks."""


async def _held_answers(server, tasks: int, room: WaitingAnswers, hold: asyncio.Event) -> int:
    """``tasks`` tasks asked through one client with ``room``, each holding its answer (as execution
    does) until ``hold`` is set; the requests the server had received before it was."""
    client = ModelClient(model_config(server.base_url, concurrency=2, max_concurrency=2), None,
                         retry=RetryPolicy(base_s=0.01, max_s=0.05), room=room)

    async def task(i: int) -> None:
        (gen,) = await client.generate(case_prompt(f"c{i}", task_id=f"T/{i}"), 1, 7)
        assert gen.raw_output == ANSWER, gen.error
        with room.holding([gen]):
            await hold.wait()

    try:
        jobs = [asyncio.ensure_future(task(i)) for i in range(tasks)]
        await asyncio.sleep(1.0)  # every request that may go has gone
        sent = len(server.requests)
        hold.set()
        await asyncio.wait_for(asyncio.gather(*jobs), 30)
    finally:
        await client.aclose()
    return sent


def test_requests_wait_while_the_answers_that_came_wait_for_execution():
    # A model answering 1.4 MiB a sample, faster than its programs executed, grew `evalkit run` by
    # about 5 MB for every answer generation was ahead of execution: 1.9 GB at 400 samples.
    with FaultServer() as server:
        server.answer_text = ANSWER
        room = WaitingAnswers(limit_chars=3 * len(ANSWER))
        sent = asyncio.run(_held_answers(server, 12, room, asyncio.Event()))
    # the first two went before any answer said how long answers are, then room for three: at most
    # two more, never the twelve the unbounded run sent
    assert sent <= 4, sent
    assert len(server.requests) == 12  # and every one once the answers held were executed


def test_answers_longer_than_the_whole_room_do_not_stop_the_run():
    # Room is always made for a request when nothing is held or kept: a limit below one answer must
    # not stop the run (`_held_answers` waits 30 s at most).
    with FaultServer() as server:
        server.answer_text = ANSWER
        hold = asyncio.Event()
        hold.set()  # each answer is executed as it comes
        asyncio.run(_held_answers(server, 5, WaitingAnswers(limit_chars=len(ANSWER) // 2), hold))
        assert len(server.requests) == 5
