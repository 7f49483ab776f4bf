"""datasets/instruct_python.jsonl: shape of every task, and every reference passes its tests."""

from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

from evalkit.benchmarks import load_benchmark, load_tasks
from evalkit.config import DATASETS_DIR, DatasetConfig, ExecutorConfig
from evalkit.execution import LocalExecutor, canary, program_for
from evalkit.records import Task

FIELD_ORDER = ("task_id", "language", "file_name", "instruction", "prompt", "suffix", "entry_point",
               "tests", "reference")


@pytest.fixture(scope="module")
def tasks() -> list[Task]:
    return load_tasks(DatasetConfig(name="instruct_python"))


def _run(source: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", source], capture_output=True, text=True, timeout=60,
                          check=False, cwd=DATASETS_DIR)


def test_at_least_forty_tasks_shaped_like_ide_requests(tasks):
    assert len(tasks) >= 40
    assert len({t.task_id for t in tasks}) == len(tasks)
    for task in tasks:
        assert task.language == "python" and task.instruction == "" and task.suffix == ""
        assert task.file_name.endswith(".py") and task.file_name != "solution.py", task.task_id
        last = [line for line in task.prompt.splitlines() if line.strip()][-1]
        assert last.lstrip().startswith("#"), f"{task.task_id}: prompt must end in a comment"
        assert "def check(candidate)" in task.tests
        assert task.entry_point in task.reference


@pytest.mark.slow
def test_every_reference_passes_its_tests_and_the_bare_prompt_fails(tasks):
    def outcome(task: Task) -> tuple[str, int, int, str]:
        good = _run(program_for(task, task.prompt + task.reference, task.task_id, 10).source)
        bare = _run(program_for(task, task.prompt, task.task_id, 10).source)
        return task.task_id, good.returncode, bare.returncode, good.stderr[-500:]

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(outcome, tasks))
    failing = [(tid, err) for tid, good, _, err in results if good != 0]
    assert not failing
    # The tests must exercise the code to write: without it they cannot pass.
    assert [tid for tid, _, bare, _ in results if bare == 0] == []


@pytest.mark.slow  # starts processes: the full suite, not the fast tier
def test_every_reference_passes_in_the_sandbox(tasks):
    # As a run does: the canary finds the tasks whose tests and program hold each other's objects
    # (they run split, the objects live) and those that share files (in one process, unverified).
    with LocalExecutor(ExecutorConfig()) as executor:
        assert canary(tasks, executor, {t.task_id: 10.0 for t in tasks}) == []
        verdicts = dict(executor.run(program_for(t, t.prompt + t.reference, t.task_id, 10) for t in tasks))
        unverified, live = executor.in_process_tasks, executor.live_tasks
    assert {tid: v.detail for tid, v in verdicts.items() if not v.passed} == {}
    assert {tid for tid, v in verdicts.items() if not v.verified} == unverified
    assert {tid.split("/")[1] for tid in unverified} == {
        "tail", "atomic_write_json", "rotate_logs", "lines_by_extension", "merge_csv", "find_duplicates"}
    assert {tid.split("/")[1] for tid in live} == {
        "dedupe", "parse_log_line", "lru_cache", "token_bucket", "money", "trie", "shapes", "ring_buffer",
        "event_emitter"}
    print(f"{len(unverified)} of {len(tasks)} tasks unverified: {sorted(unverified)}")


def test_data_file_is_one_task_schema_object_per_line():
    # The JSON Lines file is the source (edited as data): every line a Task-schema object whose
    # code fields end in a newline, so that an edit cannot silently glue two lines of code.
    rows = [json.loads(line) for line in (DATASETS_DIR / "instruct_python.jsonl").read_text(
        encoding="utf-8").splitlines()]
    assert len(rows) == 49
    for row in rows:
        assert list(row) == list(FIELD_ORDER), row["task_id"]
        assert all(row[k].endswith("\n") for k in ("prompt", "tests", "reference")), row["task_id"]


def test_hash_is_the_one_in_the_dataset_card():
    digest = load_benchmark(DatasetConfig(name="instruct_python")).content_sha256
    assert digest in (DATASETS_DIR / "instruct_python.md").read_text(encoding="utf-8")


def test_humaneval_hash_is_the_one_in_the_dataset_card():
    digest = load_benchmark(DatasetConfig()).content_sha256
    assert digest in (DATASETS_DIR / "humaneval.md").read_text(encoding="utf-8")
