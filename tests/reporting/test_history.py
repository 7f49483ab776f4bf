"""`evalkit history`: index.html from every run and gate under a folder, also opened in headless Chromium."""

from __future__ import annotations

import json
import re
import shutil
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from evalkit.config import GateConfig
from evalkit.records import TemplateId
from evalkit.reporting.aggregate import tasks_sha256
from evalkit.reporting.gate import gate
from evalkit.reporting.history import _series_label, collect, time_axis
from tests.reporting.test_gate import BASE_FAILING, DATASET_SHA, WORSE_FAILING, N, P, make_run, tasks
from tests.support.browser import needs_chromium, pixels_near, screenshot
from tests.support.cli import run_evalkit

pytestmark = pytest.mark.slow  # real runs, a real process and a browser: the full suite


@pytest.fixture(scope="module")
def reports(tmp_path_factory) -> Path:
    """Three nightlies of two models (the third one regresses mixtral and is gated), and a broken folder."""
    root = tmp_path_factory.mktemp("reports")
    nights = [("2026-11-01", BASE_FAILING), ("2026-11-02", BASE_FAILING), ("2026-11-03", WORSE_FAILING)]
    for day, mixtral_failing in nights:
        make_run(root / "runs" / day, {"mixtral": tasks(40, N, mixtral_failing), "mistral": tasks(40, N)},
                 started_at=f"{day}T02:00:00Z")
    gate(root / "runs" / "2026-11-01", root / "runs" / "2026-11-03", GateConfig(),
         root / "gates" / "2026-11-03")
    shutil.copytree(root / "runs" / "2026-11-02", root / "artifacts" / "nightly")  # a copy kept twice
    (root / "runs" / "half-written").mkdir()
    (root / "runs" / "half-written" / "results.json").write_text('{"run_id": ')
    proc = run_evalkit("history", str(root))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"history: {root / 'index.html'}"
    return root


def test_index_lists_every_run_with_links_and_gate_outcomes(reports):
    html = (reports / "index.html").read_text()
    rows = re.findall(r"<tr><td>.*?</tr>", html)
    assert len(rows) == 6  # three runs x two arms, newest first (the copy of one is left out, and said)
    assert html.count("skipped (a copy of the run in") == 1 and "artifacts/nightly" in html
    assert "2026-11-03" in rows[0] and "2026-11-01" in rows[-1]
    mixtral = next(r for r in rows if "2026-11-03" in r and ">mixtral<" in r)
    assert 'class="FAIL">FAIL' in mixtral and "0.375 [" in mixtral  # 15 of 40 tasks pass
    assert 'href="gates/2026-11-03/gate.md"' in mixtral and 'href="runs/2026-11-03/report.html"' not in html
    mistral = next(r for r in rows if "2026-11-03" in r and ">mistral<" in r)
    assert 'class="PASS">PASS' in mistral
    assert "half-written: skipped" in html and "malformed JSON" in html
    for link in re.findall(r'href="([^"]+)"', html):
        assert (reports / link).is_file(), link


def test_report_links_resolve_when_runs_have_reports(tmp_path):
    run = make_run(tmp_path / "runs" / "r1", {"mixtral": tasks(4, 1)})
    (run / "report.html").write_text("<html></html>")
    assert run_evalkit("history", str(tmp_path)).returncode == 0
    assert 'href="runs/r1/report.html"' in (tmp_path / "index.html").read_text()
    empty = tmp_path / "empty"
    empty.mkdir()
    proc = run_evalkit("history", str(empty))
    assert proc.returncode == 2 and "no readable results.json" in proc.stderr


def test_a_night_whose_run_exited_2_is_marked(tmp_path):
    # No gate judges a run that exited 2 (the gate refuses it): its points carried no mark at all.
    run = make_run(tmp_path / "runs" / "night", {"mixtral": tasks(4, 1)})
    results = json.loads((run / "results.json").read_text())
    (run / "results.json").write_text(json.dumps(results | {"problems": ["arm mixtral: no answer <at all>"]}))
    assert run_evalkit("history", str(tmp_path)).returncode == 0
    (row,) = re.findall(r"<tr><td>.*?</tr>", (tmp_path / "index.html").read_text())
    assert '<span class="ERROR">run exited 2</span>: arm mixtral: no answer &lt;at all&gt;' in row


@pytest.mark.parametrize("dead_copy", ["a-dead", "z-dead"])
def test_a_night_copied_before_its_run_was_finished_shows_the_finished_run(tmp_path, dead_copy):
    # CI kept the run as its endpoint left it (exit 2) and again once started again in its directory
    # and finished: one run id, one first sample. Whichever folder sorted first was kept, so the
    # night showed the dead attempt's numbers beside the finished run's gate, or vanished.
    finished = make_run(tmp_path / "m-finished", {"mixtral": tasks(4, 1)}, started_at="2026-11-05T02:00:00Z")
    dead = shutil.copytree(finished, tmp_path / dead_copy)
    results = json.loads((dead / "results.json").read_text())
    results["finished_at"] = "2026-11-05T02:01:00Z"  # an earlier attempt's
    (dead / "results.json").write_text(json.dumps(results | {"problems": ["arm mixtral: no answer at all"]}))
    assert run_evalkit("history", str(tmp_path)).returncode == 0
    html = (tmp_path / "index.html").read_text()
    (row,) = re.findall(r"<tr><td>.*?</tr>", html)
    assert "run exited 2" not in row and f"{tmp_path / dead_copy}: skipped (a copy of the run in " in html


@needs_chromium
def test_history_renders_in_headless_chromium(reports, tmp_path):
    pixels = screenshot(reports / "index.html", tmp_path, height=1400)  # no console message, not blank
    # the FAIL marker (#c62828) on the plot and the table's header cells (#f0f0f0)
    fail_red = pixels_near(pixels, (0xC6, 0x28, 0x28), 0.03)
    header_grey = pixels_near(pixels, (0xF0, 0xF0, 0xF0), 0.01)
    assert fail_red > 30, "the gate's FAIL is not marked on the plot"
    assert header_grey > 2000, "no table rendered"


def test_runs_on_other_task_sets_are_not_one_trend(tmp_path):
    # Nights on 10, 20 and 40 tasks (dataset.limit) shared one line, and neither the plot nor the
    # table said how many tasks a point measured.
    make_run(tmp_path / "runs" / "all", {"mixtral": tasks(40, 4)}, started_at="2026-11-01T02:00:00Z")
    make_run(tmp_path / "runs" / "again", {"mixtral": tasks(40, 4)}, started_at="2026-11-02T02:00:00Z")
    make_run(tmp_path / "runs" / "few", {"mixtral": tasks(10, 1)}, sha="b" * 64,
             started_at="2026-11-03T02:00:00Z")
    # answers of 6 of the 40 tasks scored with `evalkit score`: the same dataset, its points at 1.000 read as
    # a night on the whole set
    make_run(tmp_path / "runs" / "scored", {"mixtral": tasks(6, 4)}, started_at="2026-11-04T02:00:00Z")
    assert run_evalkit("history", str(tmp_path)).returncode == 0
    six, ten = (tasks_sha256(f"HumanEval/{t}" for t in range(n)) for n in (6, 10))
    html = (tmp_path / "index.html").read_text()
    headings = re.findall(r"<h2>(.*?)</h2>", html)
    assert headings[:3] == [f"humaneval (40 tasks, sha256 {DATASET_SHA[:12]})",
                            f"humaneval (10 of its 40 tasks, sha256 bbbbbbbbbbbb; tasks {ten[:8]})",
                            f"humaneval (6 of its 40 tasks, sha256 {DATASET_SHA[:12]}; tasks {six[:8]})"]
    assert html.count('alt="humaneval (') == 3  # a plot per task set
    rows = re.findall(r"<tr><td>.*?</tr>", html)
    assert "<td>6 of 40 x 4</td>" in rows[0] and "<td>10 of 40 x 1</td>" in rows[1]
    assert "<td>40 of 40 x 4</td>" in rows[-1]


def test_arms_on_different_tasks_of_the_same_count_are_two_trends(tmp_path):
    # Two files answering 6 tasks each, but other tasks (0-5 and 6-11), shared a plot and a line: the
    # second read as the model changing on one set of 6.
    first = make_run(tmp_path / "runs" / "first", {"mixtral": tasks(6, 4)}, started_at="2026-11-01T02:00:00Z")
    later = {f"HumanEval/{t}": [P] * 4 for t in range(6, 12)}
    make_run(tmp_path / "runs" / "later", {"mixtral": later}, started_at="2026-11-02T02:00:00Z")
    make_run(tmp_path / "runs" / "again", {"mixtral": tasks(6, 4)}, started_at="2026-11-03T02:00:00Z")
    points, _ = collect(tmp_path)
    sets = {p.run_id: p.task_set for p in points}
    assert sets["first"] == sets["again"] != sets["later"]
    recorded = json.loads((first / "results.json").read_text())["arms"][0]["tasks_sha256"]
    assert sets["first"].endswith(f"; tasks {recorded[:8]})")
    assert run_evalkit("history", str(tmp_path)).returncode == 0
    html = (tmp_path / "index.html").read_text()
    assert len(re.findall(r"<h2>humaneval \(6 of its 40 tasks", html)) == 2


def test_a_template_edited_under_the_same_version_is_a_line_of_its_own(tmp_path):
    # The gate failed a partial's edit (another sha256, the same version 1.0.0), but the history drew
    # the night on the old template's line and named both "mixtral 1.0.0": the edit read as the model
    # getting worse.
    edited = TemplateId("mixtral", "1.0.0", "e" * 64)
    make_run(tmp_path / "runs" / "before", {"mixtral": tasks(4, 1)}, started_at="2026-11-01T02:00:00Z")
    make_run(tmp_path / "runs" / "after", {"mixtral": tasks(4, 1)}, started_at="2026-11-02T02:00:00Z",
             specs={"mixtral": {"template": edited}})
    points, _ = collect(tmp_path)
    assert [p.template for p in points] == ["mixtral 1.0.0 ffffffff", "mixtral 1.0.0 eeeeeeee"]
    assert run_evalkit("history", str(tmp_path)).returncode == 0
    rows = re.findall(r"<tr><td>.*?</tr>", (tmp_path / "index.html").read_text())
    assert "<td>mixtral 1.0.0 eeeeeeee</td>" in rows[0] and "<td>mixtral 1.0.0 ffffffff</td>" in rows[1]


def test_arms_scored_from_files_that_name_no_model_are_lines_of_their_own(tmp_path):
    # Both read "unknown (scored answers)": one line of the plot, one model in the table.
    unnamed = {"model": "unknown", "template": None}
    make_run(tmp_path / "runs" / "scored", {"gpt": tasks(4, 1), "local": tasks(4, 1)},
             specs={"gpt": unnamed, "local": unnamed})
    points, _ = collect(tmp_path)
    assert sorted((p.model, p.template) for p in points) == [("gpt", "(scored answers)"),
                                                              ("local", "(scored answers)")]


def test_a_night_that_lost_a_baseline_arm_is_an_error_on_its_points(tmp_path):
    # A nightly owner's trial: the gate exited 2 (a baseline arm the candidate did not measure), and
    # the page showed the other arm's INCONCLUSIVE or PASS, ERROR nowhere
    base = make_run(tmp_path / "runs" / "base", {"mixtral": tasks(40, N), "mistral": tasks(40, N)},
                    started_at="2026-11-01T02:00:00Z")
    night = make_run(tmp_path / "runs" / "night", {"mixtral": tasks(40, N)},
                     started_at="2026-11-02T02:00:00Z")
    outcome = gate(base, night, GateConfig(), tmp_path / "gates" / "night")
    assert outcome.exit_code == 2
    points, _ = collect(tmp_path)
    gated = [(p.arm, p.gate) for p in points if p.run_id == "night"]
    assert gated == [("mixtral", "ERROR")], gated


def test_a_line_s_legend_brackets_its_template_once():
    # a trial on a fresh clone: a scored file's line read "gpt-4 (2023, zero-shot) ((scored answers))"
    assert _series_label("gpt-4", "(scored answers)") == "gpt-4 (scored answers)"
    assert _series_label("mixtral", "mixtral 1.0.0 ffffffff") == "mixtral (mixtral 1.0.0 ffffffff)"


def test_a_plot_of_one_night_spans_a_day_not_four_years():
    # a trial on a fresh clone: the first run's plot had its one point amid four years of dates
    night = datetime(2026, 12, 7, 2, 0)
    low, high = time_axis([night])
    assert low < night < high and high - low == timedelta(days=1)
    low, high = time_axis([night, night + timedelta(minutes=10)])  # a run and its rerun
    assert high - low == timedelta(days=1)
    week = [night + timedelta(days=d) for d in range(7)]
    low, high = time_axis(week)
    assert low < week[0] and high > week[-1] and high - low < timedelta(days=7)
