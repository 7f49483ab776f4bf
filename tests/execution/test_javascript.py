"""JavaScript tasks: datasets/instruct_javascript.jsonl run by node in the same sandbox as Python.

Needs node on PATH (README, Datasets): without it the tests that execute
JavaScript are skipped with that reason; the node-less verdict is tested always.
"""

from __future__ import annotations

import json
import shutil
import time

import pytest

from evalkit.benchmarks import load_benchmark, load_tasks
from evalkit.config import DATASETS_DIR, DatasetConfig, ExecutorConfig
from evalkit.execution import LocalExecutor, program_for
from evalkit.models import demo_answers as da
from evalkit.postprocess import assemble, postprocess
from evalkit.records import Program, Status, Task
from tests.support.cli import run_evalkit

pytestmark = pytest.mark.slow  # real runs and processes: the full suite, not the fast tier

needs_node = pytest.mark.skipif(shutil.which("node") is None,
                                reason="node is not installed: JavaScript tasks need node (README, Datasets)")
CFG = ExecutorConfig(workers=2, timeout_s=1.0, wall_factor=3.0, share_identical=False)


@pytest.fixture(scope="module")
def tasks() -> list[Task]:
    return load_tasks(DatasetConfig(name="instruct_javascript"))


@pytest.fixture(scope="module")
def by_id(tasks) -> dict[str, Task]:
    return {t.task_id.split("/")[1]: t for t in tasks}


@pytest.fixture(scope="module")
def executor():
    with LocalExecutor(CFG) as ex:
        yield ex


def test_tasks_are_shaped_like_ide_requests(tasks):
    assert len(tasks) >= 15 and len({t.task_id for t in tasks}) == len(tasks)
    for task in tasks:
        assert task.language == "javascript" and task.instruction == "" and task.suffix == ""
        assert task.file_name.endswith(".js") and task.file_name != "solution.js", task.task_id
        last = [line for line in task.prompt.splitlines() if line.strip()][-1]
        assert last.lstrip().startswith("//"), f"{task.task_id}: prompt must end in a comment"
        assert "function check(candidate)" in task.tests and "require('assert/strict')" in task.tests
        assert task.entry_point in task.reference


def test_data_file_is_task_schema_lines_and_hash_is_the_cards():
    rows = [json.loads(line) for line in (DATASETS_DIR / "instruct_javascript.jsonl").read_text(
        encoding="utf-8").splitlines()]
    assert len(rows) == 23 and all(row["language"] == "javascript" for row in rows)
    assert all(row[k].endswith("\n") for row in rows for k in ("prompt", "tests", "reference"))
    digest = load_benchmark(DatasetConfig(name="instruct_javascript")).content_sha256
    assert digest in (DATASETS_DIR / "instruct_javascript.md").read_text(encoding="utf-8")


def test_program_for_appends_tests_and_the_check_call(by_id):
    task = by_id["to_roman"]
    program = program_for(task, "CODE", "k", 2.0)
    assert program.language == "javascript"
    assert program.source == "CODE\n" + task.tests + "\ncheck(toRoman);\n"


@needs_node
def test_every_reference_passes_in_the_sandbox_and_the_bare_prompt_does_not(executor, tasks):
    programs = [program_for(t, t.prompt + t.reference, "ref\0" + t.task_id, 3.0) for t in tasks]
    programs += [program_for(t, t.prompt, "bare\0" + t.task_id, 3.0) for t in tasks]
    verdicts = dict(executor.run(programs))
    assert {k: v.detail for k, v in verdicts.items() if k.startswith("ref") and not v.passed} == {}
    assert [k for k, v in verdicts.items() if k.startswith("bare") and v.passed] == []


_THROWS = "function toRoman(n) {\n  throw new TypeError('boom');\n}\n"


@needs_node
@pytest.mark.parametrize(("answer", "status", "detail"), [
    ("function toRoman(n) {\n  return 'I'.repeat(n);\n}\n", Status.FAILED, "AssertionError"),
    (_THROWS, Status.ERROR, "TypeError: boom"),
    # A SyntaxError thrown while running is an error; only one at compile time is syntax_error.
    ("function toRoman(n) {\n  return JSON.parse('{');\n}\n", Status.ERROR, "SyntaxError"),
    ("function toRoman(n) {\n  return n +;\n}\n", Status.SYNTAX_ERROR, "SyntaxError"),
    ("function toRoman(n) {\n  while (true) {}\n}\n", Status.TIMEOUT, "CPU limit 1.00 s"),
    ("function toRoman(n) {\n  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1e6);\n}\n",
     Status.TIMEOUT, "wall-clock"),
    ("process.exit(0);\nfunction toRoman(n) { return ''; }\n", Status.ERROR, "before the tests finished"),
    ("function toRoman(n) {\n  process.exit(0);\n}\n", Status.ERROR, "before the tests finished"),
    ("function toRoman(n) {\n  throw 'a plain string';\n}\n", Status.ERROR, "a plain string"),
])
def test_each_verdict_kind(executor, by_id, answer, status, detail):
    task = by_id["to_roman"]
    start = time.monotonic()
    verdict = executor.submit(program_for(task, task.prompt + answer, "k", 1.0)).result(timeout=60)
    assert verdict.status is status, verdict
    assert detail in verdict.detail
    assert time.monotonic() - start < 10


@needs_node
def test_sandbox_holds_for_node(executor):
    heap = ("const chunks = [];\nwhile (true) chunks.push(new Array(1e6).fill(1));\n")
    verdict = executor.submit(Program("heap", heap, language="javascript", timeout_s=5.0)).result(timeout=60)
    assert verdict.status is Status.ERROR  # V8 stops at --max-old-space-size (memory_mb)
    if executor.isolation.startswith("netns"):
        write = "require('fs').writeFileSync('/etc/evalkit-probe', 'x');"
        verdict = executor.submit(Program("ro", write, language="javascript", timeout_s=1.0)).result()
        assert verdict.status is Status.ERROR and "EROFS" in verdict.detail
        scratch = "require('fs').writeFileSync(require('os').tmpdir() + '/probe', 'x');"
        assert executor.submit(Program("tmp", scratch, language="javascript", timeout_s=1.0)).result().passed
    forged = "require('fs').writeSync(3, 'Pforged\\n');\nprocess.exit(0);"
    verdict = executor.submit(Program("forged", forged, language="javascript", timeout_s=1.0)).result()
    assert verdict.status is Status.ERROR  # a pass line without the runner's token is no pass


@needs_node
def test_math_random_repeats_between_runs(executor):
    source = "throw new Error(String(Math.random()));"
    details = {executor.submit(Program(f"r{i}", source, language="javascript", timeout_s=1.0)).result().detail
               for i in range(2)}
    assert len(details) == 1


@needs_node
def test_references_pass_without_namespaces_too(tasks):
    with LocalExecutor(ExecutorConfig(workers=1, network="none", share_identical=False)) as plain:
        # no namespaces; seccomp needs no root; the memory cgroup needs root, not namespaces
        assert plain.isolation.removeprefix("memory-cgroup+").removeprefix("cpu-cgroup+") in (
            "rlimits", "seccomp+rlimits")
        verdicts = dict(plain.run(program_for(t, t.prompt + t.reference, t.task_id, 3.0) for t in tasks[:4]))
    assert {k: v.detail for k, v in verdicts.items() if not v.passed} == {}


def test_without_node_a_javascript_program_is_an_infra_error(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # the executor looks node up on the harness's PATH
    with LocalExecutor(ExecutorConfig(workers=1, share_identical=False)) as without_node:
        program = Program("js", "check(f);", language="javascript", timeout_s=1.0)
        verdict = without_node.submit(program).result()
    assert verdict.status is Status.INFRA_ERROR and verdict.detail == "node is not installed"


def test_assemble_joins_javascript_answers(by_id):
    task = by_id["dir_sizes"]  # prefix: two require lines, then the comment
    assert assemble(task, task.reference) == task.prompt + task.reference
    whole = task.prompt + task.reference
    assert assemble(task, "\n" + whole) == whole
    # An answer repeating the requires and defining the function: each require kept once.
    answer = "const fs = require('fs');\nconst path = require('path');\n\n" + task.reference
    code = assemble(task, postprocess("```js\n" + answer + "```", ["strip_fences"], task.prompt))
    assert code.count("require('fs')") == 1 and code.count("require('path')") == 1
    assert "// sizeByExtension(dir) walks" in code
    cache = by_id["lru_cache"]
    redefined = "class LruCache {\n  constructor(c) { this.c = c; }\n}\n"
    assert assemble(cache, redefined) == cache.prompt + redefined


def test_demo_answers_fence_with_the_task_language(by_id):
    task = by_id["kebab_case"]
    expected = "```javascript\n" + task.prompt + task.reference.rstrip() + "\n```"
    assert da.answer(da.ORACLE, task, 0, 0) == expected
    assert da.break_answer("infinite_loop", task).count("while (true) {}") == 1


@needs_node
def test_demo_run_end_to_end_oracle_passes_everything(tmp_path):
    proc = run_evalkit("run", "dataset=instruct_javascript", "dataset.limit=5", "n_samples=2",
                       f"hydra.run.dir={tmp_path / 'run'}", f"store.path={tmp_path / 'store.sqlite'}",
                       f"executor.cache_dir={tmp_path / 'cache'}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["dataset"]["name"] == "instruct_javascript" and results["dataset"]["n_tasks"] == 5
    oracle = next(arm for arm in results["arms"] if arm["arm"] == "demo-oracle")
    assert oracle["pass_at_k"]["1"]["value"] == 1.0
    assert oracle["verdicts"]["passed"] == 10
