"""Loading templates from a prompt registry in the AI gateway's format.

A file is validated against the gateway's schema (:mod:`evalkit.prompts.schema`),
every ``{% include %}`` must resolve from the registry root and parse, and every
variable must be one the gateway passes a template of that kind; what the file
does not say (API, post-processing, missing sampling parameters) is derived the
gateway's way (:mod:`evalkit.prompts.derive`). Files render in the gateway's own
Jinja2 setting (sandboxed, default whitespace handling), with StrictUndefined so
that a misspelt variable fails. Every problem is a one-line :class:`TemplateError`.

The gateway's first releases rendered a file's text with Jinja2 once, with no
variables, then filled Python-format placeholders (``{prefix}``) per request:
a pre-versioning ``<family>.yml`` written that way renders the same way here.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import string
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, Undefined, meta, nodes
from jinja2 import Template as JinjaTemplate
from jinja2.exceptions import TemplateNotFound
from jinja2.loaders import FileSystemLoader
from jinja2.sandbox import SandboxedEnvironment

from evalkit.prompts import derive, layout
from evalkit.prompts.layout import MVP, TemplateError
from evalkit.prompts.schema import UNIT_PRIMITIVES, Spec, parse
from evalkit.prompts.variables import KNOWN_VARIABLES
from evalkit.records import Api, SamplingParams, TemplateId

__all__ = ["MissingVersion", "Template", "TemplateError", "compiled", "environment", "load_template",
           "mvp_text"]


class MissingVersion(TemplateError):
    """A version named explicitly that the registry does not have."""


@dataclass(frozen=True, slots=True)
class Template:
    """One loaded template version: what a gate compares and what render needs."""

    family: str
    version: str
    """A semantic version (``2.0.3``, ``1.1.0-dev``) or ``mvp`` for a pre-versioning file."""
    kind: str
    """``generations`` or ``completions``."""
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
    root: Path
    """The registry root, where include paths start."""
    turns: tuple[tuple[str, str, int], ...]
    """(role, Jinja source, line in the YAML file where the source starts) per turn."""
    partials: tuple[str, ...] = ()
    """Include paths of every partial the turns use, transitively, sorted."""
    name: str = ""
    unit_primitive: str | None = None
    two_pass: bool = False
    """True for a first-release file: Jinja2 without variables, then Python-format placeholders."""
    sends_suffix: bool = False
    """True when the suffix travels in the request's ``suffix`` field (a fill-in-the-middle API)."""
    derived: tuple[str, ...] = ()
    """``key=value: why`` for each value the file does not say and evalkit derived."""
    states_api: bool = True
    """False for a gateway file, which names no API: its turns decide it (as in the gateway), not the
    ``model.api`` of the model it is sent to."""
    unsent: tuple[tuple[str, Any], ...] = ()
    """Gateway client settings the file sets that evalkit does not send (timeout, top_k, ...)."""

    @property
    def id(self) -> TemplateId:
        """The identity stored with every sample."""
        return TemplateId(family=self.family, version=self.version, sha256=self.sha256)


@functools.lru_cache(maxsize=32)
def environment(root: Path) -> SandboxedEnvironment:
    """The gateway's Jinja2 setting for one registry: sandboxed, includes from the root, strict."""
    return SandboxedEnvironment(loader=FileSystemLoader(str(root)), undefined=StrictUndefined,
                                autoescape=False)


@functools.lru_cache(maxsize=512)
def compiled(root: Path, source: str) -> JinjaTemplate:
    """A turn's source compiled once per registry (a run renders it for every task)."""
    return environment(root).from_string(source)


def load_template(registry: Path, family: str, version: str | None = None, api: Api | None = None,
                  kind: str = "generations") -> Template:
    """Load and validate ``family`` of ``kind`` at ``version`` from ``registry``.

    ``registry`` may be the root or any folder :func:`layout.registry_root`
    accepts. With no version, the newest stable one (never a pre-release);
    given the ``api`` the model is served on, the newest stable one written for
    that API. A version named explicitly must be for that API. A gateway file names no API: its
    turns decide (chat messages, or a user-only completion text as a raw prompt), whatever ``api`` says.
    """
    root = layout.registry_root(Path(registry))
    fam = layout.family(root, family, kind)
    known = fam.versions()
    if version is not None:
        path = fam.path(version)
        if path is None:
            folder = fam.folder
            unread = (f" ({version}.yaml is there, but the registry reads <version>.yml only)"
                      if folder is not None and (folder / f"{version}.yaml").is_file() else
                      f" ({version}.yml is there, but its name is not a version the gateway reads)"
                      if folder is not None and (folder / f"{version}.yml").is_file() else "")
            raise MissingVersion(f"{root}: no such template version {version!r} of {kind} family {family}; "
                                 f"it has {', '.join(known) or 'none'}{unread}")
        _require_one_file(fam, version)
        template = load_file(root, fam, version)
        if api is not None and template.states_api and template.api is not api:
            raise TemplateError(f"{path}: template is for the {template.api.value} API but the model is "
                                f"served on {api.value}; pick another prompt.version or set model.api")
        return template
    candidates = layout.default_versions(fam)
    if not candidates:
        raise TemplateError(f"{root}: {kind} family {family} has only pre-releases ({', '.join(known)}); "
                            "name one with prompt.version")
    for candidate in candidates:
        _require_one_file(fam, candidate)
        template = load_file(root, fam, candidate)
        if api is None or not template.states_api or template.api is api:
            return template
    raise TemplateError(f"{root}: no stable {family} {kind} template is for the {api.value} API the model "
                        f"is served on (versions: {', '.join(known)}); set model.api or prompt.version")


def _require_one_file(fam: layout.Family, version: str) -> None:
    """Refuse a version two files name (``2.1.0.yml`` and ``v2.1.0.yml``): a run used one of them
    silently, and its reports named the version by that file, where lint refuses the registry."""
    for names in fam.same_versions():
        if version in names:
            raise TemplateError(fam.ambiguity(names))


def load_file(root: Path, fam: layout.Family, version: str) -> Template:
    """Load one version of a family (its file must exist)."""
    try:
        return _load_file(root, fam, version)
    except RecursionError:  # Jinja's parser and compiler recurse: 100 nested brackets reach the limit
        raise TemplateError(f"{fam.path(version)}: its template text nests too deeply for Jinja to read "
                            "(Python's recursion limit)") from None


def _load_file(root: Path, fam: layout.Family, version: str) -> Template:
    path = fam.path(version)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TemplateError(f"{path}: cannot be read: {exc}") from None
    spec = parse(path, text)
    implied = UNIT_PRIMITIVES.get(spec.unit_primitive or "")
    if implied is not None and implied != fam.kind:
        raise TemplateError(f"{path}: unit_primitive {spec.unit_primitive} is for {implied}, but the file "
                            f"is under {fam.kind}/")
    env = environment(root)
    partials = _partials(root, path, spec.turns)
    two_pass = version == MVP and _has_placeholders(spec, fam.kind)
    _check_variables(root, path, spec, fam.kind)
    if two_pass:
        _check_placeholders(root, path, spec, fam.kind)
    first_release = version == MVP
    api, why_api = derive.api(spec, fam.kind)
    steps, why_steps = derive.postprocess(spec, fam.kind, fam.name, first_release)
    stops, why_stops = derive.stop(spec, fam.kind, fam.name, first_release)
    sends_suffix = derive.sends_suffix(spec, fam.kind, fam.name)
    values, defaulted = derive.sampling(spec)
    params = SamplingParams(stop=stops, **values)
    derived = []
    if spec.api is None:
        derived.append(f"api={api.value}: {why_api}")
    if spec.postprocess is None:
        derived.append(f"postprocess=[{', '.join(steps)}]: {why_steps}")
    if why_stops is not None:
        derived.append(f"stop=[{', '.join(stops)}]: {why_stops}")
    if sends_suffix:  # said even where the file asks for it: the rendered prompt shows no suffix
        derived.append("suffix in the request's suffix field: " + (
            "the file's model.params.completion_type: fim" if "model.params.completion_type" in spec.settings
            else "completion_fim's prompt is the prefix alone, for a fill-in-the-middle API"))
    if defaulted:
        shown = ", ".join(f"{key}={values[key]}" for key in defaulted)
        derived.append(f"{shown}: not in the file, the gateway's defaults")
    sources = [(path.relative_to(root).as_posix(), text)]
    sources += [(p, env.loader.get_source(env, p)[0]) for p in partials]
    digest = hashlib.sha256()
    for name, source in sources:
        digest.update(name.encode() + b"\0" + source.encode() + b"\0")
    digest.update(json.dumps(params.as_dict() | {"api": api.value, "postprocess": steps},
                             sort_keys=True).encode())
    return Template(
        family=fam.name, version=version, kind=fam.kind, sha256=digest.hexdigest(), api=api, params=params,
        postprocess=steps, path=path, root=root, turns=spec.turns, partials=partials, name=spec.name,
        source_text="\n".join(s if i == 0 else f"{{# ---- partial {name} ---- #}}\n{s}"
                              for i, (name, s) in enumerate(sources)),
        unit_primitive=spec.unit_primitive, two_pass=two_pass, sends_suffix=sends_suffix,
        derived=tuple(derived), unsent=_unsent(spec), states_api=spec.api is not None)


def _unsent(spec: Spec) -> tuple[tuple[str, Any], ...]:
    """The client settings the file sets, and the gateway's default top_k where it sets none: a
    sampling parameter the model would get from the gateway and does not get from evalkit."""
    unsent = dict(spec.settings)
    if not any(key.endswith("top_k") for key in unsent):
        unsent["top_k"] = f"{derive.GATEWAY_TOP_K} (the gateway's default)"
    return tuple(sorted(unsent.items()))


def _partials(root: Path, path: Path, turns: tuple[tuple[str, str, int], ...]) -> tuple[str, ...]:
    """Include paths used by the turns, transitively; each must exist (but one of a list, or one
    included ``ignore missing``), be UTF-8 text and parse."""
    env = environment(root)
    seen: set[str] = set()
    pending = [(f"{path}", source, line) for _, source, line in turns]
    while pending:
        name, source, offset = pending.pop()
        ast = _parse(env, name, source, offset)
        for node in ast.find_all((nodes.Include, nodes.Extends, nodes.Import, nodes.FromImport)):
            refs = _literal_refs(node.template)
            if refs is None:
                raise TemplateError(f"{name}:{node.lineno + offset - 1}: include paths must be literal "
                                    "strings (or a list of them)")
            if not isinstance(node, nodes.Include) and not isinstance(node.template, nodes.Const):
                statement = "extends" if isinstance(node, nodes.Extends) else "import"
                raise TemplateError(f"{name}:{node.lineno + offset - 1}: {{% {statement} %}} takes one "
                                    "partial's path, not a list (only include takes a list)")
            if not refs and not getattr(node, "ignore_missing", False):  # Jinja refuses it as it renders
                raise TemplateError(f"{name}:{node.lineno + offset - 1}: an include of an empty list "
                                    "names no partial")
            found = [(ref, source) for ref in refs if (source := _partial_source(env, root, ref)) is not None]
            if not found and not getattr(node, "ignore_missing", False):
                missing = " or ".join(repr(ref) for ref in refs)
                raise TemplateError(f"{name}:{node.lineno + offset - 1}: included partial {missing} not "
                                    "found (include paths start at the registry root)")
            for ref, (partial_source, filename) in found[:1] if isinstance(node, nodes.Include) else found:
                if ref not in seen:  # Jinja's include takes the first that exists
                    seen.add(ref)
                    pending.append((filename, partial_source, 1))
    return tuple(sorted(seen))


def _literal_refs(template: nodes.Expr) -> list[str] | None:
    """The paths an include names: one literal, or a list or tuple of literals (None: computed)."""
    if isinstance(template, nodes.Const) and isinstance(template.value, str):
        return [template.value]
    if isinstance(template, (nodes.List, nodes.Tuple)) and all(
            isinstance(item, nodes.Const) and isinstance(item.value, str) for item in template.items):
        return [item.value for item in template.items]
    return None


def _partial_source(env: SandboxedEnvironment, root: Path, ref: str) -> tuple[str, str] | None:
    """(source, file name) of the partial ``ref``; None where there is none."""
    try:
        source, filename, _ = env.loader.get_source(env, ref)
    except TemplateNotFound:
        return None
    except UnicodeDecodeError as exc:
        # the gateway reads partials as UTF-8 too: such a file fails there on every request
        raise TemplateError(f"{root / ref}: partial is not UTF-8 text ({exc.reason} at byte "
                            f"{exc.start})") from None
    return source, filename


def _parse(env: SandboxedEnvironment, name: str, source: str, offset: int) -> nodes.Template:
    try:
        return env.parse(source)
    except TemplateSyntaxError as exc:
        line = (exc.lineno or 1) + offset - 1
        raise TemplateError(f"{name}:{line}: Jinja syntax error: {exc.message}") from None


def _first_line(ast: nodes.Template, node_type: type, matches: Any) -> int:
    return next((n.lineno for n in ast.find_all(node_type) if matches(n)), 1)


def _check_variables(root: Path, path: Path, spec: Spec, kind: str) -> None:
    """TemplateError naming file, line and variable for the first one neither the gateway passes nor,
    for a partial, its includer binds where it includes it (a loop target, a set, a with, macro args)."""
    env = environment(root)
    known = KNOWN_VARIABLES[kind]
    pending = [(str(path), source, offset, frozenset(known)) for _, source, offset in spec.turns]
    checked: set[tuple[str, int, frozenset[str]]] = set()
    while pending:
        name, source, offset, given = pending.pop()
        if (name, offset, given) in checked:  # a partial included twice alike, or including itself
            continue
        checked.add((name, offset, given))
        ast = env.parse(source)
        try:
            undeclared = meta.find_undeclared_variables(ast)
        except TemplateSyntaxError as exc:  # compiling checks more: an unknown filter or test
            raise TemplateError(f"{name}:{(exc.lineno or 1) + offset - 1}: {exc.message}") from None
        for var in sorted(undeclared - given - _guarded(ast)):
            line = _first_line(ast, nodes.Name, lambda n, v=var: n.name == v) + offset - 1
            raise TemplateError(f"{name}:{line}: unknown template variable {var!r}; "
                                f"a {kind} template gets: {', '.join(known)}")
        for include, bound in _includes_in_scope(ast.iter_child_nodes(), set()):
            refs = [ref for ref in _literal_refs(include.template) or () if _partial_source(env, root, ref)]
            for ref in refs[:1]:  # the one Jinja includes
                partial_source, filename = _partial_source(env, root, ref)
                pending.append((filename, partial_source, 1, given | bound))


def _guarded(ast: nodes.Template) -> set[str]:
    """Names the template itself guards: tested ``is defined`` (or ``undefined``) or given a
    ``default``, which Jinja renders whether or not the gateway passes them."""
    tested = {n.node.name for n in ast.find_all(nodes.Test)
              if n.name in ("defined", "undefined") and isinstance(n.node, nodes.Name)}
    return tested | {n.node.name for n in ast.find_all(nodes.Filter)
                     if n.name in ("default", "d") and isinstance(n.node, nodes.Name)}


def _includes_in_scope(children: Iterable[nodes.Node],
                       bound: set[str]) -> Iterator[tuple[nodes.Include, frozenset[str]]]:
    """(include, names bound where it stands) for each include among ``children``, in Jinja's scoping:
    an included partial sees its includer's loop variables and what it has set so far."""
    for child in children:
        if isinstance(child, nodes.Include):
            yield child, frozenset(bound)
        elif isinstance(child, nodes.For):
            yield from _includes_in_scope(child.body, bound | _stored(child.target) | {"loop"})
            yield from _includes_in_scope(child.else_, set(bound))
        elif isinstance(child, nodes.With):
            yield from _includes_in_scope(child.body, bound.union(*map(_stored, child.targets)))
        elif isinstance(child, (nodes.Macro, nodes.CallBlock)):
            args = {arg.name for arg in child.args} | {"caller", "varargs", "kwargs"}
            yield from _includes_in_scope(child.body, bound | args)
        else:
            yield from _includes_in_scope(child.iter_child_nodes(), bound)
            if isinstance(child, (nodes.Assign, nodes.AssignBlock)):
                bound |= _stored(child.target)


def _stored(target: nodes.Node) -> set[str]:
    """The names an assignment or loop target binds (``item``, ``key, value``)."""
    if isinstance(target, nodes.Name):
        return {target.name}
    return {name.name for name in target.find_all(nodes.Name)}


def _check_placeholders(root: Path, path: Path, spec: Spec, kind: str) -> None:
    """The same for a first-release file's Python-format placeholders."""
    known = KNOWN_VARIABLES[kind]
    for role, source, offset in spec.turns:
        try:
            rendered = mvp_text(root, source, kind)
        except TemplateError:
            raise
        except Exception:  # noqa: BLE001 - 1/0, an include cycle: rendering says it, placed (render.py)
            continue
        for field in _fields(rendered, f"{path}:{offset}"):
            if field not in known:
                lines = source.splitlines()
                line = offset + next((i for i, text in enumerate(lines) if f"{{{field}" in text), 0)
                raise TemplateError(f"{path}:{line}: unknown placeholder {{{field}}} in "
                                    f"prompt_template.{role}; a {kind} template gets: {', '.join(known)}")


def mvp_text(root: Path, source: str, kind: str) -> str:
    """A first-release turn after the gateway's Jinja2 pass: rendered once, with no variables.

    Known variables are undefined the lenient way (false, printed empty), as the
    gateway had them; an unknown name still fails under StrictUndefined.
    """
    lenient = {name: Undefined(name=name) for name in KNOWN_VARIABLES[kind]}
    return compiled(root, source).render(lenient)


_FORMAT_FIELD = re.compile(r"(?<!\{)\{([A-Za-z_]\w*)\}(?!\})")
"""A ``{name}`` placeholder that is not part of a Jinja ``{{name}}``."""


def _fields(text: str, where: str) -> list[str]:
    """Names of the Python-format placeholders in ``text`` (what LangChain's f-string template fills)."""
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError as exc:
        raise TemplateError(f"{where}: broken Python-format placeholder: {exc}") from None
    return [field for _, field, _, _ in parsed if field is not None]


def _has_placeholders(spec: Spec, kind: str) -> bool:
    """True when a pre-versioning file is written with ``{prefix}``-style placeholders (the MVP's way)."""
    known = set(KNOWN_VARIABLES[kind])
    return any(set(_FORMAT_FIELD.findall(source)) & known for _, source, _ in spec.turns)
