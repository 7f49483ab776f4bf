"""``evalkit prompts render``: the exact requests a task's prompt becomes, per arm, as text.

The bodies come from the models stage's one request builder, so what is shown
is what the client sends on a fresh run (seed and ``n`` included).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path

from evalkit.config import ArmConfig, ConfigError, sampling_params
from evalkit.models.request import PATHS, first_requests
from evalkit.prompts import layout
from evalkit.prompts.registry import MissingVersion, Template, TemplateError, load_file, load_template
from evalkit.prompts.render import render
from evalkit.records import Api, RenderedPrompt, Task


def describe_template(template: Template) -> list[str]:
    """Comment lines naming a template, its file and identity, and what evalkit derived for it."""
    lines = [f"# template {template.family} {template.version} ({template.kind}): {template.path}",
             f"# sha256 {template.sha256}"]
    if template.two_pass:
        lines.append("# rendered as the first releases did: Jinja2 without variables, then {placeholders}")
    lines += [f"# derived {entry}" for entry in template.derived]
    if template.unsent:
        shown = ", ".join(f"{key}={value}" for key, value in template.unsent)
        lines.append(f"# gateway client settings not sent: {shown}")
        if any(key.endswith("top_k") for key, _ in template.unsent):
            lines.append("# top_k is sent only where model.params.top_k asks for it")
    return lines


def template_for(arm: ArmConfig) -> Template:
    """The template an arm renders with, checked against the API its model is served on.

    The embedded demo endpoint (no ``base_url``) serves both APIs, so there the template
    decides: a completion template renders a raw prompt for /completions. So does a gateway file,
    which names no API, wherever it is sent (the gateway's way). A missing pinned version names
    the arm and the key that pinned it.
    """
    api = arm.model.api if arm.model.base_url else None
    prompt = arm.prompt
    try:
        return load_template(prompt.registry, prompt.family, prompt.version, api, prompt.kind)
    except MissingVersion as exc:
        where = arm.version_pinned_by or "prompt.version"
        source = (" (an arm of the model config, e.g. conf/model/demo.yaml, or of arms=[...])"
                  if where.startswith("arms[") else "")
        raise MissingVersion(f"arm {arm.label}: {exc}; {where}={prompt.version} pins it{source}") from None


def render_requests(arms: Sequence[ArmConfig], tasks: Sequence[Task], task_ids: Sequence[str], *,
                    n_samples: int, run_seed: int) -> str:
    """Every arm's request bodies for each of ``task_ids`` (the first task when none), as commented JSON."""
    by_id = {t.task_id: t for t in tasks}
    unknown = [tid for tid in task_ids if tid not in by_id]
    if unknown:
        raise ConfigError(f"unknown task {unknown[0]!r} in this dataset (e.g. {tasks[0].task_id})")
    out: list[str] = []
    for task_id in task_ids or [tasks[0].task_id]:
        for arm in arms:
            template = template_for(arm)
            prompt = render(template, by_id[task_id], fold_system=arm.prompt.fold_system)
            params = sampling_params(prompt.params, arm.model)
            prompt = dataclasses.replace(prompt, params=params)
            bodies = first_requests(prompt, arm.model.name, n_samples=n_samples, run_seed=run_seed,
                                    use_n=arm.model.use_n)
            where = arm.model.base_url or "(the embedded demo endpoint)"
            out.append(f"# task {task_id}, arm {arm.label}")
            out += describe_template(template)
            if arm.model.base_url and template.api is not arm.model.api:
                out.append(f"# model.api={arm.model.api.value} not used: the file names no api, its turns "
                           f"decide ({template.api.value}), as in the gateway")
            out += _overrides(template.params.as_dict(), params.as_dict())
            out.append(f"# POST {where.rstrip('/')}/{PATHS[prompt.api]}: {len(bodies)} request(s) "
                       f"for {n_samples} sample(s)")
            out += [json.dumps(body, indent=2, ensure_ascii=False) for body in bodies]
            out += _readable(prompt)
    return "\n".join(out)


def _readable(prompt: RenderedPrompt) -> list[str]:
    """A raw prompt (and a FIM API's suffix) as the model reads it, line by line, as comments:
    JSON escapes hide where the prefix, the suffix and a model's FIM tokens meet."""
    if prompt.api is not Api.COMPLETIONS:
        return []
    lines = ["# prompt as the model reads it:"] + [f"# | {line}" for line in prompt.text.split("\n")]
    if prompt.suffix:
        lines += ["# suffix field:"] + [f"# | {line}" for line in prompt.suffix.split("\n")]
    return lines


def _overrides(template: dict[str, object], sent: dict[str, object]) -> list[str]:
    """A comment line naming the sampling parameters the model config sets over the template's."""
    changed = [f"{key}={sent[key]!r} (template: {template[key]!r})" if key in template else
               f"{key}={sent[key]!r} (template: not sent)" for key in sent if sent[key] != template.get(key)]
    return [f"# model.params over the template: {', '.join(changed)}"] if changed else []


def registry_listing(registry: Path) -> str:
    """``evalkit prompts list``: every family of both kinds under ``registry`` with its versions and the
    API each is written for, the one a run picks where ``prompt.version`` is not set starred for each
    API (a checker's trial: the only listing was the error a pin of a version that is not there gives;
    a reviewer's: one star per family marked mistral 2.0.0, a chat template, where `model=mistral`, on
    the completions API, runs 1.0.0)."""
    root = layout.registry_root(Path(registry))
    lines = [f"registry {root}"]
    for kind in layout.KINDS:
        found = layout.families(root, kind)
        if not found:
            continue
        folders = sorted({str((fam.folder.parent if fam.folder else fam.mvp_file.parent).relative_to(root))
                          for fam in found.values() if fam.folder or fam.mvp_file})
        lines.append(f"{kind} ({', '.join(folders)}):")
        width = max(len(name) for name in found)
        for name, fam in found.items():
            lines.append(f"  {name:<{width}}  {'  '.join(_versions_shown(root, fam))}")
    if len(lines) == 1:
        return f"{lines[0]}: no templates under code_generation/, code_completion/ or code_suggestions/"
    lines.append("* what a run picks where prompt.version is not set, for a model served on that API (the "
                 "newest stable version written for it); a pre-release only when named")
    return "\n".join(lines)


def _versions_shown(root: Path, fam: layout.Family) -> list[str]:
    """Each version of ``fam``, oldest first: its API, a star on the one a run picks for that API."""
    ambiguous = {version for names in fam.same_versions() for version in names}
    apis: dict[str, str] = {}
    for version in fam.versions():
        try:
            apis[version] = load_file(root, fam, version).api.value
        except TemplateError:
            apis[version] = ""
    picked: dict[str, str] = {}
    for version in layout.default_versions(fam):  # newest stable first
        if version not in ambiguous and apis[version]:
            picked.setdefault(apis[version], version)
    shown = []
    for version in fam.versions():
        marks = ("(ambiguous: see lint)" if version in ambiguous else
                 "(invalid: see lint)" if not apis[version] else
                 f"({apis[version]}){'*' if picked.get(apis[version]) == version else ''}")
        shown.append(f"{version}{' pre-release' if layout.is_prerelease(version) else ''} {marks}")
    return shown
