"""Import formats of `evalkit score`: bigcode-evaluation-harness generations, human-eval, EvalPlus."""

from __future__ import annotations

import codecs
import json
import subprocess
import sys

import pytest

from evalkit.config import ConfigError
from evalkit.execution import program_for
from evalkit.samples import read_score_input
from tests.support.cli import run_evalkit


def _read(path, task_ids=None):
    errors: list[str] = []
    return list(read_score_input(path, errors, task_ids)), errors


def test_bigcode_generations_map_positions_to_the_dataset_order(tmp_path, humaneval_tasks):
    first, second = humaneval_tasks[0], humaneval_tasks[1]
    generations = [[first.prompt + first.reference, first.prompt + "    return True\n"],
                   [second.prompt + second.reference]]
    path = tmp_path / "generations.json"
    path.write_text("\n  " + json.dumps(generations, indent=2), encoding="utf-8")
    lines, errors = _read(path, [t.task_id for t in humaneval_tasks])
    assert errors == []
    assert [(s.task_id, s.sample_index, s.line, s.whole_program) for s in lines] == [
        ("HumanEval/0", 0, 1, True), ("HumanEval/0", 1, 1, True), ("HumanEval/1", 0, 2, True)]
    # Each generation is a whole program: with the task's tests appended it runs as is.
    by_id = {t.task_id: t for t in humaneval_tasks}
    outcomes = []
    for sample in lines:
        source = program_for(by_id[sample.task_id], sample.code, "k", 10).source
        run = subprocess.run([sys.executable, "-c", source], capture_output=True, timeout=60, check=False)
        outcomes.append(run.returncode == 0)
    assert outcomes == [True, False, True]


def test_bigcode_generations_saved_with_a_byte_order_mark_are_read_as_bigcode(tmp_path, humaneval_tasks):
    # A Windows editor's mark before the `[`: read as JSON Lines, "no valid sample lines (1 malformed)".
    path = tmp_path / "generations.json"
    path.write_bytes(codecs.BOM_UTF8 + json.dumps([[humaneval_tasks[0].prompt + "    return 1\n"]]).encode())
    errors: list[str] = []
    lines = list(read_score_input(path, errors, [t.task_id for t in humaneval_tasks]))
    assert errors == []
    assert [(s.task_id, s.whole_program) for s in lines] == [(humaneval_tasks[0].task_id, True)]


def test_bigcode_without_task_order_or_with_bad_entries(tmp_path):
    path = tmp_path / "generations.json"
    path.write_text(json.dumps([["a"], "not a list", ["b", 3], ["c"]]), encoding="utf-8")
    lines, errors = _read(path)
    assert lines == [] and len(errors) == 1 and "task order" in errors[0]
    lines, errors = _read(path, ["t/0", "t/1", "t/2"])
    assert [(s.task_id, s.code) for s in lines] == [("t/0", "a"), ("t/2", "b")]
    assert errors == [
        f"{path}: 4 generation lists but the dataset has 3 tasks; lists after position 3 are ignored",
        f"{path}: entry 2 is not a list of generations",
        f"{path}: entry 3, generation 1 is not a string",
    ]
    path.write_text("[[\"a\"]", encoding="utf-8")
    lines, errors = _read(path, ["t/0"])
    assert lines == [] and "not valid JSON" in errors[0]


def _score_bigcode(tmp_path, lists, *overrides, run="run"):
    path = tmp_path / "generations.json"
    path.write_text(json.dumps(lists), encoding="utf-8")
    proc = run_evalkit("score", f"samples={path}", *overrides, f"hydra.run.dir={tmp_path / run}",
                       "report.plots=false")
    return path, proc


@pytest.mark.slow
def test_bigcode_lists_of_tasks_further_on_are_refused_naming_the_task_ids_that_map_them(
        tmp_path, humaneval_tasks):
    """A file bigcode wrote with `--limit_start 20 --limit 10` (the reference programs of HumanEval/20
    to /29) was scored against HumanEval/0 to /9: every program a NameError, pass@1 0.000, exit 0."""
    lists = [[t.prompt + t.reference] * 2 for t in humaneval_tasks[20:30]]
    path, proc = _score_bigcode(tmp_path, lists)
    ids = [t.task_id for t in humaneval_tasks[20:30]]
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"evalkit: error: {path}: its 10 generation lists define the entry points of HumanEval/20 to "
        "HumanEval/29, not of HumanEval/0 to HumanEval/9 (bigcode's --limit_start 20?): give "
        f"dataset.task_ids=[{','.join(ids)}]"]
    assert not (tmp_path / "run").exists()  # nothing scored
    # the override it names maps the lists to their tasks
    _, fixed = _score_bigcode(tmp_path, lists, f"dataset.task_ids=[{','.join(ids)}]", run="fixed")
    assert fixed.returncode == 0, fixed.stderr[-2000:]
    results = json.loads((tmp_path / "fixed" / "results.json").read_text())
    assert [(arm["n_tasks"], arm["pass_at_k"]["1"]["value"]) for arm in results["arms"]] == [(10, 1.0)]


@pytest.mark.slow
def test_bigcode_lists_of_another_dataset_are_refused_naming_it(tmp_path, humaneval_tasks):
    lists = [[t.prompt + t.reference] for t in humaneval_tasks[:10]]
    path, proc = _score_bigcode(tmp_path, lists, "dataset=instruct_python")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"evalkit: error: {path}: its 10 generation lists define the entry points of dataset humaneval's "
        "tasks, not of instruct_python's (list 1 defines has_close_elements, HumanEval/0's): add "
        "dataset=humaneval"]
    _, right = _score_bigcode(tmp_path, lists, run="right")
    assert right.returncode == 0, right.stderr[-2000:]
    results = json.loads((tmp_path / "right" / "results.json").read_text())
    assert [(arm["n_tasks"], arm["pass_at_k"]["1"]["value"]) for arm in results["arms"]] == [(10, 1.0)]


@pytest.mark.slow
def test_bigcode_lists_of_wrong_or_empty_answers_in_their_places_are_scored(tmp_path, humaneval_tasks):
    """Programs that define no entry point, or another task's in a few lists, are a weak model's
    answers, not a file out of place: scored, not refused."""
    first, second, third = humaneval_tasks[:3]
    lists = [["", "I am not sure how to solve this."],
             [second.prompt + "    return None\n", "def helper(x):\n    return x\n"],
             [f"def {first.entry_point}(numbers, threshold):\n    return True\n"],  # task 0's, in task 2's
             [humaneval_tasks[3].prompt + humaneval_tasks[3].reference]]
    _, proc = _score_bigcode(tmp_path, lists)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = [json.loads(line) for line in (tmp_path / "run" / "samples.jsonl").read_text().splitlines()]
    assert sorted((r["task_id"], r["sample_index"], r["verdict"]["status"]) for r in rows) == [
        (first.task_id, 0, "empty"), (first.task_id, 1, "syntax_error"), (second.task_id, 0, "failed"),
        (second.task_id, 1, "error"), (third.task_id, 0, "error"), ("HumanEval/3", 0, "passed")]


def test_human_eval_and_evalplus_lines_still_read(tmp_path):
    path = tmp_path / "samples.jsonl"
    path.write_text("\n".join([
        json.dumps({"task_id": "HumanEval/0", "completion": "    return 1\n"}),
        "{broken",
        json.dumps({"task_id": "HumanEval/1", "solution": "def f(): pass\n", "model": "m",
                    "sample_index": 4}),
    ]) + "\n", encoding="utf-8")
    lines, errors = _read(path, ["ignored/for/this/format"])
    assert [(s.line, s.task_id, s.whole_program, s.arm, s.sample_index) for s in lines] == [
        (1, "HumanEval/0", False, "samples", None), (3, "HumanEval/1", True, "m", 4)]
    assert len(errors) == 1 and errors[0].startswith(f"{path}:2: not valid JSON")
    # in the line's own terms (json's "line 1 column 2 (char 1)"; a cut line read "line 2 column 1")
    assert errors[0] == (f"{path}:2: not valid JSON (Expecting property name enclosed in double quotes at "
                         "character 2)")


def test_a_line_cut_short_is_named_so(tmp_path):
    path = tmp_path / "cut.jsonl"
    path.write_text('{"task_id": "HumanEval/0", "completion": \n', encoding="utf-8")
    assert _read(path, [])[1] == [f"{path}:1: not valid JSON (Expecting value at its end: is it cut short?)"]


def test_json_s_own_at_is_not_said_twice(tmp_path):
    # "Invalid control character at at its end": json's message ends in "at" (results.json's problems too)
    path = tmp_path / "cut.jsonl"
    said = {'{"task_id": "HumanEval/0", "completion": "    return\n':
            "Invalid control character at its end: is it cut short?",
            '{"task_id": "HumanEval/0", "completion": "    return \x01"}\n':
            "Invalid control character at character 54",
            '{"task_id": "HumanEval/0", "completion": "    ret':  # the file's last line, no newline
            "Unterminated string starting at character 42"}
    for line, problem in said.items():
        path.write_text(line, encoding="utf-8")
        assert _read(path)[1] == [f"{path}:1: not valid JSON ({problem})"]


def test_a_line_of_valid_json_that_is_no_object_is_not_called_invalid_json(tmp_path):
    # `[1, 2]` was "not valid JSON (not a JSON object)"
    path = tmp_path / "samples.jsonl"
    good = json.dumps({"task_id": "HumanEval/0", "completion": "    return 1\n"})
    path.write_text("\n".join([good, "[1, 2]", '"HumanEval/0"', "3.5", "null", "true"]) + "\n")
    lines, errors = _read(path)
    assert [s.line for s in lines] == [1]
    assert errors == [f"{path}:{n}: {kind}, not an object with task_id and completion" for n, kind in [
        (2, "a JSON array"), (3, "a JSON string"), (4, "a JSON number"), (5, "JSON null"), (6, "JSON true")]]


def test_a_null_field_beside_a_string_answer_is_no_answer_and_a_line_with_neither_is_malformed(tmp_path):
    # {"completion": "...", "solution": null} was refused as having no string completion or solution
    path = tmp_path / "samples.jsonl"
    rows = [{"task_id": "HumanEval/0", "completion": "    return 1\n", "solution": None},
            {"task_id": "HumanEval/0", "completion": None, "solution": "def f():\n    return 1\n"},
            {"task_id": "HumanEval/0", "completion": None, "solution": None},
            {"task_id": "HumanEval/0", "completion": "    return 1\n", "solution": 42}]  # not text: not none
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    lines, errors = _read(path)
    assert [(s.line, s.whole_program, s.code) for s in lines] == [
        (1, False, "    return 1\n"), (2, True, "def f():\n    return 1\n")]
    assert errors == [f"{path}:{n}: needs a string task_id and a string completion or solution"
                      for n in (3, 4)]


def test_line_that_is_not_utf8_is_one_malformed_line(tmp_path):
    path = tmp_path / "samples.jsonl"
    good = json.dumps({"task_id": "HumanEval/0", "completion": "    return 1\n"}).encode()
    path.write_bytes(b'{"task_id": "HumanEval/0", "completion": "caf\xe9"}\n' + good + b"\n")
    lines, errors = _read(path)
    assert [(s.line, s.code) for s in lines] == [(2, "    return 1\n")]
    assert len(errors) == 1 and errors[0].startswith(f"{path}:1: not valid JSON")


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le"])
def test_a_utf16_file_is_named_as_such_not_half_read(tmp_path, encoding):
    # PowerShell's `>` writes UTF-16: its lines were read as bytes, the first "not valid JSON
    # ('utf-16-le' codec ...)", a line 4 that does not exist skipped, and 2 of 3 samples scored.
    lines = "".join(json.dumps({"task_id": f"HumanEval/{i}", "completion": "    return 1\n"}) + "\n"
                    for i in range(3))
    path = tmp_path / "u16.jsonl"
    path.write_bytes(lines.encode(encoding))
    assert path.read_bytes().startswith(codecs.BOM_UTF16_LE) == (encoding == "utf-16")
    errors: list[str] = []
    with pytest.raises(ConfigError, match="is not UTF-8 text: it looks like UTF-16"):
        list(read_score_input(path, errors))
    assert errors == []


def test_a_sample_index_that_is_not_a_whole_number_in_range_is_a_malformed_line(tmp_path):
    """One of 2**63 overflowed the report's tables after the samples were written (exit 1, and
    again on every resume); a negative or quoted one was taken as no index at all."""
    path = tmp_path / "samples.jsonl"
    indexes = [2**63, -1, "2", 1.0, True, 2**31 - 1, None]
    rows = [{"task_id": "HumanEval/0", "completion": "x", "sample_index": i} for i in indexes]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    lines, errors = _read(path)
    assert [line.sample_index for line in lines] == [2**31 - 1, None]
    assert [error.split(": ", 1)[0] for error in errors] == [f"{path}:{n}" for n in range(1, 6)]
    assert errors[0].endswith("sample_index must be a JSON integer from 0 to 2,147,483,647 (no decimal "
                              "point, exponent or quotes), not 9223372036854775808")
    assert errors[3].endswith("not 1.0")
    assert errors[2].endswith('not "2"')
