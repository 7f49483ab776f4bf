"""What commands print to the terminal: the short table `evalkit run` and `evalkit score` print at
the end of a run."""

from __future__ import annotations

import pandas as pd

from evalkit.records import RunResults, Status, printable
from evalkit.reporting.aggregate import display_label, format_interval, tasks_scored


def summary_table(results: RunResults) -> str:
    """The short table printed at the end of a run: pass@k, similarity and every kind of
    failure, model failures apart from infra errors (our side or the endpoint failed)."""
    rows = []
    for arm in results.arms:
        row = {"arm": printable(display_label(arm)), "tasks": tasks_scored(arm)}
        row |= {f"pass@{k}": format_interval(cell) for k, cell in sorted(arm.pass_at_k.items())}
        if "edit_similarity" in arm.metrics:
            row["similarity"] = format_interval(arm.metrics["edit_similarity"])
        failed = sum(n for status, n in arm.verdicts.items()
                     if status not in (Status.PASSED, Status.INFRA_ERROR))
        row["failed"] = failed
        row["infra errors"] = arm.verdicts.get(Status.INFRA_ERROR, 0)
        rows.append(row)
    return pd.DataFrame(rows).to_string(index=False) if rows else "(no arms)"
