"""report.md: the report as GitHub/GitLab-flavoured Markdown (plots linked beside it)."""

from __future__ import annotations

from evalkit.reporting.view import (
    ReportView,
    Table,
    diff_heading,
    diff_legend,
    diff_note,
    diff_table,
    flip_summary,
    mde_text,
    ops_table,
    score_table,
)


def inline(text: object) -> str:
    """Text from a config, a file or an endpoint (an arm label, a task id, a note naming them) as
    one line of Markdown: a table cell, a heading, a quoted note. A newline in it would otherwise
    start a block of its own, a pipe another column, a ``<`` raw HTML, and ``](`` a link or an image
    (fetched from wherever it points when a merge request's comment is shown)."""
    return (str(text).replace("|", "\\|").replace("<", "&lt;").replace("](", "]\\(")
            .replace("\r", " ").replace("\n", " "))


def table(data: Table) -> str:
    """A Markdown pipe table."""
    headers, rows = data
    lines = ["| " + " | ".join(inline(h) for h in headers) + " |",
             "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(inline(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _fence(text: str, lang: str = "") -> str:
    fence = "```"
    while fence in text:
        fence += "`"
    return f"{fence}{lang}\n{text.rstrip()}\n{fence}"


def _flips(view: ReportView) -> list[str]:
    out = ["## Per-task pass-rate changes", "",
           "Tasks whose pass rate changed, largest change first; p is Fisher's exact test of the two "
           "rates, Benjamini-Hochberg-adjusted over the arm's tasks (* significant).", ""]
    out += [f"- {inline(line)}" for line in flip_summary(view)]
    for pair in view.flips:
        for kind, title in (("regressions", "pass rate fell"), ("improvements", "pass rate rose")):
            if not pair[kind]:
                continue
            # where the rate fell, a failing sample of the arm; where it rose, one of the arm it is
            # against: what the old side got wrong (all "passed", blank, where it showed the arm's)
            side = "arm" if kind == "regressions" else "baseline"
            out += ["", f"### {inline(pair['arm'])} vs {inline(pair['baseline'])}: {title}", "",
                    f"| task | {inline(pair['baseline'])} | {inline(pair['arm'])} | change | p (adjusted) | "
                    f"a failing sample of {inline(pair[side])} | its detail |",
                    "|---|---|---|---|---|---|---|"]
            for entry in pair[kind]:
                flip, shown = entry["flip"], entry[side]
                star = " *" if flip.significant else ""
                sample = f"{shown['sample_index']}: {shown['status']}" if shown else "none"
                detail = inline(str((shown or {}).get("detail", ""))[:160])
                out.append(f"| {inline(flip.task_id)} | {flip.baseline_passed}/{flip.baseline_n} | "
                           f"{flip.arm_passed}/{flip.arm_n} | {flip.change:+.2f} | "
                           f"{flip.p_adjusted:.2g}{star} | sample {sample} | {detail} |")
    return out


def render_markdown(view: ReportView) -> str:
    """The whole report.md text."""
    out = [f"# {inline(view.title)}", ""]
    out += [f"- **{name}**: {inline(value)}" for name, value in view.header]
    if view.notes:
        out += [""] + [f"> {inline(note)}" for note in view.notes]
    out += ["", "## Scores", "", view.scores_note, "",
            table(score_table(view)), "", "## Verdicts, latency, tokens, cost", "", table(ops_table(view))]
    if view.diffs:
        out += ["", f"## {inline(diff_heading(view))}", "", table(diff_table(view)), "",
                diff_legend(view)]
    if view.mde is not None:
        out += ["", mde_text(view.mde, view.comparisons)]
    if view.flips:
        out += [""] + _flips(view)
    for diff in view.template_diffs:
        out += ["", "## Template diff: " + inline(f"{diff.family} {diff.a_version} ({diff.a}) -> "
                                                  f"{diff.b_version} ({diff.b})"), ""]
        out.append(diff_note(diff) or _fence(diff.diff or "", "diff"))
    if view.images:
        out += ["", "## Plots", ""]
        out += [f"![{inline(title)}]({name})" for title, name in view.images.items()]
    return "\n".join(out) + "\n"
