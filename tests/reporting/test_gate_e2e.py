"""The template-change gate end to end: real runs on the demo endpoint, the real `evalkit gate`."""

from __future__ import annotations

import json
import shutil
import socket
from pathlib import Path

import pytest
import yaml

from tests.support.cli import REPO, run_evalkit

pytestmark = pytest.mark.slow  # real runs and processes: the full suite, not the fast tier

ORACLE_ONLY = "arms=[{label: demo-oracle, model: {name: demo-oracle}}]"


def _run(tmp: Path, name: str, *extra: str) -> Path:
    run_dir = tmp / name
    proc = run_evalkit("run", "dataset.limit=12", "n_samples=2", ORACLE_ONLY, f"hydra.run.dir={run_dir}",
                       f"store.path={tmp / 'store.sqlite'}", f"executor.cache_dir={tmp / 'cache'}", *extra)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return run_dir


def _registry_that_breaks_extraction(tmp: Path) -> Path:
    """A copy of prompts/ whose mixtral 2.0.0 no longer forbids fences and forgets to delete fence
    lines: the demo oracle answers in a fence (the prompt allows it) and the answers stop compiling."""
    registry = tmp / "prompts_broken"
    shutil.copytree(REPO / "prompts", registry)
    partial = registry / "code_generation" / "partials" / "system" / "2.0.0.jinja"
    rule = "Do not wrap the code in markdown fences and do not"
    partial.write_text(partial.read_text().replace(rule, "Do not"))
    path = registry / "code_generation" / "mixtral" / "2.0.0.yml"
    data = yaml.safe_load(path.read_text())
    data["postprocess"] = [s for s in data["postprocess"] if s != "strip_fences"]
    path.write_text(yaml.safe_dump(data))
    return registry


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("gate")
    return {
        "tmp": tmp,
        "baseline": _run(tmp, "baseline"),
        "same": _run(tmp, "same"),
        "broken": _run(tmp, "broken", f"prompt.registry={_registry_that_breaks_extraction(tmp)}"),
    }


def test_identical_rerun_never_fails_and_passes_only_what_its_samples_can_show(runs):
    # 12 tasks x 2 samples that agree everywhere: the bootstrap interval is [0, 0], yet a rerun could
    # differ by more than max_drop; it PASSed on that interval. Sampling alone sets its width now.
    proc = run_evalkit("gate", "--baseline", str(runs["baseline"]), "--candidate", str(runs["same"]))
    assert proc.returncode == 0, proc.stderr
    assert "INCONCLUSIVE" in proc.stdout
    assert "samples per task in both baseline and candidate would decide it" in proc.stdout
    lax = run_evalkit("gate", "--baseline", str(runs["baseline"]), "--candidate", str(runs["same"]),
                      "gate.max_drop=0.5", "-o", str(runs["tmp"] / "gate_lax"))
    assert lax.returncode == 0 and "PASS" in lax.stdout, lax.stdout + lax.stderr


def test_template_that_breaks_extraction_fails_and_names_flipped_tasks(runs):
    out = runs["tmp"] / "gate_broken"
    proc = run_evalkit("gate", "--baseline", str(runs["baseline"]), "--candidate", str(runs["broken"]),
                       "-o", str(out))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "FAIL" in proc.stdout
    gate_md = (out / "gate.md").read_text()
    assert "HumanEval/0" in gate_md  # a flipped task is named
    assert (out / "junit.xml").read_text().count("<failure") >= 1
    assert (out / "metrics.txt").read_text().rstrip().endswith("# EOF")


def test_blessed_baseline_gates_like_its_run(runs):
    blessed_dir = runs["tmp"] / "baselines"
    proc = run_evalkit("baseline", "bless", str(runs["baseline"]), "-o", str(blessed_dir))
    assert proc.returncode == 0, proc.stderr
    (blessed,) = blessed_dir.glob("*.json")
    assert blessed.stat().st_size < (runs["baseline"] / "samples.jsonl").stat().st_size
    proc = run_evalkit("gate", "--baseline", str(blessed), "--candidate", str(runs["broken"]),
                       "-o", str(runs["tmp"] / "gate_blessed"))
    assert proc.returncode == 1


def test_baseline_from_another_dataset_version_exits_2(runs):
    blessed_dir = runs["tmp"] / "other_version"
    run_evalkit("baseline", "bless", str(runs["baseline"]), "-o", str(blessed_dir))
    (blessed,) = blessed_dir.glob("*.json")
    data = json.loads(blessed.read_text())
    data["dataset"]["content_sha256"] = "0" * 64
    blessed.write_text(json.dumps(data))
    proc = run_evalkit("gate", "--baseline", str(blessed), "--candidate", str(runs["same"]),
                       "-o", str(runs["tmp"] / "gate_other"))
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_endpoint_down_exits_2_and_leaves_the_baseline_alone(runs):
    before = {p: p.read_bytes() for p in runs["baseline"].iterdir() if p.is_file()}
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    tmp = runs["tmp"]
    proc = run_evalkit("run", "dataset.limit=3", "n_samples=1", "model=openai_compatible",
                       "model.name=demo-oracle", "model.max_retries=0", f"model.base_url=http://127.0.0.1:{port}/v1",
                       f"hydra.run.dir={tmp / 'down'}",
                       f"store.path={tmp / 'store_down.sqlite'}", f"executor.cache_dir={tmp / 'cache'}")
    assert proc.returncode == 2
    assert f"127.0.0.1:{port}" in proc.stderr
    after = {p: p.read_bytes() for p in runs["baseline"].iterdir() if p.is_file()}
    assert after == before
