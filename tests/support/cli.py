"""Running the real `evalkit` command as a user would: a separate process, its exit code and output."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
"""The tests folder."""
REPO = TESTS.parent
"""The project checkout the tests run from."""
FIXTURES = TESTS / "fixtures"
"""Data the tests read, vendored with its provenance and licence."""


_DRAWS_PLOTS = ("run", "score")
"""The commands whose reports draw plots (``report.plots``)."""
_SHOWS_ONLY = ("-h", "--help", "--hydra-help", "-c", "--cfg", "-i", "--info", "-sc", "--shell-completion")
"""Options with which a command only shows something (its help, its config): it writes no report."""


def run_evalkit(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
                timeout: float = 300) -> subprocess.CompletedProcess:
    """Run `python -m evalkit ARGS` as a real process; returns its completed process (text).

    A run or score draws no plots unless ARGS set ``report.plots``: drawing them was a quarter of
    the CPU of each of the suite's small runs (1.2 of 4.5 s), and the tests that look at plots ask.
    """
    if (args and args[0] in _DRAWS_PLOTS and not any(a.startswith("report.plots") for a in args)
            and not set(args) & set(_SHOWS_ONLY)):
        args = (*args, "report.plots=false")
    full_env = dict(os.environ)
    full_env.update(env or {})
    full_env.setdefault("HF_DATASETS_OFFLINE", "1")
    full_env.setdefault("HF_HUB_OFFLINE", "1")
    return subprocess.run([sys.executable, "-m", "evalkit", *args], cwd=cwd or REPO, env=full_env,
                          capture_output=True, text=True, timeout=timeout, check=False)
