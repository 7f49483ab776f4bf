"""Loading templates in the AI gateway's prompt-registry format.

A registry is a folder holding one YAML file per family and semantic version,
either in evalkit's layout ``<root>/code_generation/<family>/<x.y.z>.yml`` or in
the gateway's own ``<root>/code_suggestions/generations/<family>/<x.y.z>.yml``.
Each file names ``model.params``, ``prompt_template.{system,user,assistant}``
(Jinja2 text that may ``{% include %}`` partials by their path from the root) and
``params``; evalkit adds ``api`` and ``postprocess``. Files are validated strictly
on load; every problem is a one-line :class:`TemplateError`.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from jinja2 import StrictUndefined, TemplateSyntaxError, meta, nodes
from jinja2.exceptions import TemplateNotFound
from jinja2.loaders import FileSystemLoader
from jinja2.sandbox import SandboxedEnvironment

from evalkit.config import ConfigError
from evalkit.records import Api, SamplingParams, TemplateId

FAMILY_DIRS = ("code_generation", "code_suggestions/generations")
"""Where families live under a registry root: evalkit's layout, then the gateway's."""

ROLES = ("system", "user", "assistant")

KNOWN_VARIABLES = (
    "prefix", "suffix", "instruction", "user_instruction", "language", "file_name",
    "examples_array", "related_files", "related_snippets", "libraries", "cursor",
)
"""Every variable a template may use; render passes all of them (None when absent)."""

DEFAULT_POSTPROCESS = {
    "claude": ("cut_at_stop", "empty_if_blank"),
    "base": ("cut_at_stop", "empty_if_blank"),
    "mixtral": ("strip_fences", "unescape_underscores", "prepend_newline", "drop_reflection",
                "empty_if_blank"),
}
"""The gateway's clean-up per family, for files that do not name their own steps."""
GENERIC_POSTPROCESS = ("strip_fences", "prepend_newline", "drop_reflection", "empty_if_blank")

_TOP_KEYS = {"name", "model", "prompt_template", "params", "api", "postprocess", "unit_primitives",
             "description"}
_MODEL_KEYS = {"name", "params", "config_file"}
# Sampling params evalkit sends, with their types; the rest are gateway client settings it accepts.
_SAMPLING_TYPES = {"temperature": (int, float), "top_p": (int, float), "max_tokens": int, "seed": int}
_CLIENT_TYPES = {"top_k": int, "timeout": (int, float), "max_retries": int, "model_class_provider": str,
                 "custom_llm_provider": str, "vertex_location": str}
_SEMVER = re.compile(r"^(\d+)\.(\d+)\.(\d+)$")


class TemplateError(ConfigError):
    """An unusable template: bad YAML shape, unresolved include, unknown variable.

    The message is one line naming the file, the line when known, and the problem.
    """


@dataclass(frozen=True, slots=True)
class Template:
    """One loaded template version: what a gate compares and what render needs."""

    family: str
    version: str
    sha256: str
    """Hash over the template file, every partial it includes and its resolved params."""
    api: Api
    params: SamplingParams
    postprocess: tuple[str, ...]
    """Post-processing step names, in order."""
    source_text: str
    """The template file followed by each included partial, for diffs."""
    path: Path
    """The YAML file."""
    search_path: tuple[Path, ...]
    """Where include paths resolve: the registry root, then the folder holding the family folders."""
    turns: tuple[tuple[str, str, int], ...]
    """(role, Jinja source, line in the YAML file where the source starts) per turn."""
    partials: tuple[str, ...] = ()
    """Include paths of every partial the turns use, transitively, sorted."""
    name: str = ""

    @property
    def id(self) -> TemplateId:
        """The identity stored with every sample."""
        return TemplateId(family=self.family, version=self.version, sha256=self.sha256)


def environment(search_path: tuple[Path, ...]) -> SandboxedEnvironment:
    """The sandboxed Jinja2 environment a template renders in; includes resolve along ``search_path``."""
    return SandboxedEnvironment(
        loader=FileSystemLoader([str(p) for p in search_path]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )


def family_dir(registry: Path, family: str) -> Path:
    """The folder holding ``family``'s versions under either layout."""
    for sub in FAMILY_DIRS:
        candidate = registry / sub / family
        if candidate.is_dir():
            return candidate
    known = sorted(families(registry))
    listed = ", ".join(known) or "none"
    raise TemplateError(f"{registry}: no template family {family!r}; known families: {listed}")


def families(registry: Path) -> dict[str, Path]:
    """Every family folder in the registry (evalkit's layout wins over the gateway's)."""
    found: dict[str, Path] = {}
    for sub in reversed(FAMILY_DIRS):
        base = registry / sub
        if base.is_dir():
            for child in sorted(base.iterdir()):
                if child.is_dir() and any(_SEMVER.match(p.stem) for p in child.glob("*.yml")):
                    found[child.name] = child
    return found


def versions(registry: Path, family: str) -> list[str]:
    """A family's versions, oldest first by semantic version."""
    folder = family_dir(registry, family)
    found = [p.stem for p in folder.glob("*.yml") if _SEMVER.match(p.stem)]
    return sorted(found, key=lambda v: tuple(int(x) for x in v.split(".")))


def load_template(registry: Path, family: str, version: str | None = None,
                  api: Api | None = None) -> Template:
    """Load and validate ``family`` at ``version`` from ``registry``.

    With no version, the newest one; given the ``api`` the model is served on, the
    newest one written for that API (a base model such as Mistral 7B v0.1 has no
    chat template, so its newest chat version cannot be the default). A version
    named explicitly must be for that API.
    """
    registry = Path(registry)
    folder = family_dir(registry, family)
    known = versions(registry, family)
    if not known:
        raise TemplateError(f"{folder}: no <x.y.z>.yml template versions")
    if version is not None:
        path = folder / f"{version}.yml"
        if not path.is_file():
            raise TemplateError(f"{path}: no such template version; {family} has {', '.join(known)}")
        template = _load_file(registry, family, version, path)
        if api is not None and template.api is not api:
            raise TemplateError(f"{path}: template is for the {template.api.value} API but the model is "
                                f"served on {api.value}; pick another prompt.version or set model.api")
        return template
    for candidate in reversed(known):
        template = _load_file(registry, family, candidate, folder / f"{candidate}.yml")
        if api is None or template.api is api:
            return template
    raise TemplateError(f"{folder}: no {family} template is for the {api.value} API the model is served on; "
                        f"set model.api or prompt.version")


def _load_file(root: Path, family: str, version: str, path: Path) -> Template:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TemplateError(f"{path}: cannot be read: {exc}") from None
    try:
        data = yaml.safe_load(text)
        node = yaml.compose(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark else ""
        raise TemplateError(f"{path}{where}: invalid YAML: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(data, dict):
        raise TemplateError(f"{path}: a template must be a YAML mapping")
    _check_keys(path, "", data, _TOP_KEYS)
    turns = _turns(path, data, node)
    model = data.get("model") or {}
    if not isinstance(model, dict):
        raise TemplateError(f"{path}: model must be a mapping")
    _check_keys(path, "model.", model, _MODEL_KEYS)
    params = _sampling(path, model.get("params") or {}, data.get("params") or {})
    api = _api(path, data.get("api", "chat"))
    steps = _steps(path, family, data.get("postprocess"))
    search_path = (root, path.parent.parent)
    env = environment(search_path)
    partials = _partials(env, path, turns)
    sources = [(str(path.relative_to(root)), text)]
    sources += [(p, env.loader.get_source(env, p)[0]) for p in partials]
    source_text = "\n".join(
        s if i == 0 else f"{{# ---- partial {name} ---- #}}\n{s}" for i, (name, s) in enumerate(sources)
    )
    digest = hashlib.sha256()
    for name, source in sources:
        digest.update(name.encode() + b"\0" + source.encode() + b"\0")
    digest.update(json.dumps(params.as_dict() | {"api": api.value, "postprocess": steps},
                             sort_keys=True).encode())
    template = Template(family=family, version=version, sha256=digest.hexdigest(), api=api, params=params,
                        postprocess=steps, source_text=source_text, path=path, search_path=search_path,
                        turns=turns, partials=partials, name=str(data.get("name") or ""))
    check_variables(template, env)
    return template


def _check_keys(path: Path, where: str, data: dict[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(data) - allowed)
    if unknown:
        listed = ", ".join(sorted(allowed))
        raise TemplateError(f"{path}: unknown key {where}{unknown[0]}; known keys: {listed}")


def _turns(path: Path, data: dict[str, Any], node: yaml.Node) -> tuple[tuple[str, str, int], ...]:
    body = data.get("prompt_template")
    if not isinstance(body, dict) or not body:
        raise TemplateError(f"{path}: prompt_template must be a mapping with system, user and/or assistant")
    _check_keys(path, "prompt_template.", body, set(ROLES))
    if "user" not in body:
        raise TemplateError(f"{path}: prompt_template.user is missing")
    lines = _source_lines(node)
    turns = []
    for role in ROLES:
        if role in body:
            if not isinstance(body[role], str):
                raise TemplateError(f"{path}:{lines.get(role, 0)}: prompt_template.{role} must be text")
            turns.append((role, body[role], lines.get(role, 1)))
    return tuple(turns)


def _source_lines(node: yaml.Node) -> dict[str, int]:
    """1-based line in the YAML file where each turn's text starts."""
    out: dict[str, int] = {}
    for key, value in getattr(node, "value", ()):
        if getattr(key, "value", None) == "prompt_template" and isinstance(value, yaml.MappingNode):
            for role_key, role_value in value.value:
                block = getattr(role_value, "style", None) in ("|", ">")
                out[role_key.value] = role_value.start_mark.line + (2 if block else 1)
    return out


def _sampling(path: Path, model_params: dict[str, Any], params: dict[str, Any]) -> SamplingParams:
    if not isinstance(model_params, dict) or not isinstance(params, dict):
        raise TemplateError(f"{path}: model.params and params must be mappings")
    values: dict[str, Any] = {}
    stops: list[str] = []
    for where, mapping in (("model.params", model_params), ("params", params)):
        for key, value in mapping.items():
            if key == "stop":
                stops += _stop_list(path, where, value)
                continue
            expected = _SAMPLING_TYPES.get(key) or _CLIENT_TYPES.get(key)
            if expected is None:
                known = ", ".join(sorted({*_SAMPLING_TYPES, *_CLIENT_TYPES, "stop"}))
                raise TemplateError(f"{path}: unknown parameter {where}.{key}; known: {known}")
            if isinstance(value, bool) or not isinstance(value, expected):
                kind = "a number" if expected in ((int, float), int) else "text"
                raise TemplateError(f"{path}: {where}.{key} must be {kind} of the right type, not {value!r}")
            if key in _SAMPLING_TYPES:
                values[key] = value
    values["stop"] = tuple(dict.fromkeys(stops))
    return SamplingParams(**values)


def _stop_list(path: Path, where: str, value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) and v for v in value):
        return list(value)
    raise TemplateError(f"{path}: {where}.stop must be a list of non-empty strings")


def _api(path: Path, value: Any) -> Api:
    try:
        return Api(value)
    except ValueError:
        raise TemplateError(f"{path}: api must be chat or completions, not {value!r}") from None


def _steps(path: Path, family: str, value: Any) -> tuple[str, ...]:
    from evalkit.postprocess import STEPS  # the step names are data of the postprocess stage

    if value is None:
        return DEFAULT_POSTPROCESS.get(family, GENERIC_POSTPROCESS)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise TemplateError(f"{path}: postprocess must be a list of step names")
    # checked here, not only by lint: a run would otherwise fail mid-way on the first answer
    unknown = [step for step in value if step not in STEPS]
    if unknown:
        raise TemplateError(f"{path}: unknown postprocess step {unknown[0]!r}; known: {', '.join(STEPS)}")
    return tuple(value)


def _partials(env: SandboxedEnvironment, path: Path,
              turns: tuple[tuple[str, str, int], ...]) -> tuple[str, ...]:
    """Include paths used by the turns, transitively; each must exist and parse."""
    seen: set[str] = set()
    pending = [(f"{path}", source, line) for _, source, line in turns]
    while pending:
        name, source, offset = pending.pop()
        ast = _parse(env, name, source, offset)
        for ref in meta.find_referenced_templates(ast):
            if ref is None:
                raise TemplateError(f"{name}: include paths must be literal strings")
            if ref in seen:
                continue
            try:
                partial_source, filename, _ = env.loader.get_source(env, ref)
            except TemplateNotFound:
                line = _include_line(ast, ref) + offset - 1
                raise TemplateError(f"{name}:{line}: included partial {ref!r} not found") from None
            seen.add(ref)
            pending.append((filename, partial_source, 1))
    return tuple(sorted(seen))


def _parse(env: SandboxedEnvironment, name: str, source: str, offset: int) -> nodes.Template:
    try:
        return env.parse(source)
    except TemplateSyntaxError as exc:
        line = (exc.lineno or 1) + offset - 1
        raise TemplateError(f"{name}:{line}: Jinja syntax error: {exc.message}") from None


def _include_line(ast: nodes.Template, ref: str) -> int:
    for inc in ast.find_all(nodes.Include):
        if isinstance(inc.template, nodes.Const) and inc.template.value == ref:
            return inc.lineno
    return 1


def check_variables(template: Template, env: SandboxedEnvironment | None = None) -> None:
    """Raise TemplateError for the first variable no task provides (file, line, variable)."""
    env = env or environment(template.search_path)
    units = [(str(template.path), source, offset) for _, source, offset in template.turns]
    for ref in template.partials:
        source, filename, _ = env.loader.get_source(env, ref)
        units.append((filename, source, 1))
    for name, source, offset in units:
        ast = env.parse(source)
        # Included partials are checked on their own, with their own file and line.
        for var in sorted(meta.find_undeclared_variables(ast) - set(KNOWN_VARIABLES)):
            line = next((n.lineno for n in ast.find_all(nodes.Name) if n.name == var), 1) + offset - 1
            raise TemplateError(f"{name}:{line}: unknown template variable {var!r}; "
                                f"known: {', '.join(KNOWN_VARIABLES)}")
