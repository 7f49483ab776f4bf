"""metrics.txt: the headline numbers as OpenMetrics text, for CI metric widgets.

Every family is a gauge labelled by arm (and by k, reading, metric, ...); an
undefined value (pass@k with n < k) is left out rather than written as NaN.
The exposition ends with ``# EOF`` as the format requires.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

from evalkit.records import ArmResult

_FAMILIES = {
    "evalkit_pass_at_k": "pass@k per arm and reading (faithful or lenient)",
    "evalkit_pass_at_k_ci_low": "lower end of the 95% bootstrap interval of pass@k",
    "evalkit_pass_at_k_ci_high": "upper end of the 95% bootstrap interval of pass@k",
    "evalkit_similarity": "mean similarity metric against the reference solution",
    "evalkit_samples": "samples per verdict status",
    "evalkit_tasks": "tasks scored per arm (with a sample that is not infra_error: pass@k's tasks)",
    "evalkit_tasks_sampled": "tasks with a sample per arm, scored or not",
    "evalkit_latency_seconds": "per-sample latency percentile",
    "evalkit_tokens": "tokens used, by kind",
    "evalkit_cost": "cost of the arm's requests at the configured prices",
}


def escape_label(value: Any) -> str:
    """A label value as OpenMetrics quotes it (backslash, double quote and newline escaped)."""
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(labels: Mapping[str, Any]) -> str:
    return "{" + ",".join(f'{k}="{escape_label(v)}"' for k, v in labels.items()) + "}"


def _samples(arm: ArmResult) -> Iterator[tuple[str, dict[str, Any], Any]]:
    base = {"arm": arm.arm, "model": arm.model, "synthetic": "true" if arm.synthetic else "false"}
    for reading, cells in (("faithful", arm.pass_at_k), ("lenient", arm.pass_at_k_lenient)):
        for k, cell in cells.items():
            labels = base | {"k": k, "reading": reading}
            yield "evalkit_pass_at_k", labels, cell.value
            yield "evalkit_pass_at_k_ci_low", labels, cell.ci_low
            yield "evalkit_pass_at_k_ci_high", labels, cell.ci_high
    for name, cell in arm.metrics.items():
        yield "evalkit_similarity", base | {"metric": name}, cell.value
    for status, count in arm.verdicts.items():
        yield "evalkit_samples", base | {"status": status.value}, count
    # the scored tasks, as documented: n_tasks put full coverage on a widget for an arm that had
    # half its tasks without a scored sample
    yield "evalkit_tasks", base, arm.n_tasks_scored
    yield "evalkit_tasks_sampled", base, arm.n_tasks
    yield "evalkit_latency_seconds", base | {"quantile": "0.5"}, arm.latency_s.p50
    yield "evalkit_latency_seconds", base | {"quantile": "0.95"}, arm.latency_s.p95
    yield "evalkit_tokens", base | {"kind": "prompt"}, arm.tokens.prompt
    yield "evalkit_tokens", base | {"kind": "completion"}, arm.tokens.completion
    yield "evalkit_cost", base, arm.cost


def render_openmetrics(arms: Sequence[ArmResult]) -> str:
    """The OpenMetrics text for a results ``arms`` list."""
    by_family: dict[str, list[str]] = {name: [] for name in _FAMILIES}
    for arm in arms:
        for family, labels, value in _samples(arm):
            if value is not None:
                by_family[family].append(f"{family}{_labels(labels)} {float(value)!r}")
    lines = []
    for family, help_text in _FAMILIES.items():
        if not by_family[family]:
            continue
        lines += [f"# TYPE {family} gauge", f"# HELP {family} {help_text}"]
        if family.endswith("_seconds"):
            lines.append(f"# UNIT {family} seconds")
        lines += by_family[family]
    return "\n".join(lines + ["# EOF"]) + "\n"


def write_openmetrics(arms: Sequence[ArmResult], path: Path) -> Path:
    """Writes metrics.txt."""
    path.write_text(render_openmetrics(arms), encoding="utf-8")
    return path
