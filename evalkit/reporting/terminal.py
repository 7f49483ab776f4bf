"""The short table `evalkit run` and `evalkit score` print at the end of a run."""

from __future__ import annotations

from typing import Any

import pandas as pd


def _fmt(entry: dict[str, Any] | None) -> str:
    if not entry or entry.get("value") is None:
        return "n/a"
    return f"{entry['value']:.3f}"


def summary_table(results: dict[str, Any]) -> str:
    """One row per arm: pass@k, similarity and errors, from results.json's content."""
    rows = []
    for arm in results.get("arms", []):
        passk = arm.get("pass_at_k", {})
        verdicts = arm.get("verdicts", {})
        row = {"arm": arm["arm"] + (" (synthetic)" if arm.get("synthetic") else "")}
        for k in sorted(passk, key=int):
            row[f"pass@{k}"] = _fmt(passk[k])
        row["similarity"] = _fmt(arm.get("metrics", {}).get("edit_similarity"))
        row["errors"] = verdicts.get("infra_error", 0)
        rows.append(row)
    return pd.DataFrame(rows).to_string(index=False) if rows else "(no arms)"
