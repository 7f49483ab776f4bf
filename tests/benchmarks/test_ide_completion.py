"""datasets/ide_completion_*.jsonl: holes cut out of the instruct sets' real files. Both sets load as
completion sets with ids that say where each hole comes from, every reference middle passes in the
sandbox and the middle left out fails (Python and JavaScript), and a FIM template renders them."""

from __future__ import annotations

import json
import re
import shutil
from collections import Counter

import pytest

from evalkit.benchmarks import load_benchmark
from evalkit.config import DATASETS_DIR, PROMPTS_DIR, DatasetConfig, ExecutorConfig
from evalkit.execution import LocalExecutor, canary, program_for
from evalkit.postprocess import assemble, lenient_reading
from evalkit.prompts import load_template, render
from evalkit.records import Status, Task
from tests.support.cli import run_evalkit

SETS = {"ide_completion_python": ("instruct_python", 77),
        "ide_completion_javascript": ("instruct_javascript", 37)}
"""Each completion set: the instruct set its holes are cut from, and its number of tasks."""
FIELD_ORDER = ("task_id", "language", "file_name", "instruction", "prompt", "suffix", "entry_point",
               "tests", "reference")
HOLE_ID = re.compile(r"^(?P<set>ide_completion_\w+)/(?P<task>\w+)/L(?P<first>\d+)(?:_L(?P<last>\d+))?$")

needs_node = pytest.mark.skipif(shutil.which("node") is None,
                                reason="node is not installed: JavaScript tasks need node (README, Datasets)")


def _sources(name: str) -> dict[str, Task]:
    source = SETS[name][0]
    return {t.task_id.split("/", 1)[1]: t for t in load_benchmark(DatasetConfig(name=source)).tasks}


@pytest.mark.parametrize("name", SETS)
def test_set_loads_as_completion_tasks_whose_ids_say_where_each_hole_is(name):
    bench = load_benchmark(DatasetConfig(name=name))
    sources = _sources(name)
    assert bench.kind == "completion" and len(bench.tasks) == SETS[name][1]
    assert bench.content_sha256 in (DATASETS_DIR / "ide_completion.md").read_text(encoding="utf-8")
    singles, blocks = set(), set()
    for task in bench.tasks:
        match = HOLE_ID.match(task.task_id)
        assert match and match["set"] == name, task.task_id
        source = sources[match["task"]]
        first, last = int(match["first"]), int(match["last"] or match["first"])
        (blocks if match["last"] else singles).add(match["task"])
        assert last - first + 1 in ((1,) if not match["last"] else range(2, 9)), task.task_id
        assert task.kind == "completion" and task.language == source.language
        assert (task.file_name, task.entry_point, task.tests) == (source.file_name, source.entry_point,
                                                                  source.tests)
        # A hole inside the real file: the middle is the source reference's lines the id names,
        # and prefix + middle + suffix is the file the instruct task passes with.
        lines = source.reference.splitlines(keepends=True)
        assert task.reference == "".join(lines[first:last + 1]) and task.reference.strip()
        assert task.prompt == source.prompt + "".join(lines[:first])
        assert assemble(task, task.reference) == source.prompt + source.reference
        # The gateway's completion steps (the lenient reading) keep a correct middle as it is.
        assert lenient_reading(task, task.reference) == task.reference
    # Every file has a one-line hole; blocks where one fits.
    assert singles == set(sources) and blocks < singles and len(blocks) >= len(sources) // 2


@pytest.mark.parametrize("name", SETS)
def test_data_file_is_one_task_schema_object_per_line(name):
    rows = [json.loads(line) for line in (DATASETS_DIR / f"{name}.jsonl").read_text(
        encoding="utf-8").splitlines()]
    assert len(rows) == SETS[name][1]
    for row in rows:
        assert list(row) == list(FIELD_ORDER), row["task_id"]
        assert all(row[k].endswith("\n") for k in ("prompt", "tests", "reference")), row["task_id"]


def _left_out(task: Task) -> str:
    """The hole's code left out: ``pass`` at its indentation in Python, nothing in JavaScript."""
    if task.language == "python":
        return task.reference[: len(task.reference) - len(task.reference.lstrip())] + "pass\n"
    return ""


@pytest.mark.slow
@pytest.mark.parametrize("name", [pytest.param("ide_completion_python"),
                                  pytest.param("ide_completion_javascript", marks=needs_node)])
def test_every_reference_middle_passes_and_the_middle_left_out_fails(name):
    tasks = load_benchmark(DatasetConfig(name=name)).tasks
    with LocalExecutor(ExecutorConfig(workers=2)) as executor:
        assert canary(tasks, executor, {t.task_id: 10.0 for t in tasks}) == []
        # References take milliseconds; a loop whose step was left out runs until its 2 s limit.
        wrong = dict(executor.run(program_for(t, assemble(t, _left_out(t)), t.task_id, 2.0) for t in tasks))
    # Each fails as a wrong answer does (never infra_error: the sandbox ran it).
    statuses = Counter(verdict.status for verdict in wrong.values())
    assert set(statuses) <= {Status.FAILED, Status.ERROR, Status.SYNTAX_ERROR, Status.TIMEOUT}, statuses
    assert statuses[Status.FAILED] + statuses[Status.ERROR] > len(tasks) // 2


def test_codegemma_renders_prefix_and_suffix_around_its_fim_tokens():
    task_id = "ide_completion_javascript/wrap_text/L7_L8"
    (task,) = load_benchmark(DatasetConfig(name="ide_completion_javascript", task_ids=(task_id,))).tasks
    prompt = render(load_template(PROMPTS_DIR, "codegemma", kind="completions"), task)
    assert prompt.text == f"<|fim_prefix|>{task.prompt}<|fim_suffix|>{task.suffix}<|fim_middle|>"
    # The cursor is inside the else branch: its header ends the prefix, its closing brace opens the suffix.
    assert prompt.text.startswith("<|fim_prefix|>const DEFAULT_WIDTH = 40;\n\n// wrapText(")
    assert "    } else {\n<|fim_suffix|>    }\n  }\n  if (current) lines.push(current);" in prompt.text
    assert "current = word;" not in prompt.text


@pytest.mark.slow
def test_prompts_render_shows_a_hole_of_a_real_file_between_codegemma_tokens():
    out = run_evalkit("prompts", "render", "model=codegemma", "dataset=ide_completion_python",
                      "task=ide_completion_python/truncate_words/L5")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    # The file's own prefix (its asking comment included) and the lines above the cursor come first,
    # then the FIM suffix token opens the lines below the hole; the hole itself is nowhere.
    assert '# | <|fim_prefix|>ELLIPSIS = "..."' in lines
    assert '# |     kept = ""' in lines
    assert '# | <|fim_suffix|>        candidate = f"{kept} {word}" if kept else word' in lines
    assert "for word in text.split():" not in out.stdout
    assert out.stdout.rstrip().endswith("# | <|fim_middle|>")
