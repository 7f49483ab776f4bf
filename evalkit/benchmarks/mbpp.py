"""MBPP: Mostly Basic Python Problems, 974 crowd-sourced entry-level tasks.

Austin et al., "Program Synthesis with Large Language Models" (2021),
https://arxiv.org/abs/2108.07732. Loaded through ``datasets`` from the Hugging
Face hub (``google-research-datasets/mbpp``, config ``full``, the 500-task
``test`` split; CC BY 4.0) only when ``dataset.allow_network`` is true, or from
a local copy of the published ``mbpp.jsonl`` given as ``dataset.path``.

A row becomes a Task shaped like HumanEval: the prompt is the function header
(its name from the first test, its parameters from the reference code) with
the problem text and the first test in a docstring; the reference is the body
followed by any helper code; the tests are ``test_list`` inside ``check(candidate)``.
"""

from __future__ import annotations

import ast
import builtins
import re
import textwrap
from pathlib import Path
from typing import Any, Mapping

from evalkit.benchmarks import jsonl
from evalkit.benchmarks.humaneval import instruction_for
from evalkit.config import ConfigError, DatasetConfig
from evalkit.records import Task

HUB_ID = "google-research-datasets/mbpp"
HUB_CONFIG = "full"
HUB_SPLIT = "test"


def read(cfg: DatasetConfig) -> tuple[str, list[tuple[int, dict[str, Any]]]]:
    """(where, numbered rows): a local mbpp.jsonl, or the hub when the config allows network."""
    if cfg.path:
        path = Path(cfg.path)
        return str(path), jsonl.read_rows(path)
    if not cfg.allow_network:
        raise ConfigError(f"dataset mbpp is downloaded from the Hugging Face hub ({HUB_ID}) and "
                          "dataset.allow_network is false; pass dataset.allow_network=true, "
                          "or dataset.path=<local mbpp.jsonl>")
    import datasets

    datasets.disable_progress_bars()
    try:
        ds = datasets.load_dataset(HUB_ID, HUB_CONFIG, split=HUB_SPLIT)
    except Exception as exc:  # offline, DNS, hub errors: all become one line and exit 2
        first = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise ConfigError(f"dataset mbpp could not be loaded from the Hugging Face hub ({HUB_ID}): "
                          f"{first}; when offline, pass dataset.path=<local mbpp.jsonl>") from None
    return f"{HUB_ID}[{HUB_SPLIT}]", list(enumerate(ds.to_list(), start=1))


def to_task(row: Mapping[str, Any]) -> Task:
    """An MBPP row (``full`` or ``sanitized`` layout) as a Task; ValueError for a bad row."""
    text = row.get("text") if row.get("text") is not None else row.get("prompt")
    row = {**row, "text": text}
    jsonl.check_strings(row, ("text", "code"), ("test_setup_code",))
    if not isinstance(row.get("task_id"), (int, str)) or row.get("task_id") == "":
        raise ValueError("missing field 'task_id'")
    tests = row.get("test_list")
    if not isinstance(tests, list) or not tests or not all(isinstance(t, str) and t.strip() for t in tests):
        raise ValueError("field 'test_list' must be a non-empty list of strings")
    code = row["code"].replace("\r\n", "\n")
    entry = entry_point(tests[0], code)
    prompt, reference = _prompt_and_reference(code, entry, text.strip(), tests[0].strip())
    setup = [row.get("test_setup_code") or "", *(row.get("test_imports") or [])]
    return Task(
        task_id=f"MBPP/{row['task_id']}",
        language="python",
        prompt=prompt,
        entry_point=entry,
        tests=check_source(tests, "\n".join(s.strip() for s in setup if s.strip()), entry),
        reference=reference,
        instruction=instruction_for(entry),
        file_name="solution.py",
    )


def _top_level_functions(code: str) -> list[str]:
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return []
    return [n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]


def entry_point(test: str, code: str) -> str:
    """The function the first test calls: one the code defines, else the first non-builtin call."""
    try:
        tree = ast.parse(test.strip())
    except SyntaxError:
        raise ValueError(f"first test is not valid Python: {test.strip()[:80]!r}") from None
    calls = [n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)]
    defined = set(_top_level_functions(code))
    for name in calls:
        if name in defined:
            return name
    for name in calls:
        if not hasattr(builtins, name):
            return name
    raise ValueError(f"cannot tell which function the first test calls: {test.strip()[:80]!r}")


def _docstring(text: str, test: str, indent: str) -> str:
    def escape(s: str) -> str:
        return s.replace("\\", "\\\\").replace('"""', '\\"\\"\\"')

    body = textwrap.indent(f"{escape(text)}\nFor example:\n{escape(test)}", indent)
    return f'{indent}"""\n{body}\n{indent}"""\n'


def _prompt_and_reference(code: str, entry: str, text: str, test: str) -> tuple[str, str]:
    """Split the reference program around the entry point's header.

    Imports written before the function become the top of the prompt, as in a
    real file; the body (re-rendered by ``ast`` so that MBPP's mixed tabs and
    spaces cannot clash with the docstring's indentation) and every other
    statement follow the docstring as the reference completion.
    """
    try:
        tree = ast.parse(code)
    except SyntaxError:
        tree = ast.Module(body=[], type_ignores=[])
    func = next((n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == entry), None)
    if func is None:
        # No header to build: the prompt is the problem as a module docstring and the
        # reference the whole program, which still continues the prompt.
        return _docstring(text, test, ""), code.strip() + "\n"
    position = tree.body.index(func)
    imports = [n for n in tree.body[:position] if isinstance(n, (ast.Import, ast.ImportFrom))]
    rest = [n for n in tree.body if n is not func and n not in imports]
    head = "".join(ast.unparse(n) + "\n" for n in imports)
    prompt = (head + "\n\n" if head else "") + f"def {entry}({ast.unparse(func.args)}):\n"
    prompt += _docstring(text, test, "    ")
    body = list(func.body)
    if len(body) > 1 and ast.get_docstring(func, clean=False) is not None:
        body = body[1:]  # the reference's own docstring would repeat ours
    reference = textwrap.indent("\n".join(ast.unparse(n) for n in body), "    ") + "\n"
    if rest:
        reference += "\n\n" + "\n\n".join(ast.unparse(n) for n in rest) + "\n"
    return prompt, reference


def check_source(tests: list[str], setup: str, entry: str) -> str:
    """MBPP asserts as a HumanEval-style ``check(candidate)``, calls renamed to ``candidate``."""
    call = re.compile(rf"(?<![.\w]){re.escape(entry)}(?=\s*\()")
    body = "\n".join(textwrap.indent(call.sub("candidate", t.strip()), "    ") for t in tests)
    head = f"{setup}\n\n\n" if setup else ""
    return f"{head}def check(candidate):\n{body}\n"
