"""`evalkit run` and the response store across runs (issue 19): a new run asks the model again
unless `store.reuse=true`, and a run that reused answers says how many and from which run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.cli import run_evalkit

pytestmark = pytest.mark.slow  # real runs and processes: the full suite, not the fast tier

ORACLE_ONLY = "arms=[{label: demo-oracle, model: {name: demo-oracle}}]"


def run(tmp: Path, name: str, *extra: str) -> dict:
    proc = run_evalkit("run", ORACLE_ONLY, "dataset.limit=3", "n_samples=2", "k=[1]", "report.plots=false",
                       f"hydra.run.dir={tmp / name}", f"store.path={tmp / 'store.sqlite'}",
                       f"executor.cache_dir={tmp / 'cache'}", *extra)
    assert proc.returncode == 0, proc.stderr[-2000:]
    (arm,) = json.loads((tmp / name / "results.json").read_text())["arms"]
    return arm


def test_reuse_across_runs_is_explicit_and_reported(tmp_path):
    first = run(tmp_path, "monday")
    assert first["cached_samples"] == 0 and first["cached_from"] == []
    assert first["endpoint"]["answered_by"]["model"] == "demo-oracle"
    assert first["endpoint"]["base_url"].startswith("embedded demo, evalkit ")
    again = run(tmp_path, "tuesday")  # default: ask the model again
    assert again["cached_samples"] == 0
    reused = run(tmp_path, "wednesday", "store.reuse=true")
    assert reused["cached_samples"] == 6 and len(reused["cached_from"]) == 1
    # the newest stored answer of each request wins: tuesday asked again
    assert reused["cached_from"][0].startswith("tuesday-") and reused["cached_from"][0].endswith(" UTC)")
    report = (tmp_path / "wednesday" / "report.md").read_text()
    assert "demo-oracle: 6 samples answered from the response store (stored by tuesday-" in report
    assert reused["pass_at_k"]["1"]["value"] == first["pass_at_k"]["1"]["value"] == 1.0


def test_a_run_in_a_folder_of_the_same_name_is_another_run_that_asks_again(tmp_path):
    # CI runs every night in `runs/mixtral`: the run id was the folder's name, so one night's stored
    # answers counted as "an earlier attempt of this run" for the next, whatever store.reuse said.
    monday = run(tmp_path, "monday/runs/mixtral")
    tuesday = run(tmp_path, "tuesday/runs/mixtral")
    assert monday["cached_samples"] == 0 and tuesday["cached_samples"] == 0 and tuesday["cached_from"] == []
    ids = [json.loads((tmp_path / day / "runs/mixtral" / "results.json").read_text())["run_id"]
           for day in ("monday", "tuesday")]
    assert ids[0] != ids[1] and all(i.startswith("mixtral-") for i in ids)


def test_offline_replay_answers_from_the_store(tmp_path):
    run(tmp_path, "recorded")
    replay = run(tmp_path, "replay", "model.offline=true")
    assert replay["cached_samples"] == 6 and replay["cached_from"][0].startswith("recorded-")
