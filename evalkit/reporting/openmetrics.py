"""metrics.txt: the headline numbers as OpenMetrics text, for CI metric widgets.

Every family is a gauge labelled by arm (and by k, reading, metric, ...); an
undefined value (pass@k with n < k) is left out rather than written as NaN.
The exposition ends with ``# EOF`` as the format requires.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

_FAMILIES = {
    "evalkit_pass_at_k": "pass@k per arm and reading (faithful or lenient)",
    "evalkit_pass_at_k_ci_low": "lower end of the 95% bootstrap interval of pass@k",
    "evalkit_pass_at_k_ci_high": "upper end of the 95% bootstrap interval of pass@k",
    "evalkit_similarity": "mean similarity metric against the reference solution",
    "evalkit_samples": "samples per verdict status",
    "evalkit_tasks": "tasks scored per arm",
    "evalkit_latency_seconds": "per-sample latency percentile",
    "evalkit_tokens": "tokens used, by kind",
    "evalkit_cost": "cost of the arm's requests at the configured prices",
}


def escape_label(value: Any) -> str:
    """A label value as OpenMetrics quotes it (backslash, double quote and newline escaped)."""
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(labels: Mapping[str, Any]) -> str:
    return "{" + ",".join(f'{k}="{escape_label(v)}"' for k, v in labels.items()) + "}"


def _samples(arm: Mapping[str, Any]) -> Iterator[tuple[str, dict[str, Any], Any]]:
    base = {"arm": arm["arm"], "model": arm.get("model", ""),
            "synthetic": "true" if arm.get("synthetic") else "false"}
    for reading, key in (("faithful", "pass_at_k"), ("lenient", "pass_at_k_lenient")):
        for k, cell in (arm.get(key) or {}).items():
            labels = base | {"k": k, "reading": reading}
            yield "evalkit_pass_at_k", labels, cell.get("value")
            yield "evalkit_pass_at_k_ci_low", labels, cell.get("ci_low")
            yield "evalkit_pass_at_k_ci_high", labels, cell.get("ci_high")
    for name, cell in (arm.get("metrics") or {}).items():
        yield "evalkit_similarity", base | {"metric": name}, cell.get("value")
    for status, count in (arm.get("verdicts") or {}).items():
        yield "evalkit_samples", base | {"status": status}, count
    yield "evalkit_tasks", base, arm.get("n_tasks")
    for name, value in (arm.get("latency_s") or {}).items():
        quantile = {"p50": "0.5", "p95": "0.95"}.get(name, name)
        yield "evalkit_latency_seconds", base | {"quantile": quantile}, value
    for kind, value in (arm.get("tokens") or {}).items():
        yield "evalkit_tokens", base | {"kind": kind}, value
    yield "evalkit_cost", base, arm.get("cost")


def render_openmetrics(arms: Sequence[Mapping[str, Any]]) -> str:
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


def write_openmetrics(arms: Sequence[Mapping[str, Any]], path: Path) -> Path:
    """Writes metrics.txt."""
    path.write_text(render_openmetrics(arms), encoding="utf-8")
    return path
