"""Prompt stage: gateway-format templates, loaded strictly and rendered as the gateway renders them.

Public API: :func:`load_template`, :class:`Template`, :func:`render`, :func:`lint`,
:func:`render_requests`, :func:`template_for`, :func:`template_diff`, :func:`registry_root`,
:func:`families`, :func:`versions`, :func:`registry_listing`, :class:`TemplateError`.
"""

from __future__ import annotations

from pathlib import Path

from evalkit.prompts import layout
from evalkit.prompts.layout import KINDS, MVP, TemplateError, registry_root
from evalkit.prompts.lint import LintReport, lint
from evalkit.prompts.registry import Template, load_template
from evalkit.prompts.render import CURSOR_MARKER, render, template_diff
from evalkit.prompts.show import describe_template, registry_listing, render_requests, template_for
from evalkit.prompts.variables import KNOWN_VARIABLES, variables


def families(registry: Path, kind: str = "generations") -> list[str]:
    """The names of every family of ``kind`` in a registry."""
    return list(layout.families(registry_root(registry), kind))


def versions(registry: Path, family: str, kind: str = "generations") -> list[str]:
    """A family's versions, oldest first (a pre-versioning file as ``mvp``, first of all)."""
    return layout.family(registry_root(registry), family, kind).versions()


__all__ = [
    "CURSOR_MARKER", "KINDS", "KNOWN_VARIABLES", "MVP", "LintReport", "Template", "TemplateError",
    "describe_template", "families", "lint", "load_template", "registry_listing", "registry_root", "render",
    "render_requests",
    "template_diff", "template_for", "variables", "versions",
]
