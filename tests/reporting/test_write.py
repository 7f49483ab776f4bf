"""write_reports on a run with known outcomes (tests.support.runs): results.json numbers, junit.xml,
metrics.txt, md/html."""

from __future__ import annotations

import dataclasses
import json
import re
import xml.etree.ElementTree as ET

import pytest

from evalkit.config import ReportConfig, ScoringConfig
from evalkit.metrics import minimum_detectable_effect, planning_rate
from evalkit.records import SCHEMA_VERSION, RunResults, Status, printable
from evalkit.reporting import write_reports
from evalkit.reporting.paired import MAX_FLIPS
from evalkit.reporting.terminal import summary_table
from evalkit.reporting.view import mde_text, p_text, template_diffs
from evalkit.reporting.write import recorded_scoring
from evalkit.results import load_results
from tests.support.runs import (
    SCORING,
    SOURCES,
    TWO_ARMS,
    arm_spec,
    make_two_arm_run,
    run_header,
    sample,
    template,
    two_arm_samples,
    write_samples,
)


@pytest.fixture(scope="module")
def two_arm_run(tmp_path_factory, humaneval_tasks):
    run_dir = tmp_path_factory.mktemp("run") / "run1"
    return run_dir, make_two_arm_run(run_dir, humaneval_tasks)


def test_results_json_numbers(two_arm_run):
    run_dir, results = two_arm_run
    assert RunResults.from_json(json.loads((run_dir / "results.json").read_text())) == results
    a, b = results.arms
    assert (a.arm, b.arm) == ("A", "B")
    # infra_error samples leave the denominators: A passes 8 of its 9 scorable tasks.
    assert a.pass_at_k[1].value == pytest.approx(8 / 9)
    assert a.pass_at_k[2].value == pytest.approx(8 / 9)
    assert b.pass_at_k[1].value == pytest.approx(0.5)
    assert b.pass_at_k_lenient[1].value == pytest.approx(0.6)
    assert a.pass_at_k[1].ci_low <= 8 / 9 <= a.pass_at_k[1].ci_high
    for arm in (a, b):  # n=2 < k=10: shown as n/a with a reason, never dropped
        assert arm.pass_at_k[10].value is None and arm.pass_at_k[10].reason
    assert [a.verdicts[s] for s in (Status.PASSED, Status.FAILED, Status.INFRA_ERROR)] == [16, 2, 2]
    assert b.verdicts[Status.SYNTAX_ERROR] == 2 and b.verdicts[Status.EMPTY] == 2
    assert sum(b.verdicts.values()) == 20
    assert (a.n_tasks, a.n_samples, a.n_tasks_scored, b.n_tasks_scored) == (10, 2, 9, 10)
    assert b.metrics["exact_match"].value == pytest.approx(0.5)
    assert a.latency_s.p50 == pytest.approx(0.45) and b.latency_s.p95 == pytest.approx(1.1)
    assert (b.tokens.prompt, b.tokens.completion) == (2000, 800)
    assert b.cost == pytest.approx(2000 / 1000 * 0.5 + 800 / 1000 * 1.5)
    assert (a.synthetic, b.synthetic) == (False, True)
    assert a.template == template("1.0.0")
    written = json.loads((run_dir / "results.json").read_text())
    assert written["schema_version"] == SCHEMA_VERSION
    assert written["arms"][0]["template"] == {"family": "mistral", "version": "1.0.0",
                                              "sha256": template("1.0.0").sha256}
    assert "source_text" not in json.dumps(written["arms"])
    assert results.templates[template("1.1.0").sha256].source_text == SOURCES["1.1.0"]
    assert results.dataset.n_tasks == 10 and results.host.isolation == "process"


def test_markdown_report(two_arm_run):
    run_dir, _ = two_arm_run
    text = (run_dir / "report.md").read_text()
    assert "B [synthetic (demo)]" in text
    assert "lenient pass@1" in text and "n/a (" in text
    assert "0.889 [" in text and "0.500 [" in text
    assert "## Template diff: mistral 1.0.0 (A) -> 1.1.0 (B)" in text
    assert "+Return only code." in text and "-system: You are a coding assistant." in text
    assert "B vs A: pass rate fell on 4 tasks (0 significant), rose on 1 (0 significant)" in text
    # the flip tables' last columns show a failing sample and say whose: the arm's where its rate fell,
    # the baseline's where it rose (a new user's finding: they showed B's "passed", blank, there)
    fell = text[text.index("### B vs A: pass rate fell"):text.index("### B vs A: pass rate rose")]
    rose = text[text.index("### B vs A: pass rate rose"):text.index("## Template diff")]
    assert "| a failing sample of B | its detail |" in fell
    assert "| a failing sample of A | its detail |" in rose
    assert "| HumanEval/6 | 2/2 | 0/2 | -1.00 | 0.6 | sample 0: timeout | timeout: AssertionError" in fell
    assert "| HumanEval/8 | 0/2 | 2/2 | +1.00 | 0.6 | sample 0: failed | failed: AssertionError" in rose
    # 10 tasks: every sign pattern is counted, so p is exact, not an estimate (a new user's reading);
    # beyond, how many flips an estimate drew, and so its floor (every p read 0.0002, unexplained)
    flips = re.search(r"exact \(every sign pattern counted\) where at most 20 tasks .* differ, else "
                      r"estimated from ([\d,]+) random sign flips, so never below ([\d.e-]+)\.", text)
    # why identical arms read [-x, x] on pass@1 and [0, 0] beside it (a new user's reading)
    assert "pass@1's never narrower than the spread sampling alone gives a rerun" in text
    assert flips and float(flips[2]) == pytest.approx(1 / (int(flips[1].replace(",", "")) + 1), rel=0.1)
    assert "## Paired differences vs A" in text
    # what "significant" means beside an interval at its own level (a researcher's trial)
    comparisons = re.search(r"Holm's correction over the report's (\d+) comparisons, so an interval", text)
    assert comparisons and int(comparisons[1]) == sum(line.startswith("| B | ") for line in text.splitlines())
    # results.json carries the same paired differences, interval and p-values as the report shows
    results = load_results(run_dir)
    assert len(results.differences) == int(comparisons[1])
    pass1 = next(d for d in results.differences if d.measure == "pass@1")
    assert (pass1.arm, pass1.baseline, pass1.n_tasks) == ("B", "A", 9)
    shown = f"| B | pass@1 | 9 | {pass1.diff:.3f} [{pass1.ci_low:.3f}, {pass1.ci_high:.3f}] |"
    assert shown in text, shown
    assert "with 95% bootstrap intervals" in text
    assert "lenient one (the first fenced block of the raw answer)" in text
    assert "faithful reading (the template's post-processing, as the gateway does it)" in text
    for png in ("pass_at_k.png", "task_outcomes.png", "latency.png", "paired_differences.png"):
        assert (run_dir / png).stat().st_size > 1000
        assert f"({png})" in text


def test_html_is_self_contained(two_arm_run):
    run_dir, _ = two_arm_run
    html = (run_dir / "report.html").read_text()
    assert html.count('src="data:image/png;base64,') == 4
    assert "http://" not in html and "https://" not in html
    assert not re.search(r'(src|href)="(?!data:)', html)
    assert "<script" not in html
    assert "synthetic (demo)" in html
    # the flipped task's code on both sides: the reference solution (A) against B's wrong answer
    assert "HumanEval/4" in html and "# wrong" in html
    assert '<span class="add">+Return only code.</span>' in html


def test_p_values_below_a_ten_thousandth_are_not_zero():
    # A new user's finding: an exact test's p of 2e-07 read 0.0000 in `evalkit compare`
    assert [p_text(p) for p in (0.05, 0.0002, 2e-07, 0.0, 1.0)] == ["0.0500", "0.0002", "2.0e-07", "0.0000",
                                                                   "1.0000"]


def test_a_pair_with_more_changed_tasks_than_listed_says_where_every_one_is(tmp_path, humaneval_tasks):
    # A new user's trial: "(64 more not listed)" said nothing of where the other 64 were
    rows = [sample("run1", arm, task, i, Status.FAILED if arm == "B" else Status.PASSED,
                   version="1.0.0" if arm == "A" else "1.1.0")
            for task in humaneval_tasks[:MAX_FLIPS + 3] for arm in "AB" for i in range(2)]
    write_samples(tmp_path, rows)
    write_reports(tmp_path, run_header("run1", MAX_FLIPS + 3), TWO_ARMS, SCORING, ReportConfig(plots=False))
    assert ("(3 more not listed; comparison.json lists every one: beside this report where `evalkit compare` "
            "wrote it, else `evalkit compare RUN_DIR` writes it)" in (tmp_path / "report.md").read_text())


def test_junit_xml(two_arm_run):
    run_dir, _ = two_arm_run
    root = ET.parse(run_dir / "junit.xml").getroot()
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == ["A", "B [synthetic (demo)]", "B vs A: per-task pass rate"]
    a, b, fell = suites
    # B's pass rate fell on tasks 4-7 (2/2 -> 0/2): listed, but two samples are no evidence of a change
    assert [c.get("name") for c in fell.findall("testcase")] == [f"HumanEval/{i}" for i in (4, 5, 6, 7)]
    assert fell.get("failures") == "0" and "2/2→0/2" in fell.find("testcase/system-out").text
    assert len(a.findall("testcase")) == 10 and len(b.findall("testcase")) == 10
    assert (a.get("failures"), a.get("errors"), b.get("failures"), b.get("errors")) == ("1", "1", "5", "0")
    failed_a = [c.get("name") for c in a.findall("testcase") if c.find("failure") is not None]
    errored_a = [c.get("name") for c in a.findall("testcase") if c.find("error") is not None]
    assert failed_a == ["HumanEval/8"] and errored_a == ["HumanEval/9"]
    failed_b = [c.get("name") for c in b.findall("testcase") if c.find("failure") is not None]
    assert failed_b == [f"HumanEval/{i}" for i in (4, 5, 6, 7, 9)]
    assert b.find("testcase[@name='HumanEval/6']/failure").get("type") == "timeout"
    assert root.get("tests") == "24"


def test_junit_writes_no_regression_suite_for_a_pair_whose_pass_rates_only_rose(tmp_path, humaneval_tasks):
    # A reviewer's finding: B, better than A on two tasks and worse on none, got a suite "B vs A:
    # per-task pass rate" of no tests
    tasks = humaneval_tasks[:4]
    rows = [sample("run1", arm, task, i, Status.FAILED if arm == "A" and t < 2 else Status.PASSED,
                   version="1.0.0" if arm == "A" else "1.1.0")
            for t, task in enumerate(tasks) for arm in "AB" for i in range(2)]
    write_samples(tmp_path, rows)
    write_reports(tmp_path, run_header("run1", 4), TWO_ARMS, SCORING, ReportConfig())
    assert "B vs A: pass rate rose on 2 tasks" in (tmp_path / "report.md").read_text()
    root = ET.parse(tmp_path / "junit.xml").getroot()
    assert [s.get("name") for s in root.findall("testsuite")] == ["A", "B [synthetic (demo)]"]
    assert root.get("tests") == "8"


def test_a_compared_pair_on_which_no_task_changed_says_so(tmp_path, humaneval_tasks):
    # A new user's finding: a template change that changed nothing read "B vs A: pass rate " and stopped
    rows = [sample("run1", arm, task, i, Status.FAILED if t == 0 else Status.PASSED,
                   version="1.0.0" if arm == "A" else "1.1.0")
            for t, task in enumerate(humaneval_tasks[:3]) for arm in "AB" for i in range(2)]
    write_samples(tmp_path, rows)
    write_reports(tmp_path, run_header("run1", 3), TWO_ARMS, SCORING, ReportConfig())
    assert "- B vs A: pass rate unchanged on every task\n" in (tmp_path / "report.md").read_text()


def test_a_task_the_model_passes_now_and_then_is_a_junit_failure_naming_how_often(tmp_path, humaneval_tasks):
    # A researcher's trial: a testcase passed when any sample passed, and an arm of pass@1 0.56 showed
    # 164 tests and no failure in a CI test view
    outcomes = [[Status.PASSED] * 4, [Status.PASSED, Status.FAILED, Status.PASSED, Status.TIMEOUT],
                [Status.FAILED] * 4]
    write_samples(tmp_path, [sample("run1", "A", task, i, status)
                             for task, statuses in zip(humaneval_tasks[:3], outcomes, strict=True)
                             for i, status in enumerate(statuses)])
    write_reports(tmp_path, run_header("run1", 3), TWO_ARMS[:1], SCORING,
                  ReportConfig(formats=(), plots=False))
    suite = ET.parse(tmp_path / "junit.xml").getroot().find("testsuite")
    assert (suite.get("tests"), suite.get("failures")) == ("3", "2")
    failures = {c.get("name"): c.find("failure") for c in suite.findall("testcase")}
    partly = failures["HumanEval/1"]
    assert failures["HumanEval/0"] is None
    assert partly.get("message") == "2 of 4 scored samples failed (1 failed, 2 passed, 1 timeout)"
    assert partly.get("type") == "failed" and partly.text.startswith("sample 1")
    assert failures["HumanEval/2"].get("message").startswith("no sample passed")


_LABEL = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*"'
_SAMPLE_LINE = re.compile(rf"^([a-zA-Z_:][a-zA-Z0-9_:]*)\{{((?:{_LABEL},?)*)\}} (\S+)$")


def test_metrics_txt_is_openmetrics(two_arm_run):
    run_dir, results = two_arm_run
    text = (run_dir / "metrics.txt").read_text()
    assert text.endswith("# EOF\n")
    lines = text.splitlines()
    assert lines.count("# EOF") == 1
    declared, values = set(), {}
    for line in lines[:-1]:
        if line.startswith("#"):
            kind, name = line.split()[1:3]
            assert kind in {"TYPE", "HELP", "UNIT"}
            declared.add(name)
            continue
        match = _SAMPLE_LINE.match(line)
        assert match, line
        assert match.group(1) in declared
        float(match.group(3))
        values[(match.group(1), match.group(2))] = float(match.group(3))
    key = ('evalkit_pass_at_k', 'arm="A",model="model-A",synthetic="false",k="1",reading="faithful"')
    assert values[key] == pytest.approx(8 / 9)
    assert not any('k="10"' in labels for _, labels in values)  # undefined: left out, not NaN
    assert values[("evalkit_samples", 'arm="B",model="model-B",synthetic="true",status="empty"')] == 2
    # A's tenth task has only infra_error samples: 9 scored tasks (pass@k's), not 10 (full coverage)
    assert values[("evalkit_tasks", 'arm="A",model="model-A",synthetic="false"')] == 9
    assert values[("evalkit_tasks_sampled", 'arm="A",model="model-A",synthetic="false"')] == 10


def test_report_config_turns_outputs_off(tmp_path, humaneval_tasks):
    write_samples(tmp_path, two_arm_samples(humaneval_tasks[:10]))
    results = write_reports(tmp_path, run_header("run1", 10), TWO_ARMS,
                            ScoringConfig(k=(1,), lenient=False, bootstrap_resamples=50),
                            ReportConfig(formats=("md",), plots=False))
    assert not list(tmp_path.glob("*.png")) and not (tmp_path / "report.html").exists()
    assert (tmp_path / "report.md").exists() and (tmp_path / "junit.xml").exists()
    assert results.arms[0].pass_at_k_lenient == {}


def test_results_json_is_written_last_so_a_run_stopped_in_its_reports_is_not_finished(
        tmp_path, humaneval_tasks, monkeypatch):
    # A nightly owner's trial: Ctrl-C while the reports were written left results.json (the mark of a
    # finished run) without report.md, and every start of the same command was refused as finished
    write_samples(tmp_path, two_arm_samples(humaneval_tasks[:10]))

    def stopped(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr("evalkit.reporting.write.write_openmetrics", stopped)
    with pytest.raises(KeyboardInterrupt):
        write_reports(tmp_path, run_header("run1", 10), TWO_ARMS, SCORING, ReportConfig(plots=False))
    assert (tmp_path / "report.md").exists() and not (tmp_path / "results.json").exists()
    assert not list(tmp_path.glob(".results.json*"))


def test_rerender_from_results_json(two_arm_run, tmp_path):
    """`evalkit report` re-renders from a loaded results.json: same numbers, diff still shown."""
    run_dir, results = two_arm_run
    (tmp_path / "samples.jsonl").write_text((run_dir / "samples.jsonl").read_text())
    loaded = load_results(run_dir)
    again = write_reports(tmp_path, loaded, [arm.spec for arm in loaded.arms], recorded_scoring([loaded]),
                          ReportConfig())
    assert again == results
    assert "+Return only code." in (tmp_path / "report.md").read_text()


def test_unverified_verdicts_are_counted_and_named(tmp_path, humaneval_tasks):
    """Verdicts a program's own process decided are counted per arm and the report says so."""
    samples = two_arm_samples(humaneval_tasks[:10])
    in_process = [dataclasses.replace(s, verdict=dataclasses.replace(s.verdict, verified=False))
                  if s.arm == "B" and s.task_id in ("HumanEval/0", "HumanEval/1") else s for s in samples]
    write_samples(tmp_path, in_process)
    results = write_reports(tmp_path, run_header("run1", 10), TWO_ARMS, ScoringConfig(k=(1,)),
                            ReportConfig(formats=("md",), plots=False))
    assert [arm.unverified for arm in results.arms] == [0, 4]
    assert "which a hostile program could forge: B: 4." in (tmp_path / "report.md").read_text()


def test_a_task_whose_every_sample_failed_on_our_side_is_named_in_the_report(two_arm_run):
    # The tasks column said 10 while pass@1 was over 9: the report says which count is which.
    run_dir, _ = two_arm_run
    report = (run_dir / "report.md").read_text()
    assert ("A: 1 of its 10 tasks have no scored sample (every one infra_error); pass@k and the metrics "
            "are over the other 9.") in report
    assert report.count("have no scored sample") == 1  # B's every task has one
    # and the tables say it where the score stands (a nightly owner's trial: "tasks 10" beside a pass@1
    # over 3), the terminal's too
    assert "| A | model-A | mistral 1.0.0 (" in report and ") | 9 of 10 | 2 |" in report
    assert ") | 10 | 2 |" in report  # B
    lines = summary_table(load_results(run_dir)).splitlines()
    assert lines[0].split()[:2] == ["arm", "tasks"] and lines[1].split()[1:4] == ["9", "of", "10"]


def test_answers_cut_at_max_tokens_are_counted_and_named(tmp_path, humaneval_tasks):
    """An answer cut at max_tokens fails as the model's; the report says how many were, so a template
    whose answers run long is told apart from a model that writes wrong code."""
    samples = two_arm_samples(humaneval_tasks[:10])
    cut = [dataclasses.replace(s, finish_reason="length") if s.arm == "A" and s.sample_index == 0 else s
           for s in samples]
    write_samples(tmp_path, cut)
    results = write_reports(tmp_path, run_header("run1", 10), TWO_ARMS, ScoringConfig(k=(1,)),
                            ReportConfig(formats=("md",), plots=False))
    per_task = sum(1 for s in samples if s.arm == "A") // 10
    assert [arm.truncated for arm in results.arms] == [10, 0]
    assert json.loads((tmp_path / "results.json").read_text())["arms"][0]["truncated"] == 10
    report = (tmp_path / "report.md").read_text()
    assert f"(finish_reason length), scored as they came: A: 10 of {10 * per_task}; raise" in report


def test_arms_that_cover_part_of_the_dataset_are_named(tmp_path, humaneval_tasks):
    # samples for 10 tasks of a 164-task dataset (an `evalkit score` file of a few tasks)
    write_samples(tmp_path, two_arm_samples(humaneval_tasks[:10]))
    write_reports(tmp_path, run_header("part", 164), TWO_ARMS, ScoringConfig(k=(1,), bootstrap_resamples=50),
                  ReportConfig(formats=("md",), plots=False))
    report = (tmp_path / "report.md").read_text()
    assert "A: 10 of the dataset's 164 tasks have samples; its numbers are over those tasks only." in report


def test_arm_labels_from_a_config_cannot_add_blocks_or_columns_to_report_md(tmp_path, humaneval_tasks):
    # Labels come from the config or a scored file: a newline would start a heading of its own.
    label_a, label_b = "A | x", "B\n# injected heading"
    samples = [dataclasses.replace(s, arm={"A": label_a, "B": label_b}[s.arm])
               for s in two_arm_samples(humaneval_tasks[:10])]
    write_samples(tmp_path, samples)
    arms = tuple(dataclasses.replace(spec, arm={"A": label_a, "B": label_b}[spec.arm]) for spec in TWO_ARMS)
    write_reports(tmp_path, run_header("run1", 10), arms, SCORING, ReportConfig(plots=False))
    lines = (tmp_path / "report.md").read_text().splitlines()
    assert "# injected heading" not in lines
    assert [line for line in lines if line.startswith("#")][0].startswith("# ")  # the title alone
    assert "### B # injected heading vs A \\| x: pass rate fell" in lines
    assert "## Paired differences vs A \\| x" in lines
    assert any(line.startswith("| B # injected heading |") for line in lines)  # one row, its own cell
    assert any(line.startswith("| A \\| x |") for line in lines)


def test_arm_labels_in_the_report_s_notes_stay_in_their_note(tmp_path, humaneval_tasks):
    # The notes, the flip summary and the template diff's heading quoted a label raw: its newlines
    # made a table and a raw HTML block of their own.
    label = "B\n| x | y |\n<script>alert(1)</script>![i](http://evil.example/p.png)"
    samples = [dataclasses.replace(s, arm=label) if s.arm == "B" else s
               for s in two_arm_samples(humaneval_tasks[:10])]
    write_samples(tmp_path, samples)
    arms = tuple(dataclasses.replace(spec, arm=label) if spec.arm == "B" else spec for spec in TWO_ARMS)
    write_reports(tmp_path, run_header("run1", 164), arms, SCORING,
                  ReportConfig(formats=("md",), plots=False))
    text = (tmp_path / "report.md").read_text()
    outside_code = re.sub(r"```.*?```", "", text, flags=re.S)  # a fenced diff may quote it as it is
    assert not re.search(r"^(\| x|<script)", outside_code, re.M), outside_code
    assert "](http" not in outside_code  # no image fetched from wherever the label points
    shown = "B \\| x \\| y \\| &lt;script>alert(1)&lt;/script>![i]\\(http://evil.example/p.png)"
    assert f"> {shown}: 10 of the dataset's 164 tasks have samples" in text
    assert f"- {shown} vs A: pass rate fell on 4 tasks" in text


def test_junit_xml_parses_whatever_a_program_printed(tmp_path, humaneval_tasks):
    # A verdict's detail with a bell, a screen-clearing escape or a NUL made junit.xml a file no XML
    # parser (no CI test view) reads: "not well-formed (invalid token)".
    # A right-to-left override (U+202E) showed a CI view "boom" backwards, and the rest of the line.
    control = "\x1b[2J\x07\x00 boom\x0b \x9b31m \u202eexpected\u2066 x\u2069"
    samples = [dataclasses.replace(s, arm="A\x07", verdict=dataclasses.replace(s.verdict, detail=control))
               if s.arm == "A" else s for s in two_arm_samples(humaneval_tasks[:10])]
    write_samples(tmp_path, samples)
    arms = tuple(dataclasses.replace(spec, arm="A\x07") if spec.arm == "A" else spec for spec in TWO_ARMS)
    results = write_reports(tmp_path, run_header("run1", 10), arms, SCORING,
                            ReportConfig(formats=(), plots=False))
    root = ET.parse(tmp_path / "junit.xml").getroot()
    assert root.find("testsuite").get("name") == "A\ufffd"
    assert "A\ufffd " in summary_table(results) and "\x07" not in summary_table(results)  # the terminal's
    shown = "\ufffd[2J\ufffd\ufffd boom\ufffd \ufffd31m \ufffdexpected\ufffd x\ufffd"
    assert shown in (tmp_path / "junit.xml").read_text()
    assert printable("arm \u202eB") == "arm \ufffdB"


def test_the_report_does_not_promise_a_detectable_difference_beyond_1():
    # 1 task x 1 sample: "a pass@1 difference smaller than about 1.868 is unlikely to be detected"
    assert "no pass@1 difference, not even 1, is likely" in mde_text(minimum_detectable_effect(1, 1, 0.5))
    assert "smaller than about 0.155" in mde_text(minimum_detectable_effect(164, 1, 0.5))


def test_the_detectable_difference_is_said_for_each_pair_the_report_compares():
    # A researcher's trial: under "Paired differences vs demo-oracle" the default run said 0.039,
    # planned at the mean pass@1 of all three arms; the two pairs shown give 0.041 and 0.026.
    oracle, v1, v2 = 1.0, 0.560, 0.852
    said = mde_text([(arm, minimum_detectable_effect(164, 10, planning_rate([oracle, rate])))
                     for arm, rate in (("v1", v1), ("v2", v2))])
    assert "smaller than about 0.041 for v1, about 0.026 for v2 is unlikely to be detected" in said
    assert "for far no difference, not even 1, is likely" in mde_text([("near", 0.2), ("far", 1.4)])


def test_two_arms_that_pass_everything_still_say_what_the_run_could_have_detected(tmp_path, humaneval_tasks):
    # At a mean pass@1 of 1 the normal approximation has no variance: report.md said nothing of what
    # the run could detect, where the notebook planned at 0.5; both now plan with planning_rate
    samples = [sample("run1", arm, task, i, Status.PASSED, version=version)
               for task in humaneval_tasks[:10] for arm, version in (("A", "1.0.0"), ("B", "1.1.0"))
               for i in range(2)]
    write_samples(tmp_path, samples)
    write_reports(tmp_path, run_header("run1", 10), TWO_ARMS, SCORING,
                  ReportConfig(formats=("md",), plots=False))
    report = (tmp_path / "report.md").read_text()
    # planned at the level Holm's correction over the report's comparisons asks of a lone difference
    # (planned at 0.05, a difference of the size said was called significant 43% of the time, not 80%)
    comparisons = int(re.search(r"alpha 0.05 over the (\d+) comparisons, Holm", report)[1])
    assert comparisons == report.count("\n| B |") > 1
    expected = minimum_detectable_effect(10, 2, 0.5, alpha=0.05 / comparisons)
    assert f"a pass@1 difference smaller than about {expected:.3f} is unlikely" in report
    assert planning_rate([1.0, 1.0]) == planning_rate([0.0]) == 0.5
    assert planning_rate([0.25, 0.75]) == 0.5 and planning_rate([0.2, 0.4]) == pytest.approx(0.3)


def test_a_template_diff_shows_one_model_s_change_from_the_baseline_or_older_version(two_arm_run):
    # The demo's oracle (the baseline, on 1.1.0) paired with mimic on 1.0.0 showed a change "to" 1.0.0,
    # and `compare --baseline-arm mimic@1.0.0` did not move it; mimic's own 1.0.0 -> 1.1.0 never showed
    _, results = two_arm_run
    arm = results.arms[0]
    oracle = dataclasses.replace(arm, arm="oracle", model="oracle", template=template("1.1.0"))
    old = dataclasses.replace(arm, arm="mimic@1.0.0", model="mimic", template=template("1.0.0"))
    new = dataclasses.replace(arm, arm="mimic@1.1.0", model="mimic", template=template("1.1.0"))
    templates = run_header("run1", 10).templates
    for baseline in ("oracle", "mimic@1.0.0", None):
        (shown,) = template_diffs([oracle, old, new], templates, baseline)
        assert (shown.a, shown.b) == ("mimic@1.0.0", "mimic@1.1.0"), baseline
        assert shown.diff.startswith("--- mimic@1.0.0 (mistral 1.0.0)\n+++ mimic@1.1.0 (mistral 1.1.0)")
    (shown,) = template_diffs([oracle, new, old], templates, "mimic@1.1.0")  # the baseline leads its pair
    assert (shown.a, shown.b) == ("mimic@1.1.0", "mimic@1.0.0")
    (shown,) = template_diffs([oracle, old], templates, "oracle")  # two models: from the baseline
    assert (shown.a, shown.b) == ("oracle", "mimic@1.0.0")
    (shown,) = template_diffs([new, old], templates, None)  # no baseline: older to newer
    assert (shown.a_version, shown.b_version) == ("1.0.0", "1.1.0")


def test_arms_that_differ_only_in_sampling_say_so_in_the_score_table(tmp_path, humaneval_tasks):
    # Two jobs of a temperature sweep showed as two arms of one model and template, no temperature anywhere
    write_samples(tmp_path, two_arm_samples(humaneval_tasks[:10]))
    hot = dataclasses.replace(TWO_ARMS[1], params={"temperature": 0.8, "max_tokens": 512})
    write_reports(tmp_path, run_header("run1", 10), (TWO_ARMS[0], hot), SCORING,
                  ReportConfig(formats=("md",), plots=False))
    table = [line for line in (tmp_path / "report.md").read_text().splitlines() if line.startswith("| ")]
    assert "| arm | model | template | sampling | tasks |" in table[0]
    assert "| temperature=0.2 |" in table[1] and "| temperature=0.8 |" in table[2]
    assert "max_tokens" not in table[1]  # the same in both arms: left out


def test_tasks_with_different_sample_counts_show_the_range_in_the_score_table(tmp_path, humaneval_tasks):
    # A file scored as it is: one task of A has one sample, the others two; "2" read as every task's
    samples = [s for s in two_arm_samples(humaneval_tasks[:10])
               if not (s.arm == "A" and s.task_id == humaneval_tasks[0].task_id and s.sample_index == 1)]
    write_samples(tmp_path, samples)
    results = write_reports(tmp_path, run_header("short", 10), TWO_ARMS, SCORING,
                            ReportConfig(formats=("md",), plots=False))
    assert [(arm.fewest_samples, arm.n_samples) for arm in results.arms] == [(1, 2), (2, 2)]
    lines = (tmp_path / "report.md").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| arm | model |"))
    header, _, a, b = (line.split(" | ") for line in lines[start:start + 4])
    column = header.index("samples/task")
    assert (a[0], a[column]) == ("| A", "1 to 2") and (b[0], b[column]) == ("| B [synthetic (demo)]", "2")


def test_one_model_s_template_versions_are_compared_with_each_other_not_only_with_the_baseline(
        tmp_path, humaneval_tasks):
    # The demo's report set mixtral 1.0.0 and 2.0.0 each against the oracle: the template change
    # itself, what a run of two versions is for, had no difference, interval or test of its own.
    tasks = humaneval_tasks[:10]
    passes = {"oracle": 10, "M@1.0.0": 3, "M@1.1.0": 9, "M@1.0.0-hot": 2, "M@1.1.0-hot": 8}
    specs = [arm_spec("oracle", "1.1.0", False)]
    for label in list(passes)[1:]:
        version = label.split("@")[1].removesuffix("-hot")
        params = {"temperature": 0.8 if label.endswith("-hot") else 0.2,
                  # a template's own parameters change with it, and do not keep its versions apart
                  "max_tokens": 512, "stop": ["</code>"] if version == "1.1.0" else []}
        specs.append(dataclasses.replace(arm_spec(label, version, False), model="model-M", params=params))
    samples = [dataclasses.replace(sample("run1", spec.arm, task, i, Status.PASSED if t < passes[spec.arm]
                                          else Status.FAILED, version=spec.template.version),
                                   model=spec.model)
               for spec in specs for t, task in enumerate(tasks) for i in range(2)]
    write_samples(tmp_path, samples)
    write_reports(tmp_path, run_header("run1", 10), tuple(specs), SCORING,
                  ReportConfig(formats=("md",), plots=False))
    report = (tmp_path / "report.md").read_text()
    assert "## Paired differences\n" in report  # not all against one arm: the table says against which
    pass1 = {tuple(line.split(" | ")[:2]): line for line in report.splitlines()
             if " | pass@1 | " in line and line.startswith("| M@")}
    assert set(pass1) == {("| M@1.0.0", "oracle"), ("| M@1.1.0", "oracle"), ("| M@1.0.0-hot", "oracle"),
                          ("| M@1.1.0-hot", "oracle"), ("| M@1.1.0", "M@1.0.0"),
                          ("| M@1.1.0-hot", "M@1.0.0-hot")}  # not across temperatures
    assert "| 10 | 0.600 [" in pass1[("| M@1.1.0", "M@1.0.0")]  # 9 of 10 tasks against 3 of 10
    comparisons = int(re.search(r"Holm's correction over the report's (\d+) comparisons", report)[1])
    assert comparisons == 6 * 4  # pass@1, lenient pass@1, exact_match and edit_similarity of 6 pairs
    assert "- M@1.1.0 vs M@1.0.0: pass rate rose on 6 tasks (" in report
    assert "about " in report and " for M@1.1.0 vs M@1.0.0" in report  # what that pair could detect


def test_a_baseline_between_two_versions_is_compared_with_each_and_they_are_not_compared_across_it(
        tmp_path, humaneval_tasks):
    # The production template as the baseline (the first arm, or compare --baseline-arm): 3.0.0 against
    # 1.0.0 skipped the version between them, one more comparison for Holm's correction to pay for
    specs = [dataclasses.replace(arm_spec(f"M@{version}", version, False), model="model-M")
             for version in ("1.1.0", "1.0.0", "1.2.0")]
    samples = [dataclasses.replace(sample("run1", spec.arm, task, i, Status.PASSED if t < 5 + n
                                          else Status.FAILED, version=spec.template.version),
                                   model=spec.model)
               for n, spec in enumerate(specs) for t, task in enumerate(humaneval_tasks[:10])
               for i in range(2)]
    write_samples(tmp_path, samples)
    write_reports(tmp_path, run_header("run1", 10), tuple(specs), SCORING,
                  ReportConfig(formats=("md",), plots=False))
    report = (tmp_path / "report.md").read_text()
    assert "## Paired differences vs M@1.1.0\n" in report
    assert {line.split(" | ")[0] for line in report.splitlines() if " | pass@1 | " in line
            and line.startswith("| M@")} == {"| M@1.0.0", "| M@1.2.0"}
    assert "M@1.2.0 vs M@1.0.0" not in report
