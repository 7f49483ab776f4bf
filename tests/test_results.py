"""evalkit.results: the tidy frames notebooks and other stages read."""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest

from evalkit import results
from evalkit.config import ConfigError, ReportConfig
from evalkit.records import Status, TemplateSource
from evalkit.reporting import write_reports
from evalkit.results import (
    CATEGORICAL_COLUMNS,
    SAMPLE_COLUMNS,
    load_results,
    load_runs,
    load_samples,
    load_templates,
    run_name_of,
    source_diff,
    task_pass_rates,
)
from tests.support.cli import run_evalkit
from tests.support.runs import SCORING, arm_spec, make_two_arm_run, run_header, sample, write_samples


@pytest.fixture(scope="module")
def reports_root(tmp_path_factory, humaneval_tasks):
    root = tmp_path_factory.mktemp("reports")
    make_two_arm_run(root / "runs" / "run1", humaneval_tasks)
    write_samples(root / "runs" / "run0",
                  [sample("run0", "A", t, 0, Status.PASSED) for t in humaneval_tasks[:3]])
    write_reports(root / "runs" / "run0", run_header("run0", 3, started_at="2026-11-25T00:00:00Z"),
                  [arm_spec("A", "1.0.0", False)], SCORING, ReportConfig(formats=(), plots=False))
    (root / "runs" / "in_progress").mkdir()  # a run still generating: samples only, no results.json
    return root


def test_load_samples_is_tidy(reports_root):
    frame = load_samples(reports_root / "runs" / "run1")
    assert len(frame) == 40
    assert list(frame.columns) == list(SAMPLE_COLUMNS) + ["metric_edit_similarity", "metric_exact_match"]
    assert frame["passed"].dtype == bool and frame["lenient_passed"].dtype == bool
    assert set(frame["status"]) <= set(Status)
    b = frame[frame["arm"] == "B"]
    syntax = b[b["status"] == Status.SYNTAX_ERROR]
    assert len(syntax) == 2 and syntax["lenient_passed"].all() and not syntax["passed"].any()
    assert frame.loc[frame["arm"] == "A", "passed"].sum() == 16
    # the labels read as the strings they are, however pandas turns them to text: a (str, Enum)'s
    # str() is "Status.PASSED", which astype(str) cut to the longest value's width ("Status.PASSE")
    as_text = set(frame["status"].astype(str))
    assert as_text == {status.value for status in frame["status"]} and {"passed", "syntax_error"} <= as_text
    counts = frame.groupby(["arm", "status"], observed=True).size().rename(index=str).to_dict()
    assert counts[("B", "syntax_error")] == 2 and f"{Status.TIMEOUT}" == "timeout"
    assert set(frame["template_version"]) == {"1.0.0", "1.1.0"}
    assert frame["prompt_tokens"].sum() == 4000 and frame["metric_exact_match"].sum() == 26
    first = frame[(frame["arm"] == "A") & (frame["task_id"] == "HumanEval/0")].iloc[0]
    assert first["prompt"][0]["role"] == "user" and first["raw_output"].startswith("```python")


def test_load_samples_keeps_the_last_record_of_a_sample(tmp_path, humaneval_tasks):
    task = humaneval_tasks[0]
    write_samples(tmp_path, [sample("r", "A", task, 0, Status.INFRA_ERROR),
                             sample("r", "A", task, 1, Status.FAILED),
                             sample("r", "A", task, 0, Status.PASSED)])  # a resumed run retried sample 0
    frame = load_samples(tmp_path / "samples.jsonl")
    assert len(frame) == 2
    assert frame.set_index("sample_index").loc[0, "status"] is Status.PASSED


def test_a_lone_surrogate_in_samples_jsonl_is_read_as_text_every_report_takes(tmp_path, humaneval_tasks):
    # One in a verdict's detail (an earlier evalkit wrote it so, or a hand edit) ended `evalkit report`,
    # compare and a resumed run with a traceback (exit 3).
    row = sample("r", "A\ud800", humaneval_tasks[0], 0, Status.FAILED).to_json()
    row["verdict"]["detail"] = "AssertionError: \udcff"
    (tmp_path / "samples.jsonl").write_text(json.dumps(row) + "\n")
    frame = load_samples(tmp_path)
    assert (frame["arm"].iloc[0], frame["detail"].iloc[0]) == ("A\ufffd", "AssertionError: \ufffd")
    frame.to_json(tmp_path / "out.json")  # UTF-8 all through


def test_load_samples_reads_in_chunks_into_compact_columns(tmp_path, humaneval_tasks, monkeypatch):
    tasks = humaneval_tasks[:3]
    # Arm B's samples were scored with another set of metrics: bleu, and no edit_similarity.
    other_metrics = {"exact_match": 0.0, "bleu": 0.5}
    late = [dataclasses.replace(sample("r", "B", t, 0, Status.FAILED), metrics=other_metrics) for t in tasks]
    write_samples(tmp_path, [sample("r", "A", t, 0, Status.PASSED) for t in tasks] + late)
    whole = load_samples(tmp_path)
    monkeypatch.setattr(results, "READ_CHUNK", 2)  # bleu first seen within the second chunk
    pd.testing.assert_frame_equal(load_samples(tmp_path), whole)
    assert whole["metric_bleu"].isna().tolist() == [True] * 3 + [False] * 3
    assert whole["metric_edit_similarity"].isna().tolist() == [False] * 3 + [True] * 3
    assert all(isinstance(whole[name].dtype, pd.CategoricalDtype) for name in CATEGORICAL_COLUMNS)
    assert list(whole.groupby("arm", observed=True)["passed"].mean()) == [1.0, 0.0]


def test_load_samples_names_the_bad_line(tmp_path, humaneval_tasks):
    write_samples(tmp_path, [sample("r", "A", humaneval_tasks[0], 0, Status.PASSED)])
    with (tmp_path / "samples.jsonl").open("a") as handle:
        handle.write(json.dumps(sample("r", "A", humaneval_tasks[1], 0, Status.PASSED).to_json()) + "\n")
        handle.write('{"arm": "A", "task_id": "x", "verdict": {"status": "pass')
    # the parser's "Unterminated string starting at" was cut there: where it starts is said too
    with pytest.raises(ConfigError, match=r"samples.jsonl:3: malformed JSON \(Unterminated string starting "
                                          r"at column 52\)"):
        load_samples(tmp_path)
    bad = sample("r", "A", humaneval_tasks[1], 0, Status.PASSED).to_json()
    bad["verdict"]["status"] = "great"
    (tmp_path / "samples.jsonl").write_text(json.dumps(bad) + "\n")
    # Blank lines before it: the error names the file's line, as for malformed JSON.
    (tmp_path / "samples.jsonl").write_text("\n\n" + json.dumps(bad) + "\n")
    with pytest.raises(ConfigError, match=r"samples.jsonl:3: not a sample record \(verdict\.status"):
        load_samples(tmp_path)
    with pytest.raises(ConfigError, match="no samples file"):
        load_samples(tmp_path / "missing")


def test_load_results_and_runs(reports_root):
    results = load_results(reports_root / "runs" / "run1")
    assert results.run_id == "run1" and [a.arm for a in results.arms] == ["A", "B"]
    assert load_results(reports_root / "runs" / "run1" / "results.json") == results
    runs = load_runs(reports_root)
    assert list(runs["run_id"]) == ["run0", "run1", "run1"]  # ordered by start time
    assert list(runs["arm"]) == ["A", "A", "B"]
    b = runs.iloc[2]
    assert b["synthetic"] and b["pass@1"] == pytest.approx(0.5)
    assert b["lenient_pass@1"] == pytest.approx(0.6) and b["pass@1_low"] <= 0.5 <= b["pass@1_high"]
    assert b["pass@10"] is None or b["pass@10"] != b["pass@10"]  # n/a (None or NaN in the frame)
    assert runs.iloc[1]["verdict_infra_error"] == 2 and b["metric_exact_match"] == pytest.approx(0.5)
    assert b["latency_p95"] == pytest.approx(1.1) and b["cost"] == pytest.approx(2.2)
    # the sampling parameters sent: a temperature sweep's arms were otherwise alike rows
    assert (b["param_temperature"], b["param_max_tokens"]) == (0.2, 512)
    assert load_runs(reports_root / "runs" / "in_progress").empty
    with pytest.raises(ConfigError, match="no results.json"):
        load_results(reports_root / "runs" / "in_progress")


def test_a_run_that_exited_2_says_why_in_load_runs(reports_root, tmp_path):
    # Its row read as a healthy run's: nothing in the frame said the endpoint had refused its requests.
    run = shutil.copytree(reports_root / "runs" / "run0", tmp_path / "runs" / "refused")
    results = json.loads((run / "results.json").read_text())
    (run / "results.json").write_text(json.dumps(results | {"problems": ["arm A: no answer at all"]}))
    shutil.copytree(reports_root / "runs" / "run0", tmp_path / "runs" / "fine")
    runs = load_runs(tmp_path)
    assert dict(zip(runs["run_dir"].map(lambda d: Path(d).name), runs["problem"], strict=True)) == {
        "refused": "arm A: no answer at all", "fine": None}


def test_load_runs_names_a_results_file_it_cannot_read(reports_root, tmp_path):
    # A damaged results.json was left out without a word: a notebook showed fewer runs (a researcher's trial).
    for name in ("fine", "damaged"):
        shutil.copytree(reports_root / "runs" / "run0", tmp_path / "runs" / name)
    damaged = tmp_path / "runs" / "damaged" / "results.json"
    results = json.loads(damaged.read_text())
    results["arms"][0]["n_tasks"] = "x"
    damaged.write_text(json.dumps(results))
    with pytest.warns(UserWarning, match=rf"^load_runs: left out {re.escape(str(damaged))}: "):
        runs = load_runs(tmp_path)
    assert [Path(d).name for d in runs["run_dir"]] == ["fine"]


def test_load_runs_tells_two_runs_made_with_different_seeds_apart(reports_root, tmp_path):
    # Two nightly runs of one model and template differing only by seed read as identical rows.
    for name, seed in (("seed-7", 7), ("seed-8", 8), ("scored", None)):
        run = shutil.copytree(reports_root / "runs" / "run0", tmp_path / "runs" / name)
        if seed is not None:
            (run / "run.json").write_text(json.dumps({"run_id": "run0", "seed": seed, "endpoints": {}}))
    runs = load_runs(tmp_path)
    seeds = dict(zip(runs["run_dir"].map(lambda d: Path(d).name), runs["seed"], strict=True))
    assert seeds["seed-7"] == 7 and seeds["seed-8"] == 8 and pd.isna(seeds["scored"])
    assert str(runs["seed"].dtype) == "Int64"  # whole numbers: one blank made them all floats, 7.0
    assert "seed" in load_runs(tmp_path / "nothing-here").columns


def test_a_run_that_did_not_finish_says_how_to_finish_it(tmp_path, humaneval_tasks):
    # gate, bless and report on an interrupted run said only "no results.json at ..."
    write_samples(tmp_path, [sample("r", "A", humaneval_tasks[0], 0, Status.PASSED)])
    unfinished = r"\(the run did not finish: start it again with the same hydra.run.dir to finish it\)$"
    with pytest.raises(ConfigError, match=r"^no results.json at .*results.json " + unfinished):
        results.load_results(tmp_path)
    with pytest.raises(ConfigError, match=r"^no results.json at .*nowhere$"):
        results.load_results(tmp_path / "nowhere")


def test_task_pass_rates_pair_arms_task_by_task(reports_root):
    samples = load_samples(reports_root / "runs" / "run1")
    rates = task_pass_rates(samples)
    assert list(rates.columns) == ["A", "B"]
    assert list(rates.index[:3]) == ["HumanEval/0", "HumanEval/1", "HumanEval/2"]  # natural order
    assert len(rates) == 10 and rates.index[-1] == "HumanEval/9"
    assert rates["A"].iloc[:8].eq(1.0).all() and rates.loc["HumanEval/8", "A"] == 0.0
    assert rates["A"].isna().sum() == 1 and pd.isna(rates.loc["HumanEval/9", "A"])  # all infra_error
    assert list(rates["B"]) == [1.0] * 4 + [0.0] * 4 + [1.0, 0.0]
    lenient = task_pass_rates(samples, "lenient_passed")
    assert lenient.loc["HumanEval/7", "B"] == 1.0 and rates.loc["HumanEval/7", "B"] == 0.0


def test_task_pass_rates_leave_out_infra_errors_of_the_reading_asked_for(tmp_path, humaneval_tasks):
    task = humaneval_tasks[0]
    # Sample 1's lenient execution could not run: no lenient outcome, not a lenient failure.
    write_samples(tmp_path, [sample("r", "A", task, 0, Status.PASSED),
                             sample("r", "A", task, 1, Status.PASSED, lenient=Status.INFRA_ERROR)])
    samples = load_samples(tmp_path)
    assert task_pass_rates(samples, "lenient_passed").loc[task.task_id, "A"] == 1.0
    assert task_pass_rates(samples).loc[task.task_id, "A"] == 1.0


def test_load_templates_and_source_diff(reports_root):
    templates = load_templates(reports_root)
    assert list(templates["version"]) == ["1.0.0", "1.1.0"]
    assert list(templates["runs"]) == [["run0", "run1"], ["run1"]]
    old, new = templates.iloc[0], templates.iloc[1]
    assert old["source_text"].startswith("system: You are a coding assistant.")
    old, new = TemplateSource.from_json(old.to_dict()), TemplateSource.from_json(new.to_dict())
    diff = source_diff(old, new)
    assert diff.startswith("--- mistral/1.0.0\n+++ mistral/1.1.0\n")
    assert "-system: You are a coding assistant.\n" in diff and "+Return only code.\n" in diff
    assert source_diff(old, old) == ""
    assert load_templates(reports_root / "runs" / "in_progress").empty


@pytest.fixture(scope="module")
def not_utf8_runs(tmp_path_factory, humaneval_tasks):
    """A good run, one whose samples.jsonl ends in a stray byte, one whose results.json has a UTF-16 BOM."""
    root = tmp_path_factory.mktemp("not_utf8")
    good = root / "good"
    make_two_arm_run(good, humaneval_tasks)
    bad_samples, bad_results = root / "bad_samples", root / "bad_results"
    for run_dir in (bad_samples, bad_results):
        make_two_arm_run(run_dir, humaneval_tasks)
    with (bad_samples / "samples.jsonl").open("ab") as handle:
        handle.write(b"\xff")
    results_json = bad_results / "results.json"
    results_json.write_bytes(b"\xff\xfe" + results_json.read_bytes())
    return root


@pytest.mark.slow  # real commands in processes: the full suite, not the fast tier
@pytest.mark.parametrize("bad", ["bad_samples", "bad_results"])
@pytest.mark.parametrize("command", ["gate", "gate-baseline", "compare", "report", "bless"])
def test_run_files_that_are_not_utf8_are_one_line_exit_2(not_utf8_runs, tmp_path, bad, command):
    good, broken = str(not_utf8_runs / "good"), str(not_utf8_runs / bad)
    args = {"gate": ["gate", "--baseline", good, "--candidate", broken, "-o", str(tmp_path / "g")],
            "gate-baseline": ["gate", "--baseline", broken, "--candidate", good, "-o", str(tmp_path / "g")],
            "compare": ["compare", good, broken, "-o", str(tmp_path / "c")],
            "report": ["report", broken],
            "bless": ["baseline", "bless", broken, "-o", str(tmp_path / "b")]}[command]
    proc = run_evalkit(*args)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    name = "samples.jsonl" if bad == "bad_samples" else "results.json"
    assert proc.stderr.startswith("evalkit: error: ") and f"{bad}/{name}" in proc.stderr
    assert "not UTF-8" in proc.stderr


@pytest.mark.slow  # real commands in processes: the full suite, not the fast tier
def test_history_leaves_out_a_run_whose_results_are_not_utf8(not_utf8_runs):
    proc = run_evalkit("history", str(not_utf8_runs))
    assert proc.returncode == 0, proc.stderr
    page = (not_utf8_runs / "index.html").read_text(encoding="utf-8")
    assert "bad_results" in page and "not UTF-8" in page


@pytest.mark.slow  # whole runs' reports written and read: the full suite, not the fast tier
@pytest.mark.parametrize(("line", "field", "value"), [(1, "sample_index", True), (3, "metrics", 7.0)])
def test_report_refuses_a_sample_with_a_coerced_value(tmp_path, humaneval_tasks, line, field, value):
    """A hand-edited copy: `true` as an index made the sample collide with another (9 passed of 10)
    and a similarity of 7.0 made the mean 1.593; both were reported with exit 0."""
    run_dir = tmp_path / "copy"
    make_two_arm_run(run_dir, humaneval_tasks)
    path = run_dir / "samples.jsonl"
    lines = path.read_text().splitlines()
    obj = json.loads(lines[line - 1])
    obj[field] = {"edit_similarity": value} if field == "metrics" else value
    lines[line - 1] = json.dumps(obj)
    path.write_text("\n".join(lines) + "\n")
    said = f"copy/samples.jsonl:{line}: not a sample record ({field}"
    with pytest.raises(ConfigError, match=re.escape(said)):
        load_samples(run_dir)  # what `evalkit report` reads: its one line, exit 2


@pytest.mark.slow  # whole runs' reports written and read: the full suite, not the fast tier
@pytest.mark.parametrize(("text", "field"), [('"latency_s": 1e400', "latency_s"),
                                             ('"latency_s": NaN', "latency_s"),
                                             ('"latency_s": 1' + "0" * 400 + ".5", "latency_s"),
                                             ('"params": {"temperature": -Infinity}', "params.temperature")])
def test_report_refuses_a_number_that_is_not_finite(tmp_path, humaneval_tasks, text, field):
    """1e400 overflowed to inf and crashed the report's JSON (exit 3); NaN was taken silently."""
    run_dir = tmp_path / "copy"
    make_two_arm_run(run_dir, humaneval_tasks)
    path = run_dir / "samples.jsonl"
    lines = path.read_text().splitlines()
    key = text.split(":")[0]
    lines[1] = lines[1].replace("{", "{" + text + ", ", 1).replace(f", {key}:", ', "_was":', 1)
    path.write_text("\n".join(lines) + "\n")
    said = f"copy/samples.jsonl:2: not a sample record ({field}: not a finite number)"
    with pytest.raises(ConfigError, match=re.escape(said)):
        load_samples(run_dir)  # what `evalkit report` reads: its one line, exit 2


def test_load_results_refuses_a_number_that_is_not_finite(tmp_path, humaneval_tasks):
    make_two_arm_run(tmp_path, humaneval_tasks)
    path = tmp_path / "results.json"
    obj = json.loads(path.read_text())
    obj["statistics"]["confidence"] = float("nan")
    path.write_text(json.dumps(obj))  # as `NaN`, which json.loads reads back
    with pytest.raises(ConfigError, match=r"results.json: not a results.json \(statistics.confidence: "
                                          r"not a finite number\)"):
        load_results(tmp_path)


@pytest.fixture(scope="module")
def bom_runs(tmp_path_factory, humaneval_tasks):
    """A good run, and a copy whose samples.jsonl and results.json a Windows editor saved with a UTF-8 BOM."""
    root = tmp_path_factory.mktemp("bom")
    make_two_arm_run(root / "good", humaneval_tasks)
    make_two_arm_run(root / "bom", humaneval_tasks)
    for name in ("samples.jsonl", "results.json"):
        path = root / "bom" / name
        path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    # another run to compare both with: compare refuses a run (and its copy) beside itself
    make_two_arm_run(root / "other", humaneval_tasks)
    results = json.loads((root / "other" / "results.json").read_text())
    (root / "other" / "results.json").write_text(json.dumps(results | {"run_id": "run3"}))
    return root


def test_a_copy_saved_with_a_bom_or_crlf_is_the_same_run(bom_runs, tmp_path):
    # its first line began with the mark, or ended in CR, so bless, history and compare took the copy
    # for another run
    good = results.run_identity(bom_runs / "good", "run1")
    assert results.run_identity(bom_runs / "bom", "run1") == good
    crlf = tmp_path / "crlf"
    crlf.mkdir()
    lines = (bom_runs / "good" / "samples.jsonl").read_bytes()
    (crlf / "samples.jsonl").write_bytes(lines.replace(b"\n", b"\r\n"))
    assert results.run_identity(crlf, "run1") == good


@pytest.mark.slow  # real commands in processes: the full suite, not the fast tier
@pytest.mark.parametrize("command", ["gate", "gate-baseline", "gate-blessed", "compare", "report", "bless"])
def test_run_files_with_a_utf8_bom_are_read_as_evalkit_score_reads_them(bom_runs, tmp_path, command):
    """Each command ends as it does on the same files without the BOM (this run's gate: an ERROR, exit 2,
    for arm A's infra errors), never with `malformed JSON (Unexpected UTF-8 BOM ...)`."""
    good, third = str(bom_runs / "good"), str(bom_runs / "other")  # the gate refuses a run against itself

    def args(other: str, out: Path) -> list[str]:
        if command == "gate-blessed":  # a blessed baseline file saved with a BOM
            assert run_evalkit("baseline", "bless", good, "-o", str(out / "b")).returncode == 0
            baseline = next((out / "b").glob("*.json"))
            if other != good:
                baseline.write_bytes(b"\xef\xbb\xbf" + baseline.read_bytes())
            return ["gate", "--baseline", str(baseline), "--candidate", third, "-o", str(out / "g")]
        return {"gate": ["gate", "--baseline", third, "--candidate", other, "-o", str(out / "g")],
                "gate-baseline": ["gate", "--baseline", other, "--candidate", third, "-o", str(out / "g")],
                "compare": ["compare", str(bom_runs / "other"), other, "-o", str(out / "c")],
                "report": ["report", other],
                "bless": ["baseline", "bless", other, "-o", str(out / "b")]}[command]

    proc = run_evalkit(*args(str(bom_runs / "bom"), tmp_path / "bom"))
    assert "BOM" not in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    without = run_evalkit(*args(good, tmp_path / "good"))
    assert proc.returncode == without.returncode, proc.stderr
    assert proc.stderr == without.stderr.replace(good, str(bom_runs / "bom"))


def test_a_run_given_as_dot_is_named_by_its_folder(tmp_path, monkeypatch):
    # `cd runs/mixtral && evalkit baseline bless .` wrote humaneval_.json; `evalkit compare . ../b`
    # wrote reports/compare/-vs-b
    (tmp_path / "mixtral").mkdir()
    (tmp_path / "sweep" / "3").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "mixtral")
    assert run_name_of(".") == run_name_of(Path.cwd()) == "mixtral"
    monkeypatch.chdir(tmp_path / "sweep" / "3")
    assert run_name_of(".") == "sweep-3" and run_name_of("../3/") == "sweep-3"
