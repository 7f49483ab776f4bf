"""The template-change gate and blessed baselines, on small run dirs written from SampleResult records."""

from __future__ import annotations

import dataclasses
import json
import math
import re
import shutil
from pathlib import Path
from xml.etree import ElementTree as ET

import numpy as np
import pandas as pd
import pytest

from evalkit.config import ConfigError, GateConfig, ReportConfig, ScoringConfig
from evalkit.records import ArmSpec, DatasetInfo, Reading, SampleResult, Status, TemplateId, Usage, Verdict
from evalkit.reporting import write_reports
from evalkit.reporting.baseline import FORMAT, bless, load_baseline
from evalkit.reporting.gate import GateVerdict, gate, terminal_lines
from evalkit.reporting.write import run_notes
from evalkit.results import load_gate, load_results
from tests.support.cli import run_evalkit
from tests.support.runs import run_header

P, F, INFRA = Status.PASSED, Status.FAILED, Status.INFRA_ERROR
DATASET_SHA = "d" * 64
CFG = GateConfig()
N = 20
"""Samples per task: enough that two runs agreeing on every task can PASS (with 5, sampling alone
leaves the pass@1 difference a 95% interval wider than max_drop, so the gate says INCONCLUSIVE)."""


def _sample(run_id: str, arm: str, model: str, task_id: str, index: int, status: Status,
            metrics: dict[str, float], latency_s: float = 0.1) -> SampleResult:
    verdict = Verdict(status, detail="" if status is P else "AssertionError", duration_s=0.01)
    return SampleResult(
        run_id=run_id, arm=arm, model=model, template=TemplateId("mixtral", "1.0.0", "f" * 64),
        task_id=task_id, sample_index=index, params={"temperature": 0.2}, prompt=[],
        # each run's answers its own (runs with the same answers are one draw, which bless refuses)
        raw_output=f"return 1  # {run_id}", completion="return 1", finish_reason="stop", usage=Usage(10, 5),
        latency_s=latency_s, verdict=verdict, lenient=Reading("return 1", verdict),
        metrics=metrics if status is not INFRA else {}, cached=False)


def make_run(path: Path, arms: dict[str, dict[str, list[Status]]], *, run_id: str | None = None,
             sha: str = DATASET_SHA, similarity: dict[str, float] | None = None,
             started_at: str = "2024-05-01T00:00:00Z", latency_s: float = 0.1,
             specs: dict[str, dict] | None = None) -> Path:
    """A run directory: ``arms`` maps arm label -> task_id -> sample statuses; the arm's model is
    its label, its template mixtral 1.0.0 and its params temperature 0.2 unless ``specs`` (label ->
    {"model", "template", "params", "endpoint"}) says otherwise."""
    path.mkdir(parents=True)
    run_id = run_id or path.name
    similarity = similarity or {}
    lines, arm_entries = [], []
    for label, tasks in arms.items():
        spec = (specs or {}).get(label, {})
        model = spec.get("model", label)
        for task_id, statuses in tasks.items():
            for index, status in enumerate(statuses):
                metrics = {name: value[label] if isinstance(value, dict) else value
                           for name, value in similarity.items()}
                record = _sample(run_id, label, model, task_id, index, status, metrics, latency_s)
                lines.append(json.dumps(record.to_json()))
        arm_entries.append(ArmSpec(arm=label, model=model,
                                   template=spec.get("template", TemplateId("mixtral", "1.0.0", "f" * 64)),
                                   params=spec.get("params", {"temperature": 0.2}),
                                   endpoint=spec.get("endpoint", {})))
    (path / "samples.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    header = dataclasses.replace(run_header(run_id, 40, started_at=started_at),
                                 dataset=DatasetInfo("humaneval", sha, 40))
    write_reports(path, header, arm_entries, ScoringConfig(k=(1,), bootstrap_resamples=100),
                  ReportConfig(formats=(), plots=False))
    return path


def tasks(n_tasks: int, n_samples: int, failing: set[int] = frozenset(), infra: dict[int, int] | None = None):
    """task_id -> statuses: ``failing`` tasks fail every sample; ``infra`` turns samples into infra errors."""
    out = {}
    for t in range(n_tasks):
        statuses = [F if t in failing else P] * n_samples
        for i in range((infra or {}).get(t, 0)):
            statuses[i] = INFRA
        out[f"HumanEval/{t}"] = statuses
    return out


BASE_FAILING = set(range(30, 40))
WORSE_FAILING = BASE_FAILING | set(range(15))


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("runs")
    return {
        "base": make_run(root / "base", {"mixtral": tasks(40, N, BASE_FAILING)}),
        "same": make_run(root / "same", {"mixtral": tasks(40, N, BASE_FAILING)}),
        "worse": make_run(root / "worse", {"mixtral": tasks(40, N, WORSE_FAILING)}),
        "other": make_run(root / "other", {"mixtral": tasks(40, N, BASE_FAILING)}, sha="e" * 64),
    }


def test_worse_candidate_fails_and_names_flipped_tasks(runs, tmp_path):
    outcome = gate(runs["base"], runs["worse"], CFG, tmp_path)
    assert outcome.verdict is GateVerdict.FAIL and outcome.exit_code == 1
    (model,) = outcome.models
    pass1 = model.checks[0]
    assert pass1.name == "pass@1" and pass1.verdict is GateVerdict.FAIL
    assert pass1.diff == pytest.approx(-15 / 40)
    assert pass1.baseline == pytest.approx(30 / 40) and pass1.candidate == pytest.approx(15 / 40)
    assert pass1.ci_high < 0 and pass1.p_adjusted < CFG.alpha
    assert [f.task_id for f in model.regressions] == [f"HumanEval/{t}" for t in range(15)]
    assert model.fixes == ()
    md = (tmp_path / "gate.md").read_text()
    assert "**FAIL**" in md and f"HumanEval/0 {N}/{N}→0/{N} (-1.00" in md
    assert "pass rate fell (15, 15 significant)" in md
    assert "| mixtral | task_coverage | 40 | 40 | +0.000 |" in md  # counts of tasks (they read 40.000)
    assert all(f.significant for f in model.regressions)  # 5/5 -> 0/5 on 15 of 40 tasks
    suite = ET.parse(tmp_path / "junit.xml").getroot()
    cases = suite.findall("testcase")
    # the three checks, then one failure per task whose pass rate fell significantly
    assert [c.get("name") for c in cases] == (["pass@1", "infra_error", "task_coverage"]
                                             + [f"HumanEval/{t}" for t in range(15)])
    failure = cases[0].find("failure")
    assert failure is not None and f"HumanEval/9 {N}/{N}→0/{N}" in failure.text
    assert cases[1].find("failure") is None
    assert cases[2].find("failure") is None and cases[2].find("error") is None
    assert suite.get("failures") == "16" and all(c.find("failure") is not None for c in cases[3:])
    metrics = (tmp_path / "metrics.txt").read_text()
    assert metrics.endswith("# EOF\n")
    assert 'evalkit_gate_verdict{evalkit_gate_verdict="FAIL"} 1' in metrics
    assert 'evalkit_gate_pass_at_1_diff{model="mixtral"} -0.375' in metrics
    assert f'evalkit_gate_pass_at_1_ci_high{{model="mixtral"}} {pass1.ci_high:.6g}' in metrics
    assert 'evalkit_gate_pass_at_1_detectable_drop{model="mixtral"}' in metrics


def test_an_interval_of_a_pass_rate_difference_stays_within_minus_one_and_one(tmp_path):
    # Every task passed, then every task failed: the floor sampling puts on the interval's width
    # printed "the whole 95.0% interval [-1.113, -0.887]" for a difference that cannot pass -1.
    base = make_run(tmp_path / "b", {"mixtral": tasks(30, 5)})
    cand = make_run(tmp_path / "c", {"mixtral": tasks(30, 5, failing=set(range(30)))})
    outcome = gate(base, cand, CFG, tmp_path / "gate")
    pass1 = outcome.models[0].checks[0]
    assert outcome.verdict is GateVerdict.FAIL and pass1.diff == pytest.approx(-1.0)
    assert pass1.ci_low == pytest.approx(-1.0) and -1.0 < pass1.ci_high < -CFG.max_drop
    assert "[-1.000, " in (tmp_path / "gate" / "gate.md").read_text()


@pytest.mark.parametrize(("n_tasks", "n_samples", "verdict"), [
    (2, 1, GateVerdict.INCONCLUSIVE), (2, 2, GateVerdict.INCONCLUSIVE), (2, 4, GateVerdict.FAIL)])
def test_a_drop_on_a_few_samples_fails_only_when_chance_cannot_explain_it(tmp_path, n_tasks, n_samples,
                                                                         verdict):
    # Every sample passed, then every sample failed. On 2 tasks x 1 sample the normal interval was
    # [-1.000, -0.020] and the gate FAILed a change that happens by chance once in 4.
    base = make_run(tmp_path / "b", {"mixtral": tasks(n_tasks, n_samples)})
    cand = make_run(tmp_path / "c", {"mixtral": tasks(n_tasks, n_samples, failing=set(range(n_tasks)))})
    outcome = gate(base, cand, CFG, tmp_path / "gate")
    pass1 = outcome.models[0].checks[0]
    assert pass1.diff == pytest.approx(-1.0) and pass1.verdict is verdict, pass1.reason
    assert outcome.exit_code == (1 if verdict is GateVerdict.FAIL else 0)
    if verdict is GateVerdict.INCONCLUSIVE:
        assert pass1.ci_high < -CFG.max_drop and "could be chance: exact test p=" in pass1.reason


def test_identical_candidate_passes(runs, tmp_path):
    outcome = gate(runs["base"], runs["same"], CFG, tmp_path)
    assert outcome.verdict is GateVerdict.PASS and outcome.exit_code == 0
    (model,) = outcome.models
    assert model.checks[0].diff == 0 and model.regressions == () and model.fixes == ()
    assert "**PASS**" in (tmp_path / "gate.md").read_text()
    assert 'evalkit_gate_verdict{evalkit_gate_verdict="PASS"} 1' in (tmp_path / "metrics.txt").read_text()


def test_small_slightly_worse_candidate_is_inconclusive_and_flagged(tmp_path):
    base = make_run(tmp_path / "b", {"mixtral": tasks(6, 1)})
    cand = make_run(tmp_path / "c", {"mixtral": tasks(6, 1, failing={5})})
    outcome = gate(base, cand, CFG, tmp_path / "gate")
    assert outcome.verdict is GateVerdict.INCONCLUSIVE and outcome.exit_code == 0
    pass1 = outcome.models[0].checks[0]
    assert pass1.test == "mcnemar" and pass1.p_value == pytest.approx(1.0)
    assert pass1.ci_low < -CFG.max_drop and pass1.ci_high >= 0
    assert [f.task_id for f in outcome.models[0].regressions] == ["HumanEval/5"]
    assert "INCONCLUSIVE" in (tmp_path / "gate" / "gate.md").read_text()
    skipped = ET.parse(tmp_path / "gate" / "junit.xml").getroot().find("testcase/skipped")
    assert skipped is not None and skipped.get("message").startswith("INCONCLUSIVE")
    assert 'evalkit_gate_verdict="INCONCLUSIVE"} 1' in (tmp_path / "gate" / "metrics.txt").read_text()


def test_baseline_from_another_dataset_is_a_config_error(runs, tmp_path):
    with pytest.raises(ConfigError) as err:
        gate(runs["other"], runs["base"], CFG, tmp_path)
    assert "e" * 64 in str(err.value) and DATASET_SHA in str(err.value)
    assert "humaneval, 40 tasks" in str(err.value)  # the names first: two hashes alone said little
    assert not (tmp_path / "gate.md").exists()


def test_bless_round_trip_gives_the_same_verdict(runs, tmp_path):
    path = bless(runs["base"], tmp_path / "baselines")
    assert path.name == "humaneval_base.json" and path.parent == tmp_path / "baselines"
    record = json.loads(path.read_text())
    assert record["format"] == FORMAT and record["dataset"]["content_sha256"] == DATASET_SHA
    arm = record["arms"][0]
    assert arm["model"] == "mixtral"
    assert arm["aggregates"]["pass_at_k"]["1"]["value"] == 0.75  # 30 of 40 tasks pass
    assert arm["tasks"]["HumanEval/31"] == {"n": N, "passed": 0, "infra_error": 0, "metrics": {}}
    assert "raw_output" not in path.read_text()
    from_file, from_dir = load_baseline(path), load_baseline(runs["base"])
    pd.testing.assert_frame_equal(from_file.arms[0].tasks, from_dir.arms[0].tasks)
    assert from_file.content_sha256 == from_dir.content_sha256 and from_file.run_id == from_dir.run_id
    by_file = gate(path, runs["worse"], CFG, tmp_path / "f")
    by_dir = gate(runs["base"], runs["worse"], CFG, tmp_path / "d")
    assert by_file.verdict is by_dir.verdict is GateVerdict.FAIL
    assert by_file.models[0].checks == by_dir.models[0].checks
    assert by_file.models[0].regressions == by_dir.models[0].regressions
    assert gate(path, runs["same"], CFG, tmp_path / "s").verdict is GateVerdict.PASS


def test_the_folder_bless_wrote_into_gates_as_its_one_baseline_file(runs, tmp_path):
    # `evalkit gate --baseline bl` after `baseline bless RUN -o bl` said "no results.json at
    # bl/results.json" (a checker's trial): the folder holds one baseline file, and that is the one.
    folder = tmp_path / "baselines"
    bless(runs["base"], folder)
    assert gate(folder, runs["worse"], CFG, tmp_path / "g").verdict is GateVerdict.FAIL
    bless(runs["same"], folder)
    said = (rf"^{re.escape(str(folder))} is no run directory but a folder of 2 baseline files: "
            r"name one \(humaneval_base.json, humaneval_same.json\)$")
    with pytest.raises(ConfigError, match=said):
        load_baseline(folder)
    # a newer format is said as such (it was "not a blessed baseline"), and other JSON files are no
    # baselines (a folder of a run's run.json and dataset.json was "a folder of 2 baseline files")
    newer = folder / "humaneval_base.json"
    newer.write_text(newer.read_text().replace(f'"format": "{FORMAT}"', '"format": "evalkit-baseline/2"'))
    with pytest.raises(ConfigError, match="format 'evalkit-baseline/2', which this evalkit does not read"):
        load_baseline(newer)
    started = tmp_path / "started"
    started.mkdir()
    for name in ("run.json", "dataset.json"):
        (started / name).write_text("{}")
    with pytest.raises(ConfigError) as refused:
        load_baseline(started)
    assert "baseline files" not in str(refused.value)


def test_infra_error_rate_over_threshold_is_an_error_exit_2(runs, tmp_path):
    # 60 of 800 samples (7.5%) are infra errors; pass rates over answered samples are unchanged.
    statuses = tasks(40, N, BASE_FAILING, infra={t: 4 for t in range(15)})
    cand = make_run(tmp_path / "infra", {"mixtral": statuses})
    outcome = gate(runs["base"], cand, CFG, tmp_path / "gate")
    assert outcome.verdict is GateVerdict.ERROR and outcome.exit_code == 2
    checks = {c.name: c for c in outcome.models[0].checks}
    assert checks["pass@1"].verdict is GateVerdict.PASS and checks["pass@1"].diff == 0
    assert checks["infra_error"].verdict is GateVerdict.ERROR
    assert checks["infra_error"].candidate == pytest.approx(0.075)
    suite = ET.parse(tmp_path / "gate" / "junit.xml").getroot()
    assert suite.get("errors") == "1" and suite.find("testcase[@name='infra_error']/error") is not None
    assert "exceeds max_infra_error 5.0%" in (tmp_path / "gate" / "gate.md").read_text()
    lenient = GateConfig(max_infra_error=0.10)
    assert gate(runs["base"], cand, lenient, tmp_path / "ok").verdict is GateVerdict.PASS


def test_similarity_metric_drop_fails_only_when_gated(tmp_path):
    sim = {"edit_similarity": 0.9}
    base = make_run(tmp_path / "b", {"mixtral": tasks(40, N)}, similarity=sim)
    cand = make_run(tmp_path / "c", {"mixtral": tasks(40, N)}, similarity={"edit_similarity": 0.6})
    assert gate(base, cand, CFG, tmp_path / "g1").verdict is GateVerdict.PASS
    outcome = gate(base, cand, GateConfig(metrics=("edit_similarity",)), tmp_path / "g2")
    assert outcome.verdict is GateVerdict.FAIL
    check = outcome.models[0].checks[1]
    assert check.name == "edit_similarity" and check.diff == pytest.approx(-0.3)
    with pytest.raises(ConfigError, match="bleu"):
        gate(base, cand, GateConfig(metrics=("bleu",)), tmp_path / "g3")


@pytest.mark.slow  # about a second on 2 cores: the full suite
def test_models_are_matched_by_name_and_holm_corrected(tmp_path):
    same = tasks(40, N, BASE_FAILING)
    base = make_run(tmp_path / "b", {"mixtral": same, "mistral": same})
    worse = tasks(40, N, WORSE_FAILING)
    cand = make_run(tmp_path / "c", {"mistral": same, "mixtral": worse, "claude": tasks(40, N)})
    outcome = gate(base, cand, CFG, tmp_path / "g")
    verdicts = {m.model: m.verdict for m in outcome.models}
    assert verdicts == {"mistral": GateVerdict.PASS, "mixtral": GateVerdict.FAIL}
    assert outcome.verdict is GateVerdict.FAIL
    checks = [c for m in outcome.models for c in m.checks if c.p_value is not None]
    assert all(c.p_adjusted >= c.p_value for c in checks)
    assert any("claude" in note for note in outcome.notes)
    checks_then_tasks = ET.parse(tmp_path / "g" / "junit.xml").getroot().findall("testcase")
    assert [c.get("classname") for c in checks_then_tasks] == ["gate.mistral"] * 3 + ["gate.mixtral"] * 3 + [
        "gate.mixtral.tasks"] * 15
    # two models' pass@1: each interval is drawn at 1 - 0.05 / 2 (Bonferroni), so they hold jointly at 95%
    assert [c.confidence for c in checks] == pytest.approx([0.975, 0.975])


@pytest.mark.parametrize("problem", ["missing", "no_common_model", "not_a_baseline"])
def test_unusable_input_is_a_config_error(runs, tmp_path, problem):
    candidate = runs["base"]
    baseline: Path = tmp_path / "nowhere"
    if problem == "no_common_model":
        baseline = make_run(tmp_path / "claude", {"claude": tasks(40, N)})
    elif problem == "not_a_baseline":
        baseline = tmp_path / "x.json"
        baseline.write_text('{"hello": 1}')
    with pytest.raises(ConfigError):
        gate(baseline, candidate, CFG, tmp_path / "out")
    with pytest.raises(ConfigError):
        bless(tmp_path / "nowhere", tmp_path / "baselines")


def test_bless_pools_several_runs_task_by_task(runs, tmp_path):
    # base: tasks 30-39 fail; worse: tasks 0-14 fail as well. Pooled, tasks 0-14 pass N of 2N.
    path = bless([runs["base"], runs["worse"]], tmp_path / "baselines")
    assert path.name == "humaneval_base-worse.json"
    record = json.loads(path.read_text())
    assert record["source_run"] == ["base", "worse"] and record["run_id"] == "base+worse"
    cells = record["arms"][0]["tasks"]
    assert cells["HumanEval/0"] == {"n": 2 * N, "passed": N, "infra_error": 0, "metrics": {}}
    assert cells["HumanEval/20"]["passed"] == 2 * N and cells["HumanEval/35"]["passed"] == 0
    pooled = gate(path, runs["same"], CFG, tmp_path / "g")
    # against the pooled baseline the candidate gains 0.5 on 15 tasks: never a FAIL
    assert pooled.models[0].checks[0].diff == pytest.approx(15 * 0.5 / 40)
    assert pooled.verdict is GateVerdict.PASS
    with pytest.raises(ConfigError, match="different dataset"):
        bless([runs["base"], runs["other"]], tmp_path / "baselines")


def test_gate_states_its_power_and_the_samples_that_would_decide(tmp_path):
    # 40 tasks, 2 samples: every other task loses one passing sample of two (-0.5 on 20 tasks, mean -0.25).
    base = make_run(tmp_path / "b", {"mixtral": {f"HumanEval/{t}": [P, P] for t in range(40)}})
    half = {f"HumanEval/{t}": [P, F if t % 2 else P] for t in range(40)}
    cand = make_run(tmp_path / "c", {"mixtral": half})
    std_error = np.std([0.5, 0.0] * 20, ddof=1) / np.sqrt(40)
    fails = gate(base, cand, GateConfig(max_drop=0.1), tmp_path / "g1").models[0].checks[0]
    assert fails.diff == pytest.approx(-0.25) and fails.verdict is GateVerdict.FAIL
    assert fails.ci_high < -0.1
    # caught with 80% power: the tolerated drop plus (z[0.975] + z[0.8]) standard errors, where the
    # standard error is at least what sampling alone gives, each task's pooled rate counted with one
    # pass and one failure more (Laplace): 20 tasks 3 of 4 -> 4/6, 20 tasks 4 of 4 -> 5/6, 2 + 2 samples
    sampling = math.sqrt(20 * (4 / 6) * (2 / 6) * (1 / 2 + 1 / 2)
                         + 20 * (5 / 6) * (1 / 6) * (1 / 2 + 1 / 2)) / 40
    assert sampling > std_error
    assert fails.detectable_drop == pytest.approx(0.1 + (1.95996 + 0.84162) * sampling, rel=1e-4)
    unsure = gate(base, cand, GateConfig(max_drop=0.2), tmp_path / "g2").models[0].checks[0]
    assert unsure.verdict is GateVerdict.INCONCLUSIVE and unsure.ci_low < -0.2 < unsure.ci_high
    # the interval's half-width 1.96 SE must shrink below the 0.05 margin: 2 * (1.96 SE / 0.05)^2 samples
    assert unsure.samples_needed == math.ceil(2 * (1.95996 * sampling / 0.05) ** 2) == 14
    md = (tmp_path / "g2" / "gate.md").read_text()
    assert "about 14 samples per task in both baseline and candidate would decide it" in md
    assert f"catches a true pass@1 drop of {unsure.detectable_drop:.3f} or more with 80% power" in md
    # A pooled baseline of 4 samples a task: "14 in both" asked for fewer than it already has.
    pooled = make_run(tmp_path / "p", {"mixtral": {f"HumanEval/{t}": [P] * 4 for t in range(40)}})
    reason = gate(pooled, cand, GateConfig(max_drop=0.2), tmp_path / "g3").models[0].checks[0].reason
    needed = int(re.search(r"about (\d+) samples per task in the candidate", reason).group(1))
    assert f"about {needed} samples per task in the candidate and {2 * needed} in the baseline " \
           f"(each {needed / 2:.1f}x its 2 and 4) would decide it" in reason, reason


def test_a_gate_too_small_to_catch_any_drop_says_so(tmp_path):
    # 1 task x 1 sample said it "catches a true pass@1 drop of 2.001 or more", a drop no pass rate has.
    base = make_run(tmp_path / "b", {"mixtral": tasks(1, 1)})
    cand = make_run(tmp_path / "c", {"mixtral": tasks(1, 1)})
    outcome = gate(base, cand, CFG, tmp_path / "gate")
    assert outcome.models[0].checks[0].detectable_drop > 1
    md = (tmp_path / "gate" / "gate.md").read_text()
    assert "catches no true pass@1 drop with 80% power, not even from 1 to 0" in md
    assert "| none (> 1) |" in md
    metrics = (tmp_path / "gate" / "metrics.txt").read_text()
    assert 'evalkit_gate_pass_at_1_detectable_drop{model="mixtral"} +Inf' in metrics


@pytest.mark.slow  # about half a second or more on 2 cores: the full suite
def test_latency_regression_fails_only_when_gated(runs, tmp_path):
    slow = make_run(tmp_path / "slow", {"mixtral": tasks(40, N, BASE_FAILING)}, latency_s=0.25)
    assert gate(runs["base"], slow, CFG, tmp_path / "off").verdict is GateVerdict.PASS  # off by default
    outcome = gate(runs["base"], slow, GateConfig(max_latency_p95_ratio=1.5), tmp_path / "on")
    assert outcome.verdict is GateVerdict.FAIL and outcome.exit_code == 1
    latency = outcome.models[0].checks[-1]
    assert latency.name == "latency_p95" and latency.verdict is GateVerdict.FAIL
    assert (latency.baseline, latency.candidate) == (pytest.approx(0.1), pytest.approx(0.25))
    md = (tmp_path / "on" / "gate.md").read_text()
    assert "max_latency_p95_ratio 1.5" in md and "is 2.50x the baseline's 0.100 s" in md
    assert gate(runs["base"], slow, GateConfig(max_latency_p95_ratio=3.0), tmp_path / "lax").verdict \
        is GateVerdict.PASS
    # a pooled baseline keeps the runs' median latency
    pooled = bless([runs["base"], runs["same"]], tmp_path / "baselines")
    again = gate(pooled, slow, GateConfig(max_latency_p95_ratio=1.5), tmp_path / "pooled")
    assert again.models[0].checks[-1].verdict is GateVerdict.FAIL


def _relabel(run_dir: Path, labels: dict[str, tuple[str, str]]) -> Path:
    """Give arms new labels and models (arm label -> (label, model)) in samples.jsonl and results.json."""
    lines = []
    for line in (run_dir / "samples.jsonl").read_text().splitlines():
        row = json.loads(line)
        row["arm"], row["model"] = labels.get(row["arm"], (row["arm"], row["model"]))
        lines.append(json.dumps(row))
    (run_dir / "samples.jsonl").write_text("\n".join(lines) + "\n")
    results = json.loads((run_dir / "results.json").read_text())
    for arm in results["arms"]:
        arm["arm"], arm["model"] = labels.get(arm["arm"], (arm["arm"], arm["model"]))
    (run_dir / "results.json").write_text(json.dumps(results))
    return run_dir


def _scored(run_dir: Path, samples_file: str) -> Path:
    """Make a run directory one `evalkit score` made of ``samples_file`` (results.json's samples_file)."""
    results = json.loads((run_dir / "results.json").read_text())
    results["samples_file"] = {"path": samples_file}
    (run_dir / "results.json").write_text(json.dumps(results))
    return run_dir


@pytest.mark.slow  # about a second on 2 cores: the full suite
def test_every_template_arm_of_one_model_is_gated(tmp_path):
    # the default run's shape: one model under two templates; only the second template regresses
    old, new = "demo-mimic@mixtral-1.0.0", "demo-mimic@mixtral-2.0.0"
    two_templates = {"a": (old, "demo-mimic"), "b": (new, "demo-mimic")}
    same = tasks(40, N, BASE_FAILING)
    base = _relabel(make_run(tmp_path / "b", {"a": same, "b": same}), two_templates)
    cand = _relabel(make_run(tmp_path / "c", {"a": same, "b": tasks(40, N, WORSE_FAILING)}), two_templates)
    outcome = gate(base, cand, CFG, tmp_path / "g")
    assert outcome.verdict is GateVerdict.FAIL and outcome.exit_code == 1
    verdicts = {m.candidate_arm: m.verdict for m in outcome.models}
    assert verdicts == {old: GateVerdict.PASS, new: GateVerdict.FAIL}
    assert f"### {new}: FAIL" in (tmp_path / "g" / "gate.md").read_text()
    gated = json.loads((tmp_path / "g" / "gate.json").read_text())["models"]
    assert [(m["arm"], m["verdict"]) for m in gated] == [(old, "PASS"), (new, "FAIL")]
    typed = load_gate(tmp_path / "g")  # its typed record, as a notebook or `evalkit history` reads it
    assert typed.verdict is GateVerdict.FAIL and typed.exit_code == 1 and typed.schema_version == 1
    assert [(m.arm, m.verdict) for m in typed.models] == [(old, GateVerdict.PASS), (new, GateVerdict.FAIL)]


def test_scored_answers_without_a_model_are_gated_under_their_arm_label(tmp_path):
    # `evalkit score` on a file that names no model: the check was called "unknown"
    scored = {"a": ("gpt-4-answers", "unknown")}
    base = _relabel(make_run(tmp_path / "b", {"a": tasks(40, N, BASE_FAILING)}), scored)
    cand = _relabel(make_run(tmp_path / "c", {"a": tasks(40, N, WORSE_FAILING)}), scored)
    outcome = gate(base, cand, CFG, tmp_path / "g")
    (model,) = outcome.models
    assert model.model == "gpt-4-answers" and model.verdict is GateVerdict.FAIL
    assert "### gpt-4-answers: FAIL" in (tmp_path / "g" / "gate.md").read_text()


@pytest.mark.slow  # about a second on 2 cores: the full suite
def test_a_scored_run_lacking_the_label_is_told_of_its_lines_arm_field_not_arms(tmp_path):
    # The hint said "give their arms the same label (arms=[{label: ...}])", which `evalkit score` refuses:
    # a scored run's arms are its samples lines' "arm" fields (a new user's trial)
    unknown = {"model": "unknown"}  # a samples file that names no model
    base = make_run(tmp_path / "base", {"mixtral": tasks(40, N, BASE_FAILING)})
    cand = _scored(make_run(tmp_path / "cand", {"samples": tasks(40, N, BASE_FAILING)},
                            specs={"samples": unknown}), "answers.jsonl")
    with pytest.raises(ConfigError) as refused:
        gate(base, cand, CFG, tmp_path / "g")
    assert str(refused.value).endswith('give their arms the same label ("arm": "mixtral" in each line of the '
                                       "candidate's samples file answers.jsonl: evalkit score takes its arms "
                                       "from its lines, not arms=)")
    # the scored run is the baseline: the candidate, a run, takes arms=; the baseline its lines' field
    with pytest.raises(ConfigError) as refused:
        gate(cand, base, CFG, tmp_path / "g")
    assert str(refused.value).endswith('same label (arms=[{label: ...}] for the candidate, or for the '
                                       'baseline an "arm" field in each line of its samples file '
                                       "answers.jsonl, as evalkit score takes no arms=)")
    # a baseline arm a scored candidate did not measure: its lines get the arm's label
    base = make_run(tmp_path / "two", {"a": tasks(40, N), "b": tasks(40, N)},
                    specs={"a": unknown, "b": unknown})
    cand = _scored(make_run(tmp_path / "one", {"a": tasks(40, N)}, specs={"a": unknown}), "answers.jsonl")
    unmeasured = gate(base, cand, CFG, tmp_path / "g2").models[-1]
    assert (unmeasured.baseline_arm, unmeasured.verdict) == ("b", GateVerdict.ERROR)
    assert ('give both one label ("arm": "b" in each line of the candidate\'s samples file answers.jsonl: '
            "evalkit score takes its arms from its lines, not arms=)") in unmeasured.checks[0].reason


@pytest.mark.slow  # real worker processes or whole reports: the full suite, not the fast tier
def test_runs_pool_and_pair_alike_whatever_order_their_answers_reached_samples_jsonl(tmp_path):
    # Arms were grouped in the order answers arrived (concurrency decides it): two runs of one
    # configuration could not be pooled ("different arms", the same three in another order), and a
    # candidate arm with no label in common was gated against whichever arm came first.
    two = {"alpha": tasks(40, N, BASE_FAILING), "beta": tasks(40, N, WORSE_FAILING)}
    specs = {"alpha": {"model": "mixtral"}, "beta": {"model": "mixtral"}}
    first = make_run(tmp_path / "first", two, specs=specs)
    second = make_run(tmp_path / "second", two, specs=specs)
    lines = (second / "samples.jsonl").read_text().splitlines()
    (second / "samples.jsonl").write_text("\n".join(reversed(lines)) + "\n")  # beta's answers first
    pooled = load_baseline(bless([first, second], tmp_path / "baselines"))
    assert [a.arm for a in pooled.arms] == ["alpha", "beta"]
    cand = make_run(tmp_path / "cand", {"gamma": tasks(40, N, BASE_FAILING)},
                    specs={"gamma": {"model": "mixtral"}})
    for base in (first, second):  # gamma shares no label: the baseline's first arm in results.json
        outcome = gate(base, cand, CFG, tmp_path / f"g-{base.name}")
        model, unmeasured = outcome.models
        assert model.baseline_arm == "alpha", model
        # the baseline's other arm, which the candidate did not measure, is an ERROR, not a note
        assert (unmeasured.baseline_arm, unmeasured.verdict) == ("beta", GateVerdict.ERROR)
        assert outcome.verdict is GateVerdict.ERROR and outcome.exit_code == 2
        assert "baseline arm beta (mixtral) has no candidate arm" in unmeasured.checks[0].reason


@pytest.mark.slow  # about a second on 2 cores: the full suite
def test_a_candidate_that_lost_baseline_arms_is_an_error_not_a_pass(tmp_path):
    # A nightly owner's trial: the candidate's config kept one of the baseline's three arms (the two
    # template arms gone) and the gate PASSed on it, exit 0, with a note naming a model
    three = {"oracle": tasks(40, N), "t1": tasks(40, N, BASE_FAILING), "t2": tasks(40, N, BASE_FAILING)}
    specs = {"oracle": {"model": "demo-oracle"}, "t1": {"model": "demo-mimic"}, "t2": {"model": "demo-mimic"}}
    base = make_run(tmp_path / "base", three, specs=specs)
    cand = make_run(tmp_path / "cand", {"oracle": tasks(40, N)}, specs={"oracle": {"model": "demo-oracle"}})
    outcome = gate(base, cand, CFG, tmp_path / "g")
    assert outcome.verdict is GateVerdict.ERROR and outcome.exit_code == 2
    assert {m.baseline_arm: m.verdict for m in outcome.models} == {
        "oracle": GateVerdict.PASS, "t1": GateVerdict.ERROR, "t2": GateVerdict.ERROR}
    report = (tmp_path / "g" / "gate.md").read_text()
    assert "baseline arm t1 (demo-mimic) has no candidate arm" in report and "**ERROR**" in report
    errors = ET.parse(tmp_path / "g" / "junit.xml").getroot().findall(".//error")
    assert len(errors) == 2
    # every baseline arm measured: no such error
    full = make_run(tmp_path / "full", three, specs=specs)
    assert gate(base, full, CFG, tmp_path / "g2").verdict is GateVerdict.PASS


def test_bless_refuses_a_run_that_exited_2(tmp_path):
    # A run whose endpoint refused most requests was blessed without a word: the gate would then
    # measure candidates against an endpoint's failures.
    failed = make_run(tmp_path / "failed", {"mixtral": tasks(40, N)})
    results = json.loads((failed / "results.json").read_text())
    problem = "arm mixtral: 460 of 600 samples got no answer"
    (failed / "results.json").write_text(json.dumps(results | {"problems": [problem]}))
    with pytest.raises(ConfigError, match=rf"^{failed} is a run that exited 2 \({problem}\); bless a run"):
        bless(failed, tmp_path / "baselines")


@pytest.mark.parametrize("side", ["baseline", "candidate"])
def test_gate_refuses_a_run_that_exited_2(runs, tmp_path, side):
    # A scored file whose wrong answers were skipped as malformed lines gated INCONCLUSIVE, exit 0, on
    # the right answers alone; a run whose answers were missing the same.
    failed = make_run(tmp_path / "failed", {"mixtral": tasks(40, N, BASE_FAILING)})
    results = json.loads((failed / "results.json").read_text())
    problem = "231 malformed line(s) of answers.jsonl skipped, the rest scored"
    (failed / "results.json").write_text(json.dumps(results | {"problems": [problem]}))
    base, cand = (failed, runs["same"]) if side == "baseline" else (runs["base"], failed)
    said = (f"the {side} {failed} is a run that exited 2 ({problem}); gate runs that exited 0 (an `evalkit "
            "run` that exited 2 is finished by starting it again in its hydra.run.dir)")
    with pytest.raises(ConfigError, match=f"^{re.escape(said)}$"):
        gate(base, cand, CFG, tmp_path / "g")
    assert not (tmp_path / "g").exists()


def test_unverified_verdicts_of_a_gated_arm_are_noted_through_a_blessed_file(runs, tmp_path):
    # Forged passes on in-process tasks gated INCONCLUSIVE with nothing in gate.md, junit or the
    # terminal; report.md alone said they could be forged.
    cand = shutil.copytree(runs["same"], tmp_path / "cand")
    results = json.loads((cand / "results.json").read_text())
    results["arms"][0]["unverified"] = 30
    (cand / "results.json").write_text(json.dumps(results))
    blessed = bless(cand, tmp_path / "baselines")  # the count travels with a blessed baseline too
    outcome = gate(runs["base"], cand, CFG, tmp_path / "g")
    note = ("candidate arm mixtral: 30 of its verdicts are unverified (program and tests ran in one process: "
            "tasks whose tests cannot run apart, JavaScript); a hostile program could forge them")
    assert note in outcome.notes and f"  note: {note}" in terminal_lines(outcome)
    assert f"- note: {note}" in (tmp_path / "g" / "gate.md").read_text()
    assert gate(blessed, runs["base"], CFG, tmp_path / "g2").notes == (note.replace("candidate", "baseline"),)
    other = shutil.copytree(runs["base"], tmp_path / "other")  # another run of the configuration: 6 more
    results["run_id"], results["arms"][0]["unverified"] = "other-run", 6
    (other / "results.json").write_text(json.dumps(results))
    lines = (other / "samples.jsonl").read_text()
    (other / "samples.jsonl").write_text(lines.replace('"run_id": "base"', '"run_id": "other-run"')
                                         .replace("# base", "# other-run"))  # its own answers
    pooled = bless([cand, other], tmp_path / "pooled")  # the count adds up in a pooled baseline
    (pooled_note,) = gate(pooled, runs["base"], CFG, tmp_path / "g4").notes
    assert pooled_note.startswith("baseline arm mixtral: 36 of its verdicts are unverified")
    assert not gate(runs["base"], runs["same"], CFG, tmp_path / "g3").notes


def test_bless_refuses_to_pool_runs_of_other_sampling_parameters(runs, tmp_path):
    # A resumed run refuses another temperature; bless pooled them into one "configuration".
    hot = make_run(tmp_path / "hot", {"mixtral": tasks(40, N, BASE_FAILING)},
                   specs={"mixtral": {"params": {"temperature": 1.7}}})
    with pytest.raises(ConfigError, match=r"cannot pool .*hot with .*base: arm mixtral: other sampling "
                                          r"parameters \(.*1\.7.* vs .*0\.2.*\)"):
        bless([runs["base"], hot], tmp_path / "baselines")


def test_bless_refuses_to_pool_runs_of_other_task_selections(runs, tmp_path):
    # A nightly owner's trial: a run of 3 tasks pooled with one of 2 (dataset.limit) made a baseline
    # of 3 tasks holding 2, whose gate paired 2 and said nothing of the third.
    fewer = make_run(tmp_path / "fewer", {"mixtral": tasks(30, N, BASE_FAILING)})
    with pytest.raises(ConfigError, match=r"cannot pool .*fewer with .*base: arm mixtral scored other "
                                          r"tasks \(30 against 40; .* in one only\); pool runs of one task "
                                          r"selection"):
        bless([runs["base"], fewer], tmp_path / "baselines")


def test_an_arm_is_gated_against_the_baseline_arm_of_its_label_whatever_its_model(tmp_path):
    # A model upgraded under one label ("no model in common", exit 2) is gated against what it replaces.
    base = make_run(tmp_path / "base", {"nightly": tasks(40, N, BASE_FAILING)},
                    specs={"nightly": {"model": "mixtral-v1"}})
    cand = make_run(tmp_path / "cand", {"nightly": tasks(40, N, WORSE_FAILING)},
                    specs={"nightly": {"model": "mixtral-v2"}})
    outcome = gate(base, cand, CFG, tmp_path / "g")
    assert outcome.verdict is GateVerdict.FAIL and [m.baseline_arm for m in outcome.models] == ["nightly"]
    assert [m.model for m in outcome.models] == ["nightly"]  # named by the label, not one of the two models
    # each side's model is gated (neither is "only in the baseline"), and the outputs say which two
    assert outcome.notes == ("arm nightly: the baseline's model mixtral-v1 against the candidate's "
                             "mixtral-v2 (paired by their label)",)


@pytest.mark.slow  # a real command in a process: the full suite, not the fast tier
def test_gate_refuses_to_write_into_a_run_directory(runs, tmp_path):
    # -o the candidate itself: its own junit.xml and metrics.txt were replaced by the gate's, exit 0.
    cand = shutil.copytree(runs["same"], tmp_path / "cand")
    before = {p.name: p.read_bytes() for p in cand.iterdir() if p.is_file()}
    proc = run_evalkit("gate", "--baseline", str(runs["base"]), "--candidate", str(cand), "-o", str(cand))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr.strip() == (f"evalkit: error: cannot write the gate's outputs to {cand}: it is a run "
                                   "directory (it holds results.json or samples.jsonl) whose own reports it "
                                   "would overwrite; give another -o")
    assert {p.name: p.read_bytes() for p in cand.iterdir() if p.is_file()} == before


def test_tasks_that_got_no_answer_are_not_covered_and_their_errors_not_diluted(runs, tmp_path):
    # An endpoint refused every request naming 8 of the baseline's 10 tasks and answered 154 tasks the
    # baseline lacks: coverage "10 of 10", infra errors "4.9% within", PASS on 2 tasks.
    base = make_run(tmp_path / "base10", {"mixtral": tasks(10, N)})
    cand_tasks = {f"HumanEval/{t}": [INFRA] * N if t < 8 else [P] * N for t in range(164)}
    cand = make_run(tmp_path / "cand", {"mixtral": cand_tasks})
    outcome = gate(base, cand, CFG, tmp_path / "g")
    assert outcome.verdict is GateVerdict.ERROR and outcome.exit_code == 2
    checks = {c.name: c for c in outcome.models[0].checks}
    assert "measured 2 of the baseline's 10 tasks (20.0%), below" in checks["task_coverage"].reason
    assert checks["infra_error"].candidate == pytest.approx(0.8)  # 8 of the baseline's 10 tasks


def test_a_candidate_that_ran_a_few_of_the_baselines_tasks_is_an_error(runs, tmp_path):
    few = {task_id: statuses for task_id, statuses in tasks(40, N, BASE_FAILING).items()
           if task_id in ("HumanEval/0", "HumanEval/1")}
    cand = make_run(tmp_path / "few", {"mixtral": few})
    outcome = gate(runs["base"], cand, CFG, tmp_path / "g")
    assert outcome.verdict is GateVerdict.ERROR and outcome.exit_code == 2
    coverage = next(c for c in outcome.models[0].checks if c.name == "task_coverage")
    assert "measured 2 of the baseline's 40 tasks (5.0%), below min_task_share 100%" in coverage.reason
    assert gate(runs["base"], cand, GateConfig(min_task_share=0.05), tmp_path / "lax").verdict \
        is not GateVerdict.ERROR


@pytest.mark.slow  # real commands in processes: the full suite, not the fast tier
@pytest.mark.parametrize("again", ["same", "trailing_slash", "symlink", "dot_dot"])
def test_bless_refuses_a_run_given_twice(runs, tmp_path, again):
    base = runs["base"]
    (tmp_path / "link").symlink_to(base)
    second = {"same": str(base), "trailing_slash": f"{base}/", "symlink": str(tmp_path / "link"),
              "dot_dot": str(base / ".." / base.name)}[again]
    out = tmp_path / "baselines"
    proc = run_evalkit("baseline", "bless", str(runs["same"]), str(base), second, "-o", str(out))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr.startswith("evalkit: error: run directory ") and "more than once" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
    assert not out.exists()  # no pooled baseline that counts base's samples twice


@pytest.mark.slow  # real commands in processes: the full suite, not the fast tier
def test_bless_refuses_a_copy_of_a_run_it_is_given(runs, tmp_path):
    """A run's folder copied elsewhere (a CI artifact downloaded beside the original) is the same run,
    also once the copy was resumed (its results.json then has a start time of its own)."""
    copy = shutil.copytree(runs["base"], tmp_path / "artifact" / "renamed")
    results = json.loads((copy / "results.json").read_text())
    (copy / "results.json").write_text(json.dumps(results | {"started_at": "2024-05-02T00:00:00Z"}))
    out = tmp_path / "baselines"
    proc = run_evalkit("baseline", "bless", str(runs["base"]), str(copy), "-o", str(out))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr.strip() == (f"evalkit: error: run directories {runs['base']} and {copy} hold the "
                                   "same run (base, the same first sample): one is a copy; pool each run "
                                   "once")
    assert not out.exists()
    pooled = run_evalkit("baseline", "bless", str(runs["base"]), str(runs["same"]), "-o", str(out))
    assert pooled.returncode == 0, pooled.stderr  # two runs of one configuration and start time


def test_gate_outputs_take_control_characters_in_a_model_s_name(tmp_path):
    # A bell in a model's name made the gate's junit.xml unreadable to every XML parser.
    name = "mixtral\x07\x1b[2J"
    base = make_run(tmp_path / "base", {name: tasks(10, N)})
    cand = make_run(tmp_path / "cand", {name: tasks(10, N, {0, 1, 2, 3, 4})})
    outcome = gate(base, cand, CFG, tmp_path / "g")
    assert outcome.verdict is GateVerdict.FAIL
    suite = ET.parse(tmp_path / "g" / "junit.xml").getroot()
    assert suite.find("testcase").get("classname") == "gate.mixtral\ufffd\ufffd[2J"
    # the reason names the interval's level as gate.md's table does (it said 95.00%, the table 95.0%)
    fail = next(c for c in outcome.models[0].checks if c.name == "pass@1")
    assert fail.reason.startswith("the whole 95.0% interval")
    assert "(95.0%)" in (tmp_path / "g" / "gate.md").read_text()
    # printed, the escape cleared the terminal and the bell rang
    assert terminal_lines(outcome)[0].startswith("  mixtral\ufffd\ufffd[2J: FAIL")


def test_the_gate_names_an_arm_by_its_label_and_its_model(tmp_path):
    # A new user's trial: an arm labelled mimic, of model demo-mimic, was "demo-mimic: FAIL" in the
    # terminal, gate.md and junit, while the lines under it and the notes said "mimic"
    def run(name: str, failing: set[int]) -> Path:
        return make_run(tmp_path / name, {"mimic": tasks(40, N, failing)},
                        specs={"mimic": {"model": "demo-mimic"}})

    outcome = gate(run("base", BASE_FAILING), run("cand", BASE_FAILING | set(range(15))), CFG, tmp_path / "g")
    assert terminal_lines(outcome)[0].startswith("  mimic (demo-mimic): FAIL")
    assert "### mimic (demo-mimic): FAIL" in (tmp_path / "g" / "gate.md").read_text()
    suite = ET.parse(tmp_path / "g" / "junit.xml").getroot()
    assert suite.find("testcase").get("classname") == "gate.mimic (demo-mimic)"


def test_a_run_whose_samples_outgrew_its_results_is_refused(runs, tmp_path):
    # n_samples=2, then a resume with n_samples=20 stopped by Ctrl-C: results.json was the first
    # attempt's, and bless and gate took the half-made run for a finished one (exit 0).
    grown = tmp_path / "grown"
    shutil.copytree(runs["same"], grown)
    first = json.loads((grown / "samples.jsonl").read_text().splitlines()[0])
    more = [json.dumps(first | {"sample_index": N + i}) for i in range(3)]
    with open(grown / "samples.jsonl", "a") as fh:
        fh.write("\n".join(more) + "\n")
    said = (f"{grown} did not finish: its samples.jsonl holds {40 * N + 3} samples of arm 'mixtral', its "
            f"results.json {40 * N}")
    with pytest.raises(ConfigError, match=re.escape(said)):
        bless([grown], tmp_path / "baselines")
    with pytest.raises(ConfigError, match=re.escape(said)):
        gate(runs["base"], grown, CFG, tmp_path / "gate")


def _edited_samples(run_dir: Path, path: Path, reading: str, statuses: tuple[str, ...], to: str) -> Path:
    """A copy of ``run_dir`` whose samples.jsonl has each verdict of ``reading`` (``verdict``, or
    ``lenient``'s) in ``statuses`` changed to ``to`` by hand, its results.json untouched."""
    shutil.copytree(run_dir, path)
    lines = []
    for line in (path / "samples.jsonl").read_text().splitlines():
        sample = json.loads(line)
        verdict = sample["verdict"] if reading == "verdict" else sample["lenient"]["verdict"]
        if verdict["status"] in statuses:
            verdict["status"] = to
        lines.append(json.dumps(sample))
    (path / "samples.jsonl").write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize(("reading", "said"), [
    ("verdict", "holds 800 passed, 0 failed samples of arm 'mixtral', its results.json 300 passed, "
                "500 failed"),
    ("lenient", "gives arm 'mixtral' a lenient pass@1 of 1, its results.json 0.375"),
])
def test_a_run_whose_verdicts_were_edited_after_it_is_refused(runs, tmp_path, reading, said):
    # A checker's trial: every failing verdict of samples.jsonl edited to "passed", results.json
    # still counting 300 passed: gated as pass@1 1.000, PASS, exit 0.
    edited = _edited_samples(runs["worse"], tmp_path / "edited", reading, ("failed",), "passed")
    said = f"{edited}: its samples.jsonl {said}: the samples were changed after the run; re-run it"
    with pytest.raises(ConfigError, match=re.escape(said)):
        gate(runs["base"], edited, CFG, tmp_path / "gate")  # `evalkit gate`: its one line, exit 2
    with pytest.raises(ConfigError, match=re.escape(said)):
        bless([edited], tmp_path / "baselines")
    assert not (tmp_path / "gate").exists() and not (tmp_path / "baselines").exists()
    assert gate(runs["base"], runs["worse"], CFG, tmp_path / "unedited").verdict is GateVerdict.FAIL


def test_a_run_whose_verdicts_were_swapped_between_tasks_is_refused(runs, tmp_path):
    # A pass and a failure swapped between two tasks keeps every count and pass@1: the count check let
    # it through, and the gate judged the edited tasks' flips.
    edited = shutil.copytree(runs["worse"], tmp_path / "swapped")
    lines = [json.loads(line) for line in (edited / "samples.jsonl").read_text().splitlines()]
    for sample in lines:  # task 0 failed every sample, task 20 passed every one
        if sample["task_id"] in ("HumanEval/0", "HumanEval/20"):
            sample["verdict"]["status"] = "passed" if sample["task_id"] == "HumanEval/0" else "failed"
    (edited / "samples.jsonl").write_text("".join(json.dumps(sample) + "\n" for sample in lines))
    said = (f"{edited}: its samples.jsonl gives the samples of arm 'mixtral' other verdicts than its "
            "results.json recorded (the same counts, on other tasks or samples): the samples were changed "
            "after the run; re-run it")
    with pytest.raises(ConfigError, match=re.escape(said)):
        gate(runs["base"], edited, CFG, tmp_path / "gate")
    with pytest.raises(ConfigError, match=re.escape(said)):
        bless([edited], tmp_path / "baselines")
    proc = run_evalkit("gate", "--baseline", str(runs["base"]), "--candidate", str(edited),
                       "-o", str(tmp_path / "cli"))
    assert proc.returncode == 2 and proc.stderr.strip().endswith(said.split(": ", 1)[1]), proc.stderr
    # `evalkit report` rebuilt results.json from the edited samples, and the gate then accepted the run
    # (a trial of this check): it refuses, and results.json stays what the run recorded
    recorded = (edited / "results.json").read_bytes()
    proc = run_evalkit("report", str(edited))
    assert proc.returncode == 2 and proc.stderr.strip().endswith(said.split(": ", 1)[1]), proc.stderr
    assert (edited / "results.json").read_bytes() == recorded


def test_a_run_whose_unanswered_samples_were_asked_again_did_not_finish(tmp_path):
    # Started again to ask its 3 unanswered samples and stopped before it wrote its results: the
    # samples' verdicts are not results.json's, but nothing was edited; finishing it is the fix.
    run_dir = make_run(tmp_path / "run", {"mixtral": tasks(40, N, BASE_FAILING, infra={0: 3})})
    resumed = _edited_samples(run_dir, tmp_path / "resumed", "verdict", ("infra_error",), "passed")
    said = (f"{resumed} did not finish: its samples.jsonl holds 0 infra_error samples of arm 'mixtral', its "
            "results.json 3 (an attempt that asked them again stopped before it wrote its results): start it "
            "again with the same hydra.run.dir to finish it")
    with pytest.raises(ConfigError, match=re.escape(said)):
        bless([resumed], tmp_path / "baselines")


@pytest.mark.parametrize(("pooled", "said"), [
    (False, "arm mixtral has 10 tasks, its aggregates.n_tasks 20: tasks were removed or added by hand"),
    (True, "arm mixtral's tasks hold 400 samples, its aggregates.verdicts 800: tasks were edited by hand"),
])
def test_gate_refuses_a_baseline_whose_tasks_were_removed_by_hand(tmp_path, pooled, said):
    # A checker's trial: half a baseline's tasks deleted (dataset.n_tasks left as it was) was gated on
    # the other half, task_coverage 10 | 10 PASS, no note. Runs of 20 of the dataset's 40 tasks, one
    # or pooled, are legitimate baselines: they gate as before until edited.
    seeds = [make_run(tmp_path / f"seed{i}", {"mixtral": tasks(20, N)}) for i in range(1 + pooled)]
    path = bless(seeds, tmp_path / "baselines")
    cand = make_run(tmp_path / "cand", {"mixtral": tasks(20, N)})
    before = gate(path, cand, CFG, tmp_path / "before")
    coverage = next(c for c in before.models[0].checks if c.name == "task_coverage")
    assert before.exit_code == 0 and coverage.verdict is GateVerdict.PASS and coverage.candidate == 20
    record = json.loads(path.read_text())
    assert record["dataset"]["n_tasks"] == 40
    record["arms"][0]["tasks"] = dict(list(record["arms"][0]["tasks"].items())[:10])
    path.write_text(json.dumps(record))
    said = f"{path}: malformed baseline (arms.0: Value error, {said}; bless the run again)"
    with pytest.raises(ConfigError, match=re.escape(said)):
        gate(path, cand, CFG, tmp_path / "gate")  # `evalkit gate`: its one line, exit 2


@pytest.mark.slow  # whole runs' reports written and read: the full suite, not the fast tier
@pytest.mark.parametrize(("edit", "named"), [
    (lambda r: r["arms"][0]["tasks"]["HumanEval/0"].update(passed=N + 5), "arms.0.tasks.HumanEval/0"),
    (lambda r: r["arms"][0]["tasks"]["HumanEval/0"].update(n=None), "arms.0.tasks.HumanEval/0.n"),
    (lambda r: r["arms"][0]["tasks"]["HumanEval/0"].update(passed=str(N)), "arms.0.tasks.HumanEval/0.passed"),
    (lambda r: r["arms"][0]["tasks"]["HumanEval/0"].update(infra_error=-1),
     "arms.0.tasks.HumanEval/0.infra_error"),
    (lambda r: r["dataset"].update(n_tasks="x"), "dataset.n_tasks"),
])
def test_gate_refuses_a_hand_edited_baseline_in_one_line(runs, tmp_path, edit, named):
    """A hand edit or a merge conflict: passed 15 of n 10 ended the gate with a math domain error
    (exit 3), n null with a pandas traceback; "10" for a count was taken silently."""
    path = bless(runs["base"], tmp_path / "baselines")
    record = json.loads(path.read_text())
    edit(record)
    path.write_text(json.dumps(record))
    with pytest.raises(ConfigError, match=re.escape(f"{path}: malformed baseline ({named}")):
        gate(path, runs["base"], CFG, tmp_path / "gate")  # `evalkit gate`: its one line, exit 2


def _behind_proxy(deployment: str, served: str = "hosted_vllm/mistralai/Mixtral-8x7B-Instruct-v0.1",
                  url: str = "http://litellm:4000/v1") -> dict:
    """A run's arm endpoint as evalkit records it behind a LiteLLM alias ``mixtral``."""
    return {"base_url": url, "model": "mixtral",
            "served": {"id": "mixtral", "created": 1677610602, "owned_by": "openai"},
            "answered_by": {"model": served, "x-litellm-model-id": deployment,
                            "x-litellm-model-api-base": f"http://{deployment}:8000/v1"}}


def _endpoint_runs(tmp_path: Path, base: dict, cand: dict) -> tuple[Path, Path]:
    statuses = {"mixtral": tasks(40, N, BASE_FAILING)}
    return (make_run(tmp_path / "base", statuses, specs={"mixtral": {"endpoint": base}}),
            make_run(tmp_path / "cand", statuses, specs={"mixtral": {"endpoint": cand}}))


def test_holes_of_one_problem_count_as_one_problem_and_the_gate_says_so(tmp_path):
    # A researcher's trial: two draws of one infilling model, each problem's holes passing or failing
    # together, FAILed the gate with an interval over 5,815 holes as if each were a problem of its own.
    def holes(passing: range) -> dict[str, list[Status]]:
        return {f"SingleLineInfilling/HumanEval/{problem}/L{hole}": [P if problem in passing else F]
                for problem in range(40) for hole in range(15)}
    base = make_run(tmp_path / "base", {"fim": holes(range(0, 26))})
    cand = make_run(tmp_path / "cand", {"fim": holes(range(5, 27))})  # 5 problems lost, 1 won: -0.1
    outcome = gate(bless(base, tmp_path / "baselines"), cand, CFG, tmp_path / "g")
    (check,) = [c for c in outcome.models[0].checks if c.name == "pass@1"]
    assert check.diff == pytest.approx(-0.1)
    assert outcome.verdict is GateVerdict.INCONCLUSIVE and check.ci_low < -0.2 < -0.02 < check.ci_high, check
    note = "The 600 tasks are holes of 40 problems: intervals and paired tests resample problems, not holes"
    assert any(n.startswith(note) for n in outcome.notes)
    assert note in (tmp_path / "g" / "gate.md").read_text()


def test_a_candidate_another_model_answered_is_an_error_naming_both(tmp_path):
    # The alias re-pointed to other weights: the night measured another model, and PASSed silently.
    base, cand = _endpoint_runs(tmp_path, _behind_proxy("gpu1"),
                                _behind_proxy("gpu1", served="hosted_vllm/meta-llama/Llama-3-70B"))
    blessed = bless(base, tmp_path / "baselines")
    (recorded,) = json.loads(blessed.read_text())["arms"][0]["endpoint"]["answered_by"]
    assert recorded["x-litellm-model-id"] == "gpu1"
    for baseline in (base, blessed):
        outcome = gate(baseline, cand, CFG, tmp_path / "g")
        assert outcome.verdict is GateVerdict.ERROR and outcome.exit_code == 2
        (line,) = [line for line in terminal_lines(outcome) if line.startswith("    endpoint: ERROR")]
        assert "another model answered the candidate: was model 'hosted_vllm/mistralai/Mixtral" in line
        assert "now model 'hosted_vllm/meta-llama/Llama-3-70B'" in line
        assert "served model changed" in (tmp_path / "g" / "gate.md").read_text()
        (error,) = ET.parse(tmp_path / "g" / "junit.xml").getroot().iter("error")
        assert error.get("type") == "endpoint_changed" and "Llama-3-70B" in error.get("message")


def test_what_answered_reaches_gate_md_without_its_control_characters(tmp_path):
    # a proxy's deployment id went into gate.md as its header carried it (an attacker's trial), as
    # runs recorded before evalkit cleaned such names still hold them
    escapes = "\x1b[2J\x1b]0;owned\x07\u202e"
    base, cand = _endpoint_runs(tmp_path, _behind_proxy("gpu1"), _behind_proxy(f"gpu2{escapes}"))
    gate(base, cand, CFG, tmp_path / "g")
    page = (tmp_path / "g" / "gate.md").read_text()
    assert "deployment gpu2\ufffd[2J\ufffd]0;owned\ufffd\ufffd" in page
    assert not set(page) & set(escapes) - set("[2J]0;owned")


def test_a_server_upgraded_under_the_same_weights_is_a_note_naming_both_releases(tmp_path):
    # The note said "what answered changed" and showed the same text on both sides: the release,
    # the one thing that changed, was not in it (a reviewer's trial).
    before = _behind_proxy("gpu1") | {"server_version": "0.6.3"}
    base, cand = _endpoint_runs(tmp_path, before, before | {"server_version": "0.7.2"})
    outcome = gate(base, cand, CFG, tmp_path / "g")
    assert outcome.verdict is GateVerdict.PASS
    (note,) = [line for line in terminal_lines(outcome) if "what answered changed" in line]
    assert "server release '0.6.3'; now " in note and note.endswith("server release '0.7.2'")


@pytest.mark.slow  # about a second on 2 cores: the full suite
def test_another_deployment_of_the_same_model_is_a_note_on_its_verdict(tmp_path):
    # Another deployment behind the alias, the same weights, a proxy reached by another URL: the same
    # model measured, said, not an error.
    base, cand = _endpoint_runs(tmp_path, _behind_proxy("gpu1"),
                                _behind_proxy("gpu2", url="http://litellm.internal:4000/v1"))
    outcome = gate(bless(base, tmp_path / "baselines"), cand, CFG, tmp_path / "g")
    assert outcome.verdict is GateVerdict.PASS
    note = ("endpoint: what answered changed under the same served model name: was model "
            "'hosted_vllm/mistralai/Mix")
    assert any(line.startswith(f"    note: {note}") and "deployment gpu2" in line
               for line in terminal_lines(outcome))
    assert f"- note: {note}" in (tmp_path / "g" / "gate.md").read_text()
    outs = [o.text for o in ET.parse(tmp_path / "g" / "junit.xml").getroot().iter("system-out")]
    assert outs and all("deployment gpu1" in text and "deployment gpu2" in text for text in outs)
    assert not gate(base, make_run(tmp_path / "again", {"mixtral": tasks(40, N, BASE_FAILING)},
                                   specs={"mixtral": {"endpoint": _behind_proxy("gpu1")}}),
                    CFG, tmp_path / "g2").models[0].endpoint_note  # unchanged: nothing said
    # the same deployment at another URL: a run folder as baseline knows both URLs (a blessed one
    # leaves its URL out), and the note said nothing of it
    moved = make_run(tmp_path / "moved", {"mixtral": tasks(40, N, BASE_FAILING)}, specs={
        "mixtral": {"endpoint": _behind_proxy("gpu1", url="http://10.0.0.7:4000/v1")}})
    assert gate(base, moved, CFG, tmp_path / "g3").models[0].endpoint_note == (
        "endpoint: another URL answered the same served model: was http://litellm:4000/v1; now "
        "http://10.0.0.7:4000/v1")
    assert not gate(bless(base, tmp_path / "b2"), moved, CFG, tmp_path / "g4").models[0].endpoint_note


def test_a_model_upgraded_under_its_label_is_a_note_naming_both_models(tmp_path):
    # The arm's configured model changed on purpose (mixtral to llama, the same label): not an error,
    # and the note said "the same served model" of two models (a researcher's trial).
    statuses = {"chat": tasks(40, N, BASE_FAILING)}
    base = make_run(tmp_path / "base", statuses,
                    specs={"chat": {"model": "mixtral", "endpoint": _behind_proxy("gpu1")}})
    llama = _behind_proxy("gpu1", served="hosted_vllm/meta-llama/Llama-3-70B") | {"model": "llama"}
    cand = make_run(tmp_path / "cand", statuses, specs={"chat": {"model": "llama", "endpoint": llama}})
    note = gate(bless(base, tmp_path / "baselines"), cand, CFG, tmp_path / "g").models[0].endpoint_note
    assert note.startswith("endpoint: another model answered, as the arm's configured model changed (mixtral "
                           "to llama): was model 'hosted_vllm/mistralai/Mixtral"), note
    assert "same served model" not in note


def test_an_offline_replay_which_names_no_served_model_is_a_note_not_an_error(tmp_path):
    # model.offline=true asks no endpoint who it is: its arm's endpoint is the URL and alias alone.
    base, cand = _endpoint_runs(tmp_path, _behind_proxy("gpu1"),
                                {"base_url": "http://litellm:4000/v1", "model": "mixtral"})
    outcome = gate(base, cand, CFG, tmp_path / "g")
    assert outcome.verdict is GateVerdict.PASS
    assert "endpoint: the candidate names no served model" in outcome.models[0].endpoint_note


def test_a_baseline_blessed_before_endpoints_were_recorded_loads_and_says_so(tmp_path):
    base, cand = _endpoint_runs(tmp_path, _behind_proxy("gpu1"), _behind_proxy("gpu1"))
    blessed = bless(base, tmp_path / "baselines")
    record = json.loads(blessed.read_text())
    del record["arms"][0]["endpoint"]
    blessed.write_text(json.dumps(record))
    outcome = gate(blessed, cand, CFG, tmp_path / "g")
    assert outcome.verdict is GateVerdict.PASS
    assert "the baseline does not record what answered it" in (tmp_path / "g" / "gate.md").read_text()


def test_bless_refuses_to_pool_runs_another_model_answered(tmp_path):
    base, other = _endpoint_runs(tmp_path, _behind_proxy("gpu1"),
                                 _behind_proxy("gpu1", served="hosted_vllm/meta-llama/Llama-3-70B"))
    with pytest.raises(ConfigError, match=r"cannot pool .*cand with .*base: arm mixtral: other served models "
                                          r"answered \(model 'hosted_vllm/meta-llama/Llama-3-70B' vs "):
        bless([base, other], tmp_path / "baselines")
    redeployed = make_run(tmp_path / "gpu2", {"mixtral": tasks(40, N, BASE_FAILING)},
                          specs={"mixtral": {"endpoint": _behind_proxy("gpu2")}})
    pooled = json.loads(bless([base, redeployed], tmp_path / "baselines").read_text())
    assert [a["x-litellm-model-id"] for a in pooled["arms"][0]["endpoint"]["answered_by"]] == ["gpu1", "gpu2"]


def _replayed(run: Path, count: int, source: str) -> Path:
    """``run`` as if the response store had answered ``count`` of its samples, stored by ``source``."""
    results = json.loads((run / "results.json").read_text())
    results["arms"][0] |= {"cached_samples": count, "cached_from": [f"{source} (2026-12-01)"]}
    (run / "results.json").write_text(json.dumps(results))
    return run


@pytest.mark.slow  # about half a second or more on 2 cores: the full suite
def test_bless_refuses_to_pool_runs_of_one_seed(tmp_path):
    # Four runs with one seed asked the same requests: pooled, they made a baseline of four times
    # the samples measured, whose interval PASSed what one run's left INCONCLUSIVE.
    one = make_run(tmp_path / "one", {"mixtral": tasks(40, N, BASE_FAILING)})
    two = make_run(tmp_path / "two", {"mixtral": tasks(40, N, BASE_FAILING)})
    for run, seed in ((one, 7), (two, 7)):
        (run / "run.json").write_text(json.dumps({"run_id": run.name, "seed": seed}))
    with pytest.raises(ConfigError, match=r"cannot pool .*two with .*one: arm mixtral drew its samples with "
                                          r"seed=7 in both, so they asked the same requests"):
        bless([one, two], tmp_path / "baselines")
    (two / "run.json").write_text(json.dumps({"run_id": "two", "seed": 8}))
    assert bless([one, two], tmp_path / "baselines").is_file()
    # a seed the arm's parameters set is the base of its requests' seeds, whatever the run's
    for run in (one, two):
        results = json.loads((run / "results.json").read_text())
        results["arms"][0]["params"] = {"temperature": 0.2, "seed": 42}
        (run / "results.json").write_text(json.dumps(results))
    with pytest.raises(ConfigError, match=r"arm mixtral drew its samples with seed=42 in both"):
        bless([one, two], tmp_path / "baselines")


def test_bless_names_other_templates_before_the_seed_they_share(tmp_path):
    # A new user's trial: runs of mixtral 2.0.0 and 1.0.0, both seed 1, were refused as one draw
    # ("pool runs of different seeds"), which led only to a second refusal, naming two 64-digit hashes
    def run(name: str, version: str) -> Path:
        made = make_run(tmp_path / name, {"mixtral": tasks(40, N, BASE_FAILING)},
                        specs={"mixtral": {"template": TemplateId("mixtral", version, version[0] * 64)}})
        (made / "run.json").write_text(json.dumps({"run_id": name, "seed": 1}))
        return made

    refused = (r"cannot pool .*old with .*new: arm mixtral: other template \(mixtral-1\.0\.0 "
               r"\(11111111\) vs mixtral-2\.0\.0 \(22222222\)\); pool runs of one configuration$")
    with pytest.raises(ConfigError, match=refused):
        bless([run("new", "2.0.0"), run("old", "1.0.0")], tmp_path / "baselines")


def _with_answers_of(run: Path, source: Path) -> Path:
    """``run`` holding ``source``'s raw answers, sample by sample (one draw under two run ids)."""
    answers = [json.loads(line)["raw_output"] for line in (source / "samples.jsonl").read_text().splitlines()]
    lines = [json.loads(line) for line in (run / "samples.jsonl").read_text().splitlines()]
    (run / "samples.jsonl").write_text("".join(json.dumps(line | {"raw_output": answer}) + "\n"
                                               for line, answer in zip(lines, answers, strict=True)))
    return run


def test_bless_refuses_to_pool_runs_holding_the_same_answers(tmp_path):
    # `evalkit score` of one samples file twice: two run ids, no seed, the same answers counted twice.
    one = make_run(tmp_path / "s1", {"mixtral": tasks(40, N, BASE_FAILING)})
    two = make_run(tmp_path / "s2", {"mixtral": tasks(40, N, BASE_FAILING)})
    _with_answers_of(two, one)
    with pytest.raises(ConfigError, match=r"cannot pool .*s2 with .*s1: they hold the same answers \(one "
                                          r"draw, not two"):
        bless([one, two], tmp_path / "baselines")


def test_bless_refuses_a_run_whose_answers_were_replayed_from_another_it_pools(tmp_path):
    first = make_run(tmp_path / "first", {"mixtral": tasks(40, N, BASE_FAILING)})
    again = _replayed(make_run(tmp_path / "again", {"mixtral": tasks(40, N, BASE_FAILING)}), 40 * N, "first")
    with pytest.raises(ConfigError, match=r"cannot pool .*again with .*first: arm mixtral's answers were "
                                          r"replayed from it by the response store"):
        bless([first, again], tmp_path / "baselines")


@pytest.mark.slow  # about half a second or more on 2 cores: the full suite
def test_a_candidate_replayed_from_the_baseline_s_run_measured_nothing(runs, tmp_path):
    # store.reuse=true against the store the baseline's night filled: its own answers again, PASS.
    copy = _replayed(make_run(tmp_path / "copy", {"mixtral": tasks(40, N, BASE_FAILING)}), 40 * N, "base")
    outcome = gate(runs["base"], copy, CFG, tmp_path / "g")
    assert outcome.verdict is GateVerdict.ERROR and outcome.exit_code == 2
    (check,) = [c for c in outcome.models[0].checks if c.name == "replayed"]
    assert check.reason.startswith(f"all {40 * N} candidate answers were replayed by the response store from "
                                   "the baseline's run (base) with the baseline's template: nothing new was "
                                   "measured; ask the endpoint (store.reuse=false, model.offline=false)")
    (error,) = ET.parse(tmp_path / "g" / "junit.xml").getroot().iter("error")
    assert error.get("type") == "replayed"  # not the infra_error type an endpoint's failures have
    # A post-processing change reviewed offline on the baseline's answers measured the new template.
    results = json.loads((copy / "results.json").read_text())
    results["arms"][0]["template"]["sha256"] = "e" * 64
    (copy / "results.json").write_text(json.dumps(results))
    assert all(c.name != "replayed" for c in gate(runs["base"], copy, CFG, tmp_path / "g3").models[0].checks)
    part = _replayed(make_run(tmp_path / "part", {"mixtral": tasks(40, N, BASE_FAILING)}), 12, "base")
    outcome = gate(runs["base"], part, CFG, tmp_path / "g2")
    assert outcome.verdict is not GateVerdict.ERROR
    assert (f"candidate arm mixtral: 12 of its {40 * N} answers were replayed from the response store "
            "(stored by base (2026-12-01)), not asked again") in outcome.notes
    assert "replayed from the response store" in (tmp_path / "g2" / "gate.md").read_text()


def test_a_candidate_replayed_from_another_night_measured_nothing_either(runs, tmp_path):
    # Every night has the default seed: with store.reuse=true a night replays the night before it,
    # not the baseline's run, and that gated INCONCLUSIVE, exit 0, with a note.
    night = _replayed(make_run(tmp_path / "night", {"mixtral": tasks(40, N, BASE_FAILING)}), 40 * N,
                      "night-before")
    outcome = gate(runs["base"], night, CFG, tmp_path / "g")
    assert outcome.verdict is GateVerdict.ERROR and outcome.exit_code == 2
    (check,) = [c for c in outcome.models[0].checks if c.name == "replayed"]
    assert "by the response store from earlier runs (night-before) with the baseline's" in check.reason


def test_gate_md_says_how_many_answers_were_cut_at_max_tokens(runs, tmp_path):
    # report.md said "326 of 1640 cut at max_tokens"; gate.md, what a merge request shows, did not.
    cut = make_run(tmp_path / "cut", {"mixtral": tasks(40, N, BASE_FAILING)})
    results = json.loads((cut / "results.json").read_text())
    results["arms"][0]["truncated"] = 12
    (cut / "results.json").write_text(json.dumps(results))
    outcome = gate(runs["base"], cut, CFG, tmp_path / "g")
    note = (f"arm mixtral: answers the endpoint cut at max_tokens (finish_reason length): candidate 12 of "
            f"{40 * N}, baseline 0 of {40 * N}; raise max_tokens (model.params.max_tokens) if they ran long")
    assert note in outcome.notes and note in (tmp_path / "g" / "gate.md").read_text()
    fine = make_run(tmp_path / "fine", {"mixtral": tasks(40, N, BASE_FAILING)})
    assert not any("max_tokens" in n for n in gate(runs["base"], fine, CFG, tmp_path / "g2").notes)


def test_gate_md_counts_the_cut_answers_of_a_pooled_baseline_too(runs, tmp_path):
    # Against a blessed pool of nights the note named the candidate's cut answers only (the pool kept
    # no count of its own), where a run as baseline showed both sides.
    path = bless([runs["base"], runs["worse"]], tmp_path / "baselines")
    cut = make_run(tmp_path / "cut", {"mixtral": tasks(40, N, BASE_FAILING)})
    results = json.loads((cut / "results.json").read_text())
    results["arms"][0]["truncated"] = 12
    (cut / "results.json").write_text(json.dumps(results))
    note = (f"arm mixtral: answers the endpoint cut at max_tokens (finish_reason length): candidate 12 of "
            f"{40 * N}, baseline 0 of {2 * 40 * N}; raise max_tokens")
    assert any(n.startswith(note) for n in gate(path, cut, CFG, tmp_path / "g").notes)


def test_a_candidate_replayed_but_for_samples_left_unanswered_measured_nothing(runs, tmp_path):
    # Two samples refused within model.max_error_rate: "every answer replayed" never held, INCONCLUSIVE.
    night = make_run(tmp_path / "night", {"mixtral": tasks(40, N, BASE_FAILING, infra={3: 2})})
    _replayed(night, 40 * N - 2, "night-before")
    checks = gate(runs["base"], night, CFG, tmp_path / "g").models[0].checks
    (check,) = [c for c in checks if c.name == "replayed"]
    assert check.verdict is GateVerdict.ERROR
    assert check.reason.startswith(f"all {40 * N - 2} candidate answers were replayed")


def test_a_baseline_blessed_before_cut_answers_were_kept_says_so(runs, tmp_path):
    cut = make_run(tmp_path / "cut", {"mixtral": tasks(40, N, BASE_FAILING)})
    results = json.loads((cut / "results.json").read_text())
    results["arms"][0]["truncated"] = 3
    (cut / "results.json").write_text(json.dumps(results))
    record = json.loads(bless(runs["base"], tmp_path / "baselines").read_text())
    del record["arms"][0]["aggregates"]["truncated"]  # as a baseline blessed before evalkit kept it
    (tmp_path / "old.json").write_text(json.dumps(record))
    notes = gate(tmp_path / "old.json", cut, CFG, tmp_path / "g").notes
    assert any(f"candidate 3 of {40 * N}, baseline: not recorded (bless it again)" in n for n in notes)


def test_the_baseline_s_own_run_as_candidate_is_refused(runs, tmp_path):
    # A nightly that kept its run folder gated the blessed night against itself: INCONCLUSIVE, exit 0.
    copy = shutil.copytree(runs["base"], tmp_path / "copy")
    with pytest.raises(ConfigError, match=r"^the candidate .*copy is the baseline's own run base: nothing "
                                          r"new would be gated"):
        gate(runs["base"], copy, CFG, tmp_path / "g")
    baseline = bless([runs["base"]], tmp_path / "baselines")
    with pytest.raises(ConfigError, match=r"is the baseline's own run base"):
        gate(baseline, runs["base"], CFG, tmp_path / "g2")


def test_the_gate_names_sampling_parameters_that_differ(runs, tmp_path):
    hot = make_run(tmp_path / "hot", {"mixtral": tasks(40, N, BASE_FAILING)},
                   specs={"mixtral": {"params": {"temperature": 0.9}}})
    outcome = gate(runs["base"], hot, CFG, tmp_path / "g")
    assert ("arm mixtral: sampling parameters differ from the baseline's: temperature 0.2 -> 0.9"
            in outcome.notes)


def test_stop_sequences_are_no_sampling_difference_across_templates_but_are_within_one(runs, tmp_path):
    # A new user's trial: every gate of mixtral 1.0.0 against 2.0.0 noted 2.0.0's own stop sequence,
    # a part of the template change, as a confound. The stop sequences and max_tokens results.json
    # records are the template's and the user's overrides together: across templates, neither is noted.
    def run(name: str, version: str, params: dict) -> Path:
        template = TemplateId("mixtral", version, version[0] * 64)
        return make_run(tmp_path / name, {"mixtral": tasks(40, N, BASE_FAILING)},
                        specs={"mixtral": {"template": template, "params": {"temperature": 0.2, **params}}})

    new = run("new", "2.0.0", {"stop": ["</new_code>"], "max_tokens": 512})
    old = run("old", "1.0.0", {"stop": [], "max_tokens": 256})
    assert not gate(new, old, CFG, tmp_path / "g").notes
    hot = run("hot", "1.0.0", {"stop": [], "max_tokens": 256, "temperature": 0.8})
    assert gate(new, hot, CFG, tmp_path / "g2").notes == (
        "arm mixtral: sampling parameters differ from the baseline's: temperature 0.2 -> 0.8",)
    overridden = run("overridden", "2.0.0", {"stop": ["###"], "max_tokens": 512})  # the same template
    assert gate(new, overridden, CFG, tmp_path / "g3").notes == (
        "arm mixtral: sampling parameters differ from the baseline's: stop ['</new_code>'] -> ['###']",)


def test_a_baseline_that_measured_half_its_tasks_is_no_baseline(runs, tmp_path):
    # Accepted, with a coverage row "40 / 40 PASS" over 20 paired tasks and a baseline infra_error
    # rate of 50% shown as PASS.
    unmeasured = {t: N for t in range(20)}
    half = make_run(tmp_path / "half", {"mixtral": tasks(40, N, BASE_FAILING, infra=unmeasured)})
    outcome = gate(half, runs["same"], CFG, tmp_path / "g")
    assert outcome.verdict is GateVerdict.ERROR
    checks = {c.name: c for c in outcome.models[0].checks}
    assert checks["task_coverage"].reason.startswith("the baseline measured 20 of its 40 tasks (50.0%")
    assert checks["infra_error"].verdict is GateVerdict.ERROR
    assert checks["infra_error"].reason.startswith("the baseline's infra_error rate 50.0% exceeds")


@pytest.mark.slow  # about a second on 2 cores: the full suite
def test_a_night_whose_models_listing_failed_is_not_another_model(tmp_path):
    # vLLM itself: the listing names the weights; one night it got a 500 (information only), the
    # same model answered, and the gate said "another model answered the candidate".
    vllm = {"base_url": "http://gpu1:8000/v1", "model": "mixtral", "answered_by": {"model": "mixtral"},
            "served": {"id": "mixtral", "root": "/models/Mixtral-8x7B-Instruct-v0.1", "owned_by": "vllm"}}
    base, cand = _endpoint_runs(tmp_path, vllm, vllm | {"served": None})
    outcome = gate(base, cand, CFG, tmp_path / "g")
    assert outcome.verdict is not GateVerdict.ERROR, terminal_lines(outcome)
    assert bless([base, cand], tmp_path / "baselines").is_file()
    other = _endpoint_runs(tmp_path / "other", vllm, vllm | {"served": {
        "id": "mixtral", "root": "/models/Llama-3-70B", "owned_by": "vllm"}})
    assert gate(*other, CFG, tmp_path / "g2").verdict is GateVerdict.ERROR  # other weights listed


@pytest.mark.slow  # about a second on 2 cores: the full suite
def test_an_ollama_model_pulled_again_with_other_weights_is_another_model(tmp_path):
    # A checker's night: a tag pulled again with other weights FAILed the template (exit 1), noted
    # as "the same served model" from Ollama's `created` alone. Its digest names the weights.
    def ollama(digest: str | None, created: int) -> dict:
        served = {"id": "mixtral:latest", "created": created, "owned_by": "library"}
        return {"base_url": "http://gpu1:11434/v1", "model": "mixtral", "answered_by": {"model": "mixtral"},
                "served": served | ({"digest": digest} if digest else {})}
    other = _endpoint_runs(tmp_path / "other", ollama("a" * 64, 1796394748), ollama("b" * 64, 1796650359))
    outcome = gate(*other, CFG, tmp_path / "g")
    assert outcome.verdict is GateVerdict.ERROR, terminal_lines(outcome)
    assert "now model 'mixtral', weights '" + "b" * 64 in (tmp_path / "g" / "gate.md").read_text()
    same = _endpoint_runs(tmp_path / "same", ollama("a" * 64, 1796394748), ollama("a" * 64, 1796650359))
    assert gate(*same, CFG, tmp_path / "g2").verdict is GateVerdict.PASS
    undated = _endpoint_runs(tmp_path / "undated", ollama(None, 1796394748), ollama(None, 1796650359))
    assert gate(*undated, CFG, tmp_path / "g3").models[0].endpoint_note.startswith(
        "endpoint: what answered changed under the same served model name: was model 'mixtral'; created")


@pytest.mark.parametrize("answered_by", [5, {"model": "other/model"}])
def test_a_baseline_whose_endpoint_was_hand_edited_out_of_shape_is_refused(tmp_path, answered_by):
    # 5 was a traceback (exit 3); one mapping where the list goes read as "names no served model".
    base, _ = _endpoint_runs(tmp_path, _behind_proxy("gpu1"), _behind_proxy("gpu1"))
    blessed = bless(base, tmp_path / "baselines")
    data = json.loads(blessed.read_text())
    data["arms"][0]["endpoint"]["answered_by"] = answered_by
    blessed.write_text(json.dumps(data))
    with pytest.raises(ConfigError, match=r"malformed baseline .*endpoint\.answered_by must be a list"):
        load_baseline(blessed)


def test_a_run_whose_alias_was_re_pointed_after_its_probe_is_named_and_not_blessed(tmp_path):
    # The probe's answer named Mixtral, every sample's Llama: the report said nothing, bless took it
    # as Mixtral's, and only a gate against another baseline caught it.
    run = make_run(tmp_path / "flipped", {"mixtral": tasks(40, N, BASE_FAILING)},
                   specs={"mixtral": {"endpoint": _behind_proxy("gpu1")}})
    results = json.loads((run / "results.json").read_text())
    results["arms"][0]["answered_by"] = [
        {"answered_by": {"model": "hosted_vllm/meta-llama/Llama-3-70B", "x-litellm-model-id": "gpu1"},
         "samples": 40 * N}]
    (run / "results.json").write_text(json.dumps(results))
    with pytest.raises(ConfigError, match=r"arm mixtral's samples were answered by several served models "
                                          r"\(hosted_vllm/meta-llama/Llama-3-70B, hosted_vllm/mistralai"):
        bless(run, tmp_path / "baselines")
    (note,) = [n for n in run_notes(load_results(run)) if "start-up probe" in n]
    assert note.startswith("mixtral: the start-up probe was answered by model "
                           "'hosted_vllm/mistralai/Mixtral-8x7B-Instruct-v0.1'")
    assert f"its samples by model 'hosted_vllm/meta-llama/Llama-3-70B', x-litellm-model-id 'gpu1': {40 * N}" \
        in note


def test_bless_refuses_a_run_several_served_models_answered(tmp_path):
    # An alias re-pointed mid-run: blessed, every later night of either model was an endpoint ERROR.
    run = make_run(tmp_path / "mixed", {"mixtral": tasks(40, N, BASE_FAILING)},
                   specs={"mixtral": {"endpoint": _behind_proxy("gpu1")}})
    results = json.loads((run / "results.json").read_text())
    results["arms"][0]["answered_by"] = [
        {"answered_by": {"model": "hosted_vllm/mistralai/Mixtral-8x7B-Instruct-v0.1"}, "samples": 500},
        {"answered_by": {"model": "hosted_vllm/meta-llama/Llama-3-70B"}, "samples": 300}]
    (run / "results.json").write_text(json.dumps(results))
    with pytest.raises(ConfigError, match=r"arm mixtral's samples were answered by several served models "
                                          r"\(hosted_vllm/meta-llama/Llama-3-70B, hosted_vllm/mistralai"):
        bless(run, tmp_path / "baselines")
