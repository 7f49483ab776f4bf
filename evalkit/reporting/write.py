"""write_reports: a run's samples.jsonl -> results.json, report.md/html, plots, junit.xml, metrics.txt."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import pandas as pd

from evalkit.config import ReportConfig, ScoringConfig
from evalkit.records import SCHEMA_VERSION, ArmResult, ArmSpec, RunResults, Statistics
from evalkit.reporting.aggregate import aggregate
from evalkit.reporting.html import render_html
from evalkit.reporting.junit import write_junit
from evalkit.reporting.markdown import render_markdown
from evalkit.reporting.openmetrics import write_openmetrics
from evalkit.reporting.view import ReportView, build_view
from evalkit.results import iter_sample_objects, load_samples

REPORT_DROPS = ("prompt", "lenient_completion", "completion", "raw_output")
"""Sample text a run's report does not hold in memory: it shows answers only for flipped
tasks, read back from samples.jsonl (``fill_flip_texts``)."""


def fill_flip_texts(flips: Sequence[Mapping[str, Any]], samples_path: Path) -> None:
    """Put each flipped task's shown answers (completion, raw output) into its flip entries,
    reading samples.jsonl once."""
    wanted: dict[tuple[str, str, int], list[dict[str, Any]]] = {}
    for flip in flips:
        for entry in [*flip["regressions"], *flip["improvements"]]:
            for side in ("baseline", "arm"):
                pick = entry.get(side)
                if pick is not None:
                    key = (flip[side], entry["task_id"], int(pick["sample_index"]))
                    wanted.setdefault(key, []).append(pick)
    if not wanted:
        return
    for obj in iter_sample_objects(samples_path):
        picks = wanted.get((obj.get("arm"), obj.get("task_id"), int(obj.get("sample_index", 0))))
        for pick in picks or ():
            pick["completion"], pick["raw_output"] = obj.get("completion", ""), obj.get("raw_output", "")


def recorded_scoring(runs: Sequence[RunResults]) -> ScoringConfig:
    """The scoring settings finished runs were reported with: their ks, whether the lenient
    reading was scored, their similarity metrics and their bootstrap settings."""
    arms = [arm for run in runs for arm in run.arms]
    stats = runs[0].statistics if runs else Statistics()
    return ScoringConfig(k=tuple(sorted({k for arm in arms for k in arm.pass_at_k} or {1})),
                         lenient=any(arm.pass_at_k_lenient for arm in arms),
                         metrics=tuple(sorted({name for arm in arms for name in arm.metrics})),
                         bootstrap_resamples=stats.resamples, confidence=stats.confidence, seed=stats.seed)


def _header(run: RunResults) -> list[tuple[str, str]]:
    header = [("run", run.run_id), ("started / finished", f"{run.started_at} / {run.finished_at}"),
              ("dataset", f"{run.dataset.name} ({run.dataset.n_tasks} tasks, "
                          f"sha256 {run.dataset.content_sha256[:12]})")]
    if run.samples_file is not None:
        header.append(("answers", f"{run.samples_file.path} "
                                  f"({run.samples_file.malformed_lines} malformed lines)"))
    commit = f" (prompts commit {run.prompts_commit})" if run.prompts_commit else ""
    header += [("evalkit", f"{run.evalkit_version}{commit}"),
               ("host", f"{run.host.cpu}, {run.host.cores} cores"
                        + (f", {run.host.workers} worker{'s' * (run.host.workers != 1)}"
                           if run.host.workers is not None else "")
                        + f", isolation {run.host.isolation}")]
    return header


def run_notes(run: RunResults) -> list[str]:
    """Why the run exited 2, arms that cover part of the dataset, what answered other than asked
    (``answered_notes``), and which answers came from the response store, for the report's head."""
    notes = [f"This run exits 2: {problem}" for problem in run.problems]
    for arm in run.arms:
        if arm.n_tasks < run.dataset.n_tasks:
            notes.append(f"{arm.arm}: {arm.n_tasks} of the dataset's {run.dataset.n_tasks} tasks have "
                         "samples; its numbers are over those tasks only.")
        if arm.n_tasks_scored is not None and arm.n_tasks_scored < arm.n_tasks:
            unscored = arm.n_tasks - arm.n_tasks_scored
            notes.append(f"{arm.arm}: {unscored} of its {arm.n_tasks} tasks have no scored sample (every "
                         f"one infra_error); pass@k and the metrics are over the other {arm.n_tasks_scored}.")
        notes += answered_notes(arm)
        if arm.cached_samples:
            origin = ", ".join(arm.cached_from) or "an earlier attempt of this run"
            notes.append(f"{arm.arm}: {arm.cached_samples} samples answered from the response store "
                         f"(stored by {origin}), not asked again.")
    return notes


def answered_notes(arm: ArmResult) -> list[str]:
    """What answered the arm's samples other than the model it asked, or more than one: notes for
    the report's head, and warnings on the terminal (said only in report.md, a nightly's log
    showed a run answered by another model as a clean one: a nightly owner's trial)."""
    notes = []
    probe = arm.endpoint.get("answered_by") if isinstance(arm.endpoint, Mapping) else None
    if isinstance(probe, Mapping) and probe.get("model") and arm.answered_by and \
            probe.get("model") not in {a.answered_by.get("model") for a in arm.answered_by}:
        samples = "; ".join(f"{answered_name(a.answered_by)}: {a.samples}" for a in arm.answered_by)
        notes.append(f"{arm.arm}: the start-up probe was answered by {answered_name(probe)}, its samples "
                     f"by {samples}: a proxy alias re-pointed after the probe; its numbers are the other "
                     "model's.")
    answering = arm.answered_by[0].answered_by.get("model") if len(arm.answered_by) == 1 else None
    if answering not in (None, arm.model):
        # a model other than the one asked answered every sample: said nowhere but results.json and
        # samples.jsonl, and a baseline blessed from it measured that model (a nightly owner's trial)
        notes.append(f"{arm.arm}: its answers name model {answering!r}, not {arm.model!r}, the model it "
                     "asked for (a proxy alias, or another model served under that name): its numbers "
                     "are that model's.")
    if len(arm.answered_by) > 1:  # the probe's identity (``endpoint``) names only one of them
        named = "; ".join(f"{answered_name(a.answered_by)}: {a.samples}" for a in arm.answered_by)
        notes.append(f"{arm.arm}: its samples were answered by {len(arm.answered_by)} different "
                     f"deployments or models ({named}), not by one; a proxy alias re-pointed mid-run "
                     "or balanced over several backends. Its numbers mix them.")
    return notes


def import_plotting(report: ReportConfig) -> None:
    """Import matplotlib now (0.3 to 0.5 s) where this run's reports draw plots: a run calls this while
    it waits on its canary, whose reference solutions run in the workers, where the import shares the
    two cores with them; at the report it held one core while the other waited (a default `evalkit
    score` of 3,214 samples: the report 0.6 s shorter, the canary 0.3 s longer)."""
    if report.plots:
        from evalkit.reporting import plots  # noqa: F401, PLC0415 - imported for the report, later


def render_outputs(view: ReportView, samples: pd.DataFrame, out_dir: Path,
                   report: ReportConfig) -> list[Path]:
    """Draws the plots and writes report.md / report.html as ``report.formats`` asks."""
    written = []
    if report.plots and view.arms:
        from evalkit.reporting import plots  # matplotlib takes 0.3 s to import: only when drawing

        view.images = {
            "pass@k per arm": plots.pass_at_k_plot(view.arms, out_dir / "pass_at_k.png").name,
            "per-task outcome": plots.outcome_heatmap(samples, view.arms, out_dir / "task_outcomes.png").name,
        }
        if (samples["latency_s"] > 0).any():  # answers scored with `evalkit score` have no latency
            view.images["latency distribution"] = plots.latency_plot(samples, view.arms,
                                                                     out_dir / "latency.png").name
        if view.diffs:
            forest = plots.forest_plot(view.diffs, out_dir / "paired_differences.png")
            view.images["paired differences"] = forest.name
        written += [out_dir / name for name in view.images.values()]
    if "md" in report.formats:
        written.append(out_dir / "report.md")
        written[-1].write_text(render_markdown(view), encoding="utf-8")
    if "html" in report.formats:
        written.append(out_dir / "report.html")
        written[-1].write_text(render_html(view, out_dir), encoding="utf-8")
    return written


def write_reports(run_dir: Path, run: RunResults, specs: Sequence[ArmSpec], scoring: ScoringConfig,
                  report: ReportConfig, samples: pd.DataFrame | None = None) -> RunResults:
    """Aggregates a run's samples and writes every report file into ``run_dir``.

    ``run`` holds results.json's metadata (its arms are replaced by the aggregates of the
    samples); ``specs`` name the arms in configured order; ``samples``: the run's samples as
    ``load_samples(run_dir, without=REPORT_DROPS)`` gives them, where the caller read them already.
    Returns what results.json holds.
    """
    run_dir = Path(run_dir)
    # Reports show answers only for flipped tasks: the text stays on disk until those are known,
    # which keeps a 100,000-sample run's report within memory bounds.
    if samples is None:
        samples = load_samples(run_dir, without=REPORT_DROPS)
    # How the intervals were drawn travels with them, so `compare` can draw its own the same way.
    statistics = Statistics(resamples=scoring.bootstrap_resamples, confidence=scoring.confidence,
                            seed=scoring.seed)
    results = dataclasses.replace(run, arms=aggregate(samples, specs, scoring), statistics=statistics,
                                  schema_version=SCHEMA_VERSION)
    command = "run" if run.samples_file is None else "score"  # scored answers have a samples file
    view = build_view(samples, results.arms, results.templates, scoring,
                      title=f"evalkit {command} {results.run_id}", header=_header(results),
                      completion=run.dataset.kind == "completion")
    # the paired differences too, not only the report's tables: a notebook or CI script reading
    # results.json had every arm's figures but not how sure the comparison of two was (a checker's trial)
    results = dataclasses.replace(results, differences=tuple(view.diffs))
    text = json.dumps(results.to_json(), indent=2, allow_nan=False) + "\n"
    view.notes[:0] = run_notes(results)
    fill_flip_texts(view.flips, run_dir / "samples.jsonl")
    if samples.empty:
        view.notes.append("This run has no samples yet.")
    if run.samples_file is not None and run.samples_file.malformed_lines:
        view.notes.append(f"{run.samples_file.malformed_lines} malformed line(s) of {run.samples_file.path} "
                          "were skipped; the scores cover the other lines. Skipped: "
                          + "; ".join(run.samples_file.skipped))
    if run.samples_file is not None and run.samples_file.left_out_tasks:
        left_out = run.samples_file.left_out_tasks
        view.notes.append(f"The samples of {left_out} task(s) of {run.samples_file.path} outside this "
                          f"run's {run.dataset.name} selection were left out "
                          "(dataset.task_ids, dataset.limit).")
    render_outputs(view, samples, run_dir, report)
    flips = [flip for pair in view.flips for flip in pair["flips"]]
    write_junit(samples, results.arms, run_dir / "junit.xml", flips)
    write_openmetrics(results.arms, run_dir / "metrics.txt")
    # results.json last, whole or not at all: it says the run finished. Written first, a run stopped
    # (Ctrl-C, a CI job cancelled) while its reports were written said "start it again to finish it",
    # and every new start was refused as a finished run's, with no report.
    partial = run_dir / ".results.json.new"
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, run_dir / "results.json")
    return results


def answered_name(answered: Mapping[str, Any]) -> str:
    """What answered, in a few words: the model its answers named and a proxy's deployment."""
    parts = [f"model {answered.get('model')!r}"]
    parts += [f"{name} {answered[name]!r}" for name in sorted(answered) if name != "model" and answered[name]]
    return ", ".join(parts)
