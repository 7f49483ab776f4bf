"""program_for: the complete program that decides one sample's verdict."""

from __future__ import annotations

from evalkit.records import Program, Task


def program_for(task: Task, code: str, key: str, timeout_s: float) -> Program:
    """The code under test followed by the task's tests and ``check(entry_point)``.

    ``code`` is the whole program under test (prompt + completion, or an EvalPlus
    solution). The executor reports ``passed`` only when ``check`` returned and
    the runner sent its positive end-of-tests signal, so nothing in ``code`` can
    pass by exiting early. JavaScript tasks (``language == "javascript"``) are
    run by node with the same protocol.
    """
    if task.language == "javascript":  # run by node: zygote.NODE_RUNNER
        tests = f"{task.tests}\ncheck({task.entry_point});\n"
    else:
        tests = f"{task.tests}\n\ncheck({task.entry_point})\n"
    return Program(key=key, code=code, language=task.language, timeout_s=timeout_s, tests=tests)
