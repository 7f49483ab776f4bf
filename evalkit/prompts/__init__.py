"""Prompt stage: gateway-format templates, loaded strictly and rendered in Jinja2's sandbox.

Public API: :func:`load_template`, :class:`Template`, :func:`render`, :func:`lint`,
:func:`describe_request`, :func:`template_diff`, :class:`TemplateError`.
"""

from evalkit.prompts.lint import lint
from evalkit.prompts.registry import (
    KNOWN_VARIABLES,
    Template,
    TemplateError,
    families,
    load_template,
    versions,
)
from evalkit.prompts.render import CURSOR_MARKER, describe_request, render, template_diff

__all__ = [
    "CURSOR_MARKER", "KNOWN_VARIABLES", "Template", "TemplateError", "describe_request", "families", "lint",
    "load_template", "render", "template_diff", "versions",
]
