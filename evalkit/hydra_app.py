"""Hydra at the edge: composing configs for the commands that take overrides.

`run` and `score` go through `hydra.main`, so sweeps, launchers and Hydra's run
directories work as Hydra users expect. Overrides are composed once beforehand,
so a mistake exits 2 with one line instead of Hydra's multi-line report.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path
from typing import Any

from hydra import compose, initialize_config_dir
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import DictConfig

from evalkit.config import CONF_DIR, ConfigError, GateConfig, RunConfig, apply_air_gap, run_config
from evalkit.records import RunResults, Status

# Hydra's own flags that take a value (`--cfg job`); they are not overrides.
_FLAGS_WITH_VALUE = {"--cfg", "-c", "--package", "-p", "--config-path", "-cp", "--config-name", "-cn",
                     "--config-dir", "-cd", "--info", "--shell-completion", "-sc", "--experimental-rerun"}


def _overrides_only(argv: list[str]) -> list[str]:
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg.startswith("-"):
            skip = arg in _FLAGS_WITH_VALUE
        else:
            out.append(arg)
    return out


def _first_of_sweeps(overrides: list[str]) -> list[str]:
    """The first combination of a sweep, for validating a `-m` command line."""
    parsed = OverridesParser.create().parse_overrides(_overrides_only(overrides))
    out = []
    for item in parsed:
        if item.is_sweep_override():
            first = next(iter(item.sweep_string_iterator()))
            out.append(f"{item.get_key_element()}={first}")
        else:
            out.append(item.input_line)
    return out


def _one_line(exc: Exception) -> str:
    text = str(exc)
    if "Could not load 'hydra/launcher/submitit_" in text:  # conf/hydra/launcher/slurm.yaml extends it
        return "this Hydra launcher needs the submitit plugin: pip install hydra-submitit-launcher"
    if "Could not find" in text and "Available options" in text:
        lines = text.splitlines()
        missing = lines[0].split("Could not find '", 1)[-1].rstrip("'")
        group, _, name = missing.rpartition("/")
        options = [ln.strip() for ln in lines[1:] if ln.startswith(("\t", "    ")) and "=" not in ln]
        return f"unknown {group or 'config'} {name!r}; available: {', '.join(options)}"
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    hint = " (see `evalkit run --cfg job` for the keys, or prefix a new key with +)" \
        if "not in struct" in text or "Could not override" in text else ""
    return "bad override: " + " ".join(lines[:2]) + hint


def compose_config(overrides: list[str]) -> DictConfig:
    """The composed config for `overrides`, or ConfigError with one line."""
    try:
        with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
            return compose("config", overrides=_first_of_sweeps(overrides), return_hydra_config=True)
    except ConfigError:
        raise
    except Exception as exc:  # Hydra's override and composition errors
        raise ConfigError(_one_line(exc)) from None


def _validate(overrides: list[str]) -> None:
    from hydra.core.hydra_config import HydraConfig

    cfg = compose_config(overrides)
    HydraConfig.instance().set_config(cfg)
    run_config(cfg)
    if "-m" in overrides or "--multirun" in overrides:
        _check_sweep_composes(overrides)


def _check_sweep_composes(overrides: list[str], cap: int = 256) -> None:
    """Every job of a sweep must compose (e.g. `model=mistral,mistrall`): Hydra would otherwise
    stop the sweep halfway with a traceback. Errors a job finds later are listed in the summary."""
    parsed = OverridesParser.create().parse_overrides(_overrides_only(overrides))
    choices = [[f"{item.get_key_element()}={v}" for v in item.sweep_string_iterator()]
               if item.is_sweep_override() else [item.input_line] for item in parsed]
    combinations = itertools.islice(itertools.product(*choices), 1, cap)  # the first is already checked
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        for num, combination in enumerate(combinations, start=1):
            try:
                compose("config", overrides=list(combination), return_hydra_config=True)
            except Exception as exc:  # Hydra's override and composition errors
                raise ConfigError(f"sweep job {num} ({' '.join(combination)}): {_one_line(exc)}") from None


def main(mode: str, overrides: list[str], verbose: bool) -> int:
    """Validate the overrides, then hand over to Hydra's main for `run` or `score`."""
    from evalkit.cli import fail

    try:
        _validate(overrides)
    except ConfigError as exc:
        if verbose:
            raise
        return fail(str(exc))
    import hydra

    @hydra.main(config_path=str(CONF_DIR), config_name="config", version_base="1.3")
    def app(cfg: DictConfig) -> Any:
        return _job(mode, cfg, verbose)

    sys.argv = [f"evalkit {mode}", *overrides]
    app()
    return 0


def _job(mode: str, cfg: DictConfig, verbose: bool) -> dict[str, Any]:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    from evalkit.cli import fail

    hydra_cfg = HydraConfig.get()
    run_dir = Path(hydra_cfg.runtime.output_dir)
    try:
        rc = run_config(cfg)
        apply_air_gap(rc.dataset.allow_network)
        if mode == "score":
            from evalkit.score import execute_score

            results = execute_score(rc, run_dir)
        else:
            from evalkit.run import execute_run

            results = execute_run(rc, run_dir)
    except ConfigError as exc:
        if hydra_cfg.mode == RunMode.MULTIRUN:
            return _job_failed(run_dir, str(exc))
        if verbose:
            raise
        raise SystemExit(fail(str(exc))) from None
    except Exception as exc:
        if hydra_cfg.mode != RunMode.MULTIRUN:
            raise
        # a crash in one job is still one job's failure: the others and the summary go on
        import traceback

        return _job_failed(run_dir, f"{type(exc).__name__}: {exc}", traceback.format_exc())
    print(summary_table(results))
    print(f"report: {run_dir / 'report.html'}")
    return results


def _job_failed(run_dir: Path, reason: str, details: str = "") -> dict[str, Any]:
    """Record a sweep job's failure in its run directory for the sweep summary."""
    from evalkit.sweep import ERROR_FILE

    reason = " ".join(reason.split()) or "unknown error"
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / ERROR_FILE).write_text(reason + "\n" + (f"\n{details}" if details else ""))
    print(f"evalkit: job {run_dir.name} failed: {reason}", file=sys.stderr)
    if details:
        print(details, file=sys.stderr)
    # returning (not raising) lets the other jobs and the sweep summary go on
    return {"error": reason}


def summary_table(results: RunResults) -> str:
    """The short table printed at the end of a run: pass@k, similarity and every kind of
    failure, model failures apart from infra errors (our side or the endpoint failed)."""
    import pandas as pd

    from evalkit.reporting.aggregate import display_label, format_interval

    rows = []
    for arm in results.arms:
        row = {"arm": display_label(arm)}
        row |= {f"pass@{k}": format_interval(cell) for k, cell in sorted(arm.pass_at_k.items())}
        if "edit_similarity" in arm.metrics:
            row["similarity"] = format_interval(arm.metrics["edit_similarity"])
        failed = sum(n for status, n in arm.verdicts.items()
                     if status not in (Status.PASSED, Status.INFRA_ERROR))
        row["failed"] = failed
        row["infra errors"] = arm.verdicts.get(Status.INFRA_ERROR, 0)
        rows.append(row)
    return pd.DataFrame(rows).to_string(index=False) if rows else "(no arms)"


def compose_gate_config(overrides: list[str]) -> GateConfig:
    """The gate's thresholds from conf/gate plus `gate.*` overrides."""
    return _run_config_for(overrides).gate


def _run_config_for(overrides: list[str]) -> RunConfig:
    """The typed config for `overrides`, for commands that do not go through hydra.main."""
    from hydra.core.hydra_config import HydraConfig

    cfg = compose_config(overrides)
    HydraConfig.instance().set_config(cfg)
    rc = run_config(cfg)
    apply_air_gap(rc.dataset.allow_network)
    return rc


def rerender_reports(run_dir: Path) -> Path:
    """`evalkit report`: rebuild results.json and the reports from samples.jsonl."""
    from evalkit.reporting.write import recorded_scoring, write_reports
    from evalkit.results import load_results

    if not (run_dir / "samples.jsonl").is_file() or not (run_dir / "results.json").is_file():
        raise ConfigError(f"{run_dir} is not a run directory (needs samples.jsonl and results.json)")
    results = load_results(run_dir)
    # A loaded results.json is the metadata; the run's own k, readings and bootstrap settings apply.
    write_reports(run_dir, results, [arm.spec for arm in results.arms], recorded_scoring([results]),
                  _run_config_for([]).report)
    return run_dir / "report.html"


def prompts_render(args: list[str]) -> int:
    """`evalkit prompts render [OVERRIDES] task=ID`: print the exact request bodies per arm."""
    from evalkit import prompts
    from evalkit.benchmarks import load_benchmark

    task_ids = [a.split("=", 1)[1] for a in args if a.startswith("task=")]
    rc = _run_config_for([a for a in args if not a.startswith("task=")])
    tasks = load_benchmark(rc.dataset).tasks
    print(prompts.render_requests(rc.arms, tasks, task_ids, n_samples=rc.n_samples, run_seed=rc.seed))
    return 0


def prompts_lint(args: list[str]) -> int:
    """`evalkit prompts lint [--registry PATH]`: exit 2 when any template has a problem."""
    from evalkit import prompts
    from evalkit.benchmarks import load_tasks
    from evalkit.config import PROMPTS_DIR, DatasetConfig

    parser = argparse.ArgumentParser(prog="evalkit prompts lint")
    parser.add_argument("--registry", type=Path, default=PROMPTS_DIR)
    registry = parser.parse_args(args).registry
    apply_air_gap(False)
    report = prompts.lint(registry, load_tasks(DatasetConfig(limit=5)))
    for problem in report.problems:
        print(problem, file=sys.stderr)
    if report.problems:
        raise ConfigError(f"{len(report.problems)} template problem(s); the first: {report.problems[0]}")
    print(report.summary())
    return 0
