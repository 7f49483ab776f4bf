"""Checking every template of a registry before any model is called."""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from evalkit.postprocess.completion import FIM_FORMATS, FIM_PREFIX, FIM_STOP_TOKENS, FIM_SUFFIX
from evalkit.prompts import layout
from evalkit.prompts.registry import TemplateError, load_file
from evalkit.prompts.render import render
from evalkit.records import RenderedPrompt, Task

SAMPLE_TASKS = (
    Task(task_id="lint/function", language="python", entry_point="add", tests="", reference="",
         prompt='def add(a: int, b: int) -> int:\n    """Return the sum of a and b."""\n',
         instruction="Complete the function `add`."),
    Task(task_id="lint/comment", language="python", entry_point="add", tests="", reference="",
         prompt="import math\n\n# a function add(a, b) that returns a + b\n",
         suffix="\n\nprint(add(1, 2))\n"),
)
"""A HumanEval-style task and an IDE-style one (instruction in a comment, code below): the default tasks."""
ENHANCER = {"examples_array": [{"example": "def double(x):", "response": "    return 2 * x"}],
            "related_files": ["# utils.py\ndef half(x):\n    return x / 2\n"],
            "related_snippets": ["total = add(1, 2)"], "libraries": ["requests"]}
"""What the editor side's prompt enhancer sends where it has something, in the shape the gateway's
reference gives (examples with ``example`` and ``response``; related files, snippets and libraries as
text): a benchmark task has none, so the sections that print them rendered only empty, and a misspelt
``item.exampel`` linted valid (a checker's trial). A problem only this data shows is a warning: a
gateway's data may have fields the reference does not name."""


@dataclass
class LintReport:
    """What ``lint`` checked and what it found."""

    root: Path
    checked: dict[str, int] = field(default_factory=dict)
    """Template files checked per kind."""
    prereleases: int = 0
    mvp: int = 0
    """Pre-versioning (first-release) files among them."""
    problems: list[str] = field(default_factory=list)
    """One line per problem: file, line when known, what is wrong."""
    warnings: list[str] = field(default_factory=list)
    """One line per problem only the prompt enhancer's sample data shows (``ENHANCER``): a gateway's
    data may have other fields than the reference names, so these do not fail lint."""

    def summary(self) -> str:
        """One line for a clean registry."""
        kinds = ", ".join(f"{n} {kind}" for kind, n in self.checked.items() if n)
        warned = f" ({len(self.warnings)} warning{'s' if len(self.warnings) != 1 else ''} above)" \
            if self.warnings else ""
        return (f"lint: {sum(self.checked.values())} templates ({kinds}; {self.prereleases} pre-releases, "
                f"{self.mvp} pre-versioning) under {self.root} are valid{warned}")


def lint(registry: Path, tasks: Sequence[Task] | None = None) -> LintReport:
    """Load every version of every family of both kinds under ``registry``, pre-releases included, and
    render each for ``tasks`` (or two built-in sample tasks). Raises TemplateError where ``registry`` is
    not a prompt registry.

    Loading checks the YAML against the gateway's schema, that includes resolve
    from the root, that every variable is one the gateway passes and that
    post-processing steps exist; rendering catches what only data reveals.
    """
    root = layout.registry_root(Path(registry))  # not a registry: that one line (TemplateError), no count
    report = LintReport(root=root)
    # each problem once with the templates that have it: a broken partial breaks every includer alike
    affected: dict[str, list[Path]] = {}
    warned: dict[str, list[Path]] = {}
    for kind in layout.KINDS:
        report.checked[kind] = 0
        for fam in layout.families(root, kind).values():
            report.problems += [f"{p}: not read: " + (
                "the registry reads <version>.yml, not .yaml" if p.suffix == ".yaml" else
                "its name is not a version (a PEP 440 one of three or more parts, as the gateway parses "
                "them: 1.2.0, 1.2.0-dev, 1.2.0rc1)") for p in fam.stray_files()]
            report.problems += [fam.ambiguity(names) for names in fam.same_versions()]
            for version in fam.versions():
                report.checked[kind] += 1
                report.mvp += version == layout.MVP
                report.prereleases += layout.is_prerelease(version)
                try:
                    template = load_file(root, fam, version)
                    for task in tasks or SAMPLE_TASKS:
                        render(template, task)
                    path = fam.path(version)
                    if kind == "completions":  # its FIM format, on a task with code below the cursor
                        for problem in fim_problems(render(template, SAMPLE_TASKS[1]), SAMPLE_TASKS[1]):
                            affected.setdefault(f"{path}: {problem}", []).append(path)
                    else:
                        try:  # the sections a benchmark leaves empty, with data shaped as the reference gives
                            render(template, SAMPLE_TASKS[1], enhancer=ENHANCER)
                        except TemplateError as exc:
                            warned.setdefault(str(exc), []).append(path)
                except TemplateError as exc:
                    affected.setdefault(str(exc), []).append(fam.path(version))
    report.problems += [_with_templates(problem, paths, root) for problem, paths in affected.items()]
    report.warnings += [_with_templates(problem, paths, root) + " (with the prompt enhancer's sample data: "
                        "examples, related files, libraries)" for problem, paths in warned.items()]
    if not any(report.checked.values()):
        report.problems.append(f"{root}: no templates under code_generation/, code_completion/ "
                               "or code_suggestions/")
    return report


_TOKEN = re.compile(r"<[|｜]?[^|｜<>\s]{1,40}[|｜]?>|\[/?[A-Z_]{2,12}\]")
"""What looks like a model's control token: ``<|fim_middle|>``, ``<｜fim▁hole｜>``, ``<fim_suffix>``,
``<PRE>``, ``</s>``, ``[SUFFIX]``, and the same with a bar missing (``<|fim_prefix>``)."""
_MARKERS = frozenset(part for layout in FIM_FORMATS.values() for part in layout
                     if part not in (FIM_PREFIX, FIM_SUFFIX))
_KNOWN_TOKENS = _MARKERS | set(FIM_STOP_TOKENS) | {"<s>"}
_NEAR = 0.85
"""How alike (difflib's ratio, in lower case) an unknown token must be to a FIM marker to be taken for
its misspelling: ``<|fim_midle|>`` is 0.96 of ``<|fim_middle|>``; a template's own ``<prefix>`` tag 0.8
of ``<fim_prefix>``. Other models' tokens (``<|end_of_text|>``, ``<repo_name>``, DeepSeek's
begin-of-sentence) are no misspelling of a marker."""


def _folded(token: str) -> str:
    """A token as its misspellings write it too: lower case, ASCII bars, underscores for hyphens."""
    return token.lower().replace("｜", "|").replace("-", "_")


_FOLDED = {_folded(token): token for token in _KNOWN_TOKENS}


def fim_problems(rendered: RenderedPrompt, task: Task) -> list[str]:
    """What is wrong with a completion template's FIM format, rendered for ``task`` (one with code
    below the cursor): a control token written otherwise than its model's (``<|fim_midle|>``,
    ``<|FIM_PREFIX|>``, ``<fim-prefix>``, DeepSeek's with ASCII bars) in the prompt or a stop; and, in
    the turn that holds the code, a FIM format (two or more of its markers there) mixed with another's
    markers, without one of its own, or not in its order (prefix and suffix swapped, markers out of
    order, the prefix missing). A model reads a marker it was not trained on as plain text, so such a
    template garbles every answer of a real model while the demo, which reads no tokens, still scores
    it 1.0 (a checker's trial: `<|fim_midle|>` and StarCoder's `<fim_suffix>` in a CodeGemma template
    linted valid). Tokens a turn only mentions, and stops of several formats, are no problem."""
    turns = [rendered.text] if rendered.text else [m.content for m in rendered.messages]
    own = task.prompt + task.suffix  # the task's code may hold anything
    problems = []
    stops = [(f"its stop {stop!r}", stop) for stop in rendered.params.stop]
    for where, text in (("its prompt", "\n".join(turns)), *stops):
        for token in dict.fromkeys(_TOKEN.findall(text)):
            if token in _KNOWN_TOKENS or token in own:
                continue
            same = _FOLDED.get(_folded(token))
            near = same or next(iter(difflib.get_close_matches(
                _folded(token), [_folded(m) for m in _MARKERS], n=1, cutoff=_NEAR)), None)
            if near:
                problems.append(f"{where} has {token}, no model's control token: {_FOLDED.get(near, near)}?")
    code = next((turn for turn in turns if task.prompt.strip() in turn), "\n".join(turns))
    used = {name: [m for m in layout if m in _MARKERS and m in code] for name, layout in FIM_FORMATS.items()}
    for name in (name for name, found in used.items() if len(found) >= 2):
        layout = FIM_FORMATS[name]
        foreign = [m for other, found in used.items() if other != name for m in found]
        missing = [m for m in layout if m in _MARKERS and m not in used[name]]
        if foreign:
            problems.append(f"its prompt mixes FIM formats: {name}'s with {' '.join(foreign)}")
        if missing:
            problems.append(f"its prompt is in {name}'s FIM format without its {' '.join(missing)}")
        elif not _in_order(code, layout, task):
            shown = " ".join({FIM_PREFIX: "prefix", FIM_SUFFIX: "suffix"}.get(p, p) for p in layout)
            problems.append(f"its prompt is not in {name}'s FIM order: {shown}")
    return problems


def _in_order(text: str, layout: tuple[str, ...], task: Task) -> bool:
    """Whether ``text`` holds ``layout``'s markers and the task's prefix and suffix in that order."""
    at = 0
    for part in layout:
        needle = {FIM_PREFIX: task.prompt.strip(), FIM_SUFFIX: task.suffix.strip()}.get(part, part)
        found = text.find(needle, at)
        if found < 0:
            return False
        at = found + len(needle)
    return True


def _with_templates(problem: str, paths: list[Path], root: Path) -> str:
    """One line per distinct problem, naming the templates that have it when the line does not name its
    only one (a problem of a partial)."""
    if len(paths) == 1 and problem.startswith(str(paths[0])):
        return problem
    named = ", ".join(path.relative_to(root).as_posix() for path in paths)
    return f"{problem} (in {len(paths)} template{'s' if len(paths) > 1 else ''}: {named})"
