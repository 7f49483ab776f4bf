"""program_for: the complete program that decides one sample's verdict."""

from __future__ import annotations

import ast
import copy
import dataclasses
import functools
import hashlib
import re

from evalkit.postprocess.completion import NOT_PARSED
from evalkit.records import Program, Task


def program_for(task: Task, code: str, key: str, timeout_s: float,
                shared: tuple[str, ...] | None = None) -> Program:
    """The code under test with the task's tests and ``check(entry_point)``.

    ``code`` is the whole program under test (prompt + completion, or an EvalPlus
    solution). Python programs take the split path: the tests run in a trusted process with
    the task's reference program as their helpers and call ``entry_point`` in the program's process
    (README, Execution sandbox); the executor runs a task in one process instead when the
    canary found its tests cannot be split. JavaScript tasks are run by node in one process.
    ``shared``: Program.shared, where not what ``code`` and the reference define alike.
    """
    if task.language == "javascript":  # run by node: runner.NODE_RUNNER
        tests = f"{task.tests}\ncheck({task.entry_point});\n"
    else:
        tests = f"{task.tests}\n\ncheck({task.entry_point})\n"
    # The tests' helpers (HumanEval/38's encode_cyclic) come from the whole reference program: a
    # completion task's prefix stops mid-function, and a prompt may end in a bare function header
    # (`def f(x):` with no docstring), which does not compile on its own.
    helpers = task.program_text(task.reference)
    split = task.language == "python" and bool(task.entry_point)
    return Program(key=key, code=code, language=task.language, timeout_s=timeout_s, tests=tests,
                   task_id=task.task_id, entry_point=task.entry_point, helpers=helpers,
                   shared=(shared_names(helpers, code) if shared is None else shared) if split else (),
                   split=split)


def shared_names(reference_program: str, code: str) -> tuple[str, ...]:
    """The names (Program.shared) that the program under test (``code``) and the task's reference
    program define alike: by top-level statements equal but for their docstrings. Empty where the
    reference defines no class, since only a class is ever looked up among them.

    The tests' process runs the reference program, and a class a program's value names is taken
    there to be the reference's class of that name only if it is one of these: a wrong program's
    ``class Stack(list)`` whose ``peek`` returned 'WRONG' passed, verified, as the reference's
    ``Stack``, whose ``peek`` the tests ran (an attacker's trial). A prompt's class, which every
    program holds as the reference does (HumanEval's, a completion's above or below the hole), stays
    one; a program that restates it with its own methods has its own."""
    reference = _reference_definitions(reference_program)
    if not any(is_class for is_class, _ in reference.values()):
        return ()
    mine = _definitions(code, only=frozenset(reference))
    return tuple(sorted(name for name, definition in reference.items() if mine.get(name) == definition))


def prompt_shared_names(task: Task) -> tuple[str, ...]:
    """The names every program of the task defines as its reference does: the reference's whose
    top-level statement the task's own text (its prompt, a completion's suffix) holds whole. The
    canary runs the reference with these alone shared, as a correct program that writes its own
    classes its own way has them: a task whose tests need more then runs with its objects live."""
    text = task.program_text(task.reference)
    try:
        module = ast.parse(text)
    except NOT_PARSED:
        return ()
    names: set[str] = set()
    for node in module.body:
        segment = ast.get_source_segment(text, node) or ""
        if segment and (segment in task.prompt or (task.kind == "completion" and segment in task.suffix)):
            names |= set(_definitions(segment))
    return tuple(sorted(names & set(shared_names(text, text))))


def _definitions(text: str, only: frozenset[str] | None = None) -> dict[str, tuple[bool, str]]:
    """Each name a top-level statement of ``text`` defines (the last one, as running it leaves it;
    of ``only``, where given): whether it is a class, and the statement's syntax tree without
    docstrings."""
    try:
        module = ast.parse(text)
    except NOT_PARSED:
        return {}
    found: dict[str, tuple[bool, str]] = {}
    for node in module.body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            names = {(alias.asname or alias.name).partition(".")[0] for alias in node.names
                     if alias.name != "*"}
        else:
            names = _top_level_names(ast.Module(body=[node], type_ignores=[]))
        if only is not None:
            names &= only
        if names:
            definition = (isinstance(node, ast.ClassDef), ast.dump(_without_docstrings(node)))
            found.update(dict.fromkeys(names, definition))
    return found


_reference_definitions = functools.lru_cache(maxsize=256)(_definitions)
"""A task's reference program's definitions, read once for all its samples."""


def _without_docstrings(node: ast.stmt) -> ast.stmt:
    """``node`` with the docstrings of its classes and functions left out (a copy)."""
    node = copy.deepcopy(node)
    for inner in ast.walk(node):
        body = getattr(inner, "body", None)
        if (isinstance(inner, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and body
                and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)):
            inner.body = body[1:] or [ast.Pass()]
    return node


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
                f"{' '.join(program.shared)}\0{program.helpers}\0{program.code}\0{program.tests}")
    return hashlib.blake2b(identity.encode("utf-8", "surrogateescape"), digest_size=16).digest()


def names_from_the_program(task: Task) -> set[str]:
    """Names the task's tests use that the program under test defines and its prompt does not (MBPP's
    ``Pair``, a class the tests build, which the reference solution defines): in one process the
    tests use the program's own, but split from it they have the reference's, and a correct program
    whose ``Pair`` keeps its fields under other names was an ``error`` (a fidelity tester's trial).
    The canary runs such a task in one process."""
    if task.language != "python":
        return set()
    try:
        used = {node.id for node in ast.walk(ast.parse(task.tests)) if isinstance(node, ast.Name)}
        defined = _top_level_names(ast.parse(task.program_text(task.reference)))
    except (SyntaxError, ValueError):  # the canary's own run names what does not compile
        return set()
    prompt = {definition or variable for definition, variable in _PROMPT_DEFINES.findall(task.prompt)}
    return (defined & used) - {task.entry_point} - prompt


_PROMPT_DEFINES = re.compile(r"^(?:async\s+def|def|class)\s+(\w+)|^(\w+)\s*(?::[^=\n]*)?=(?!=)", re.M)
"""A prompt's own top-level definitions, found line by line: a prompt may stop at a bare function
header, which does not parse on its own."""


def _top_level_names(module: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in module.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names |= {n.id for target in targets for n in ast.walk(target) if isinstance(n, ast.Name)}
    return names
