"""Metrics stage: pass@k with intervals, similarity metrics, paired statistics between arms.

The public API, used by reporting, the gate and notebooks:

- ``pass_at_k(n, c, k)``: unbiased pass@k of one task (None when n < k).
- ``pass_at_k_summary(samples, ks, resamples, confidence, seed)``: an arm's pass@k per k with a
  95% bootstrap interval over tasks, or ``{"value": None, "reason": ...}``.
- ``per_task_pass_at_k(samples, k)``, ``paired_pass_at_k(baseline, candidate, k, ...)``.
- ``mean_ci(values_per_task, ...)``: mean with a bootstrap interval over tasks.
- ``paired_difference(a, b, ...)``: ``b - a`` (candidate minus baseline) with a paired bootstrap
  interval and a sign-flip p-value.
- ``paired_test(a, b, ..., binary=False)``: ``paired_difference`` with McNemar's exact p-value
  when every task has one 0/1 outcome per arm (what reporting and the gate use).
- ``mcnemar(a_pass, b_pass)``, ``fisher_exact(a_passed, a_n, b_passed, b_n)``, ``holm(p_values)``,
  ``stratified_drop_p_value(base_passed, base_n, cand_passed, cand_n)`` (exact, tasks fixed),
  ``benjamini_hochberg(p_values, family_size)``,
  ``minimum_detectable_effect(n_tasks, n_samples, base_rate, alpha, power)``, planned at
  ``planning_rate(rates)``.
- ``detectable_drop(std_error, max_drop, confidence, power)`` and
  ``decisive_samples(diff, std_error, max_drop, confidence, n_samples)``: a tolerance gate's power.
- ``compare_arms(pairs, measures, ...)``: the one comparison engine (``metrics.compare``): per-task
  tables (``task_table``, ``task_tables``), paired differences (``PairedDiff``) with Holm over the
  call, per-task ``Flip``s with Fisher's exact test. Reports, ``compare``, the gate and the
  notebooks all go through it.
- ``similarity_scores(predictions, references, metrics, embedding_model=None)``: per-example
  scores from local ``evaluate`` modules (``METRICS``).

Importing this package loads no metric module and does no I/O.
"""

from evalkit.metrics.compare import ArmTasks, Comparison, compare_arms, task_table, task_tables
from evalkit.metrics.passk import (
    paired_pass_at_k,
    pass_at_k,
    pass_at_k_summary,
    per_task_pass_at_k,
    task_counts,
)
from evalkit.metrics.similarity import (
    COMPLETION_METRICS,
    METRICS,
    load_metric,
    load_metrics,
    similarity_scores,
)
from evalkit.metrics.stats import (
    benjamini_hochberg,
    bootstrap_means,
    decisive_samples,
    detectable_drop,
    fisher_exact,
    holm,
    mcnemar,
    mean_ci,
    minimum_detectable_effect,
    normal_quantile,
    paired_difference,
    paired_test,
    planning_rate,
    stratified_drop_p_value,
)

__all__ = [
    "COMPLETION_METRICS",
    "METRICS",
    "benjamini_hochberg",
    "ArmTasks",
    "Comparison",
    "compare_arms",
    "task_table",
    "task_tables",
    "decisive_samples",
    "detectable_drop",
    "fisher_exact",
    "bootstrap_means",
    "holm",
    "load_metric",
    "load_metrics",
    "mcnemar",
    "mean_ci",
    "minimum_detectable_effect",
    "normal_quantile",
    "paired_difference",
    "paired_pass_at_k",
    "stratified_drop_p_value",
    "paired_test",
    "planning_rate",
    "pass_at_k",
    "pass_at_k_summary",
    "per_task_pass_at_k",
    "similarity_scores",
    "task_counts",
]
