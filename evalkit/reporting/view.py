"""What a report shows, computed once and rendered by markdown.py and html.py.

A ``ReportView`` serves both one run (``write_reports``) and several runs
(``compare``); the tables are prepared here as rows of strings so both
renderers show the same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import pandas as pd

from evalkit import metrics
from evalkit.config import ScoringConfig
from evalkit.records import Status
from evalkit.reporting.aggregate import display_label, format_interval
from evalkit.reporting.paired import all_flips, paired_differences, template_diffs

Table = tuple[list[str], list[list[str]]]
"""(header cells, rows of cells): a table both renderers draw."""


@dataclass
class ReportView:
    """Everything a report renders."""

    title: str
    header: list[tuple[str, str]]
    """(name, value) facts shown at the top: run id, dataset, host, ..."""
    arms: list[dict[str, Any]]
    """results.json arm entries."""
    baseline: str | None = None
    """Arm the others are compared with (None with a single arm)."""
    diffs: list[dict[str, Any]] = field(default_factory=list)
    """``paired.paired_differences`` rows: arm minus baseline per measure."""
    flips: list[dict[str, Any]] = field(default_factory=list)
    """``paired.flips`` of each arm against the baseline."""
    template_diffs: list[dict[str, Any]] = field(default_factory=list)
    """``paired.template_diffs`` entries."""
    notes: list[str] = field(default_factory=list)
    """Warnings shown under the header (synthetic arms, infra errors, dropped tasks)."""
    mde: float | None = None
    """Smallest pass@1 difference the baseline's task count can detect (alpha 0.05, power 0.8)."""
    images: dict[str, str] = field(default_factory=dict)
    """Plot title -> PNG file name beside the report."""


def build_view(samples: pd.DataFrame, arms: list[dict[str, Any]],
               templates: Mapping[str, Mapping[str, Any]], scoring: ScoringConfig,
               title: str, header: list[tuple[str, str]], baseline: str | None = None) -> ReportView:
    """Compute diffs, flips, template diffs and the detectable effect for a report."""
    view = ReportView(title=title, header=header, arms=arms)
    if any(arm.get("synthetic") for arm in arms):
        view.notes.append("Arms marked synthetic (demo) answer from the embedded demo endpoint: "
                          "they exercise the pipeline and are not model results.")
    infra = {a["arm"]: a["verdicts"].get(Status.INFRA_ERROR.value, 0) for a in arms}
    if any(infra.values()):
        view.notes.append("infra_error samples (our side failed) are excluded from pass@k: "
                          + ", ".join(f"{arm}: {n}" for arm, n in infra.items() if n) + ".")
    view.template_diffs = template_diffs(arms, templates)
    if len(arms) > 1:
        view.baseline = baseline or arms[0]["arm"]
        view.diffs = paired_differences(samples, view.baseline, scoring)
        view.flips = all_flips(samples, view.baseline)
    view.mde = _detectable(arms)
    return view


def _detectable(arms: Sequence[Mapping[str, Any]]) -> float | None:
    """The detectable pass@1 difference at the arms' mean pass@1 (None when it says nothing)."""
    rates = [r for a in arms if (r := ((a.get("pass_at_k") or {}).get("1") or {}).get("value")) is not None]
    if len(arms) < 2 or not rates or not 0 < sum(rates) / len(rates) < 1:
        return None
    n_tasks = min(a["n_tasks"] for a in arms)
    n_samples = max(min(a["n_samples"] for a in arms), 1)
    mde = metrics.minimum_detectable_effect(n_tasks, n_samples, sum(rates) / len(rates))
    return mde if mde and mde > 0 else None


def _template_cell(arm: Mapping[str, Any]) -> str:
    template = arm.get("template") or {}
    sha = str(template.get("sha256", ""))[:10]
    return f"{template.get('family', '')} {template.get('version', '')} ({sha})"


def _keys(arms: Sequence[Mapping[str, Any]], field_name: str) -> list[str]:
    return list(dict.fromkeys(k for arm in arms for k in (arm.get(field_name) or {})))


def score_table(view: ReportView) -> Table:
    """Arm x score: faithful and lenient pass@k side by side, then similarity metrics."""
    ks = _keys(view.arms, "pass_at_k")
    lenient = any(arm.get("pass_at_k_lenient") for arm in view.arms)
    names = _keys(view.arms, "metrics")
    headers = ["arm", "model", "template", "tasks", "samples/task"]
    for k in ks:
        headers += [f"pass@{k}"] + ([f"lenient pass@{k}"] if lenient else [])
    headers += names
    rows = []
    for arm in view.arms:
        row = [display_label(arm), str(arm.get("model", "")), _template_cell(arm),
               str(arm.get("n_tasks", "")), str(arm.get("n_samples", ""))]
        for k in ks:
            row.append(format_interval((arm.get("pass_at_k") or {}).get(k)))
            if lenient:
                row.append(format_interval((arm.get("pass_at_k_lenient") or {}).get(k)))
        row += [format_interval((arm.get("metrics") or {}).get(name)) for name in names]
        rows.append(row)
    return headers, rows


def _number(value: Any, digits: int = 3) -> str:
    if value is None:
        return "n/a"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def ops_table(view: ReportView) -> Table:
    """Arm x verdict counts (infra_error in its own column), latency, tokens and cost."""
    statuses = [s.value for s in Status]
    streamed = any(arm.get("ttft_s") for arm in view.arms)
    headers = ["arm"] + statuses + ["latency p50 (s)", "latency p90 (s)", "latency p95 (s)",
                                    "latency p99 (s)"]
    headers += ["first token p50 (s)", "first token p90 (s)"] if streamed else []
    headers += ["prompt tokens", "completion tokens", "cost"]
    rows = []
    for arm in view.arms:
        verdicts = arm.get("verdicts") or {}
        latency = arm.get("latency_s") or {}
        ttft = arm.get("ttft_s") or {}
        tokens = arm.get("tokens") or {}
        rows.append([display_label(arm)] + [str(verdicts.get(s, 0)) for s in statuses]
                    + [_number(latency.get(q)) for q in ("p50", "p90", "p95", "p99")]
                    + ([_number(ttft.get("p50")), _number(ttft.get("p90"))] if streamed else [])
                    + [str(tokens.get("prompt", 0)), str(tokens.get("completion", 0)),
                       _number(arm.get("cost"), 4)])
    return headers, rows


def diff_table(view: ReportView) -> Table:
    """Paired differences against the baseline, with raw and Holm-corrected p-values."""
    headers = ["arm", "measure", "tasks", "difference [95% interval]", "test", "p", "p (Holm)", "significant"]
    rows = []
    for d in view.diffs:
        interval = format_interval({"value": d.get("diff"), "ci_low": d.get("ci_low"),
                                    "ci_high": d.get("ci_high")})
        rows.append([d["arm"], d["measure"], str(d["n_tasks"]), interval, d["test"],
                     _number(d.get("p_value"), 4), _number(d.get("p_holm"), 4),
                     "yes" if d.get("significant") else "no"])
    return headers, rows


def diff_note(entry: Mapping[str, Any]) -> str | None:
    """Why a template diff has no text, or None when it has one."""
    if entry.get("diff") is None:
        return "(template sources were not recorded)"
    if not entry["diff"]:
        return "(identical template text: the hash differs through parameters or partials)"
    return None


def flip_summary(view: ReportView) -> list[str]:
    """One line per arm pair: how many tasks flipped each way."""
    lines = []
    for pair in view.flips:
        extra = f" (+{pair['truncated']} more not listed)" if pair["truncated"] else ""
        lines.append(f"{pair['arm']} vs {pair['baseline']}: {len(pair['regressions'])} passed->failed, "
                     f"{len(pair['improvements'])} failed->passed{extra}")
    return lines
