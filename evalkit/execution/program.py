"""program_for: the complete program that decides one sample's verdict."""

from __future__ import annotations

import dataclasses
import hashlib

from evalkit.records import Program, Task


def program_for(task: Task, code: str, key: str, timeout_s: float) -> Program:
    """The code under test with the task's tests and ``check(entry_point)``.

    ``code`` is the whole program under test (prompt + completion, or an EvalPlus
    solution). Python programs take the split path: the tests run in a trusted process with
    the task's reference program as their helpers and call ``entry_point`` in the program's process
    (README, Execution sandbox); the executor runs a task in one process instead when the
    canary found its tests cannot be split. JavaScript tasks are run by node in one process.
    """
    if task.language == "javascript":  # run by node: runner.NODE_RUNNER
        tests = f"{task.tests}\ncheck({task.entry_point});\n"
    else:
        tests = f"{task.tests}\n\ncheck({task.entry_point})\n"
    # The tests' helpers (HumanEval/38's encode_cyclic) come from the whole reference program: a
    # completion task's prefix stops mid-function, and a prompt may end in a bare function header
    # (`def f(x):` with no docstring), which does not compile on its own.
    helpers = task.program_text(task.reference)
    return Program(key=key, code=code, language=task.language, timeout_s=timeout_s, tests=tests,
                   task_id=task.task_id, entry_point=task.entry_point, helpers=helpers,
                   split=task.language == "python" and bool(task.entry_point))


def routed(program: Program, in_process_tasks: set[str], live_tasks: set[str]) -> Program:
    """``program`` on the path the canary found its task needs: code and tests in one process
    (``in_process_tasks``), objects crossing live (``live_tasks``), else as it is."""
    if not program.split:
        return program
    if program.task_id in in_process_tasks:
        return dataclasses.replace(program, split=False)
    if program.task_id in live_tasks:
        return dataclasses.replace(program, live=True)
    return program


def program_digest(program: Program, *, with_limit: bool = True) -> bytes:
    """What decides a program's verdict, hashed: language, path (split or not), helpers, code
    and tests, and its CPU limit unless ``with_limit`` is False. Not its key or task id: two
    tasks whose programs are the same text (every hole of one infilling problem has the same
    reference program) get the same digest."""
    limit = f"{program.timeout_s}" if with_limit else ""
    identity = (f"{program.language}\0{limit}\0{program.split}\0{program.live}\0{program.entry_point}\0"
                f"{program.helpers}\0{program.code}\0{program.tests}")
    return hashlib.blake2b(identity.encode("utf-8", "surrogateescape"), digest_size=16).digest()
