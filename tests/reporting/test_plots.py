"""The report's plots on large benchmarks: what the per-task outcome map keeps."""

from __future__ import annotations

import numpy as np
import pandas as pd

from evalkit.reporting.plots import HEATMAP_MAX_TASKS, heatmap_tasks


def _rates(n_tasks: int, arms: int, differ: set[int]) -> pd.DataFrame:
    index = [f"MultiLineInfilling/HumanEval/{t // 40}/L{t % 40}" for t in range(n_tasks)]
    data = np.full((n_tasks, arms), 0.9)
    for t in differ:
        data[t, 0] = 0.1  # the first arm fails these, the others pass
    return pd.DataFrame(data, index=index, columns=[f"arm{i}" for i in range(arms)])


def test_a_benchmark_of_164_tasks_shows_every_task():
    rates = _rates(164, 2, set())
    shown, title = heatmap_tasks(rates)
    assert shown.index.equals(rates.index) and title == "per-task outcome (share of samples passing)"


def test_thousands_of_holes_show_the_tasks_where_arms_differ_in_benchmark_order():
    differ = {5, 4_000, 17, 5_800}
    rates = _rates(5_815, 2, differ)
    shown, title = heatmap_tasks(rates)
    assert len(shown) == HEATMAP_MAX_TASKS
    assert {rates.index[t] for t in differ} <= set(shown.index)
    positions = [rates.index.get_loc(t) for t in shown.index]
    assert positions == sorted(positions)  # the benchmark's order, not the ranking's
    assert title.endswith(f"the {HEATMAP_MAX_TASKS} of 5,815 tasks where the arms differ most")


def test_one_arm_shows_the_tasks_it_passes_least():
    rates = _rates(1_000, 1, {3, 999})
    shown, title = heatmap_tasks(rates)
    assert {rates.index[3], rates.index[999]} <= set(shown.index) and "the arm passes least" in title
