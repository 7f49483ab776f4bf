"""Isolated, deterministic execution of generated programs.

- ``program_for(task, code, key, timeout_s)`` builds the Program to run;
- ``LocalExecutor(cfg)`` runs Programs in isolated worker processes
  (``submit`` -> Future[Verdict], ``run`` streams ``(key, Verdict)``): the program in a
  sandboxed process, its tests in a trusted one that calls it with plain data, so the program
  cannot write its own verdict (``Verdict.verified``); a Verdict's ``duration_s`` is the CPU
  time the program and its tests used;
- ``calibrate(tasks, executor)`` gives per-task CPU limits (cached; ``calibrate.calibration``
  also the reference CPU times they come from, which `evalkit score` schedules by) and
  ``canary(tasks, executor, limits)`` the reference solutions that fail (it also decides which
  tasks cannot be split, ``executor.in_process_tasks``, and then replaces the workers,
  ``executor.recycle()``);
- ``make_executor(cfg)`` the executor ``cfg.kind`` names (``local``, or ``ray``
  for ``RayExecutor``: the same sandbox on every node of a Ray cluster).
"""

from evalkit.config import ConfigError, ExecutorConfig
from evalkit.execution.calibrate import calibrate, canary
from evalkit.execution.executor import LocalExecutor
from evalkit.execution.program import program_for


def make_executor(cfg: ExecutorConfig):  # LocalExecutor or RayExecutor: one interface
    """The executor ``cfg.kind`` names, with LocalExecutor's interface (raises ConfigError)."""
    if cfg.kind == "local":
        return LocalExecutor(cfg)
    if cfg.kind == "ray":
        from evalkit.execution.ray_executor import RayExecutor  # Ray is optional: imported only when chosen

        return RayExecutor(cfg)
    raise ConfigError(f"unknown executor.kind {cfg.kind!r}; known: local, ray")


__all__ = ["LocalExecutor", "calibrate", "canary", "make_executor", "program_for"]
