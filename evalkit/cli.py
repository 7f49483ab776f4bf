"""The `evalkit` command: subcommands, Hydra at the edge, exit codes.

Exit codes (DESIGN.md): 0 success; 1 the gate found a regression; 2 unusable
input or configuration, with one line on stderr (a traceback only with --verbose).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable

from evalkit.config import ConfigError, secret_values

USAGE = """usage: evalkit [--verbose] COMMAND ...

commands:
  run [OVERRIDES]                        the whole pipeline (-m for Hydra sweeps)
  score samples=PATH [OVERRIDES]         score generations made elsewhere
  compare RUN_DIR RUN_DIR... [-o OUT]    side-by-side report of finished runs
  gate --baseline RUN_OR_JSON --candidate RUN_DIR [-o OUT] [gate.KEY=VALUE ...]
  baseline bless RUN_DIR... [-o DIR]     a compact baseline to commit (several runs: pooled)
  report RUN_DIR                         re-render a run's reports from its samples
  history [REPORTS_DIR]                  REPORTS_DIR/index.html: every run over time, gates marked
  prompts render [OVERRIDES] task=ID     the exact request a task gets
  prompts lint [--registry PATH]         check every template
  serve-demo [--port N]                  the embedded demo endpoint, standalone
"""


def redact(text: str) -> str:
    """Remove every configured secret's value from a message."""
    for secret in secret_values():
        text = text.replace(secret, "***")
    return text


def fail(message: str) -> int:
    """Print the one-line reason for exit 2."""
    first = redact(str(message)).strip().splitlines()[0] if str(message).strip() else "unknown error"
    print(f"evalkit: error: {first}", file=sys.stderr)
    return 2


def _run_guarded(func: Callable[[], int], verbose: bool) -> int:
    try:
        return func()
    except ConfigError as exc:
        if verbose:
            raise
        return fail(str(exc))
    except KeyboardInterrupt:
        print("evalkit: interrupted; samples written so far are kept", file=sys.stderr)
        return 130


def _hydra_command(mode: str, overrides: list[str], verbose: bool) -> int:
    from evalkit import hydra_app

    return hydra_app.main(mode, overrides, verbose)


def _compare(args: list[str], verbose: bool) -> int:
    parser = argparse.ArgumentParser(prog="evalkit compare")
    parser.add_argument("run_dirs", nargs="+", type=Path)
    parser.add_argument("-o", "--out", type=Path, default=None)
    parser.add_argument("--baseline-arm", default=None)
    ns = parser.parse_args(args)

    def go() -> int:
        from evalkit.reporting import compare

        for run_dir in ns.run_dirs:
            if not (run_dir / "samples.jsonl").is_file():
                raise ConfigError(f"{run_dir} is not a finished run directory (no samples.jsonl)")
        out = ns.out or Path("reports") / "compare" / "-vs-".join(d.name for d in ns.run_dirs)
        path = compare(ns.run_dirs, out, baseline_arm=ns.baseline_arm)
        print(f"report: {path}")
        return 0

    return _run_guarded(go, verbose)


def _gate(args: list[str], verbose: bool) -> int:
    parser = argparse.ArgumentParser(prog="evalkit gate")
    parser.add_argument("--baseline", required=True, type=Path)
    parser.add_argument("--candidate", required=True, type=Path)
    parser.add_argument("-o", "--out", type=Path, default=None)
    parser.add_argument("overrides", nargs="*", help="gate.max_drop=0.02 gate.alpha=0.05 ...")
    ns = parser.parse_args(args)

    def go() -> int:
        from evalkit.hydra_app import compose_gate_config
        from evalkit.reporting.gate import gate, terminal_lines

        cfg = compose_gate_config(ns.overrides)
        out = ns.out or ns.candidate / "gate"
        outcome = gate(ns.baseline, ns.candidate, cfg, out)
        print(f"gate: {outcome.verdict.value}")
        print("\n".join(terminal_lines(outcome)))
        print(f"report: {out / 'gate.md'}")
        return outcome.exit_code

    return _run_guarded(go, verbose)


def _baseline(args: list[str], verbose: bool) -> int:
    parser = argparse.ArgumentParser(prog="evalkit baseline")
    parser.add_argument("action", choices=["bless"])
    parser.add_argument("run_dirs", nargs="+", type=Path, help="one run, or several (seeds) to pool")
    parser.add_argument("-o", "--out", type=Path, default=Path("reports/baselines"))
    ns = parser.parse_args(args)

    def go() -> int:
        from evalkit.reporting.baseline import bless

        path = bless(ns.run_dirs, ns.out)
        print(f"baseline: {path}")
        return 0

    return _run_guarded(go, verbose)


def _history(args: list[str], verbose: bool) -> int:
    parser = argparse.ArgumentParser(prog="evalkit history")
    parser.add_argument("root", nargs="?", type=Path, default=Path("reports"))
    ns = parser.parse_args(args)

    def go() -> int:
        from evalkit.reporting.history import write_history

        print(f"history: {write_history(ns.root)}")
        return 0

    return _run_guarded(go, verbose)


def _report(args: list[str], verbose: bool) -> int:
    parser = argparse.ArgumentParser(prog="evalkit report")
    parser.add_argument("run_dir", type=Path)
    ns = parser.parse_args(args)

    def go() -> int:
        from evalkit.hydra_app import rerender_reports

        path = rerender_reports(ns.run_dir)
        print(f"report: {path}")
        return 0

    return _run_guarded(go, verbose)


def _prompts(args: list[str], verbose: bool) -> int:
    if not args or args[0] not in ("render", "lint"):
        return fail("usage: evalkit prompts render [OVERRIDES] task=ID | "
                    "evalkit prompts lint [--registry PATH]")

    def go() -> int:
        from evalkit import hydra_app

        if args[0] == "render":
            return hydra_app.prompts_render(args[1:])
        return hydra_app.prompts_lint(args[1:])

    return _run_guarded(go, verbose)


def _serve_demo(args: list[str], verbose: bool) -> int:
    parser = argparse.ArgumentParser(prog="evalkit serve-demo")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--host", default="127.0.0.1")
    ns = parser.parse_args(args)

    def go() -> int:
        from evalkit.benchmarks import load_tasks
        from evalkit.config import DatasetConfig
        from evalkit.models import serve_demo

        def announce(base_url: str) -> None:
            print(f"demo endpoint: {base_url} (synthetic models demo-oracle, demo-buggy; Ctrl-C stops it)",
                  flush=True)

        serve_demo(load_tasks(DatasetConfig()), host=ns.host, port=ns.port, on_ready=announce)
        return 0

    return _run_guarded(go, verbose)


SUBCOMMANDS: dict[str, Callable[[list[str], bool], int]] = {
    "run": lambda a, v: _hydra_command("run", a, v),
    "score": lambda a, v: _hydra_command("score", a, v),
    "compare": _compare,
    "gate": _gate,
    "baseline": _baseline,
    "report": _report,
    "history": _history,
    "prompts": _prompts,
    "serve-demo": _serve_demo,
}


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `evalkit` console script."""
    args = list(sys.argv[1:] if argv is None else argv)
    verbose = False
    while args and args[0] in ("--verbose", "-v"):
        verbose = True
        args.pop(0)
    if not args or args[0] in ("-h", "--help", "help"):
        print(USAGE)
        return 0 if args else 2
    command, rest = args[0], args[1:]
    handler = SUBCOMMANDS.get(command)
    if handler is None:
        return fail(f"unknown command {command!r}; commands: {', '.join(SUBCOMMANDS)}")
    return handler(rest, verbose)


__all__ = ["main", "SUBCOMMANDS"]
