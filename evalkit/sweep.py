"""The sweep summary: after `evalkit run -m ...`, every job becomes an arm of one report.

A Hydra callback, so it works with any launcher (basic, joblib, submitit): it
runs in the launching process once all jobs have returned, reads their run
directories, and writes a comparison report under the sweep directory. A job
that failed leaves `error.txt` in its directory and is listed with its reason.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

ERROR_FILE = "error.txt"


def summarize_sweep(sweep_dir: Path) -> tuple[Path | None, int]:
    """Compare the finished jobs under `sweep_dir`; write summary.md listing the failed ones.

    Returns the comparison report's path (None when no job finished) and the number of failed jobs.
    """
    from evalkit.reporting import compare

    finished, failed = [], []
    for job_dir in sorted((p for p in sweep_dir.iterdir() if p.is_dir()), key=_job_order):
        if (job_dir / "results.json").is_file():
            finished.append(job_dir)
        elif (job_dir / ".hydra").is_dir():
            reason = (job_dir / ERROR_FILE).read_text().strip() if (job_dir / ERROR_FILE).is_file() \
                else "no results.json (the job was stopped or crashed)"
            failed.append((job_dir, reason))
    out = sweep_dir / "summary"
    out.mkdir(parents=True, exist_ok=True)
    report = compare(finished, out) if finished else None
    lines = ["# Sweep summary", "", f"{len(finished)} job(s) finished, {len(failed)} failed.", ""]
    lines += [f"- job `{d.name}`: {_overrides(d)}" for d in finished]
    if failed:
        lines += ["", "## Failed jobs", ""]
        lines += [f"- job `{d.name}` ({_overrides(d)}): {reason}" for d, reason in failed]
    if report:
        lines += ["", f"Comparison report: {report}"]
    (out / "summary.md").write_text("\n".join(lines) + "\n")
    return report, len(failed)


def _job_order(path: Path) -> tuple[int, str]:
    return (int(path.name), "") if path.name.isdigit() else (1 << 30, path.name)


def _overrides(job_dir: Path) -> str:
    path = job_dir / ".hydra" / "overrides.yaml"
    if not path.is_file():
        return "?"
    import yaml

    return " ".join(yaml.safe_load(path.read_text()) or []) or "(defaults)"


class SweepSummary(Callback):
    """Hydra callback: at the end of a multirun, compare its jobs as arms of one report."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        if not sweep_dir.is_dir():
            return
        report, n_failed = summarize_sweep(sweep_dir)
        print(f"sweep summary: {sweep_dir / 'summary' / 'summary.md'}")
        if report:
            print(f"report: {report}")
        if n_failed:
            # the sweep as a whole could not be used: exit 2, as a failed single run does
            raise SystemExit(2)
