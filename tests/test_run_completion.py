"""`evalkit run` on the completion sets (HumanEval infilling, our IDE-style holes) with the demo endpoint
(offline, no model): demo-oracle fills every hole, demo-buggy fewer; the completion metrics, both
readings and latency percentiles per arm."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from matplotlib.image import imread

from evalkit.records import RunResults, SampleResult
from tests.support.cli import run_evalkit

pytestmark = pytest.mark.slow  # real runs and processes: the full suite, not the fast tier


def _run(tmp_path: Path, *overrides: str) -> tuple[RunResults, list[SampleResult]]:
    run_dir = tmp_path / "run"
    proc = run_evalkit("run", *overrides, f"hydra.run.dir={run_dir}",
                       f"store.path={tmp_path / 'store.sqlite'}", f"executor.cache_dir={tmp_path / 'cache'}",
                       timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = RunResults.from_json(json.loads((run_dir / "results.json").read_text()))
    samples = [SampleResult.from_json(json.loads(line))
               for line in (run_dir / "samples.jsonl").read_text().splitlines()]
    return results, samples


def test_single_line_with_no_other_override_runs_the_demo_arms(tmp_path):
    # As `evalkit run dataset=infilling_single_line` does, on its first 200 holes (the whole set's
    # 1,033 cost the suite 17 s and showed nothing more), with fewer samples per task.
    results, samples = _run(tmp_path, "dataset=infilling_single_line", "dataset.limit=200", "n_samples=1",
                            "k=[1]")
    arms = {arm.arm: arm for arm in results.arms}
    assert set(arms) == {"demo-oracle", "demo-buggy"} and results.dataset.n_tasks == 200
    oracle, buggy = arms["demo-oracle"], arms["demo-buggy"]
    assert oracle.template.family == "codegemma"  # the demo's FIM family
    assert oracle.pass_at_k[1].value == 1.0 and buggy.pass_at_k[1].value < 0.8
    for name in ("exact_match", "edit_similarity", "first_line_exact_match"):
        assert oracle.metrics[name].value == 1.0 and buggy.metrics[name].value < 1.0, name
    # The lenient reading applies the gateway's completion steps: it repairs the repeated suffix lines.
    assert buggy.pass_at_k_lenient[1].value > buggy.pass_at_k[1].value
    latency = oracle.latency_s
    assert 0 < latency.p50 <= latency.p90 <= latency.p95 <= latency.p99
    sample = next(s for s in samples if s.arm == "demo-oracle")
    assert "<|fim_prefix|>" in sample.prompt and "<|fim_middle|>" in sample.prompt
    assert sample.task_id.startswith("SingleLineInfilling/HumanEval/")
    # the report says what the lenient reading is here (it said "first fenced block")
    assert results.dataset.kind == "completion"
    report = (tmp_path / "run" / "report.md").read_text()
    assert "lenient one (the raw middle after all five of the gateway's completion steps)" in report


@pytest.mark.parametrize("dataset", ["infilling_multi_line", "infilling_random_span",
                                     "infilling_random_span_light"])
def test_demo_run_on_each_other_subset(tmp_path, dataset):
    results, _ = _run(tmp_path, f"dataset={dataset}", "dataset.limit=80", "n_samples=2", "k=[1]")
    arms = {arm.arm: arm for arm in results.arms}
    assert arms["demo-oracle"].pass_at_k[1].value == 1.0
    assert arms["demo-buggy"].pass_at_k[1].value < 0.9


def test_streamed_demo_run_records_time_to_first_token(tmp_path):
    results, samples = _run(tmp_path, "dataset=infilling_random_span_light", "dataset.limit=10",
                            "n_samples=1", "k=[1]", "model.stream=true", "report.plots=true")
    assert all(arm.ttft_s is not None and arm.ttft_s.p50 <= arm.latency_s.p99 for arm in results.arms)
    assert all(s.ttft_s is not None and 0 < s.ttft_s <= s.latency_s for s in samples)
    # the report's latency figure gets a time-to-first-token panel beside request latency
    _run(tmp_path / "plain", "dataset=infilling_random_span_light", "dataset.limit=10", "n_samples=1",
         "k=[1]", "report.plots=true")
    streamed_png = imread(tmp_path / "run" / "latency.png")
    plain_png = imread(tmp_path / "plain" / "run" / "latency.png")
    assert streamed_png.shape[1] > 1.6 * plain_png.shape[1]  # two panels (figures are cropped tight)


def test_a_generation_template_on_an_infilling_set_exits_2(tmp_path):
    proc = run_evalkit("run", "dataset=infilling_single_line", "prompt.kind=generations",
                       f"hydra.run.dir={tmp_path / 'run'}")
    assert proc.returncode == 2
    assert "the dataset is a completion set and needs completions templates" in proc.stderr


@pytest.mark.parametrize("dataset", ["ide_completion_python", "ide_completion_javascript"])
def test_demo_run_on_each_ide_completion_set(tmp_path, dataset):
    # Our own IDE-style holes (a line or a block inside a real file), with no override but the sample
    # count: the demo index finds every hole's task, so the oracle fills them all, in both languages.
    if dataset.endswith("javascript") and shutil.which("node") is None:
        pytest.skip("node is not installed: JavaScript tasks need node (README, Datasets)")
    results, samples = _run(tmp_path, f"dataset={dataset}", "n_samples=2", "k=[1]")
    arms = {arm.arm: arm for arm in results.arms}
    assert set(arms) == {"demo-oracle", "demo-buggy"} and results.dataset.name == dataset
    oracle, buggy = arms["demo-oracle"], arms["demo-buggy"]
    assert oracle.pass_at_k[1].value == 1.0 and oracle.pass_at_k_lenient[1].value == 1.0
    assert oracle.metrics["exact_match"].value == 1.0
    assert buggy.pass_at_k[1].value < 0.9 and buggy.metrics["exact_match"].value < 1.0
    # Both kinds of hole are in the run: one line (".../L3") and a block (".../L5_L7").
    holes = {s.task_id.rsplit("/", 1)[1].count("_L") for s in samples if s.arm == "demo-oracle"}
    assert holes == {0, 1} and all(s.task_id.startswith(f"{dataset}/") for s in samples)
    assert all("<|fim_prefix|>" in s.prompt and "<|fim_suffix|>" in s.prompt for s in samples)
