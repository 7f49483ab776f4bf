"""The AI gateway's prompt-file schema, checked strictly: every key it knows, nothing else.

The keys are the union of what the gateway's prompt config accepted over its
releases (``unit_primitives`` lists in older files, ``unit_primitive`` in newer
ones; ``model.name`` and client settings under ``model.params`` in older ones),
plus evalkit's optional ``api`` and ``postprocess``. An unknown key is an error
naming the file and the key.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from evalkit.config import SAMPLING_RANGES, ConfigError
from evalkit.prompts.layout import TemplateError
from evalkit.records import Api, joined_text

ROLES = ("system", "user", "assistant")

TOP_KEYS = frozenset({"name", "model", "unit_primitive", "unit_primitives", "prompt_template", "params",
                      "operation_type", "api", "postprocess"})
MODEL_KEYS = frozenset({"name", "params", "config_file", "provider_params"})

_NUMBER = (int, float)
SAMPLING_KEYS = {"temperature": _NUMBER, "top_p": _NUMBER, "max_tokens": int}
"""model.params evalkit sends with every request (and ``stop``, read with ``params.stop``)."""
MODEL_SETTINGS = {"top_k": int, "max_retries": int, "timeout": _NUMBER, "model_class_provider": str,
                  "custom_llm_provider": str, "vertex_location": str, "completion_type": str,
                  "fim_format": str, "default_headers": dict}
"""model.params the gateway gives its model client; evalkit accepts them and reports them unsent."""
PARAMS_SETTINGS = {"timeout": _NUMBER, "max_retries": int, "vertex_location": str}
"""params (besides stop) the gateway binds to the call; accepted, reported unsent."""

UNIT_PRIMITIVES = {"generate_code": "generations", "complete_code": "completions", "code_suggestions": None}
"""The code-suggestion unit primitives and the kind each implies (None: either)."""


@dataclass(frozen=True, slots=True)
class Spec:
    """What one prompt file says, validated; nothing derived yet."""

    name: str
    unit_primitive: str | None
    """The file's unit primitive (the first of an older file's list); None when it names none."""
    turns: tuple[tuple[str, str, int], ...]
    """(role, Jinja source, 1-based line in the file where the source starts)."""
    sampling: dict[str, Any]
    """The sampling parameters the file sets (temperature, top_p, max_tokens)."""
    stop: tuple[str, ...]
    settings: dict[str, Any]
    """Client settings the file sets that evalkit does not send (timeout, top_k, provider, ...)."""
    api: Api | None
    """evalkit's ``api`` key, None when the file does not say."""
    postprocess: tuple[str, ...] | None
    """evalkit's ``postprocess`` key, None when the file does not say."""


def parse(path: Path, text: str) -> Spec:
    """Validate one prompt file's text; TemplateError with file (and line) on the first problem."""
    try:
        data = yaml.safe_load(text)
        node = yaml.compose(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark else ""
        raise TemplateError(f"{path}{where}: invalid YAML: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(data, dict):
        raise TemplateError(f"{path}: a template must be a YAML mapping")
    _refuse_duplicate_keys(path, node)
    data = _joined(path, "", data)
    _check_keys(path, "", data, TOP_KEYS)
    if not isinstance(data.get("name"), str) or not data["name"].strip():
        raise TemplateError(f"{path}: name is missing (every gateway prompt file names itself)")
    model = _mapping(path, "model", data.get("model"))
    _check_keys(path, "model.", model, MODEL_KEYS)
    model_params = _mapping(path, "model.params", model.get("params"))
    params = _mapping(path, "params", data.get("params"))
    sampling, settings = _model_params(path, model_params)
    # the client's stop and the call's both end the answer: sent together, the client's first, each once
    stop = _stop_list(path, "model.params.stop", model_params.get("stop"))
    for key, value in params.items():
        if key == "stop":
            stop += _stop_list(path, "params.stop", value)
        elif key not in PARAMS_SETTINGS:
            known = ", ".join(sorted({*PARAMS_SETTINGS, "stop"}))
            raise TemplateError(f"{path}: unknown key params.{key}; known keys: {known}")
        elif value is not None:
            settings[f"params.{key}"] = _typed(path, f"params.{key}", value, PARAMS_SETTINGS[key])
    return Spec(name=data["name"], unit_primitive=_unit_primitive(path, data), turns=_turns(path, data, node),
                sampling=sampling, stop=tuple(dict.fromkeys(stop)), settings=settings,
                api=_api(path, data["api"]) if "api" in data else None,
                postprocess=_steps(path, data["postprocess"]) if "postprocess" in data else None)


def _refuse_duplicate_keys(path: Path, node: yaml.Node) -> None:
    """TemplateError at the second of two equal keys in one mapping: YAML would keep the last silently,
    so a second ``user:`` would drop the first turn unseen."""
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode):
                if key.value in seen:
                    raise TemplateError(f"{path}:{key.start_mark.line + 1}: duplicate key {key.value!r}")
                seen.add(key.value)
            _refuse_duplicate_keys(path, value)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            _refuse_duplicate_keys(path, item)


def _check_keys(path: Path, where: str, data: dict[str, Any], allowed: frozenset[str] | dict) -> None:
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        listed = ", ".join(sorted(allowed))
        raise TemplateError(f"{path}: unknown key {where}{unknown[0]}; known keys: {listed}")


def _mapping(path: Path, where: str, value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise TemplateError(f"{path}: {where} must be a mapping")
    return value


def _typed(path: Path, where: str, value: Any, expected: type | tuple[type, ...]) -> Any:
    if isinstance(value, bool) or not isinstance(value, expected):
        kind = {int: "an integer", _NUMBER: "a number", str: "text", dict: "a mapping"}[expected]
        raise TemplateError(f"{path}: {where} must be {kind}, not {value!r}")
    return value


def _model_params(path: Path, params: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    sampling: dict[str, Any] = {}
    settings: dict[str, Any] = {}
    for key, value in params.items():
        where = f"model.params.{key}"
        if key not in SAMPLING_KEYS and key not in MODEL_SETTINGS and key != "stop":
            known = ", ".join(sorted({*SAMPLING_KEYS, *MODEL_SETTINGS, "stop"}))
            raise TemplateError(f"{path}: unknown key {where}; known keys: {known}")
        if value is None or key == "stop":  # the stop list is read with params.stop
            continue
        if key in SAMPLING_KEYS:
            sampling[key] = _typed(path, where, value, SAMPLING_KEYS[key])
            try:  # every endpoint refuses the value: refused here, as the command line's override is
                SAMPLING_RANGES[key].check(value, value, f"{path}: {where}")
            except ConfigError as exc:
                raise TemplateError(str(exc)) from None
        else:
            settings[where] = _typed(path, where, value, MODEL_SETTINGS[key])
    return sampling, settings


def _unit_primitive(path: Path, data: dict[str, Any]) -> str | None:
    if "unit_primitive" in data and "unit_primitives" in data:
        raise TemplateError(f"{path}: give unit_primitive or the older unit_primitives, not both")
    value = data.get("unit_primitive")
    if "unit_primitives" in data:
        listed = data["unit_primitives"]
        if not isinstance(listed, list) or not all(isinstance(v, str) for v in listed):
            raise TemplateError(f"{path}: unit_primitives must be a list of names")
        value = listed[0] if listed else None
    if value is None:
        return None
    if value not in UNIT_PRIMITIVES:
        raise TemplateError(f"{path}: unit_primitive {value!r} is not a code-suggestions unit primitive; "
                            f"known: {', '.join(UNIT_PRIMITIVES)}")
    return value


def _turns(path: Path, data: dict[str, Any], node: yaml.Node) -> tuple[tuple[str, str, int], ...]:
    body = data.get("prompt_template")
    if not isinstance(body, dict) or not body:
        raise TemplateError(f"{path}: prompt_template must be a mapping with system, user and/or assistant")
    _check_keys(path, "prompt_template.", body, frozenset(ROLES))
    if "user" not in body:
        raise TemplateError(f"{path}: prompt_template.user is missing")
    lines = _source_lines(node)
    turns = []
    for role in ROLES:
        if role in body:
            if not isinstance(body[role], str):
                raise TemplateError(f"{path}:{lines.get(role, 1)}: prompt_template.{role} must be text")
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


def _joined(path: Path, key: str, value: Any) -> Any:
    r"""A parsed YAML value with each string's surrogate pairs joined (``records.joined_text``);
    TemplateError naming the key for a lone surrogate (YAML's ``"\ud800"`` escape): no request can
    carry one, and the failed request was taken for an unreachable endpoint."""
    if isinstance(value, str):
        joined = joined_text(value)
        if joined is None:
            raise TemplateError(f"{path}: {key or 'a key'} holds a lone surrogate (a \\ud800 to \\udfff "
                                "escape), which is not text")
        return joined
    if isinstance(value, dict):
        return {_joined(path, key, name): _joined(path, f"{key}.{name}" if key else str(name), item)
                for name, item in value.items()}
    if isinstance(value, list):
        return [_joined(path, f"{key}[{index}]", item) for index, item in enumerate(value)]
    return value


def _stop_list(path: Path, where: str, value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) and v for v in value):
        return list(value)
    raise TemplateError(f"{path}: {where} must be a list of non-empty strings")


def _api(path: Path, value: Any) -> Api:
    try:
        return Api(value)
    except ValueError:
        raise TemplateError(f"{path}: api must be chat or completions, not {value!r}") from None


def _steps(path: Path, value: Any) -> tuple[str, ...]:
    from evalkit.postprocess import STEPS  # the step names are data of the postprocess stage

    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise TemplateError(f"{path}: postprocess must be a list of step names")
    # checked here, not only by lint: a run would otherwise fail mid-way on the first answer
    unknown = [step for step in value if step not in STEPS]
    if unknown:
        raise TemplateError(f"{path}: unknown postprocess step {unknown[0]!r}; known: {', '.join(STEPS)}")
    return tuple(value)
