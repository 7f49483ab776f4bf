"""Where templates live in a registry: its root, its kinds, families and versions.

A registry root is the folder every ``{% include %}`` path starts from: the AI
gateway's ``ai_gateway/prompts/definitions/`` (holding ``code_suggestions/``) or
evalkit's own ``prompts/`` (holding ``code_generation/`` and ``code_completion/``). Under it:

- ``code_suggestions/generations/<family>/<version>.yml`` and
  ``code_suggestions/completions/<family>/<version>.yml`` (the gateway's layout),
  ``code_generation/<family>/<version>.yml`` and ``code_completion/<family>/<version>.yml`` (evalkit's);
- ``<kind folder>/<family>.yml``: the gateway's first releases kept one file per
  family and no versions; evalkit calls that version :data:`MVP`.

Versions are semantic versions with optional pre-release tags (``1.1.0-dev``),
ordered the way the gateway orders them (PEP 440, as poetry's parser does). A
pre-release is never picked unless named.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from packaging.version import InvalidVersion, Version

from evalkit.config import ConfigError

KINDS = ("generations", "completions")
"""What a template is for: code generation (an instruction) or code completion (fill in the middle)."""

KIND_DIRS = {
    "generations": ("code_generation", "code_suggestions/generations"),
    "completions": ("code_completion", "code_suggestions/completions"),
}
"""Folders of each kind under a root: evalkit's layout first, then the gateway's."""

MVP = "mvp"
"""The version name of a family's single pre-versioning file ``<family>.yml``."""

_CHECKOUT_PATHS = ("ai_gateway/prompts/definitions", "prompts/definitions", "definitions")
"""From a gateway checkout (or a folder inside it) down to the definitions root."""


_ROOT_MARKERS = ("code_suggestions", "code_generation", "code_completion")
"""A registry root holds at least one of these folders."""


class TemplateError(ConfigError):
    """An unusable template: bad YAML shape, unresolved include, unknown variable.

    The message is one line naming the file, the line when known, and the problem.
    """


def registry_root(path: Path) -> Path:
    """The root that include paths start from, for a folder a user points at.

    Accepts the root itself, a gateway checkout or any folder between it and the
    definitions root, and the ``code_suggestions``/``generations``/``completions``
    (or ``code_generation``) folders below the root.
    """
    path = Path(path).expanduser()
    if not path.is_dir():
        raise TemplateError(f"{path}: no such registry folder")
    candidates = [path] + [path / sub for sub in _CHECKOUT_PATHS]
    if path.name in _ROOT_MARKERS:
        candidates.append(path.parent)
    if path.name in KINDS and path.parent.name == "code_suggestions":
        candidates.append(path.parent.parent)
    for candidate in candidates:
        if any((candidate / sub).is_dir() for sub in _ROOT_MARKERS):
            return candidate.absolute()
    raise TemplateError(f"{path}: not a prompt registry: no code_suggestions/ (a gateway's "
                        "ai_gateway/prompts/definitions/) or code_generation/ or code_completion/ "
                        "(evalkit's prompts/) in it")


def check_kind(kind: str) -> str:
    """``kind`` when it is one of :data:`KINDS`, else TemplateError."""
    if kind not in KINDS:
        raise TemplateError(f"prompt.kind must be one of {', '.join(KINDS)}, not {kind!r}")
    return kind


def version_key(version: str) -> tuple[int, Version]:
    """Sort key: the MVP file first, then semantic versions, pre-releases before their release."""
    if version == MVP:
        return (0, Version("0"))
    return (1, Version(version))


def is_version(name: str) -> bool:
    """True for a file stem that names a version (``1.0.0``, ``3.0.2-dev``)."""
    try:
        Version(name)
    except InvalidVersion:
        return False
    return name.count(".") >= 2


def is_prerelease(version: str) -> bool:
    """True for ``1.1.0-dev`` and the like: the gateway never serves those unless asked."""
    return version != MVP and Version(version).is_prerelease


@dataclass(frozen=True, slots=True)
class Family:
    """One family of one kind: where its versions are."""

    kind: str
    name: str
    folder: Path | None
    """``<kind folder>/<name>/`` holding ``<version>.yml`` files; None when only an MVP file exists."""
    mvp_file: Path | None
    """``<kind folder>/<name>.yml``, the pre-versioning file, when there is one."""

    def versions(self) -> list[str]:
        """Every version, oldest first (the MVP file first of all)."""
        found = [p.stem for p in self.folder.glob("*.yml") if is_version(p.stem)] if self.folder else []
        found.sort(key=lambda v: (version_key(v), v))  # two names of one version: in a fixed order
        return ([MVP] if self.mvp_file else []) + found

    def stray_files(self) -> list[Path]:
        """YAML files in the family folder that are not read: a ``.yml`` whose name is not a version, and
        any ``.yaml`` (the gateway reads ``<version>.yml`` only; a ``1.1.0.yaml`` was skipped unsaid)."""
        if self.folder is None:
            return []
        return sorted(p for p in self.folder.iterdir()
                      if p.suffix == ".yaml" or (p.suffix == ".yml" and not is_version(p.stem)))

    def same_versions(self) -> list[list[str]]:
        """Files that name one version two ways (``1.0.0`` and ``v1.0.0``, ``1.1.0-dev`` and
        ``1.1.0.dev0``): which one the gateway serves depends on the order it lists them."""
        groups: dict[tuple[int, Version], list[str]] = {}
        for version in self.versions():
            groups.setdefault(version_key(version), []).append(version)
        return [names for names in groups.values() if len(names) > 1]

    def ambiguity(self, names: list[str]) -> str:
        """The problem with ``names``, a group of ``same_versions``."""
        return (f"{self.folder}: {' and '.join(f'{v}.yml' for v in names)} name one version: which one the "
                "gateway serves depends on the order it lists them; keep one")

    def path(self, version: str) -> Path | None:
        """The file of ``version`` (None when the family has no such version)."""
        if version == MVP:
            return self.mvp_file
        if self.folder is not None and is_version(version) and (self.folder / f"{version}.yml").is_file():
            return self.folder / f"{version}.yml"  # a name lint calls no version is not read: not pinned
        return None


def families(root: Path, kind: str = "generations") -> dict[str, Family]:
    """Every family of ``kind`` under ``root`` (evalkit's layout wins over the gateway's)."""
    found: dict[str, Family] = {}
    for sub in reversed(KIND_DIRS[check_kind(kind)]):
        base = root / sub
        if not base.is_dir():
            continue
        names = {p.name for p in base.iterdir() if p.is_dir() and any(p.glob("*.yml"))}
        names |= {p.stem for p in base.glob("*.yml")}
        for name in sorted(names):
            folder, mvp = base / name, base / f"{name}.yml"
            found[name] = Family(kind=kind, name=name,
                                 folder=folder if folder.is_dir() and any(folder.glob("*.yml")) else None,
                                 mvp_file=mvp if mvp.is_file() else None)
    return dict(sorted(found.items()))


def family(root: Path, name: str, kind: str = "generations") -> Family:
    """The family ``name`` of ``kind``, or TemplateError listing the families there are."""
    found = families(root, kind)
    if name in found:
        return found[name]
    listed = ", ".join(found) or "none"
    hint = "; the gateway calls the Claude family 'base'" if name == "claude" else ""
    other = next(k for k in KINDS if k != kind)
    if name in families(root, other):  # model=qwen_coder on HumanEval: a completion family only
        dataset = "a completion dataset (dataset=infilling_single_line, ...)" if other == "completions" \
            else "a generation dataset (dataset=humaneval, ...)"
        hint += f"; it is a {other} family: give {dataset}, or another family"
    raise TemplateError(f"{root}: no {kind} template family {name!r}; known families: {listed}{hint}")


def default_versions(fam: Family) -> list[str]:
    """Versions a run may pick when none is named, best first: stable ones newest first.

    A pre-release is never among them; the MVP file only when the family has no
    versioned file (a registry from the gateway's first releases).
    """
    known = fam.versions()
    stable = [v for v in known if v != MVP and not is_prerelease(v)]
    if stable:
        return stable[::-1]
    if known == [MVP]:
        return [MVP]
    return []
