"""HumanEval infilling: the four subsets load with the benchmark's ids, every reference middle passes
in the sandbox and a wrong middle fails (the canary a run starts with)."""

from __future__ import annotations

import json

import pytest

from evalkit.benchmarks import load_benchmark
from evalkit.config import DATASETS_DIR, ConfigError, DatasetConfig, ExecutorConfig
from evalkit.execution import LocalExecutor, canary, program_for
from evalkit.postprocess import assemble

SUBSETS = {"infilling_single_line": 1033, "infilling_multi_line": 5815, "infilling_random_span": 1640,
           "infilling_random_span_light": 164}


@pytest.mark.parametrize("name", [pytest.param(name, marks=[] if name.endswith("light") else pytest.mark.slow)
                                  for name in SUBSETS])
def test_subset_loads_as_completion_tasks_with_the_benchmarks_ids_and_card_hash(name):
    bench = load_benchmark(DatasetConfig(name=name))
    assert len(bench.tasks) == SUBSETS[name] and bench.kind == "completion"
    assert all(t.kind == "completion" and t.language == "python" for t in bench.tasks)
    assert bench.content_sha256 in (DATASETS_DIR / "humaneval_infilling.md").read_text(encoding="utf-8")
    first = bench.tasks[0]
    assert first.task_id.split("/")[1:3] == ["HumanEval", "0"]
    # The program is prompt + middle + suffix, as OpenAI's harness builds it.
    assert assemble(first, "MIDDLE") == first.prompt + "MIDDLE" + first.suffix


def test_single_line_task_ids_are_the_benchmarks_own():
    ids = [t.task_id for t in load_benchmark(DatasetConfig(name="infilling_single_line", limit=3)).tasks]
    assert ids == ["SingleLineInfilling/HumanEval/0/L0", "SingleLineInfilling/HumanEval/0/L1",
                   "SingleLineInfilling/HumanEval/0/L2"]


def test_a_completion_set_refuses_to_be_read_as_a_generation_set():
    with pytest.raises(ConfigError, match="is a completion set; dataset.kind=generation does not apply"):
        load_benchmark(DatasetConfig(name="infilling_single_line", kind="generation"))


def _canary_and_wrong(name: str, limit: int | None = None) -> None:
    tasks = load_benchmark(DatasetConfig(name=name, limit=limit)).tasks
    with LocalExecutor(ExecutorConfig()) as executor:
        assert canary(tasks, executor, {t.task_id: 10.0 for t in tasks}) == []
        wrong = dict(executor.run(program_for(t, assemble(t, "    return None\n"), t.task_id, 10)
                                  for t in tasks[:50]))
    # A middle that returns None early fails every one of these tasks (each returns a value).
    assert [tid for tid, v in wrong.items() if v.passed] == []


@pytest.mark.slow
def test_random_span_light_references_pass_and_a_wrong_middle_fails():
    _canary_and_wrong("infilling_random_span_light", limit=40)


@pytest.mark.slow
@pytest.mark.parametrize("name", SUBSETS)
def test_every_reference_middle_passes_and_a_wrong_one_fails(name):
    _canary_and_wrong(name)


@pytest.mark.slow
def test_a_local_file_can_be_a_completion_set(tmp_path):
    row = {"task_id": "mine/clamp", "prompt": "def clamp(x, low, high):\n", "suffix": "    return x\n",
           "reference": "    x = max(low, min(x, high))\n", "entry_point": "clamp",
           "tests": "def check(candidate):\n    assert candidate(5, 0, 3) == 3\n"
                    "    assert candidate(-1, 0, 3) == 0\n"}
    path = tmp_path / "mine.jsonl"
    path.write_text(json.dumps(row) + "\n")
    bench = load_benchmark(DatasetConfig(name="jsonl", path=str(path), kind="completion"))
    (task,) = bench.tasks
    assert bench.kind == task.kind == "completion"
    assert assemble(task, task.reference) == row["prompt"] + row["reference"] + row["suffix"]
    with LocalExecutor(ExecutorConfig()) as executor:
        assert canary(bench.tasks, executor, {task.task_id: 10.0}) == []
        (_, verdict), = executor.run([program_for(task, assemble(task, "    pass\n"), "k", 10)])
    assert not verdict.passed
    # Read as a generation set, the same file ignores the suffix: the bare prefix + middle fails.
    assert load_benchmark(DatasetConfig(name="jsonl", path=str(path))).kind == "generation"
