"""compare() across finished runs: label clashes, shared tasks, flips, paired statistics."""

from __future__ import annotations

import dataclasses
import json
import shutil

import pandas as pd
import pytest

from evalkit.config import ConfigError, ReportConfig
from evalkit.records import COMPARISON_SCHEMA_VERSION, Status
from evalkit.reporting import compare, write_reports
from evalkit.reporting.paired import compare_pairs
from evalkit.results import load_comparison, load_samples
from tests.support.cli import run_evalkit
from tests.support.runs import SCORING, arm_spec, make_two_arm_run, run_header, sample, write_samples


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory, humaneval_tasks):
    """run1: arms A and B on tasks 0-9 (see test_reporting). run2: arm A again, one sample per task
    on tasks 0-11, where task 2 now fails and tasks 8 and 9 pass."""
    root = tmp_path_factory.mktemp("reports")
    make_two_arm_run(root / "run1", humaneval_tasks)
    outcome = [Status.FAILED if i == 2 else Status.PASSED for i in range(12)]
    write_samples(root / "run2", [sample("run2", "A", task, 0, status, latency=0.3)
                                  for task, status in zip(humaneval_tasks[:12], outcome, strict=True)])
    write_reports(root / "run2", run_header("run2", 12, started_at="2026-11-27T08:00:00Z"),
                  [arm_spec("A", "1.0.0", False)], SCORING, ReportConfig())
    return root


def _flipped(summary: dict, arm: str) -> tuple[list[str], list[str]]:
    """(tasks whose pass rate fell, tasks whose rose) of ``arm`` in comparison.json, in listed order."""
    flips = [f for f in summary["flips"] if f["arm"] == arm]
    fell = [f["task_id"] for f in flips
            if f["arm_passed"] / f["arm_n"] < f["baseline_passed"] / f["baseline_n"]]
    return fell, [f["task_id"] for f in flips if f["task_id"] not in fell]


@pytest.mark.slow  # real worker processes or whole reports: the full suite, not the fast tier
def test_compare_aligns_and_finds_flips(two_runs, tmp_path):
    report = compare([two_runs / "run1", two_runs / "run2"], tmp_path / "out")
    assert report == tmp_path / "out" / "report.html"
    summary = json.loads((tmp_path / "out" / "comparison.json").read_text())
    # "A" is in both runs, so both get their run's name; "B" is unique and stays as is.
    assert [a["arm"] for a in summary["arms"]] == ["run1/A", "B", "run2/A"]
    assert summary["baseline"] == "run1/A" and summary["shared_tasks"] == 10
    run2 = summary["arms"][2]
    assert run2["n_tasks"] == 10 and run2["pass_at_k"]["1"]["value"] == pytest.approx(0.9)
    assert run2["pass_at_k"]["2"]["value"] is None  # one sample per task: n/a, with its reason
    # task 9 was infra_error only in run1/A: not a flip, it has no outcome to compare
    assert _flipped(summary, "run2/A") == (["HumanEval/2"], ["HumanEval/8"])
    assert _flipped(summary, "B")[0] == ["HumanEval/4", "HumanEval/5", "HumanEval/6", "HumanEval/7"]
    two = next(f for f in summary["flips"] if f["arm"] == "run2/A" and f["task_id"] == "HumanEval/2")
    assert (two["baseline_passed"], two["baseline_n"], two["arm_passed"], two["arm_n"]) == (2, 2, 0, 1)
    assert not two["significant"]  # 2/2 -> 0/1 is no evidence (Fisher p = 0.33)
    # and as its typed record, as a notebook loads it (comparison.json had no record, schema or loader)
    typed = load_comparison(tmp_path / "out")
    assert typed.schema_version == COMPARISON_SCHEMA_VERSION and typed.to_json() == summary
    assert [r.name for r in typed.runs] == ["run1", "run2"]
    assert typed.arms[2].pass_at_k[1].value == pytest.approx(0.9)
    assert {(f.arm, f.task_id) for f in typed.flips if f.change < 0} >= {("run2/A", "HumanEval/2")}
    diffs = [d for d in summary["differences"] if d["measure"] == "pass@1"]
    assert {d["arm"] for d in diffs} == {"B", "run2/A"}
    for d in diffs:  # two arms against one baseline: Holm never lowers a p-value
        assert d["p_adjusted"] >= d["p_value"] and d["ci_low"] <= d["diff"] <= d["ci_high"]
    b = next(d for d in diffs if d["arm"] == "B")
    assert b["diff"] == pytest.approx((4 - 8) / 9 + 1 / 9)

    md = (tmp_path / "out" / "report.md").read_text()
    assert "2 tasks of run run2 are not in every run" in md
    assert "B [synthetic (demo)]" in md and "## Template diff: mistral 1.0.0 (run1/A) -> 1.1.0 (B)" in md
    assert md.count("## Template diff") == 1  # run2/A has run1/A's template: no second diff
    html = report.read_text()
    assert html.count("data:image/png;base64,") == 4 and "http://" not in html
    # the flip shows both arms' code: run1/A's passing reference and run2/A's wrong answer
    flip_html = html[html.index("<h4>HumanEval/2 2/2→0/1"):]
    flip_html = flip_html[:flip_html.index("</table>")]
    assert "# wrong" in flip_html and "passed" in flip_html and "failed" in flip_html


@pytest.mark.slow  # real worker processes or whole reports: the full suite, not the fast tier
def test_compare_baseline_choice(two_runs, tmp_path):
    compare([two_runs / "run1", two_runs / "run2"], tmp_path / "b", baseline_arm="B")
    assert json.loads((tmp_path / "b" / "comparison.json").read_text())["baseline"] == "B"
    with pytest.raises(ConfigError, match="in several runs; name one of: run1/A, run2/A"):
        compare([two_runs / "run1", two_runs / "run2"], tmp_path / "c", baseline_arm="A")  # ambiguous
    with pytest.raises(ConfigError, match="not among the compared arms"):
        compare([two_runs / "run1", two_runs / "run2"], tmp_path / "c", baseline_arm="Z")
    compare([two_runs / "run1", two_runs / "run2"], tmp_path / "d", baseline_arm="run2/A")
    summary = json.loads((tmp_path / "d" / "comparison.json").read_text())
    assert _flipped(summary, "run1/A") == (["HumanEval/8"], ["HumanEval/2"])


def test_compare_rejects_disjoint_and_missing_runs(two_runs, tmp_path, humaneval_tasks):
    other = tmp_path / "other"
    write_samples(other, [sample("o", "Z", humaneval_tasks[50], 0, Status.PASSED)])
    write_reports(other, run_header("o", 1), [], SCORING, ReportConfig(formats=(), plots=False))
    with pytest.raises(ConfigError, match="share no task ids"):
        compare([two_runs / "run1", other], tmp_path / "x")
    with pytest.raises(ConfigError, match="no results.json"):
        compare([tmp_path / "nowhere"], tmp_path / "y")
    # one run twice, or its folder copied: it was compared with itself as two arms, without a word
    copy = shutil.copytree(two_runs / "run1", tmp_path / "run1-copy")
    for pair in ([two_runs / "run1", two_runs / "run1"], [two_runs / "run1", copy]):
        with pytest.raises(ConfigError, match=r"are one run \(a copy of its folder, or the same folder"):
            compare(pair, tmp_path / "z")


def test_mcnemar_with_one_sample_per_task(two_runs):
    """One sample per task in both arms: the pass@1 test is McNemar's exact test."""
    frame = load_samples(two_runs / "run2")
    passes = [i >= 6 or i == 2 for i in range(len(frame))]
    other = frame.assign(arm="C", passed=passes,
                         status=[Status.PASSED if p else Status.FAILED for p in passes])
    comparison = compare_pairs(pd.concat([frame, other], ignore_index=True), [("A", "C")], SCORING)
    row = comparison.diff("C")
    assert row.test == "mcnemar"
    # C fails tasks 0-5 where A passed 0, 1, 3, 4, 5, and passes task 2 which A failed
    assert row.diff == pytest.approx(7 / 12 - 11 / 12)
    assert row.p_value == pytest.approx(0.21875)  # two-sided binomial, 1 of 6 discordant
    assert sorted(f.task_id for f in comparison.flips_of("C") if f.change < 0) == [
        f"HumanEval/{t}" for t in (0, 1, 3, 4, 5)]


@pytest.mark.slow  # real commands in processes: the full suite, not the fast tier
@pytest.mark.parametrize("target", ["run1", "run2", "samples_only"])
def test_compare_refuses_to_write_into_a_run_directory(two_runs, tmp_path, target):
    for name in ("run1", "run2"):
        shutil.copytree(two_runs / name, tmp_path / name)
    (tmp_path / "samples_only").mkdir()  # a run still generating: samples.jsonl, no results.json yet
    shutil.copy(two_runs / "run2" / "samples.jsonl", tmp_path / "samples_only")
    before = {p: p.read_bytes() for p in (tmp_path / target).iterdir()}
    proc = run_evalkit("compare", str(tmp_path / "run1"), str(tmp_path / "run2"),
                       "-o", str(tmp_path / target))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr.startswith("evalkit: error: ") and len(proc.stderr.strip().splitlines()) == 1
    assert "is a run directory" in proc.stderr and str(tmp_path / target) in proc.stderr
    # nothing overwritten, nothing added
    assert {p: p.read_bytes() for p in (tmp_path / target).iterdir()} == before


@pytest.mark.slow  # real worker processes or whole reports: the full suite, not the fast tier
def test_a_run_that_exited_2_is_compared_and_said_to_have(two_runs, tmp_path):
    # gate and bless refuse such a run; compare showed it as any other
    failed = tmp_path / "run2"
    shutil.copytree(two_runs / "run2", failed)
    results = json.loads((failed / "results.json").read_text())
    problem = "arm A: 3 of 12 samples got no answer (0 refused, 3 failed after every retry)"
    (failed / "results.json").write_text(json.dumps(results | {"problems": [problem, "another"]}))
    compare([two_runs / "run1", failed], tmp_path / "out")
    report = (tmp_path / "out" / "report.md").read_text()
    said = f"Run run2 exited 2, so its numbers may not be the measure they seem: {problem} (and 1 more)."
    assert said in report
    assert "exited 2" not in compare_text(two_runs, tmp_path / "clean")


def compare_text(two_runs, out) -> str:
    compare([two_runs / "run1", two_runs / "run2"], out)
    return (out / "report.md").read_text()


def _night(folder, humaneval_tasks, versions, seed=1234, oracle=True):
    """A run of mimic at ``versions`` (arm ``mimic@<version>``, or ``mimic`` alone), beside an oracle,
    drawn with run seed ``seed`` (run.json); mimic 1.0.0 passes 3 of 10 tasks, 1.1.0 9 of 10."""
    passes = {"1.0.0": 3, "1.1.0": 9}
    specs = [arm_spec("oracle", "1.1.0", False)] if oracle else []
    specs += [dataclasses.replace(arm_spec("mimic" if len(versions) == 1 else f"mimic@{version}", version,
                                           False), model="model-mimic") for version in versions]
    passed = {spec.arm: 10 if spec.arm == "oracle" else passes[spec.template.version] for spec in specs}
    write_samples(folder, [
        dataclasses.replace(sample(folder.name, spec.arm, task, i, Status.PASSED if t < passed[spec.arm]
                                   else Status.FAILED, version=spec.template.version), model=spec.model)
        for spec in specs for t, task in enumerate(humaneval_tasks[:10]) for i in range(2)])
    (folder / "run.json").write_text(json.dumps({"run_id": folder.name, "seed": seed}))
    write_reports(folder, run_header(folder.name, 10), specs, SCORING, ReportConfig(formats=(), plots=False))
    return folder


def _compared(runs, out, baseline_arm=None) -> set[tuple[str, str]]:
    """The (baseline, arm) pairs comparison.json's pass@1 differences compare (each once: asserted)."""
    compare(runs, out, baseline_arm)
    summary = json.loads((out / "comparison.json").read_text())
    pairs = [(d["baseline"], d["arm"]) for d in summary["differences"] if d["measure"] == "pass@1"]
    assert len({frozenset(pair) for pair in pairs}) == len(pairs), pairs  # no pair twice, either way round
    return set(pairs)


@pytest.mark.slow  # whole comparison reports: the full suite, not the fast tier
def test_two_nights_of_one_template_change_compare_the_versions_within_each_night(tmp_path, humaneval_tasks):
    # Two runs of one configuration (oracle, mimic 1.0.0 and 1.1.0): each run's mimic arms were one
    # group with every version twice, so neither night's template change was compared
    # and each arm is compared with itself the night before (a new user's finding: every arm was set
    # against mon/oracle alone, and tue's mimic@1.1.0 never against mon's)
    nights = [_night(tmp_path / night, humaneval_tasks, ("1.0.0", "1.1.0")) for night in ("mon", "tue")]
    pairs = _compared(nights, tmp_path / "out")
    assert {pair for pair in pairs if pair[0] != "mon/oracle"} == {
        ("mon/mimic@1.0.0", "mon/mimic@1.1.0"), ("tue/mimic@1.0.0", "tue/mimic@1.1.0"),
        ("mon/mimic@1.0.0", "tue/mimic@1.0.0"), ("mon/mimic@1.1.0", "tue/mimic@1.1.0")}
    assert ("mon/oracle", "tue/oracle") in pairs  # already against the baseline: not twice
    # nor, the baseline in the later night, the other way round (the reviewer's trial: both ways, with
    # Holm's correction over 40 comparisons for 36)
    assert ("tue/oracle", "mon/oracle") in _compared(nights, tmp_path / "out2", "tue/oracle")
    report = (tmp_path / "out" / "report.md").read_text()
    # the template diff shown is of a pair the report compares, not one across the nights
    assert "## Template diff: mistral 1.0.0 (mon/mimic@1.0.0) -> 1.1.0 (mon/mimic@1.1.0)" in report


@pytest.mark.slow  # whole comparison reports: the full suite, not the fast tier
def test_a_sweep_over_template_versions_and_seeds_compares_each_seed_s_versions(tmp_path, humaneval_tasks):
    # prompt.version x seed, one arm a job: jobs 1 and 3 (seed 2) were never compared, each version
    # twice in one group split into runs of one version each
    jobs = [_night(tmp_path / str(n), humaneval_tasks, (version,), seed=seed, oracle=False)
            for n, (version, seed) in enumerate([("1.0.0", 1), ("1.0.0", 2), ("1.1.0", 1), ("1.1.0", 2)])]
    pairs = _compared(jobs, tmp_path / "sweep")
    assert ("1/mimic", "3/mimic") in pairs
    assert {("0/mimic", "1/mimic"), ("2/mimic", "3/mimic")} <= pairs  # one template, two seeds
    # a night of both versions beside two jobs of one each (the run seed alike): both changes compared
    mixed = [_night(tmp_path / "night", humaneval_tasks, ("1.0.0", "1.1.0")),
             _night(tmp_path / "j1", humaneval_tasks, ("1.0.0",), oracle=False),
             _night(tmp_path / "j2", humaneval_tasks, ("1.1.0",), oracle=False)]
    pairs = _compared(mixed, tmp_path / "mixed")
    assert {pair for pair in pairs if pair[0] != "oracle"} == {("mimic@1.0.0", "mimic@1.1.0"),
                                                               ("j1/mimic", "j2/mimic")}
