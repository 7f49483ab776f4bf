"""program_for: the complete program that decides one sample's verdict."""

from __future__ import annotations

from evalkit.records import Program, Task


def program_for(task: Task, code: str, key: str, timeout_s: float) -> Program:
    """The code under test with the task's tests and ``check(entry_point)``.

    ``code`` is the whole program under test (prompt + completion, or an EvalPlus
    solution). Python programs take the split path: the tests run in a trusted process with
    the task's prompt as their helpers and call ``entry_point`` in the program's process
    (README, Execution sandbox); the executor runs a task in one process instead when the
    canary found its tests cannot be split. JavaScript tasks are run by node in one process.
    """
    if task.language == "javascript":  # run by node: runner.NODE_RUNNER
        tests = f"{task.tests}\ncheck({task.entry_point});\n"
    else:
        tests = f"{task.tests}\n\ncheck({task.entry_point})\n"
    # A completion task's prefix stops mid-function: its helpers are the whole reference program.
    helpers = task.program_text(task.reference) if task.kind == "completion" else task.prompt
    return Program(key=key, code=code, language=task.language, timeout_s=timeout_s, tests=tests,
                   task_id=task.task_id, entry_point=task.entry_point, helpers=helpers,
                   split=task.language == "python" and bool(task.entry_point))
