"""The report's plots, drawn with matplotlib's Agg canvas into PNG files.

Figures are built with ``matplotlib.figure.Figure`` rather than pyplot, so no
global backend or figure registry is touched (safe in threads and notebooks).
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure

from evalkit.records import ArmResult, PairedDiff
from evalkit.reporting.aggregate import display_label, scored
from evalkit.results import task_pass_rates

DPI = 100
"""Resolution of every PNG: small enough to embed several in report.html."""


PAD_INCHES = 0.1
"""Margin around the labels' bounding box (matplotlib's own for a tight bounding box)."""
PLOT_LABEL_CHARS = 60
"""Longest label a plot draws (a longer one ends in an ellipsis; the tables show it whole): an arm
label of 60,000 characters made PNGs 660,000 pixels wide, 61 s and 1.6 GB (an attacker's trial)."""


def _shown(text: str) -> str:
    """``text`` as a plot draws it: literally (matplotlib reads ``$...$`` as TeX math, and an arm named
    after a TeX fraction left open ended the report with exit 3: an attacker's trial), at most
    PLOT_LABEL_CHARS long."""
    text = text if len(text) <= PLOT_LABEL_CHARS else text[:PLOT_LABEL_CHARS - 1] + "\u2026"
    return text.replace("$", r"\$")


def _save(fig: Figure, path: Path) -> Path:
    canvas = FigureCanvasAgg(fig)
    # The canvas grows to every label, so none is cut at the edge. Measured first and given as a
    # box: bbox_inches="tight" draws the whole figure twice, once only to measure it (a third of a
    # second of a HumanEval report's outcome map); the PNG is the same to the pixel.
    box = fig.get_tightbbox(canvas.get_renderer())
    fig.savefig(path, format="png", dpi=DPI, bbox_inches=box.padded(PAD_INCHES))
    return path


def pass_at_k_plot(arms: Sequence[ArmResult], path: Path) -> Path:
    """Grouped bars of pass@k per arm (faithful solid, lenient hatched) with interval bars."""
    ks = list(dict.fromkeys(k for arm in arms for k in arm.pass_at_k))
    readings = [("pass_at_k", "faithful", None), ("pass_at_k_lenient", "lenient", "//")]
    readings = [r for r in readings if any(getattr(arm, r[0]) for arm in arms)]
    fig = Figure(figsize=(max(6.0, 1.6 * len(arms) * max(len(ks), 1)), 4.0))
    ax = fig.subplots()
    slots = max(len(arms) * len(readings), 1)
    width = 0.8 / slots
    for a, arm in enumerate(arms):
        for r, (key, name, hatch) in enumerate(readings):
            offset = (a * len(readings) + r) * width - 0.4 + width / 2
            for i, k in enumerate(ks):
                cell = getattr(arm, key).get(k)
                x = i + offset
                if cell is None or cell.value is None:
                    ax.text(x, 0.02, "n/a", ha="center", rotation=90, fontsize=8)
                    continue
                err = None
                if cell.ci_low is not None and cell.ci_high is not None:
                    err = [[cell.value - cell.ci_low], [cell.ci_high - cell.value]]
                ax.bar(x, cell.value, width, yerr=err, capsize=3, color=f"C{a}", hatch=hatch,
                       edgecolor="black", linewidth=0.5,
                       label=f"{_shown(display_label(arm))} ({name})" if i == 0 else None)
    ax.set_xticks(range(len(ks)), [f"pass@{k}" for k in ks])
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("pass@k (95% interval)")
    ax.set_title("pass@k per arm")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return _save(fig, path)


HEATMAP_TASKS_PER_ROW = 60
"""Tasks per row of the per-task outcome map: every task keeps a readable id below its cell."""
HEATMAP_MAX_TASKS = 600
"""Tasks the outcome map shows at most (10 rows): 5,815 infilling holes would take minutes to draw
and nobody could read them; the report's tables name every flipped task anyway."""


def heatmap_tasks(rates: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """The tasks (rows of ``rates``: task x arm pass rates) the outcome map shows, and its title.

    Up to HEATMAP_MAX_TASKS, all of them; beyond, those where the arms differ most (one arm: those
    it passes least), kept in the benchmark's order.
    """
    title = "per-task outcome (share of samples passing)"
    if len(rates) <= HEATMAP_MAX_TASKS:
        return rates, title
    spread = rates.max(axis=1) - rates.min(axis=1) if rates.shape[1] > 1 else 1.0 - rates.iloc[:, 0]
    keep = spread.fillna(-1.0).sort_values(ascending=False, kind="stable").index[:HEATMAP_MAX_TASKS]
    shown = rates.loc[[task for task in rates.index if task in set(keep)]]
    which = "the arms differ most" if rates.shape[1] > 1 else "the arm passes least"
    return shown, f"{title}: the {len(shown):,} of {len(rates):,} tasks where {which}"


def outcome_heatmap(samples: pd.DataFrame, arms: Sequence[ArmResult], path: Path) -> Path:
    """Arms x tasks: share of passing samples per task (grey: no scored sample), every task named.

    Long benchmarks wrap into several panels of ``HEATMAP_TASKS_PER_ROW`` tasks so the ids stay legible.
    """
    rates = task_pass_rates(samples, "passed")
    labels = [a.arm for a in arms if a.arm in rates.columns]
    rates, title = heatmap_tasks(rates[labels])
    names = [_shown(display_label(a)) for a in arms if a.arm in labels]
    data = rates[labels].T.to_numpy(dtype=float)
    panels = max(1, -(-data.shape[1] // HEATMAP_TASKS_PER_ROW))
    width = min(max(6.0, 0.16 * min(data.shape[1], HEATMAP_TASKS_PER_ROW) + 3), 16.0)
    fig = Figure(figsize=(width, panels * (1.6 + 0.35 * len(labels))))
    axes = np.atleast_1d(fig.subplots(panels, 1))
    cmap = ListedColormap(["#d7301f", "#fc8d59", "#fee08b", "#d9ef8b", "#91cf60", "#1a9850"])
    cmap = cmap.with_extremes(bad="#bbbbbb")
    for panel, ax in enumerate(axes):
        columns = slice(panel * HEATMAP_TASKS_PER_ROW, (panel + 1) * HEATMAP_TASKS_PER_ROW)
        part = data[:, columns]
        image = ax.imshow(np.ma.masked_invalid(part), aspect="auto", cmap=cmap, vmin=0, vmax=1,
                          interpolation="nearest")
        ax.set_yticks(range(len(labels)), names, fontsize=7)
        ax.set_xticks(range(part.shape[1]), [_short_task(t) for t in rates.index[columns]], rotation=90,
                      fontsize=6)
    axes[0].set_title(title)
    fig.colorbar(image, ax=list(axes), fraction=0.03)
    return _save(fig, path)


def _short_task(task_id: str) -> str:
    """HumanEval/12 -> 12: the benchmark's name repeats on every tick."""
    return _shown(task_id.rsplit("/", 1)[-1] if task_id.count("/") == 1 else task_id)


def latency_plot(samples: pd.DataFrame, arms: Sequence[ArmResult], path: Path) -> Path:
    """Box plots of per-sample request latency for each arm (infra_error samples left out), and
    of time to first token beside it when answers were streamed."""
    good = scored(samples, columns=["arm", "latency_s", "ttft_s"])
    panels = [("latency_s", "request latency per sample (s)", "latency distribution")]
    if good["ttft_s"].notna().any():
        panels.append(("ttft_s", "time to first token (s)", "time to first token (streamed)"))
    fig = Figure(figsize=(max(6.0, 1.5 * len(arms) + 2) * len(panels), 4.0))
    for ax, (column, ylabel, title) in zip(fig.subplots(1, len(panels), squeeze=False)[0], panels,
                                           strict=True):
        timed = good[good[column] > 0]  # 0 s: no request timed (answers scored from a file), no box of 0s
        data = [timed.loc[timed["arm"] == a.arm, column].to_numpy() for a in arms]
        shown = [(d, _shown(display_label(a))) for d, a in zip(data, arms, strict=True) if len(d)]
        if shown:
            ax.boxplot([d for d, _ in shown], showfliers=True)
            ax.set_xticks(range(1, len(shown) + 1), [label for _, label in shown], fontsize=8, rotation=15)
        else:
            ax.text(0.5, 0.5, "no latency recorded", ha="center", transform=ax.transAxes)
        ax.set_ylabel(ylabel)
        ax.set_title(title)
    return _save(fig, path)


def forest_plot(diffs: Sequence[PairedDiff], path: Path) -> Path:
    """Paired differences (arm minus the arm it is compared with) with intervals; significant ones filled."""
    rows = list(diffs)
    fig = Figure(figsize=(7.5, 1.2 + 0.4 * max(len(rows), 1)))
    ax = fig.subplots()
    for i, row in enumerate(reversed(rows)):
        color = "C3" if row.diff < 0 else "C2" if row.diff > 0 else "0.4"  # no change: neither colour
        ax.errorbar(row.diff, i, xerr=[[row.diff - row.ci_low], [row.ci_high - row.diff]], fmt="o",
                    color=color, mfc=color if row.significant else "white", capsize=3)
    ax.axvline(0.0, color="black", linewidth=0.8)
    baselines = list(dict.fromkeys(r.baseline for r in rows))
    labels = [f"{_shown(r.arm)} vs {_shown(r.baseline)}" if len(baselines) > 1 else _shown(r.arm)
              for r in reversed(rows)]
    ax.set_yticks(range(len(rows)), [f"{label}: {r.measure}" for label, r in zip(labels, reversed(rows),
                                                                                  strict=True)], fontsize=8)
    if not rows:
        ax.text(0.5, 0.5, "no paired differences", ha="center", transform=ax.transAxes)
    against = f"vs {_shown(baselines[0])}" if len(baselines) == 1 else "(arm minus the arm it is against)"
    ax.set_xlabel(f"difference {against} (95% interval; filled = significant after Holm)")
    ax.set_title("paired differences")
    return _save(fig, path)
