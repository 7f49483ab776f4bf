"""report.html: one self-contained file (inline CSS, plots as base64 PNG, no script).

It opens from disk without a server and loads nothing from the network, so it
can be published as a CI artefact or mailed as is.
"""

from __future__ import annotations

import base64
from html import escape
from pathlib import Path
from typing import Any, Mapping

from evalkit.records import Status
from evalkit.reporting.paired import describe_flip
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

_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:1.5em auto;max-width:1400px;
padding:0 1em;color:#222}
h1{font-size:1.6em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:1.6em}
table{border-collapse:collapse;margin:.6em 0;font-size:.9em}
th,td{border:1px solid #ccc;padding:.25em .5em;text-align:left;vertical-align:top}
th{background:#f0f0f0}tr:nth-child(even) td{background:#fafafa}
.note{background:#fff8e1;border-left:4px solid #f0b400;padding:.4em .8em;margin:.6em 0}
.synthetic{color:#a05a00;font-weight:600}
pre{background:#f6f8fa;padding:.5em;overflow:auto;font-size:.85em;max-height:30em;margin:0}
.diff .add{color:#116329;background:#dafbe1}.diff .del{color:#82071e;background:#ffebe9}
.diff .hunk{color:#0550ae}
.flip{width:100%;table-layout:fixed}.flip td{width:50%}
.passed{color:#116329;font-weight:600}.failed{color:#82071e;font-weight:600}
img{max-width:100%;display:block;margin:.6em 0;border:1px solid #eee}
"""


def _table(data: Table, cls: str = "") -> str:
    headers, rows = data
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{_cell(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _cell(text: str) -> str:
    marked = escape(text)
    return marked.replace("[synthetic (demo)]", '<span class="synthetic">[synthetic (demo)]</span>')


def _diff(text: str) -> str:
    lines = []
    for line in text.splitlines():
        cls = ""
        if line.startswith("@@"):
            cls = "hunk"
        elif line.startswith("+") and not line.startswith("+++"):
            cls = "add"
        elif line.startswith("-") and not line.startswith("---"):
            cls = "del"
        lines.append(f'<span class="{cls}">{escape(line)}</span>' if cls else escape(line))
    return '<pre class="diff">' + "\n".join(lines) + "</pre>"


def _side(label: str, sample: Mapping[str, Any] | None) -> str:
    if sample is None:
        return f"<td><b>{escape(label)}</b>: no sample</td>"
    status = sample["status"]
    cls = "passed" if status == Status.PASSED.value else "failed"
    return (f"<td><b>{escape(label)}</b> sample {sample['sample_index']}: "
            f'<span class="{cls}">{escape(status)}</span> '
            f"({sample['passed_samples']}/{sample['scored_samples']} samples passed)"
            f"<pre>{escape(str(sample['detail']) or '(no detail)')}</pre>"
            f"<pre>{escape(sample['completion'] or '(empty completion)')}</pre></td>")


def _flips(view: ReportView) -> list[str]:
    out = ["<h2>Per-task pass-rate changes</h2><p>Tasks whose pass rate changed, largest change first; p is "
           "Fisher's exact test of the two rates, Benjamini-Hochberg-adjusted over the arm's tasks "
           "(* significant).</p><ul>"]
    out += [f"<li>{escape(line)}</li>" for line in flip_summary(view)]
    out.append("</ul>")
    for pair in view.flips:
        for kind, title in (("regressions", "pass rate fell"), ("improvements", "pass rate rose")):
            if not pair[kind]:
                continue
            out.append(f"<h3>{escape(pair['arm'])} vs {escape(pair['baseline'])}: {title}</h3>")
            for entry in pair[kind]:
                out.append(f'<h4>{escape(describe_flip(entry["flip"]))}</h4><table class="flip"><tr>'
                           + _side(pair["baseline"], entry["baseline"]) + _side(pair["arm"], entry["arm"])
                           + "</tr></table>")
    return out


def _image(title: str, path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<figure><img alt="{escape(title)}" src="data:image/png;base64,{data}"></figure>'


def render_html(view: ReportView, image_dir: Path) -> str:
    """The whole report.html text; plots named in ``view.images`` are read from ``image_dir``."""
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           f"<title>{escape(view.title)}</title><style>{_CSS}</style></head><body>",
           f"<h1>{escape(view.title)}</h1><ul>"]
    out += [f"<li><b>{escape(name)}</b>: {escape(str(value))}</li>" for name, value in view.header]
    out.append("</ul>")
    out += [f'<p class="note">{escape(note)}</p>' for note in view.notes]
    out += [f"<h2>Scores</h2><p>{escape(view.scores_note)}</p>",
            _table(score_table(view), "scores"), "<h2>Verdicts, latency, tokens, cost</h2>",
            _table(ops_table(view), "ops")]
    if view.diffs:
        out += [f"<h2>{escape(diff_heading(view))}</h2>",
                _table(diff_table(view), "diffs"), f"<p>{escape(diff_legend(view))}</p>"]
    if view.mde is not None:
        out.append(f"<p>{escape(mde_text(view.mde, view.comparisons))}</p>")
    if view.images:
        out.append("<h2>Plots</h2>")
        out += [_image(title, image_dir / name) for title, name in view.images.items()]
    if view.flips:
        out += _flips(view)
    for diff in view.template_diffs:
        out.append(f"<h2>Template diff: {escape(diff.family)} {escape(diff.a_version)} ({escape(diff.a)}) "
                   f"&rarr; {escape(diff.b_version)} ({escape(diff.b)})</h2>")
        note = diff_note(diff)
        out.append(f"<p>{escape(note)}</p>" if note else _diff(diff.diff or ""))
    out.append("</body></html>")
    return "\n".join(out) + "\n"
