"""write_reports: a run's samples.jsonl -> results.json, report.md/html, plots, junit.xml, metrics.txt."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping, Sequence

import pandas as pd

from evalkit.config import ReportConfig, ScoringConfig
from evalkit.reporting import plots
from evalkit.reporting.aggregate import aggregate
from evalkit.reporting.html import render_html
from evalkit.reporting.junit import write_junit
from evalkit.reporting.markdown import render_markdown
from evalkit.reporting.openmetrics import write_openmetrics
from evalkit.reporting.view import ReportView, build_view
from evalkit.results import iter_sample_objects, load_samples

_DERIVED = ("arms_meta", "arms", "templates", "prices", "statistics")
_TOP_LEVEL = ("run_id", "started_at", "finished_at", "evalkit_version", "prompts_commit", "host", "dataset")


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


def recorded_scoring(results_list: Sequence[Mapping[str, Any]]) -> ScoringConfig:
    """The scoring settings finished runs were reported with: their ks, whether the lenient
    reading was scored, and their bootstrap settings (older runs record none: the defaults)."""
    arms = [arm for results in results_list for arm in results.get("arms") or []]
    ks = {int(k) for arm in arms for k in (arm.get("pass_at_k") or {})}
    stats = next((r["statistics"] for r in results_list if r.get("statistics")), {})
    defaults = ScoringConfig()
    lenient = any(arm.get("pass_at_k_lenient") for arm in arms)
    return ScoringConfig(k=tuple(sorted(ks or {1})), lenient=lenient,
                         metrics=tuple(sorted({m for arm in arms for m in (arm.get("metrics") or {})})),
                         bootstrap_resamples=int(stats.get("resamples", defaults.bootstrap_resamples)),
                         confidence=float(stats.get("confidence", defaults.confidence)),
                         seed=int(stats.get("seed", defaults.seed)))


def arms_meta_from_results(results: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Rebuild ``arms_meta`` from a results.json, so a finished run can be re-rendered."""
    templates = results.get("templates") or {}
    prices = results.get("prices") or {}
    out = {}
    for arm in results.get("arms") or []:
        template = dict(arm.get("template") or {})
        source = (templates.get(template.get("sha256")) or {}).get("source_text")
        if source is not None:
            template["source_text"] = source
        out[arm["arm"]] = {"model": arm.get("model"), "synthetic": arm.get("synthetic", False),
                           "template": template, "params": arm.get("params") or {},
                           "prices": prices.get(arm["arm"])}
    return out


def templates_of(arms_meta: Mapping[str, Mapping[str, Any]],
                 known: Mapping[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    """results.json's ``templates``: {sha256: {family, version, source_text}} for diffs."""
    out = {sha: dict(entry) for sha, entry in (known or {}).items()}
    for meta in arms_meta.values():
        template = meta.get("template") or {}
        if template.get("sha256") and template.get("source_text") is not None:
            out[template["sha256"]] = {"family": template.get("family"), "version": template.get("version"),
                                       "source_text": template["source_text"]}
    return out


def _header(results: Mapping[str, Any]) -> list[tuple[str, str]]:
    dataset = results.get("dataset") or {}
    host = results.get("host") or {}
    header = [("run", str(results.get("run_id"))),
              ("started / finished", f"{results.get('started_at')} / {results.get('finished_at')}"),
              ("dataset", f"{dataset.get('name')} ({dataset.get('n_tasks')} tasks, "
                          f"sha256 {str(dataset.get('content_sha256'))[:12]})")]
    header += [("evalkit", f"{results.get('evalkit_version')} "
                           f"(prompts commit {results.get('prompts_commit')})"),
               ("host", f"{host.get('cpu')}, {host.get('cores')} cores, isolation {host.get('isolation')}")]
    return header


def render_outputs(view: ReportView, samples: pd.DataFrame, out_dir: Path,
                   report: ReportConfig) -> list[Path]:
    """Draws the plots and writes report.md / report.html as ``report.formats`` asks."""
    written = []
    if report.plots and view.arms:
        view.images = {
            "pass@k per arm": plots.pass_at_k_plot(view.arms, out_dir / "pass_at_k.png").name,
            "per-task outcome": plots.outcome_heatmap(samples, view.arms, out_dir / "task_outcomes.png").name,
            "latency distribution": plots.latency_plot(samples, view.arms, out_dir / "latency.png").name,
        }
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


def write_reports(run_dir: Path, meta: dict, scoring: ScoringConfig, report: ReportConfig) -> dict:
    """Aggregates a run's samples and writes every report file into ``run_dir``; returns results.json's dict.

    ``meta`` holds results.json's top-level fields plus ``arms_meta`` ({label: {model,
    synthetic, template{family, version, sha256, source_text}, params, prices}}); a loaded
    results.json (no ``arms_meta``) works too, for re-rendering a finished run.
    """
    run_dir = Path(run_dir)
    # Reports show answers only for flipped tasks: the text stays on disk until those are known,
    # which keeps a 100,000-sample run's report within memory bounds.
    samples = load_samples(run_dir, without=REPORT_DROPS)
    arms_meta = meta.get("arms_meta") or arms_meta_from_results(meta)
    results: dict[str, Any] = {key: meta.get(key) for key in _TOP_LEVEL}
    # Extra top-level facts a caller records (e.g. `evalkit score`'s samples_file) pass through.
    results |= {k: v for k, v in meta.items() if k not in results and k not in _DERIVED}
    if results["run_id"] is None and not samples.empty:
        results["run_id"] = samples["run_id"].iloc[0]
    results["arms"] = aggregate(samples, arms_meta, scoring)
    # Template sources live apart from the arms, keyed by hash, so diffs can be re-rendered.
    results["templates"] = templates_of(arms_meta, meta.get("templates"))
    results["prices"] = {label: dict(m["prices"]) for label, m in arms_meta.items() if m.get("prices")}
    # How the intervals were drawn, so `compare` can draw its own the same way.
    results["statistics"] = {"resamples": scoring.bootstrap_resamples, "confidence": scoring.confidence,
                             "seed": scoring.seed}
    text = json.dumps(results, indent=2, allow_nan=False) + "\n"
    (run_dir / "results.json").write_text(text, encoding="utf-8")
    view = build_view(samples, results["arms"], results["templates"], scoring,
                      title=f"evalkit run {results['run_id']}", header=_header(results))
    fill_flip_texts(view.flips, run_dir / "samples.jsonl")
    if samples.empty:
        view.notes.append("This run has no samples yet.")
    if (samples_file := results.get("samples_file") or {}).get("malformed_lines"):
        view.notes.append(f"{samples_file['malformed_lines']} malformed line(s) of {samples_file['path']} "
                          "were skipped, not scored: " + "; ".join(samples_file.get("skipped") or ()))
    render_outputs(view, samples, run_dir, report)
    write_junit(samples, results["arms"], run_dir / "junit.xml")
    write_openmetrics(results["arms"], run_dir / "metrics.txt")
    return results
