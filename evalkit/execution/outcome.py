"""A program's verdict from what the worker saw: the spawner's report on the program's process
and, on the split path, the test process's verdict and how it ended.

Pure functions of plain facts, so each rule is tested without running anything. Only evalkit's
side yields ``infra_error``: the set-up pipe (closed before the program runs) or a test
process that failed on its own; nothing the program writes is read as one.
"""

from __future__ import annotations

import signal

TIMEOUT_SIGNALS = (signal.SIGXCPU, signal.SIGPROF, signal.SIGKILL)


def _program_end(done: dict, limit: float) -> tuple[str, str]:
    """(status, detail) for a program process that ended before the tests were done with it."""
    exit_code, cpu = done["exit"], done["cpu"]
    if done["walled"]:
        return "timeout", f"wall-clock backstop reached (CPU limit {limit:.2f} s)"
    if cpu >= limit * 0.98 or (exit_code < 0 and -exit_code in TIMEOUT_SIGNALS and cpu >= limit * 0.5):
        return "timeout", f"CPU limit {limit:.2f} s exceeded"
    if exit_code < 0:
        return "error", f"killed by {signal_name(-exit_code)}"
    return "error", f"exited with code {exit_code} before the tests finished"


OWN_CPU_SLACK_S = 0.02
"""How far a process's own CPU, which /proc gives in clock ticks (10 ms), may read above its limit."""


def _passed(done: dict, limit: float) -> tuple[str, str]:
    """The verdict of a program whose tests passed: ``timeout`` if its process used more CPU of its
    own than its limit (its timer can be disarmed and SIGXCPU ignored, leaving only the hard
    rlimit, a second later, and the backstop). The children it waited for do not count: each has
    the limit of its own, as before."""
    if done.get("own_cpu", 0.0) > limit + OWN_CPU_SLACK_S:
        return "timeout", f"CPU limit {limit:.2f} s exceeded ({done['own_cpu']:.2f} s used)"
    return "passed", ""


def signal_name(number: int) -> str:
    """SIGSEGV, SIGRTMIN+6, or "signal 32": a program may end by any signal, including those
    Python's signal.Signals has no member for (real-time ones; it raised ValueError in the
    worker, ending every program it held)."""
    try:
        return signal.Signals(number).name
    except ValueError:
        if signal.SIGRTMIN <= number <= signal.SIGRTMAX:
            return f"SIGRTMIN+{number - signal.SIGRTMIN}"
        return f"signal {number}"


def _with_output(status: str, detail: str, done: dict) -> str:
    if status in ("error", "infra_error") and not detail.endswith(")") and done.get("out"):
        return detail + " | output: " + done["out"]
    return detail


def split_verdict(done: dict, judged: dict | None, judge_exit: int, judge_walled: bool,
                  limit: float) -> tuple[str, str]:
    """(status, detail) on the split path.

    ``done``: the spawner's report; ``judged``: the test process's verdict (None if it wrote
    none); ``judge_exit``: its exit code (negative: the signal); ``judge_walled``: the worker
    killed it at the backstop.
    """
    if done["setup"] != "ok":
        return "infra_error", f"sandbox setup failed: {done['setup']}"
    if judged is None:
        if judge_walled or -judge_exit in TIMEOUT_SIGNALS:
            return "timeout", f"the tests ran out of time on the program's answers (limit {limit:.2f} s)"
        return "infra_error", f"the test process ended without a verdict (exit {judge_exit})"
    status, text = judged["status"], f"{judged['type']}: {judged['message']}"
    if status in ("gone", "timeout"):
        ended, detail = _program_end(done, limit)
        if status == "gone" or ended == "timeout":  # the program's own limits speak first
            return ended, _with_output(ended, detail, done)
        return "timeout", f"the tests ran out of CPU time on the program's answers (limit {limit:.2f} s)"
    known = {"passed": _passed(done, limit), "infra_error": ("infra_error", f"test process: {text}"),
             "failed": ("failed", text), "syntax_error": ("syntax_error", text)}
    return known.get(status) or ("error", _with_output("error", text, done))


def in_process_verdict(done: dict, limit: float) -> tuple[str, str]:
    """(status, detail) on the in-process path: the runner's token line says the tests returned."""
    if done["setup"] != "ok":
        return "infra_error", f"sandbox setup failed: {done['setup']}"
    if done["passed_signal"] and done["exit"] == 0 and not done["walled"]:
        return _passed(done, limit)
    report = done["report"]
    if done["walled"] or not report:
        status, detail = _program_end(done, limit)
        return status, _with_output(status, detail, done)
    if done["cpu"] >= limit * 0.98:
        return "timeout", f"CPU limit {limit:.2f} s exceeded"
    name, _, message = report[1:].partition("\t")
    message = message.replace("\\n", "\n").replace("\\\\", "\\")  # as runner._report escaped it
    text = f"{name}: {message}"
    if report[0] == "S":
        return "syntax_error", text
    status = "failed" if name == "AssertionError" else "error"
    return status, _with_output(status, text, done)
