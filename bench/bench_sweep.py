"""Benchmark sweeps (basic vs joblib launcher) and executor=ray vs executor=local.

Usage: python bench/bench_sweep.py [--tasks 20] [--n-samples 5] [--samples PATH] [--limit N]

1. A 2 x 2 x 2 sweep (temperature x template version x seed) on the embedded demo
   endpoint over --tasks HumanEval tasks, run by `evalkit run -m` with Hydra's basic
   launcher and with `hydra/launcher=joblib`: wall time of each and their ratio. Each
   sweep has its own fresh response store (no answer is cached); calibration is warmed first.
2. A samples file (default: bench/make_samples.py's mixed HumanEval file, without its
   "kind": "timeout" lines) executed by LocalExecutor and by RayExecutor (a local Ray
   instance on this machine): samples/s once the executor is up, its start-up time,
   and Ray's overhead (1 - ray/local), with verdict agreement between the two.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import make_samples  # bench/, beside this script

from evalkit.benchmarks import load_tasks
from evalkit.config import DatasetConfig, ExecutorConfig
from evalkit.execution import calibrate, make_executor, program_for

REPO = Path(__file__).resolve().parents[1]
SWEEP = ["model.params.temperature=0.2,0.8", "prompt.version=1.0.0,2.0.0", "seed=1,2"]


def evalkit(*args: str) -> float:
    """Seconds for one `python -m evalkit ARGS` (raises if it fails)."""
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "evalkit", *args], cwd=REPO, capture_output=True, text=True,
                          check=False, env=dict(os.environ, HF_DATASETS_OFFLINE="1", HF_HUB_OFFLINE="1"))
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"evalkit {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    return seconds


def bench_sweeps(tmp: Path, n_tasks: int, n_samples: int) -> None:
    common = [f"dataset.limit={n_tasks}", f"n_samples={n_samples}", f"executor.cache_dir={tmp / 'cache'}"]
    evalkit("run", *common, "n_samples=1", f"hydra.run.dir={tmp / 'warm'}",
            f"store.path={tmp / 'warm.sqlite'}")  # calibration measured once, cached, as in practice
    times = {}
    for launcher in ("basic", "joblib"):
        extra = ["hydra/launcher=joblib"] if launcher == "joblib" else []
        times[launcher] = evalkit("run", "-m", *extra, *SWEEP, *common, f"hydra.sweep.dir={tmp / launcher}",
                                  f"store.path={tmp / launcher / 'store.sqlite'}")
        jobs = [p for p in (tmp / launcher).iterdir() if p.name.isdigit()]
        assert len(jobs) == 8 and all((p / "results.json").is_file() for p in jobs), launcher
    per_job = 2 * n_tasks * n_samples
    print(f"sweep 2x2x2, {n_tasks} tasks, n_samples={n_samples}, 2 demo arms "
          f"({per_job} samples/job, 8 jobs):")
    print(f"  basic launcher : {times['basic']:7.1f} s")
    print(f"  joblib launcher: {times['joblib']:7.1f} s")
    print(f"  basic / joblib : {times['basic'] / times['joblib']:7.2f}x")


def _programs(rows, tasks, limits):
    for i, row in enumerate(rows):
        task = tasks[row["task_id"]]
        code = row["solution"] if "solution" in row else task.prompt + row["completion"]
        yield program_for(task, code, str(i), limits[task.task_id])


def _throughput(kind: str, rows, tasks, limits, cache: Path) -> tuple[float, float, list]:
    """(start-up seconds, samples/s once up, verdicts in row order)."""
    cfg = ExecutorConfig(kind=kind, share_identical=False, cache_dir=cache)
    start = time.perf_counter()
    with make_executor(cfg) as executor:
        up = time.perf_counter()
        verdicts: list = [None] * len(rows)
        for key, verdict in executor.run(_programs(rows, tasks, limits)):
            verdicts[int(key)] = verdict
        rate = len(rows) / (time.perf_counter() - up)
    return up - start, rate, verdicts


def bench_ray(tmp: Path, samples: Path, limit: int | None) -> None:
    try:
        import ray  # noqa: F401
    except ImportError:
        print("executor=ray: skipped (pip install 'evalkit[ray]')")
        return
    rows = [r for r in map(json.loads, samples.read_text().splitlines()) if r.get("kind") != "timeout"]
    rows = rows[:limit] if limit else rows
    tasks = {t.task_id: t for t in load_tasks(DatasetConfig())}
    used = [tasks[t] for t in sorted({r["task_id"] for r in rows})]
    with make_executor(ExecutorConfig(cache_dir=tmp / "cache")) as local:
        limits = calibrate(used, local)
    results = {kind: _throughput(kind, rows, tasks, limits, tmp / "cache") for kind in ("local", "ray")}
    agree = sum(a.status == b.status for a, b in zip(results["local"][2], results["ray"][2], strict=True))
    print(f"executor, {len(rows)} samples of {samples.name} (no timeout lines), this machine:")
    for kind, (startup, rate, _) in results.items():
        print(f"  executor={kind:5s}: {rate:7.1f} samples/s (start-up {startup:.1f} s)")
    overhead = 1 - results["ray"][1] / results["local"][1]
    print(f"  Ray overhead on one node: {overhead:+.1%} of local throughput (target < 30%)")
    print(f"  verdicts agree: {agree}/{len(rows)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=20)
    parser.add_argument("--n-samples", type=int, default=5)
    parser.add_argument("--samples", type=Path, default=None, help="default: bench/make_samples.py's file")
    parser.add_argument("--limit", type=int, default=None, help="use only the first N sample lines")
    parser.add_argument("--skip-sweep", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="evalkit-bench-sweep-") as tmp:
        if not args.skip_sweep:
            bench_sweeps(Path(tmp), args.tasks, args.n_samples)
        samples = args.samples
        if samples is None:
            samples = Path(tmp) / "samples_mixed.jsonl"
            rows = make_samples.build(20, 0.02, 0.0, 20240601)
            samples.write_text("".join(json.dumps(row) + "\n" for row in rows))
        bench_ray(Path(tmp), samples, args.limit)


if __name__ == "__main__":
    main()
