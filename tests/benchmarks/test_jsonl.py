"""dataset=jsonl: any local JSON Lines file in the Task schema, validated row by row."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evalkit.benchmarks import load_benchmark, load_tasks
from evalkit.config import ConfigError, DatasetConfig
from tests.support.cli import run_evalkit

GOOD = {"task_id": "t/1", "prompt": "def f(x):\n", "entry_point": "f", "reference": "    return x + 1\n",
        "tests": "def check(candidate):\n    assert candidate(1) == 2\n"}


def _write(tmp_path: Path, lines: list[str]) -> Path:
    path = tmp_path / "tasks.jsonl"
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def _load(path: Path):
    return load_tasks(DatasetConfig(name="jsonl", path=str(path)))


def test_required_fields_only_gets_defaults(tmp_path):
    second = dict(GOOD, task_id="t/2", language="python", file_name="maths.py", instruction="add one",
                  suffix="\nprint(f(1))\n")
    tasks = _load(_write(tmp_path, [json.dumps(GOOD), "", json.dumps(second)]))
    assert [t.task_id for t in tasks] == ["t/1", "t/2"]
    assert (tasks[0].language, tasks[0].file_name, tasks[0].instruction, tasks[0].suffix) == \
        ("python", "solution.py", "", "")
    assert (tasks[1].file_name, tasks[1].instruction, tasks[1].suffix) == \
        ("maths.py", "add one", "\nprint(f(1))\n")


@pytest.mark.parametrize(("bad_line", "message"), [
    (json.dumps({k: v for k, v in GOOD.items() if k != "tests"}), ":3: missing field 'tests'"),
    (json.dumps(dict(GOOD, tests=None)), ":3: missing field 'tests'"),
    (json.dumps(dict(GOOD, prompt=5)), ":3: field 'prompt' must be a string, not int"),
    (json.dumps(dict(GOOD, reference="  ")), ":3: field 'reference' is empty"),
    (json.dumps(dict(GOOD, file_name=["a"])), ":3: field 'file_name' must be a string, not list"),
    (json.dumps(dict(GOOD, test="x")), ":3: unknown field 'test'"),
    (json.dumps(dict(GOOD, entry_point="not valid")), ":3: field 'entry_point' must be a Python identifier"),
    (json.dumps(GOOD).replace("t/1", "t/0"), ":3: repeats task_id t/0"),
    ('{"task_id": "t/9", ', ":3: not valid JSON"),
    ("[1, 2]", ":3: expected a JSON object"),
    (json.dumps(dict(GOOD, reference="    return '\ud800'\n")),
     ":3: field 'reference' holds a lone surrogate"),
])
def test_bad_row_names_file_and_line(tmp_path, bad_line, message):
    first = json.dumps(dict(GOOD, task_id="t/0"))
    path = _write(tmp_path, [first, "", bad_line])
    with pytest.raises(ConfigError) as info:
        _load(path)
    assert str(info.value).startswith(f"{path}{message}")
    assert "\n" not in str(info.value)


def test_missing_or_empty_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        _load(tmp_path / "nope.jsonl")
    with pytest.raises(ConfigError, match="no tasks"):
        _load(_write(tmp_path, [""]))
    with pytest.raises(ConfigError, match="needs dataset.path"):
        load_tasks(DatasetConfig(name="jsonl"))


def test_hash_follows_content_not_formatting(tmp_path):
    a = _write(tmp_path, [json.dumps(GOOD)])
    b = tmp_path / "b.jsonl"
    reordered = json.dumps(dict(reversed(list(GOOD.items()))))
    b.write_text("\n" + reordered + "\n\n", encoding="utf-8")
    c = tmp_path / "c.jsonl"
    c.write_text(json.dumps(dict(GOOD, reference="    return x + 2\n")) + "\n", encoding="utf-8")
    digest = load_benchmark(DatasetConfig(name="jsonl", path=str(a))).content_sha256
    assert load_benchmark(DatasetConfig(name="jsonl", path=str(b))).content_sha256 == digest
    assert load_benchmark(DatasetConfig(name="jsonl", path=str(c))).content_sha256 != digest
    limited = load_benchmark(DatasetConfig(name="jsonl", path=str(a), limit=1))
    assert limited.content_sha256 == digest


@pytest.mark.slow
def test_cli_uses_the_file_and_exits_2_naming_the_line(tmp_path):
    path = _write(tmp_path, [json.dumps(GOOD)])
    ok = run_evalkit("prompts", "render", "dataset=jsonl", f"dataset.path={path}", "task=t/1")
    assert ok.returncode == 0, ok.stderr
    assert "def f(x):" in ok.stdout
    bad = _write(tmp_path, [json.dumps(GOOD), json.dumps({"task_id": "t/2"})])
    out = run_evalkit("prompts", "render", "dataset=jsonl", f"dataset.path={bad}")
    assert out.returncode == 2
    assert out.stderr.strip() == f"evalkit: error: {bad}:2: missing field 'prompt'"
    out = run_evalkit("prompts", "render", "dataset=jsonl")
    assert out.returncode == 2 and "dataset.path" in out.stderr


@pytest.mark.slow
def test_a_datasets_cache_that_cannot_be_used_is_named_not_the_dataset_file(tmp_path):
    # HF_HOME naming a file: "dataset file .../HumanEval.jsonl.gz could not be read: Not a directory"
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder\n")
    out = run_evalkit("prompts", "render", "task=HumanEval/0", env={"HF_HOME": str(blocker)})
    assert out.returncode == 2
    cache = blocker / "datasets"
    assert out.stderr.strip() == (f"evalkit: error: cannot use the datasets cache at {cache} (Not a "
                                  f"directory: {cache}); point HF_HOME or HF_DATASETS_CACHE at a "
                                  "folder evalkit can write")
    # set empty (an unset `$VAR`): unset, where `datasets` left its caches in the current folder
    here = tmp_path / "here"
    here.mkdir()
    out = run_evalkit("prompts", "render", "task=HumanEval/0", cwd=here,
                      env={"HF_HOME": "", "HF_DATASETS_CACHE": ""})
    assert out.returncode == 0, out.stderr
    assert list(here.iterdir()) == []


@pytest.mark.slow
def test_a_completion_set_read_as_generation_is_told_to_set_its_kind(tmp_path):
    # Its rows' references are middles: run without the code below them they fail, and the canary
    # blamed a missing runtime or memory limits.
    row = dict(GOOD, prompt="def f(x):\n", reference="    y = x + 1\n", suffix="    return y\n")
    path = _write(tmp_path, [json.dumps(row)])
    common = ["run", "dataset=jsonl", f"dataset.path={path}", "n_samples=1", "k=[1]", "report.plots=false",
              "store.enabled=false", f"executor.cache_dir={tmp_path / 'cache'}"]
    wrong = run_evalkit(*common, f"hydra.run.dir={tmp_path / 'wrong'}")
    assert wrong.returncode == 2
    assert wrong.stderr.strip().endswith("their rows have a suffix (code below the cursor): if the "
                                         "reference is the middle, this is a completion set: set "
                                         "dataset.kind=completion")
    right = run_evalkit(*common, "dataset.kind=completion", f"hydra.run.dir={tmp_path / 'right'}")
    assert right.returncode == 0, right.stderr[-2000:]
