"""The template-change gate and blessed baselines, on small run dirs written from SampleResult records."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from xml.etree import ElementTree as ET

import pandas as pd
import pytest

from evalkit.config import ConfigError, GateConfig, ReportConfig, ScoringConfig
from evalkit.records import ArmSpec, DatasetInfo, Reading, SampleResult, Status, TemplateId, Usage, Verdict
from evalkit.reporting import write_reports
from evalkit.reporting.baseline import FORMAT, bless, load_baseline
from evalkit.reporting.gate import GateVerdict, gate
from tests.support.runs import run_header

P, F, INFRA = Status.PASSED, Status.FAILED, Status.INFRA_ERROR
DATASET_SHA = "d" * 64
CFG = GateConfig()


def _sample(run_id: str, arm: str, model: str, task_id: str, index: int, status: Status,
            metrics: dict[str, float]) -> SampleResult:
    verdict = Verdict(status, detail="" if status is P else "AssertionError", duration_s=0.01)
    return SampleResult(
        run_id=run_id, arm=arm, model=model, template=TemplateId("mixtral", "1.0.0", "f" * 64),
        task_id=task_id, sample_index=index, params={"temperature": 0.2}, prompt=[],
        raw_output="return 1", completion="return 1", finish_reason="stop", usage=Usage(10, 5),
        latency_s=0.1, verdict=verdict, lenient=Reading("return 1", verdict),
        metrics=metrics if status is not INFRA else {}, cached=False)


def make_run(path: Path, arms: dict[str, dict[str, list[Status]]], *, run_id: str | None = None,
             sha: str = DATASET_SHA, similarity: dict[str, float] | None = None) -> Path:
    """A run directory: ``arms`` maps model -> task_id -> sample statuses (arm label = model)."""
    path.mkdir(parents=True)
    run_id = run_id or path.name
    similarity = similarity or {}
    lines, arm_entries = [], []
    for model, tasks in arms.items():
        for task_id, statuses in tasks.items():
            for index, status in enumerate(statuses):
                metrics = {name: value[model] if isinstance(value, dict) else value
                           for name, value in similarity.items()}
                record = _sample(run_id, model, model, task_id, index, status, metrics)
                lines.append(json.dumps(record.to_json()))
        arm_entries.append(ArmSpec(arm=model, model=model, template=TemplateId("mixtral", "1.0.0", "f" * 64)))
    (path / "samples.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    header = dataclasses.replace(run_header(run_id, 40, started_at="2024-05-01T00:00:00Z"),
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
        "base": make_run(root / "base", {"mixtral": tasks(40, 5, BASE_FAILING)}),
        "same": make_run(root / "same", {"mixtral": tasks(40, 5, BASE_FAILING)}),
        "worse": make_run(root / "worse", {"mixtral": tasks(40, 5, WORSE_FAILING)}),
        "other": make_run(root / "other", {"mixtral": tasks(40, 5, BASE_FAILING)}, sha="e" * 64),
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
    assert "**FAIL**" in md and "`HumanEval/0`" in md and "passed → failed (15)" in md
    suite = ET.parse(tmp_path / "junit.xml").getroot()
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == ["pass@1", "infra_error"]
    assert cases[0].find("failure") is not None and "HumanEval/14" in cases[0].find("failure").text
    assert cases[1].find("failure") is None
    metrics = (tmp_path / "metrics.txt").read_text()
    assert metrics.endswith("# EOF\n")
    assert 'evalkit_gate_verdict{evalkit_gate_verdict="FAIL"} 1' in metrics
    assert 'evalkit_gate_pass_at_1_diff{model="mixtral"} -0.375' in metrics


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
    assert not (tmp_path / "gate.md").exists()


def test_bless_round_trip_gives_the_same_verdict(runs, tmp_path):
    path = bless(runs["base"], tmp_path / "baselines")
    assert path.name == "humaneval_base.json" and path.parent == tmp_path / "baselines"
    record = json.loads(path.read_text())
    assert record["format"] == FORMAT and record["dataset"]["content_sha256"] == DATASET_SHA
    arm = record["arms"][0]
    assert arm["model"] == "mixtral"
    assert arm["aggregates"]["pass_at_k"]["1"]["value"] == 0.75  # 30 of 40 tasks pass
    assert arm["tasks"]["HumanEval/31"] == {"n": 5, "passed": 0, "infra_error": 0, "metrics": {}}
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


def test_infra_error_rate_over_threshold_fails(runs, tmp_path):
    # 15 of 200 samples (7.5%) are infra errors; pass rates over answered samples are unchanged.
    statuses = tasks(40, 5, BASE_FAILING, infra={t: 1 for t in range(15)})
    cand = make_run(tmp_path / "infra", {"mixtral": statuses})
    outcome = gate(runs["base"], cand, CFG, tmp_path / "gate")
    assert outcome.verdict is GateVerdict.FAIL
    checks = {c.name: c for c in outcome.models[0].checks}
    assert checks["pass@1"].verdict is GateVerdict.PASS and checks["pass@1"].diff == 0
    assert checks["infra_error"].verdict is GateVerdict.FAIL
    assert checks["infra_error"].candidate == pytest.approx(0.075)
    lenient = GateConfig(max_infra_error=0.10)
    assert gate(runs["base"], cand, lenient, tmp_path / "ok").verdict is GateVerdict.PASS


def test_similarity_metric_drop_fails_only_when_gated(tmp_path):
    sim = {"edit_similarity": 0.9}
    base = make_run(tmp_path / "b", {"mixtral": tasks(40, 3)}, similarity=sim)
    cand = make_run(tmp_path / "c", {"mixtral": tasks(40, 3)}, similarity={"edit_similarity": 0.6})
    assert gate(base, cand, CFG, tmp_path / "g1").verdict is GateVerdict.PASS
    outcome = gate(base, cand, GateConfig(metrics=("edit_similarity",)), tmp_path / "g2")
    assert outcome.verdict is GateVerdict.FAIL
    check = outcome.models[0].checks[1]
    assert check.name == "edit_similarity" and check.diff == pytest.approx(-0.3)
    with pytest.raises(ConfigError, match="bleu"):
        gate(base, cand, GateConfig(metrics=("bleu",)), tmp_path / "g3")


def test_models_are_matched_by_name_and_holm_corrected(tmp_path):
    same = tasks(40, 5, BASE_FAILING)
    base = make_run(tmp_path / "b", {"mixtral": same, "mistral": same})
    worse = tasks(40, 5, WORSE_FAILING)
    cand = make_run(tmp_path / "c", {"mistral": same, "mixtral": worse, "claude": tasks(40, 5)})
    outcome = gate(base, cand, CFG, tmp_path / "g")
    verdicts = {m.model: m.verdict for m in outcome.models}
    assert verdicts == {"mistral": GateVerdict.PASS, "mixtral": GateVerdict.FAIL}
    assert outcome.verdict is GateVerdict.FAIL
    checks = [c for m in outcome.models for c in m.checks if c.p_value is not None]
    assert all(c.p_adjusted >= c.p_value for c in checks)
    assert any("claude" in note for note in outcome.notes)
    assert len(ET.parse(tmp_path / "g" / "junit.xml").getroot().findall("testcase")) == 4


@pytest.mark.parametrize("problem", ["missing", "no_common_model", "not_a_baseline"])
def test_unusable_input_is_a_config_error(runs, tmp_path, problem):
    candidate = runs["base"]
    baseline: Path = tmp_path / "nowhere"
    if problem == "no_common_model":
        baseline = make_run(tmp_path / "claude", {"claude": tasks(40, 5)})
    elif problem == "not_a_baseline":
        baseline = tmp_path / "x.json"
        baseline.write_text('{"hello": 1}')
    with pytest.raises(ConfigError):
        gate(baseline, candidate, CFG, tmp_path / "out")
    with pytest.raises(ConfigError):
        bless(tmp_path / "nowhere", tmp_path / "baselines")
