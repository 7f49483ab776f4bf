"""compare: a side-by-side report of the arms of several finished runs.

Arms are aligned on the task ids every run scored; aggregates are recomputed on
those shared tasks so every number in the report covers the same tasks.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from evalkit.config import ConfigError, ReportConfig
from evalkit.records import ArmSpec, ComparedRun, ComparisonResults, TemplateSource
from evalkit.reporting.aggregate import aggregate
from evalkit.reporting.view import ArmRun, build_view
from evalkit.reporting.write import recorded_scoring, render_outputs
from evalkit.results import load_results, load_samples, refuse_run_dir_as_output, run_identity, run_seed


def run_names(run_dirs: Sequence[Path]) -> list[str]:
    """What a comparison calls each run (and prefixes its shared arm labels with): its folder's name,
    or, where several share one, its path below their common folder: a sweep with
    ``hydra.sweep.subdir=${hydra.job.num}/run`` named every job ``run``, its arms ``run#1/...``, one off
    the job numbers (a researcher's trial); now ``0/run``."""
    paths = [Path(d).resolve() for d in run_dirs]
    names = [path.name for path in paths]
    if len(set(names)) < len(names):
        common = Path(os.path.commonpath(paths))
        names = [path.relative_to(common).as_posix() if names.count(path.name) > 1 and path != common
                 else path.name for path in paths]
    return [f"{name}#{i + 1}" if names.count(name) > 1 else name for i, name in enumerate(names)]


def _load(run_dirs: Sequence[Path]) -> list[dict[str, Any]]:
    runs, seen = [], {}
    for name, run_dir in zip(run_names(run_dirs), run_dirs, strict=True):
        results, samples = load_results(run_dir), load_samples(run_dir)  # what is wrong in a file first
        # one run twice (a copied folder, or one named twice) compared with itself, as two arms
        identity = run_identity(run_dir, results.run_id)
        if identity in seen:
            raise ConfigError(f"{run_dir} and {seen[identity]} are one run (a copy of its folder, or the "
                              "same folder twice): compare it once")
        seen[identity] = run_dir
        runs.append({"name": name, "dir": Path(run_dir), "results": results, "samples": samples,
                     "specs": [arm.spec for arm in results.arms], "seed": run_seed(run_dir)})
    labels = [label for run in runs for label in dict.fromkeys(run["samples"]["arm"])]
    for run in runs:
        # Prefix a label with its run's name only where two runs use the same label.
        rename = {label: f"{run['name']}/{label}" for label in dict.fromkeys(run["samples"]["arm"])
                  if labels.count(label) > 1}
        run["samples"] = run["samples"].assign(arm=run["samples"]["arm"].cat.rename_categories(rename))
        run["labels"] = [spec.arm for spec in run["specs"]]
        run["specs"] = [dataclasses.replace(spec, arm=rename.get(spec.arm, spec.arm))
                        for spec in run["specs"]]
        run["rename"] = rename
    return runs


def _baseline(runs: list[dict[str, Any]], labels: list[str], wanted: str | None) -> str:
    if wanted is None:
        return labels[0]
    if wanted in labels:
        return wanted
    matches = [run["rename"][wanted] for run in runs if wanted in run["rename"]]
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise ConfigError(f"baseline arm {wanted!r} is in several runs; name one of: {', '.join(matches)}")
    raise ConfigError(f"baseline arm {wanted!r} is not among the compared arms: {', '.join(labels)}")


def _header(runs: list[dict[str, Any]], shared: list[str]) -> tuple[list[tuple[str, str]], list[str]]:
    header, notes = [], []
    for run in runs:
        results, dataset = run["results"], run["results"].dataset
        header.append((f"run {run['name']}", f"{results.run_id} ({run['dir']}), dataset "
                       f"{dataset.name} sha256 {dataset.content_sha256[:12]}, "
                       f"{run['samples']['task_id'].nunique()} tasks"))
    header.append(("shared tasks", str(len(shared))))
    hashes = {run["results"].dataset.content_sha256 for run in runs}
    if len(hashes) > 1:
        notes.append("The runs used different dataset contents (content_sha256 differs): only task ids "
                     "are aligned, and a task may have changed between them.")
    for run in runs:
        dropped = run["samples"]["task_id"].nunique() - len(shared)
        if dropped:
            notes.append(f"{dropped} tasks of run {run['name']} are not in every run and are left out.")
        problems = run["results"].problems
        if problems:  # gate and bless refuse such a run; a comparison shows it, saying why
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            notes.append(f"Run {run['name']} exited 2, so its numbers may not be the measure they seem: "
                         f"{problems[0]}{more}.")
    return header, notes


def compare(run_dirs: Sequence[Path | str], out_dir: Path | str, baseline_arm: str | None = None) -> Path:
    """Writes report.md, report.html, plots and comparison.json for finished runs; returns report.html's path.

    ``baseline_arm`` (default: the first arm of the first run) is what paired differences
    and flips are measured against; it may be given with or without its run-name prefix.
    """
    if not run_dirs:
        raise ConfigError("compare needs at least one run directory")
    refuse_run_dir_as_output(out_dir, "comparison")
    runs = _load([Path(d) for d in run_dirs])
    shared_ids = set.intersection(*(set(run["samples"]["task_id"]) for run in runs))
    if not shared_ids:
        raise ConfigError("the runs share no task ids: nothing to compare")
    samples = pd.concat([run["samples"] for run in runs], ignore_index=True)
    samples = samples[samples["task_id"].isin(shared_ids)].reset_index(drop=True)
    specs: list[ArmSpec] = [spec for run in runs for spec in run["specs"]]
    scoring = recorded_scoring([run["results"] for run in runs])
    arms = aggregate(samples, specs, scoring)
    baseline = _baseline(runs, [a.arm for a in arms], baseline_arm)
    templates: dict[str, TemplateSource] = {}
    for run in runs:
        templates |= run["results"].templates
    header, notes = _header(runs, sorted(shared_ids))
    view = build_view(samples, arms, templates, scoring, title="evalkit comparison", header=header,
                      baseline=baseline,
                      completion=all(run["results"].dataset.kind == "completion" for run in runs),
                      runs={spec.arm: ArmRun(run["name"], run["seed"], label)
                            for run in runs for spec, label in zip(run["specs"], run["labels"], strict=True)})
    view.notes = notes + view.notes
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    render_outputs(view, samples, out, ReportConfig(formats=("md", "html"), plots=True))
    summary = ComparisonResults(
        runs=tuple(ComparedRun(name=r["name"], dir=str(r["dir"]), run_id=r["results"].run_id) for r in runs),
        shared_tasks=len(shared_ids), baseline=baseline, arms=tuple(arms), differences=tuple(view.diffs),
        flips=tuple(f for pair in view.flips for f in pair["flips"]))
    text = json.dumps(summary.to_json(), indent=2, allow_nan=False) + "\n"
    (out / "comparison.json").write_text(text, encoding="utf-8")
    return out / "report.html"
