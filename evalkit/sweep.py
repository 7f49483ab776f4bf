"""The sweep summary: after `evalkit run -m ...`, every job becomes an arm of one report.

A Hydra callback, so it works with any launcher (basic, joblib, submitit): it
runs in the launching process once all jobs have returned, reads their run
directories, and writes a comparison report under the sweep directory. A job
that failed leaves `error.txt` in its directory and is listed with its reason; a
job that wrote its reports and exited 2 (results.json's ``problems``) is compared
and listed with its problem. Either makes the sweep exit 2.

Only this attempt's jobs count: a sweep started again in its directory (``hydra.sweep.dir``) finds
the folders of the jobs it ran before, whose results.json a job refused now would still show. The
callback writes a token to the sweep's ATTEMPT_FILE before any job starts; each job copies it into
its own, with how it ended (``mark_job``).
"""

from __future__ import annotations

import json
import re
import secrets
import shutil
import sys
from pathlib import Path
from typing import Any

import yaml
from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from evalkit.config import ConfigError
from evalkit.records import ArmResult, Status
from evalkit.results import load_results

ERROR_FILE = "error.txt"
"""What a failed job leaves in its directory: the one-line reason first."""
ATTEMPT_FILE = ".evalkit-attempt"
"""In the sweep's directory, the running attempt's token; in a job's, ``TOKEN STATE``: the attempt
that ran it last and how the job ended (``started``: it never said; ``kept``: it had finished in an
earlier attempt, which this one asked for no more than, and was left as it was)."""
STATES = ("started", "finished", "failed", "kept")


def mark_job(job_dir: Path, sweep_dir: Path, state: str) -> None:
    """Record in ``job_dir`` that the sweep's running attempt ran it, and how it ended (STATES); a
    finished job's error file of an earlier attempt goes."""
    try:
        token = (sweep_dir / ATTEMPT_FILE).read_text().strip()
    except OSError:  # a job run outside evalkit's launch (no callback): nothing to tell apart
        return
    job_dir.mkdir(parents=True, exist_ok=True)
    (job_dir / ATTEMPT_FILE).write_text(f"{token} {state}\n")
    if state in ("finished", "kept"):
        (job_dir / ERROR_FILE).unlink(missing_ok=True)


def _job_state(job_dir: Path, token: str) -> str | None:
    """How the job ended in the attempt ``token`` (STATES); None when that attempt did not run it."""
    try:
        ran, _, state = (job_dir / ATTEMPT_FILE).read_text().strip().partition(" ")
    except OSError:
        return None
    return state if ran == token and state in STATES else None


def summarize_sweep(sweep_dir: Path, token: str) -> tuple[Path | None, list[Path], int]:
    """Compare the jobs the attempt ``token`` finished under `sweep_dir`; write summary.md listing
    those that failed and those that exited 2 after their reports.

    Returns the comparison report's path (None when no job finished), the jobs that failed, and the
    number of jobs that failed or exited 2, or 1 when every job had finished before this attempt (it
    asked the model nothing: a command that measured nothing does not exit 0).
    """
    # Imported here: Hydra builds this callback at start-up, and reporting pulls in matplotlib.
    from evalkit.reporting import compare
    from evalkit.reporting.markdown import inline

    finished, failed, exited_2, earlier, kept = _jobs_of_attempt(sweep_dir, token)
    out = sweep_dir / "summary"
    # the summary is this attempt's alone: an earlier attempt's report beside "0 job(s) finished"
    # showed numbers the summary did not stand for
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)
    report, uncompared = None, None
    try:
        report = compare(finished, out) if finished else None
    except ConfigError as exc:  # jobs over other datasets share no task: each still has its own report
        uncompared = str(exc)
    overrides = {d: _overrides(d) for d in finished + [d for d, _ in failed]}
    common = set.intersection(*(set(o) for o in overrides.values())) if overrides else set()
    swept = {d: " ".join(o for o in over if o not in common) or "(none)" for d, over in overrides.items()}
    counts = _counts(len(finished), len(failed), kept, len(exited_2), earlier)
    lines = ["# Sweep summary", "", counts + ".", ""]
    if common:
        lines += [f"Every job: `{' '.join(o for o in next(iter(overrides.values())) if o in common)}`", ""]
    if finished:
        lines += _arm_table(finished, swept, out / "comparison.json")
    if failed:
        lines += ["", "## Failed jobs", ""]
        lines += [f"- job `{d.relative_to(sweep_dir).as_posix()}` (`{swept[d]}`): {inline(reason)}"
                  for d, reason in failed]
    if exited_2:
        lines += ["", "## Jobs that exited 2 (their reports are written; bless and gate refuse them)", ""]
        lines += [f"- job `{d.relative_to(sweep_dir).as_posix()}` (`{swept[d]}`): {inline(problem)}"
                  for d, problem in exited_2]
    if report:
        lines += ["", f"Comparison report (every arm of every job): {report}"]
    if uncompared:
        lines += ["", f"No comparison report: {inline(uncompared)}; each job's own report is in its folder."]
    (out / "summary.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    nothing_new = int(bool(finished) and kept == len(finished) and not failed)
    if nothing_new:
        print("evalkit: every job of this sweep had finished before: it asked the model nothing; give a new "
              "hydra.sweep.dir for new runs", file=sys.stderr)
    return report, [d for d, _ in failed], len(failed) + len(exited_2) or nothing_new


def _jobs_of_attempt(sweep_dir: Path, token: str) -> tuple[list[Path], list[tuple[Path, str]],
                                                             list[tuple[Path, str]], int, int]:
    """The jobs the attempt ``token`` ran under ``sweep_dir``: those finished (kept ones included),
    those failed and those finished that exited 2 (each with why), how many folders of earlier
    attempts it did not run, and how many finished jobs it kept as they were."""
    finished, failed, exited_2, earlier, kept = [], [], [], 0, 0
    for job_dir in job_dirs(sweep_dir):
        state = _job_state(job_dir, token)
        if state is None:
            earlier += (job_dir / ".hydra").is_dir()
        elif state in ("finished", "kept") and (job_dir / "results.json").is_file():
            finished.append(job_dir)
            kept += state == "kept"
            problems = load_results(job_dir).problems
            if problems:  # its reports are written, and say why it exited 2
                exited_2.append((job_dir, problems[0]))
        else:
            failed.append((job_dir, _failure_reason(job_dir) if state == "failed" else
                           "it ended without a word (stopped, killed or crashed)"))
    return finished, failed, exited_2, earlier, kept


def _counts(finished: int, failed: int, kept: int, exited_2: int, earlier: int) -> str:
    """The summary's first line: how the attempt's jobs ended, and the folders it left out."""
    return f"{finished} job(s) finished, {failed} failed" + (
        f"; {kept} of the finished had finished before this attempt and are kept as they were" if kept else
        "") + (f"; {exited_2} of the finished exited 2 (below)" if exited_2 else "") + (
        f"; {earlier} job folder(s) of an earlier attempt in this directory, which this one did not run, "
        "are left out" if earlier else "")


def _failure_reason(job_dir: Path) -> str:
    """The first line of the job's error file, or why there is no reason to show."""
    path = job_dir / ERROR_FILE
    if not path.is_file():
        return "no results.json (the job was stopped or crashed)"
    lines = path.read_text().strip().splitlines()
    return lines[0] if lines else f"{ERROR_FILE} is empty"


def _arm_table(finished: list[Path], swept: dict[Path, str], comparison: Path) -> list[str]:
    """One row per arm of each finished job, named as the comparison report names it."""
    from evalkit.reporting.compare import run_names  # with the reporting stage, only when summarizing
    from evalkit.reporting.markdown import inline

    compared = {a.arm: a for a in map(ArmResult.from_json, json.loads(comparison.read_text())["arms"])} \
        if comparison.is_file() else {}
    rows = []
    for job_dir, job in zip(finished, run_names(finished), strict=True):
        results = load_results(job_dir)
        for arm in results.arms:
            # compare prefixes a label with its job's name only where two jobs share the label
            name = f"{job}/{arm.arm}" if f"{job}/{arm.arm}" in compared else arm.arm
            # the figures shown are the comparison's, over the tasks every job measured: their count
            # with them (a job of 20 tasks showed the pass@1 of the 3 it shared with another beside "20")
            shown = compared.get(name, arm)
            scored, total = (shown.n_tasks_scored if shown.n_tasks_scored is not None else shown.n_tasks,
                             results.dataset.n_tasks)
            # over the dataset's tasks: a job that measured 3 of 5 showed pass@1 1.000 alone (a nightly
            # owner's trial)
            tasks = str(scored) if scored >= total else f"{scored} of {total}"
            infra = arm.verdicts.get(Status.INFRA_ERROR, 0)
            rows.append((job_dir, job, name, shown, tasks, infra))
    # every k a job measured (each job's own where no comparison joins them: `k=[2]` showed pass@1 n/a)
    ks = sorted({k for *_, shown, _, _ in rows for k in shown.pass_at_k}) or [1]
    headers = " | ".join(f"pass@{k}" for k in ks)
    lines = [f"| job | swept overrides | arm in the report | tasks | {headers} | infra errors |",
             "|---|---|---|---|" + "---|" * len(ks) + "---|"]
    for job_dir, job, name, shown, tasks, errors in rows:
        cells = [shown.pass_at_k.get(k) for k in ks]
        values = ["n/a" if cell is None or cell.value is None else f"{cell.value:.3f}" for cell in cells]
        lines.append(f"| {job} | `{inline(swept[job_dir])}` | {inline(name)} | {tasks} | "
                     f"{' | '.join(values)} | {errors} |")
    return lines


def job_dirs(sweep_dir: Path) -> list[Path]:
    """Every job folder under ``sweep_dir`` (one Hydra saved a config in, or a job marked), in job
    order: at any depth, as ``hydra.sweep.subdir`` may nest them (``${hydra.job.num}/run``)."""
    marks = [*sweep_dir.rglob(".hydra"), *sweep_dir.rglob(ATTEMPT_FILE)]
    found = {mark.parent for mark in marks if mark.parent != sweep_dir}
    return sorted(found, key=lambda job: _job_order(job.relative_to(sweep_dir).parts[0]))


def _job_order(name: str) -> tuple[int, str]:
    return (int(name), "") if name.isdigit() else (1 << 30, name)


def _overrides(job_dir: Path) -> list[str]:
    r"""A job's overrides as the user would type them: without the backslashes Hydra adds before the
    characters of its grammar (the summary showed ``model.base_url=http\://127.0.0.1\:18766/v1``)."""
    path = job_dir / ".hydra" / "overrides.yaml"
    if not path.is_file():
        return []
    return [_HYDRA_ESCAPE.sub(r"\1", str(o)) for o in yaml.safe_load(path.read_text()) or []]


_HYDRA_ESCAPE = re.compile(r"\\([\\()\[\]{}:=, \t])")


class SweepSummary(Callback):
    """Hydra callback: at the end of a multirun, compare its jobs as arms of one report."""

    def __init__(self) -> None:
        self.token = ""
        self.before: dict[Path, Any] = {}
        """Each job folder the sweep's directory held before this attempt, as it was
        (``hydra_app.RunDirBefore``): put back for a job this attempt refused."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        """Mark the attempt in the sweep's directory, and note its job folders as they are."""
        from evalkit.hydra_app import RunDirBefore  # noqa: PLC0415 - it imports this module

        sweep_dir = Path(config.hydra.sweep.dir)
        sweep_dir.mkdir(parents=True, exist_ok=True)
        self.token = secrets.token_hex(8)
        (sweep_dir / ATTEMPT_FILE).write_text(self.token + "\n")
        log_name = f"{config.hydra.job.name}.log"
        self.before = {job.absolute(): RunDirBefore.read(job, log_name) for job in job_dirs(sweep_dir)
                       if (job / ".hydra").is_dir()}

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        """Write the sweep's summary and comparison; exit 2 when a job failed."""
        sweep_dir = Path(config.hydra.sweep.dir)
        if not sweep_dir.is_dir():
            return
        from evalkit.hydra_app import RunDirBefore  # noqa: PLC0415 - it imports this module

        report, failed, n_failed = summarize_sweep(sweep_dir, self.token)
        log_name = f"{config.hydra.job.name}.log"
        for job in failed:  # refused before it measured anything: its folder as it was, as a single run's
            before = self.before.get(job.absolute()) or RunDirBefore.made_by_attempt(job, log_name)
            before.undo_unmeasured(job)
        for job in job_dirs(sweep_dir):  # kept: its saved config is the one its results were made with
            if _job_state(job, self.token) == "kept" and job.absolute() in self.before:
                self.before[job.absolute()].undo_unmeasured(job)
        print(f"sweep summary: {sweep_dir / 'summary' / 'summary.md'}")
        if report:
            print(f"report: {report}")
        if n_failed:
            # the sweep as a whole could not be used (or asked nothing): exit 2, as such a single run does
            raise SystemExit(2)
