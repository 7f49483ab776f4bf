"""A built wheel is the whole product: installed into a fresh virtual environment, it runs from any folder."""

import json
import re
import subprocess
import sys
import venv

import pytest

from tests.support.cli import REPO

pytestmark = pytest.mark.slow


def test_wheel_runs_the_demo_from_any_folder(tmp_path):
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(wheels), str(REPO)], check=True, capture_output=True)
    (wheel,) = wheels.glob("evalkit-*.whl")
    # The dependencies come from this interpreter's site-packages; evalkit itself only from the wheel.
    env_dir = tmp_path / "venv"
    venv.create(env_dir, system_site_packages=True, with_pip=True)
    python = env_dir / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "--no-deps", "-q", str(wheel)], check=True,
                   capture_output=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    where = subprocess.run([str(python), "-c", "import evalkit; print(evalkit.__file__)"], cwd=elsewhere,
                           check=True, capture_output=True, text=True).stdout
    assert str(env_dir) in where and str(REPO) not in where
    run = subprocess.run([str(env_dir / "bin" / "evalkit"), "run", "dataset.limit=3", "n_samples=2",
                          "executor.workers=1"], check=False, cwd=elsewhere, capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    (results_path,) = (elsewhere / "reports").rglob("results.json")  # under the current folder
    results = json.loads(results_path.read_text())
    assert results["dataset"]["n_tasks"] == 3
    oracle = next(arm for arm in results["arms"] if arm["arm"] == "demo-oracle")
    assert oracle["pass_at_k"]["1"]["value"] == 1.0
    # the shipped templates are inside the wheel too
    lint = subprocess.run([str(env_dir / "bin" / "evalkit"), "prompts", "lint"], check=False, cwd=elsewhere,
                          capture_output=True, text=True, timeout=120)
    assert lint.returncode == 0, lint.stderr[-2000:]
    assert re.search(r"lint: \d+ templates .* under \S+/site-packages/evalkit/_data/prompts are valid",
                     lint.stdout)
