"""`evalkit history`: reports/index.html, every run and nightly over time in one page.

Every ``results.json`` under the folder (runs, sweeps' jobs, nightly runs copied in
by CI) is read through ``RunResults.from_json``; every ``gate.json`` marks the gate's
verdict on its candidate run's points. The page is one self-contained file like
report.html: per dataset and task set (runs on other tasks are no points of the same
trend), a plot of pass@1 with its interval over time, one line per model and template;
then a table of every arm of every run, newest first, with links to each run's report
and gate. Folders that cannot be read are listed with
the reason and left out.
"""

from __future__ import annotations

import base64
import io
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from html import escape
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from evalkit.config import ConfigError
from evalkit.records import GateResults, RecordError, RunResults
from evalkit.reporting.gate_outcome import UNMEASURED
from evalkit.results import load_results, run_identity
from evalkit.samples import UNKNOWN_MODEL

NARROWEST_SPAN = timedelta(days=1)
"""The least time a plot's axis spans: matplotlib widens a single instant to four years of dates, which
read as a trend with nothing on it (a trial of a fresh clone's first run)."""
EXITED_2 = "run exited 2"
"""What marks a run that exited 2 (results.json's problems), which no gate judges: a night whose
endpoint refused its requests carried no mark at all."""
VERDICT_STYLE = {"FAIL": ("X", "#c62828"), "ERROR": ("s", "#6a1b9a"), "INCONCLUSIVE": ("D", "#ef6c00"),
                 "PASS": ("o", "#2e7d32"), EXITED_2: ("P", "#6d4c41")}
"""Marker and colour of each gate verdict (and of a run that exited 2) on the plot."""

_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:1.5em auto;max-width:1400px;
padding:0 1em;color:#222}h2{border-bottom:1px solid #ccc}
table{border-collapse:collapse;font-size:.9em}th,td{border:1px solid #ccc;padding:.25em .5em;text-align:left}
th{background:#f0f0f0}.FAIL,.ERROR{color:#c62828;font-weight:600}.INCONCLUSIVE{color:#ef6c00;font-weight:600}
.PASS{color:#2e7d32}.note{background:#fff8e1;border-left:4px solid #f0b400;padding:.4em .8em}
img{max-width:100%;border:1px solid #eee}
"""


@dataclass(frozen=True)
class Point:
    """One arm of one run: what the history shows."""

    run_dir: Path
    run_id: str
    started_at: datetime
    dataset: str
    arm: str
    model: str
    """The arm's model; its label where it names none (samples scored from a file without one)."""
    template: str
    """Family, version and the first 8 hex digits of the template's sha256."""
    pass1: float | None
    ci_low: float | None
    ci_high: float | None
    gate: str | None
    """The gate's verdict for this model when the run was gated, ``EXITED_2`` for a run that exited 2,
    else None."""
    gate_page: Path | None
    problem: str | None = None
    """Why the run exited 2 (the first of results.json's problems), else None."""
    task_set: str = ""
    """The dataset's name, task count and content hash, and how many of its tasks the arm has samples
    of where that is fewer: runs on other tasks (``dataset.limit``, ``dataset.task_ids``, a scored file
    of a few tasks) are not points of one trend, so each task set gets a plot of its own. Where the arm
    has fewer, the first 8 hex digits of the hash of the ids it has (``ArmResult.tasks_sha256``) tell
    two parts of one size apart."""
    measured: str = ""
    """What the arm measured: tasks scored of the dataset's, and samples per task."""


def _when(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).replace(tzinfo=None)
    except ValueError:
        return datetime.min


def _gates(root: Path, notes: list[str]) -> dict[tuple[str, str], tuple[str, Path]]:
    """(candidate run id, arm label) -> (verdict, gate.md) from every gate.json under ``root``."""
    found = {}
    for path in sorted(root.rglob("gate.json")):
        try:
            data = GateResults.from_json(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError) as exc:  # ValueError: not JSON, or a RecordError naming the field
            notes.append(f"{path}: not a readable gate.json ({type(exc).__name__}: {exc}); left out")
            continue
        for model in data.models:
            # a baseline arm the candidate did not measure: an ERROR of the whole night, shown on
            # each of its arms (it had no point of its own, and the page hid the gate's exit 2)
            arm = "*" if model.arm == UNMEASURED else model.arm
            found[(data.candidate_run_id, arm)] = (model.verdict.value, path.parent / "gate.md")
    return found


def collect(root: Path) -> tuple[list[Point], list[str]]:
    """Every arm of every readable run under ``root`` (oldest first) and notes on what was skipped."""
    notes: list[str] = []
    gates = _gates(root, notes)
    points = []
    # One run's folders (a CI artifact kept twice, or a copy taken before the run was finished by
    # starting it again) are one night: the latest attempt's state shows, whatever the folders' names.
    latest: dict[tuple[str, bytes], tuple[RunResults, Path]] = {}
    for path in sorted(root.rglob("results.json")):
        try:
            results: RunResults = load_results(path)
        except (ConfigError, RecordError, OSError) as exc:
            notes.append(f"{path.parent}: skipped ({exc})")
            continue
        identity = run_identity(path.parent, results.run_id)
        kept = latest.setdefault(identity, (results, path.parent))
        if kept[1] != path.parent:
            skipped = path.parent
            if (results.finished_at or "") > (kept[0].finished_at or ""):  # a later attempt's state
                latest[identity], skipped = (results, path.parent), kept[1]
            notes.append(f"{skipped}: skipped (a copy of the run in {latest[identity][1]}, or an earlier "
                         "attempt's state of it)")
    for results, run_dir in latest.values():
        for arm in results.arms:
            cell = arm.pass_at_k.get(1)
            # its hash too: a partial edited under the same version is another template, and on the
            # same line as the old one the edit read as the model getting worse
            template = (f"{arm.template.family} {arm.template.version} {arm.template.sha256[:8]}"
                        if arm.template else "(scored answers)")
            own = gates.get((results.run_id, arm.arm), (None, None))
            verdict, page = gates.get((results.run_id, "*"), own)
            problem = results.problems[0] if results.problems else None
            data = results.dataset
            scored = arm.n_tasks_scored if arm.n_tasks_scored is not None else arm.n_tasks
            # An arm with samples of only some of the set's tasks (`evalkit score` of a file of a few) is
            # no point of the whole set's trend: its pass@1 is over those tasks alone, and 6 easy tasks
            # read as a night of 1.000.
            some = f"{arm.n_tasks} of its " if arm.n_tasks < data.n_tasks else ""
            # which of them: files of 6 different tasks each were one trend
            which = f"; tasks {arm.tasks_sha256[:8]}" if some and arm.tasks_sha256 else ""
            task_set = (f"{data.name} ({some}{data.n_tasks} task{'s' if data.n_tasks != 1 else ''}, "
                        f"sha256 {data.content_sha256[:12]}{which})")
            # scored from a file that names no model: its arm names it, as the gate names it (two such
            # arms were one line, "unknown (scored answers)")
            model = arm.arm if arm.model == UNKNOWN_MODEL else arm.model
            points.append(Point(run_dir, results.run_id, _when(results.started_at), data.name,
                                arm.arm, model, template, cell.value if cell else None,
                                cell.ci_low if cell else None, cell.ci_high if cell else None,
                                verdict or (EXITED_2 if problem else None), page, problem,
                                task_set=task_set,
                                measured=f"{scored} of {data.n_tasks} x {arm.n_samples}"))
    points.sort(key=lambda p: (p.started_at, p.run_id, p.arm))
    return points, notes


def _plot(dataset: str, points: list[Point]) -> str:
    """pass@1 over time, one line per (model, template), gate verdicts marked; a base64 PNG."""
    fig = Figure(figsize=(10, 4.2))
    ax = fig.subplots()
    series = dict.fromkeys((p.model, p.template) for p in points)
    for i, key in enumerate(series):
        line = [p for p in points if (p.model, p.template) == key and p.pass1 is not None]
        if not line:
            continue
        xs, ys = [p.started_at for p in line], [p.pass1 for p in line]
        low = [p.pass1 - (p.ci_low if p.ci_low is not None else p.pass1) for p in line]
        high = [(p.ci_high if p.ci_high is not None else p.pass1) - p.pass1 for p in line]
        ax.errorbar(xs, ys, yerr=[low, high], fmt="-", color=f"C{i % 10}", capsize=3,
                    label=_series_label(*key))
        for p in line:
            marker, colour = VERDICT_STYLE.get(p.gate or "", (".", f"C{i % 10}"))
            ax.plot(p.started_at, p.pass1, marker=marker, color=colour, markersize=9 if p.gate else 5)
    for verdict, (marker, colour) in VERDICT_STYLE.items():
        if any(p.gate == verdict for p in points):
            ax.plot([], [], marker=marker, color=colour, linestyle="",
                    label=verdict if verdict == EXITED_2 else f"gate {verdict}")
    ax.set_xlim(*time_axis([p.started_at for p in points]))
    ax.set_ylim(-0.02, 1.02)
    ax.set_ylabel("pass@1 (95% interval)")
    ax.set_title(f"{dataset}: pass@1 over time")
    ax.legend(fontsize=7, loc="best")
    fig.autofmt_xdate()
    FigureCanvasAgg(fig)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f'<img alt="{escape(dataset)} pass@1 over time" src="data:image/png;base64,{data}">'


def time_axis(times: list[datetime]) -> tuple[datetime, datetime]:
    """The span of a plot's time axis: its points with a margin, and at least NARROWEST_SPAN around them."""
    first, last = min(times), max(times)
    margin = max((last - first) * 0.05, (NARROWEST_SPAN - (last - first)) / 2)
    return first - margin, last + margin


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _series_label(model: str, template: str) -> str:
    """A line's legend: the model and its template, whose "(scored answers)" brings its own brackets."""
    return f"{model} {template}" if template.startswith("(") else f"{model} ({template})"


def _link(target: Path | None, base: Path, text: str) -> str:
    if target is None or not target.exists():
        return ""
    return f'<a href="{escape(target.relative_to(base).as_posix())}">{escape(text)}</a>'


def _row(p: Point, root: Path) -> str:
    value = "n/a" if p.pass1 is None else f"{p.pass1:.3f}"
    if p.pass1 is not None and p.ci_low is not None and p.ci_high is not None:
        value += f" [{p.ci_low:.3f}, {p.ci_high:.3f}]"
    gate = f'<span class="{p.gate}">{p.gate}</span> {_link(p.gate_page, root, "gate.md")}' if p.gate else ""
    if p.gate == EXITED_2:  # no gate judged it: why it exited 2 instead
        gate = f'<span class="ERROR">{EXITED_2}</span>: {escape(p.problem or "")}'
    cells = [escape(p.started_at.isoformat(sep=" ", timespec="minutes")), escape(p.run_id), escape(p.dataset),
             escape(p.measured), escape(p.arm), escape(p.model), escape(p.template), value, gate,
             _link(p.run_dir / "report.html", root, "report")]
    return "<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>"


def write_history(root: Path | str) -> Path:
    """Write ``root``/index.html from every run and gate under ``root``; return its path.

    Raises ConfigError when ``root`` is not a folder or holds no readable run.
    """
    root = Path(root)
    if not root.is_dir():
        raise ConfigError(f"no reports folder at {root}")
    points, notes = collect(root)
    if not points:
        raise ConfigError(f"no readable results.json under {root}" + (f" ({notes[0]})" if notes else ""))
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8"><title>evalkit history</title>',
           f"<style>{_CSS}</style></head><body><h1>evalkit history</h1>",
           f"<p>{_count(len({p.run_dir for p in points}), 'run')} under {escape(str(root))}, "
           f"{_count(sum(p.gate not in (None, EXITED_2) for p in points), 'arm')} "
           "judged by <code>evalkit gate</code> "
           "(the verdict of the gate.json that names their run marks their point). Generated "
           f"{datetime.now().isoformat(sep=' ', timespec='minutes')}.</p>"]
    out += [f'<p class="note">{escape(note)}</p>' for note in notes]
    for task_set in dict.fromkeys(p.task_set for p in points):
        out += [f"<h2>{escape(task_set)}</h2>",
                _plot(task_set, [p for p in points if p.task_set == task_set])]
    out.append("<h2>Every run</h2><table><thead><tr>" + "".join(
        f"<th>{h}</th>" for h in ("started", "run", "dataset", "tasks scored x samples", "arm", "model",
                                  "template", "pass@1 [95%]", "gate", "report")) + "</tr></thead><tbody>")
    out += [_row(p, root) for p in reversed(points)]
    out.append("</tbody></table></body></html>")
    path = root / "index.html"
    path.write_text("\n".join(out) + "\n", encoding="utf-8")
    return path
