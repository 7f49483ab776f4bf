"""The shipped notebooks: committed clean, and run top to bottom on fresh demo runs.

Each notebook is executed by a real Jupyter kernel (nbclient) against runs the real
`evalkit run` command just made on the embedded demo endpoint; any cell error fails.
"""

from __future__ import annotations

import gc
import json
import os
import re
import shutil
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from tests.support.cli import REPO, run_evalkit

pytestmark = pytest.mark.slow  # real runs and processes: the full suite, not the fast tier

NOTEBOOKS = REPO / "notebooks"
EXPLORE = NOTEBOOKS / "explore_reports.ipynb"
COMPARE = NOTEBOOKS / "compare_templates.ipynb"
KERNEL = "evalkit-test-python"


@pytest.fixture(scope="module")
def demo_runs(tmp_path_factory) -> Path:
    """runs/demo: demo-oracle and demo-buggy; runs/tmpl: demo-buggy on mixtral templates 1.0.0 and
    2.0.0; runs/default: the default configuration (demo-oracle, demo-mimic on 1.0.0 and 2.0.0)."""
    tmp = tmp_path_factory.mktemp("nb")
    common = ("dataset.limit=6", "n_samples=3", "k=[1,3]", f"executor.cache_dir={tmp}/cache")
    demo = ("run", *common, f"hydra.run.dir={tmp}/runs/demo", f"store.path={tmp}/demo.sqlite",
            "arms=[{label: demo-oracle, model: {name: demo-oracle}},"
            " {label: demo-buggy, model: {name: demo-buggy}}]")
    tmpl = ("run", *common, f"hydra.run.dir={tmp}/runs/tmpl", f"store.path={tmp}/tmpl.sqlite",
            "arms=[{label: v1, model: {name: demo-buggy}, prompt: {version: 1.0.0}},"
            " {label: v2, model: {name: demo-buggy}, prompt: {version: 2.0.0}}]")
    default = ("run", *common, f"hydra.run.dir={tmp}/runs/default", f"store.path={tmp}/default.sqlite")
    with ThreadPoolExecutor(2) as pool:  # real processes: the runs are independent
        done = list(pool.map(lambda args: run_evalkit(*args, timeout=180), [demo, tmpl, default]))
    for proc in done:
        assert proc.returncode == 0, proc.stderr[-2000:]
    return tmp / "runs"


@pytest.fixture(scope="module")
def kernel_specs(tmp_path_factory) -> KernelSpecManager:
    """A kernelspec running this interpreter by its absolute path (no shim, no user install)."""
    folder = tmp_path_factory.mktemp("kernels") / KERNEL
    folder.mkdir()
    spec = {"argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": "evalkit tests", "language": "python"}
    (folder / "kernel.json").write_text(json.dumps(spec))
    return KernelSpecManager(kernel_dirs=[str(folder.parent)])


def execute(path: Path, specs: KernelSpecManager, env: dict[str, str]) -> nbformat.NotebookNode:
    """Run every cell in the notebook's folder (as Jupyter does); CellExecutionError on any error."""
    notebook = nbformat.read(path, as_version=4)
    manager = KernelManager(kernel_name=KERNEL, kernel_spec_manager=specs)
    client = NotebookClient(notebook, km=manager, timeout=60,
                            resources={"metadata": {"path": str(path.parent)}})
    try:
        # The kernel must not reach the hub: notebooks read run files only.
        client.execute(env={**os.environ, "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1", **env})
    finally:
        # The kernel client's finalizer closes its zmq context: run it here, not in some later
        # garbage collection (one that ran inside pytest's assertion rewriting at the end of a
        # session crashed CPython 3.11's AST builder: "AST constructor recursion depth mismatch").
        del client
        gc.collect()
    return notebook


def outputs_text(notebook: nbformat.NotebookNode) -> str:
    """Everything a reader sees as text: streams, plain, markdown and html results."""
    parts = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            if output.output_type == "stream":
                parts.append(output.text)
            for kind in ("text/plain", "text/markdown", "text/html"):
                parts.append(output.get("data", {}).get(kind, ""))
    return "\n".join(parts)


def figures(notebook: nbformat.NotebookNode) -> int:
    return sum("image/png" in output.get("data", {})
               for cell in notebook.cells for output in cell.get("outputs", []))


@pytest.mark.parametrize("path", [EXPLORE, COMPARE], ids=lambda p: p.name)
def test_notebook_is_committed_clean(path):
    notebook = nbformat.read(path, as_version=nbformat.NO_CONVERT)
    nbformat.validate(notebook)
    assert notebook.nbformat == 4 and notebook.metadata.kernelspec.name == "python3"
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code and all(cell.outputs == [] and cell.execution_count is None for cell in code)
    assert "EVALKIT_" in code[0].source  # the first cell names the run(s) and reads the override


def test_explore_reports_runs_on_fresh_runs(demo_runs, kernel_specs, tmp_path):
    # One of them as a run that exited 2 after its reports: its rows read as a healthy run's.
    runs = shutil.copytree(demo_runs, tmp_path / "runs")
    results = json.loads((runs / "tmpl" / "results.json").read_text())
    results["problems"] = ["arm v1: 4 of 18 samples were refused by the endpoint"]
    (runs / "tmpl" / "results.json").write_text(json.dumps(results))
    notebook = execute(EXPLORE, kernel_specs, {"EVALKIT_RUNS_ROOT": str(runs)})
    text = outputs_text(notebook)
    assert "3 run(s), 7 arm(s)" in text
    for run, arm in (("demo", "demo-oracle"), ("demo", "demo-buggy"), ("tmpl", "v1"), ("tmpl", "v2")):
        # a run's id: its folder's name and a suffix of its own
        assert re.search(rf"\b{run}-[0-9a-f]{{6}} / {arm} \(synthetic\)", text), (run, arm)
    assert re.search(r"\btmpl-[0-9a-f]{6} / v1 \(synthetic\) \(exited 2\)", text)
    assert not re.search(r"\bdemo-[0-9a-f]{6} / demo-oracle \(synthetic\) \(exited 2\)", text)
    assert "4 of 18 samples were refused" in text
    assert "1.000 [0.755, 1.000]" in text  # the oracle's pass@1 with its interval (6 tasks x 3, all pass)
    assert figures(notebook) >= 2  # pass@k with interval bars; latency and tokens
    assert "--- extracted code (executed) ---" in text and "--- verdict: " in text
    assert "--- mixtral/1.0.0\n+++ mixtral/2.0.0" in text  # the template diff between versions
    assert "latency_p95" in text


def test_compare_templates_judges_the_template_change(demo_runs, kernel_specs):
    notebook = execute(COMPARE, kernel_specs, {"EVALKIT_RUN_DIR": str(demo_runs / "tmpl")})
    text = outputs_text(notebook)
    assert "baseline  v1: demo-buggy with template mixtral 1.0.0" in text
    assert "candidate v2: demo-buggy with template mixtral 2.0.0" in text
    assert "--- mixtral/1.0.0" in text and "6 tasks; pass@1 v1 = " in text
    assert "only v1 passed 0, only v2 passed 0" in text  # the demo answers the same under both
    assert "p_adjusted" in text and "(mcnemar)" in text and figures(notebook) == 1
    # 6 tasks x 3 samples are far too few to see a 2-point drop, and the verdict says so. On its own
    # rule it read "No drop of 2 points or more" from the interval of width 0 of two arms that agree
    # (a researcher's trial), and planned changes of more than 100 points: it is the gate's check now.
    assert "This run could not have seen a 2-point drop" in text
    assert "No drop of" not in text and "As `evalkit gate` decides it: INCONCLUSIVE" in text
    assert all(float(points) <= 100 for points in re.findall(r"catches a drop of ([\d.]+) points", text))


def test_compare_templates_finds_the_default_runs_template_comparison(demo_runs, kernel_specs):
    notebook = execute(COMPARE, kernel_specs, {"EVALKIT_RUN_DIR": str(demo_runs / "default")})
    text = outputs_text(notebook)
    assert "baseline  demo-mimic@mixtral-1.0.0: demo-mimic with template mixtral 1.0.0" in text
    assert "candidate demo-mimic@mixtral-2.0.0: demo-mimic with template mixtral 2.0.0" in text
    assert "tasks better with demo-mimic@mixtral-2.0.0:" in text


def test_compare_templates_on_a_folder_of_runs_says_it_judges_one_run(demo_runs, kernel_specs):
    # Given a sweep's folder, it paired arms across runs and failed three cells later: "no results.json".
    try:
        execute(COMPARE, kernel_specs, {"EVALKIT_RUN_DIR": str(demo_runs)})
    except CellExecutionError as exc:
        message = str(exc)
    else:
        pytest.fail("the notebook ran on a folder of runs")
    # The error's frames held the kernel client: collected here, not inside a later module's
    # assertion rewriting (see ``execute``).
    gc.collect()
    assert f"{demo_runs} is not one finished run (no results.json)" in message
    assert "evalkit compare JOB_DIR JOB_DIR" in message
