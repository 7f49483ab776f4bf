"""program_for: the complete program that decides one sample's verdict."""

from __future__ import annotations

import ast
import builtins
import copy
import dataclasses
import functools
import hashlib
import re

from evalkit.postprocess.completion import NOT_PARSED, parsed
from evalkit.records import Program, Task


def program_for(task: Task, code: str, key: str, timeout_s: float,
                alike: tuple[str, ...] | None = None) -> Program:
    """The code under test with the task's tests and ``check(entry_point)``.

    ``code`` is the whole program under test (prompt + completion, or an EvalPlus
    solution). Python programs take the split path: the tests run in a trusted process with
    the task's reference program as their helpers and call ``entry_point`` in the program's process
    (README, Execution sandbox); the executor runs a task in one process instead when the
    canary found its tests cannot be split. JavaScript tasks are run by node in one process.
    ``alike``: Program.alike, where not what ``code`` and the reference define alike.
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
    if not split:
        alike: tuple[str, ...] = ()
        live = False
    else:
        given = prompt_alike_names(task)
        alike = alike_names(helpers, code, given) if alike is None else alike
        # a class of the prompt's the program changes after its statement: the tests' side cannot
        # stand in for it with the reference's (the canary's split path took it so), so its objects
        # cross live and its own code runs (a second attacker's setattr(Stack, 'peek', ...) passed)
        live = not set(given) <= set(alike)
    return Program(key=key, code=code, language=task.language, timeout_s=timeout_s, tests=tests,
                   task_id=task.task_id, entry_point=task.entry_point, helpers=helpers, alike=alike,
                   split=split, live=live)


def alike_names(reference_program: str, code: str, given: tuple[str, ...] = ()) -> tuple[str, ...]:
    """The names (Program.alike) that the program under test (``code``) holds as the reference does.

    Its values' classes among them may be the reference's own in the tests' process. Empty where the
    reference defines no class, since only a class is ever looked up among them. A name is one where:

    - both define it by top-level statements equal but for their docstrings (a wrong program's
      ``class Stack(list)`` whose ``peek`` returned 'WRONG' passed, verified, as the reference's
      ``Stack``, whose ``peek`` the tests ran: an attacker's trial), or it is one the task's own text
      gives (``given``: ``prompt_alike_names``), which the program restates in its own words at
      the top level (``timestamp: 'datetime'`` for the prompt's ``timestamp: datetime``: the tests'
      side stands in the prompt's own code, and a correct program whose objects crossed live
      failed the prompt's dataclass equality);
    - the program changes it nowhere else (``Stack.peek = ...``, ``setattr(Stack, ...)``, a second
      ``class Stack`` under ``if True:``);
    - every name its statement reads is one too, or a built-in the program does not replace (a
      suffix's ``class Stack: peek = make_peek()`` took the reference's middle for a wrong one; a
      program's own ``len`` changed the prompt's ``Box.size``).

    A program changing a prompt's class in ways the text does not show (through an alias, another
    module's functions) can still make the tests' side more lenient than one process: the
    reference's code then stands for its own (README, Execution sandbox)."""
    reference = _reference_definitions(reference_program)
    if not any(is_class for is_class, _, _ in reference.values()):
        return ()
    # The program's tree is compared by recursive code (deepcopy, ast.dump): one that parses but is
    # too deep for them (`Shape = 1+1+...` of 300 terms) is alike in nothing, so its objects cross
    # live; it ended the whole run with a RecursionError in an attacker's trial.
    try:
        module = parsed(code, "solution.py")  # MemoryError above PARSED_AT_MOST: alike in nothing
        mine = _definitions(module, only=frozenset(reference))
        alike = {name for name, definition in reference.items() if mine.get(name) == definition}
        alike |= {name for name in given if name in mine}
        alike -= _changed_elsewhere(module, alike)
        # what each reads is what the program's own statement reads (a restated class's too)
        return tuple(sorted(_closed(alike, reference | mine, _bound_at_module_level(module))))
    except NOT_PARSED:
        return ()


@functools.lru_cache(maxsize=4096)
def prompt_alike_names(task: Task) -> tuple[str, ...]:
    """The names every program of the task holds as its reference does: the reference's whose
    top-level statement the task's own text (its prompt, a completion's suffix) holds whole, closed
    as ``alike_names`` closes them. The canary runs the reference with these alone shared, as a
    correct program that writes its own classes its own way has them: a task whose tests need
    more then runs with its objects live."""
    text = task.program_text(task.reference)
    reference = _reference_definitions(text)
    if not any(is_class for is_class, _, _ in reference.values()):  # most tasks: nothing to look up
        return ()
    try:
        module = ast.parse(text)
    except NOT_PARSED:
        return ()
    given: set[str] = set()
    for node in module.body:
        segment = ast.get_source_segment(text, node) or ""
        if segment and (segment in task.prompt or (task.kind == "completion" and segment in task.suffix)):
            given |= set(_definitions(ast.parse(segment)))
    if not any(reference[name][0] for name in given if name in reference):
        return ()
    return tuple(sorted(_closed(given & set(reference), reference, _bound_at_module_level(module))))


Definition = tuple[bool, str, frozenset]
"""Of a name a top-level statement defines: whether it is a class, the statement without its
docstrings (``ast.dump``), and the names the statement reads from the module."""


def _definitions(module: ast.Module, only: frozenset[str] | None = None) -> dict[str, Definition]:
    """Each name a top-level statement of ``module`` defines (the last one, as running it leaves it;
    of ``only``, where given): whether it is a class, the statement's syntax tree without
    docstrings, and the names it reads from the module (``_free_names``)."""
    found: dict[str, Definition] = {}
    for node in module.body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            names = {(alias.asname or alias.name).partition(".")[0] for alias in node.names
                     if alias.name != "*"}
        else:
            names = _top_level_names(ast.Module(body=[node], type_ignores=[]))
        if only is not None:
            names &= only
        if names:
            found.update(dict.fromkeys(names, (isinstance(node, ast.ClassDef),
                                               ast.dump(_without_docstrings(node)), _free_names(node))))
    return found


def _parsed_definitions(text: str) -> dict[str, Definition]:
    try:
        return _definitions(ast.parse(text))
    except NOT_PARSED:
        return {}


_reference_definitions = functools.lru_cache(maxsize=4096)(_parsed_definitions)
"""A task's reference program's definitions, read once for all its samples."""


def _free_names(node: ast.AST) -> frozenset[str]:
    """The names ``node`` reads that it does not bind itself (its functions' arguments and locals,
    its comprehensions' variables): what it takes from the module or the built-ins."""
    read, bound = set(), set()
    for inner in ast.walk(node):
        if isinstance(inner, ast.Name):
            (read if isinstance(inner.ctx, ast.Load) else bound).add(inner.id)
        elif isinstance(inner, ast.arg):
            bound.add(inner.arg)
        elif isinstance(inner, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) and inner is not node:
            bound.add(inner.name)
        elif isinstance(inner, ast.Import | ast.ImportFrom):
            bound |= {(alias.asname or alias.name).partition(".")[0] for alias in inner.names}
        elif isinstance(inner, ast.ExceptHandler) and inner.name:
            bound.add(inner.name)
    return frozenset(read - bound)


def _changed_elsewhere(module: ast.Module, names: set[str]) -> set[str]:
    """Those of ``names`` that the program may change outside the one statement that defines each.

    Every one of them where it reaches past names (``globals()``, ``exec``, an attribute set on what
    a call returns or on a module); else each it changes by:

    - an assignment or deletion of it, or of its attributes or items, anywhere;
    - an attribute of its class body set or deleted on anything (``cls.peek = ...`` in a function
      handed the class), ``setattr``/``delattr`` on it or naming such an attribute;
    - a method that changes a container in place called on it (``SEP.update(s=';')``);
    - a ``global`` declaration of it.
    """
    defining: dict[str, ast.stmt] = {}
    for node in module.body:  # the last statement defining each name, as _definitions keeps it
        for name in _definitions(ast.Module(body=[node], type_ignores=[]), frozenset(names)):
            defining[name] = node
    # the attribute names of each class among them: set on anything, they may be set on the class
    attributes = {attribute: name for name, node in defining.items() if isinstance(node, ast.ClassDef)
                  for attribute in _top_level_names(ast.Module(body=node.body, type_ignores=[]))}
    modules = {(alias.asname or alias.name).partition(".")[0] for node in ast.walk(module)
               if isinstance(node, ast.Import | ast.ImportFrom) for alias in node.names}
    changed: set[str] = set()
    for node in module.body:
        # a defining statement alike is the reference's own: what it does, it does on both sides
        if any(statement is node for statement in defining.values()):
            continue
        for inner in ast.walk(node):
            changed |= _changed_by(inner, attributes, modules)
    return set(names) if EVERYTHING in changed else changed & names


EVERYTHING = "*"
"""What ``_changed_by`` says of code that may change any name (``globals()``, ``exec``, a module)."""
_REACHING = frozenset({"globals", "vars", "locals", "exec", "eval", "compile", "__import__", "__builtins__",
                       "builtins", "sys", "gc", "ctypes", "importlib", "inspect"})
"""Names through which code reaches others than it names."""
_IN_PLACE = frozenset({"update", "setdefault", "pop", "popitem", "clear", "append", "extend", "insert",
                       "remove", "sort", "reverse", "add", "discard", "__setitem__", "__delitem__",
                       "__setattr__", "__delattr__", "difference_update", "intersection_update",
                       "symmetric_difference_update"})
"""Methods that change the container they are called on."""
_SETTERS = frozenset({"setattr", "delattr"})


def _changed_by(node: ast.AST, attributes: dict[str, str], modules: set[str]) -> set[str]:  # noqa: PLR0911
    """The names ``node`` binds, deletes or changes (EVERYTHING where it may reach any)."""
    if isinstance(node, ast.Global):
        return set(node.names)
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return {node.name}
    if isinstance(node, ast.Name):
        if node.id in _REACHING:
            return {EVERYTHING}
        return set() if isinstance(node.ctx, ast.Load) else {node.id}
    if isinstance(node, ast.Attribute) and node.attr in attributes and not isinstance(node.ctx, ast.Load):
        return {attributes[node.attr], *_root_changed(node, modules)}
    if isinstance(node, ast.Attribute | ast.Subscript) and not isinstance(node.ctx, ast.Load):
        return _root_changed(node, modules)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in _IN_PLACE:
        return _root_changed(node.func, modules)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _SETTERS:
        first, second = (node.args + [None, None])[:2]
        named = attributes.get(second.value) if isinstance(second, ast.Constant) else EVERYTHING
        return {first.id if isinstance(first, ast.Name) and first.id not in modules else EVERYTHING,
                *([named] if named else [])}
    return set()


def _root_changed(node: ast.Attribute | ast.Subscript, modules: set[str]) -> set[str]:
    """The name at the root of ``node`` (``Stack`` of ``Stack.peek``), or EVERYTHING where the root is
    no name (what a call returns) or a module's."""
    root: ast.AST = node
    while isinstance(root, ast.Attribute | ast.Subscript):
        root = root.value
    return {root.id} if isinstance(root, ast.Name) and root.id not in modules else {EVERYTHING}


def _bound_at_module_level(module: ast.Module) -> set[str]:
    """Every name a program binds in its module's namespace, at any depth of its top-level ``if``,
    ``for``, ``try`` and ``with`` (a function's ``global`` names too): a built-in of that name is
    the program's own there."""
    bound: set[str] = set()
    for node in ast.walk(module):
        if isinstance(node, ast.Global):
            bound.update(node.names)
    pending: list[ast.AST] = list(module.body)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            bound.add(node.name)
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            bound |= {(alias.asname or alias.name).partition(".")[0] for alias in node.names}
        elif isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            bound.add(node.id)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
        pending.extend(ast.iter_child_nodes(node))
    return bound


def _closed(names: set[str], definitions: dict[str, Definition], bound: set[str]) -> set[str]:
    """Those of ``names`` whose statements read only names that stay among them, or built-ins not
    bound by the program (``bound``), until none is left out."""
    built_ins = set(vars(builtins)) - bound
    kept = set(names)
    while True:
        left = {name for name in kept if not definitions[name][2] <= kept | built_ins}
        if not left:
            return kept
        kept -= left


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
                f"{' '.join(program.alike)}\0{program.helpers}\0{program.code}\0{program.tests}")
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
