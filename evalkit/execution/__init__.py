"""Isolated, deterministic execution of generated programs.

- ``program_for(task, code, key, timeout_s)`` builds the Program to run;
- ``LocalExecutor(cfg)`` runs Programs in isolated worker processes
  (``submit`` -> Future[Verdict], ``run`` streams ``(key, Verdict)``);
  a Verdict's ``duration_s`` is the CPU time the program used, the quantity its limit bounds;
- ``calibrate(tasks, executor)`` gives per-task CPU limits (cached) and
  ``canary(tasks, executor, limits)`` the reference solutions that fail.
"""

from evalkit.execution.calibrate import calibrate, canary
from evalkit.execution.executor import LocalExecutor
from evalkit.execution.program import program_for

__all__ = ["LocalExecutor", "calibrate", "canary", "program_for"]
