"""Checking every template of a registry before any model is called."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from evalkit.prompts import layout
from evalkit.prompts.registry import TemplateError, load_file
from evalkit.prompts.render import render
from evalkit.records import Task

SAMPLE_TASKS = (
    Task(task_id="lint/function", language="python", entry_point="add", tests="", reference="",
         prompt='def add(a: int, b: int) -> int:\n    """Return the sum of a and b."""\n',
         instruction="Complete the function `add`."),
    Task(task_id="lint/comment", language="python", entry_point="add", tests="", reference="",
         prompt="import math\n\n# a function add(a, b) that returns a + b\n",
         suffix="\n\nprint(add(1, 2))\n"),
)
"""A HumanEval-style task and an IDE-style one (instruction in a comment, code below): the default tasks."""


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

    def summary(self) -> str:
        """One line for a clean registry."""
        kinds = ", ".join(f"{n} {kind}" for kind, n in self.checked.items() if n)
        return (f"lint: {sum(self.checked.values())} templates ({kinds}; {self.prereleases} pre-releases, "
                f"{self.mvp} pre-versioning) under {self.root} are valid")


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
                except TemplateError as exc:
                    affected.setdefault(str(exc), []).append(fam.path(version))
    report.problems += [_with_templates(problem, paths, root) for problem, paths in affected.items()]
    if not any(report.checked.values()):
        report.problems.append(f"{root}: no templates under code_generation/, code_completion/ "
                               "or code_suggestions/")
    return report


def _with_templates(problem: str, paths: list[Path], root: Path) -> str:
    """One line per distinct problem, naming the templates that have it when the line does not name its
    only one (a problem of a partial)."""
    if len(paths) == 1 and problem.startswith(str(paths[0])):
        return problem
    named = ", ".join(path.relative_to(root).as_posix() for path in paths)
    return f"{problem} (in {len(paths)} template{'s' if len(paths) > 1 else ''}: {named})"
