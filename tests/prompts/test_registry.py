"""Loading, validating and identifying templates: shipped registry, gateway-layout fixture, errors."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from evalkit.config import PROMPTS_DIR, ConfigError
from evalkit.postprocess import STEPS
from evalkit.prompts import TemplateError, families, lint, load_template, render, template_diff, versions
from evalkit.records import Api
from tests.support.prompts import FIXTURE_REGISTRY, humaneval_tasks

SHIPPED = {"mistral": ["1.0.0", "2.0.0"], "mixtral": ["1.0.0", "2.0.0"], "claude": ["1.0.0"]}


def _copy_registry(tmp_path: Path) -> Path:
    root = tmp_path / "prompts"
    shutil.copytree(PROMPTS_DIR, root)
    return root


def _write(root: Path, rel: str, text: str) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_every_shipped_template_loads_with_known_steps():
    assert {f: versions(PROMPTS_DIR, f) for f in families(PROMPTS_DIR)} == SHIPPED
    for family, found in SHIPPED.items():
        for version in found:
            template = load_template(PROMPTS_DIR, family, version)
            assert (template.family, template.version) == (family, version)
            assert re.fullmatch(r"[0-9a-f]{64}", template.sha256)
            assert template.postprocess and all(step in STEPS for step in template.postprocess)
            assert template.partials, "every shipped turn includes a versioned partial"
            for partial in template.partials:
                assert re.search(r"/\d+\.\d+\.\d+\.jinja$", partial)
                assert f"partial {partial}" in template.source_text


def test_newest_version_is_loaded_when_none_is_named():
    assert load_template(PROMPTS_DIR, "mixtral").version == "2.0.0"
    assert load_template(PROMPTS_DIR, "mistral", None).version == "2.0.0"


def test_params_stops_and_api_mirror_the_gateway():
    mvp = load_template(PROMPTS_DIR, "mistral", "1.0.0")
    assert mvp.api is Api.COMPLETIONS
    assert (mvp.params.temperature, mvp.params.max_tokens, mvp.params.stop) == (0.95, 512, ("</new_code>",))
    registry = load_template(PROMPTS_DIR, "mistral", "2.0.0")
    assert registry.api is Api.CHAT
    assert (registry.params.temperature, registry.params.max_tokens, registry.params.stop) == (0.95, 256, ())
    mixtral = load_template(PROMPTS_DIR, "mixtral", "1.0.0")
    assert (mixtral.params.temperature, mixtral.params.top_p, mixtral.params.max_tokens) == (0.2, 0.95, 2048)
    assert "unescape_underscores" in mixtral.postprocess
    claude = load_template(PROMPTS_DIR, "claude", "1.0.0")
    assert (claude.params.temperature, claude.params.max_tokens) == (0.2, 2048)
    assert claude.params.stop == ("</new_code>",)
    assert claude.postprocess == ("cut_at_stop", "empty_if_blank")


def test_lint_passes_on_every_shipped_template_with_real_tasks():
    tasks = humaneval_tasks()
    assert lint(PROMPTS_DIR, tasks[:20]) == []
    assert lint(PROMPTS_DIR) == []  # the built-in sample tasks, one of them IDE-style


def test_gateway_layout_fixture_registry_loads_and_renders():
    assert sorted(families(FIXTURE_REGISTRY)) == ["base", "mistral"]
    assert versions(FIXTURE_REGISTRY, "mistral") == ["1.0.0", "1.1.0"]
    newest = load_template(FIXTURE_REGISTRY, "mistral")
    assert newest.version == "1.1.0"
    assert newest.params.stop == ("</new_code>",) and newest.params.temperature == 0.3
    # includes resolve from the registry root and from the folder holding the families
    assert newest.partials == ("code_suggestions/generations/partials/system/1.0.0.jinja",
                               "partials/user/1.0.0.jinja")
    # no evalkit keys in a gateway file: chat API and the gateway's clean-up for the family
    assert newest.api is Api.CHAT
    assert newest.postprocess == ("strip_fences", "prepend_newline", "drop_reflection", "empty_if_blank")
    task = humaneval_tasks()[0]
    prompt = render(newest, task)
    assert [m.role for m in prompt.messages] == ["system", "user"]
    assert prompt.messages[1].content.startswith("Existing code:\n" + task.prompt)
    base = load_template(FIXTURE_REGISTRY, "base", "1.0.0")
    assert base.postprocess == ("cut_at_stop", "empty_if_blank")
    assert render(base, task).prefill == "<new_code>"
    assert lint(FIXTURE_REGISTRY) == []


def test_sha256_is_stable_and_changes_when_a_partial_changes(tmp_path):
    root = _copy_registry(tmp_path)
    before = {f: load_template(root, f, "1.0.0").sha256 for f in ("mistral", "mixtral", "claude")}
    assert before == {f: load_template(PROMPTS_DIR, f, "1.0.0").sha256 for f in before}
    partial = root / "code_generation/partials/system/1.0.0.jinja"
    partial.write_text(partial.read_text() + "- Keep lines under 100 characters.\n")
    after = {f: load_template(root, f, "1.0.0").sha256 for f in before}
    assert after["mixtral"] != before["mixtral"]  # mixtral 1.0.0 includes the changed partial
    assert after["mistral"] == before["mistral"]  # the MVP template does not
    assert after["claude"] == before["claude"]


def test_sha256_changes_when_params_change(tmp_path):
    root = _copy_registry(tmp_path)
    path = root / "code_generation/mixtral/1.0.0.yml"
    before = load_template(root, "mixtral", "1.0.0").sha256
    path.write_text(path.read_text().replace("temperature: 0.2", "temperature: 0.3"))
    assert load_template(root, "mixtral", "1.0.0").sha256 != before


def test_misspelt_variable_in_a_partial_names_file_line_and_variable(tmp_path):
    root = _copy_registry(tmp_path)
    partial = root / "code_generation/partials/user/1.0.0.jinja"
    partial.write_text(partial.read_text().replace("{{ instruction }}", "{{ instuction }}"))
    with pytest.raises(TemplateError) as info:
        load_template(root, "mixtral", "1.0.0")
    message = str(info.value)
    assert "\n" not in message
    assert f"{partial}:7:" in message and "'instuction'" in message


def test_misspelt_variable_in_the_yaml_turn_names_the_yaml_line(tmp_path):
    root = tmp_path / "reg"
    path = _write(root, "code_generation/toy/1.0.0.yml",
                  "name: toy\napi: chat\nprompt_template:\n  system: |\n    Write {{ language }}.\n"
                  "  user: |\n    Code:\n    {{ prefix }}\n    {{ file_nam }}\n")
    with pytest.raises(TemplateError, match=re.escape(f"{path}:9: unknown template variable 'file_nam'")):
        load_template(root, "toy")


@pytest.mark.parametrize(("body", "expected"), [
    ("name: t\nprompt_template:\n  user: hi\nsurprise: 1\n", "unknown key surprise"),
    ("name: t\nprompt_template:\n  user: hi\n  tool: x\n", "unknown key prompt_template.tool"),
    ("name: t\nprompt_template:\n  system: hi\n", "prompt_template.user is missing"),
    ("name: t\nmodel:\n  params:\n    temperature: hot\nprompt_template:\n  user: hi\n",
     "model.params.temperature must be a number"),
    ("name: t\nmodel:\n  params:\n    max_tokens: 1.5\nprompt_template:\n  user: hi\n",
     "model.params.max_tokens"),
    ("name: t\nmodel:\n  params:\n    temprature: 1\nprompt_template:\n  user: hi\n",
     "unknown parameter model.params.temprature"),
    ("name: t\nparams:\n  stop: [1]\nprompt_template:\n  user: hi\n", "params.stop must be a list"),
    ("name: t\napi: rest\nprompt_template:\n  user: hi\n", "api must be chat or completions"),
    ("name: t\npostprocess: strip_fences\nprompt_template:\n  user: hi\n", "postprocess must be a list"),
    ("name: t\npostprocess: [strip_fence]\nprompt_template:\n  user: hi\n",
     "unknown postprocess step 'strip_fence'"),
    ("name: t\nprompt_template:\n  user: |\n    {% include 'nowhere/1.0.0.jinja' %}\n",
     ":4: included partial 'nowhere/1.0.0.jinja' not found"),
    ("name: t\nprompt_template:\n  user: |\n    {% if prefix %}\n", ": Jinja syntax error"),
    ("name: [t\n", "invalid YAML"),
])
def test_invalid_templates_fail_on_load_with_one_line(tmp_path, body, expected):
    _write(tmp_path, "code_generation/toy/1.0.0.yml", body)
    with pytest.raises(TemplateError) as info:
        load_template(tmp_path, "toy")
    assert expected in str(info.value) and "\n" not in str(info.value)
    assert isinstance(info.value, ConfigError)


def test_unknown_family_and_version_list_what_exists():
    with pytest.raises(TemplateError, match="known families: claude, mistral, mixtral"):
        load_template(PROMPTS_DIR, "gpt")
    with pytest.raises(TemplateError, match="mixtral has 1.0.0, 2.0.0"):
        load_template(PROMPTS_DIR, "mixtral", "3.0.0")


def test_lint_reports_each_problem_on_one_line(tmp_path):
    root = _copy_registry(tmp_path)
    _write(root, "code_generation/toy/1.0.0.yml",
           "name: t\npostprocess: [strip_fence]\nprompt_template:\n  user: x\n")
    _write(root, "code_generation/toy/1.1.0.yml", "name: t\nprompt_template:\n  user: '{{ prefix.nope }}'\n")
    problems = lint(root)
    assert len(problems) == 2
    assert "unknown postprocess step 'strip_fence'" in problems[0]
    assert "1.1.0.yml" in problems[1] and "cannot render prompt_template.user" in problems[1]


def test_template_diff_shows_the_changed_include_and_partial():
    a = load_template(PROMPTS_DIR, "mixtral", "1.0.0")
    b = load_template(PROMPTS_DIR, "mixtral", "2.0.0")
    diff = template_diff(a, b)
    assert diff.startswith("--- mixtral/1.0.0\n+++ mixtral/2.0.0\n")
    assert "-    {% include 'code_generation/partials/system/1.0.0.jinja' %}\n" in diff
    assert "+    {% include 'code_generation/partials/system/2.0.0.jinja' %}\n" in diff
    assert "+- Do not repeat code that already exists in the file, not even the function signature.\n" in diff
    assert template_diff(a, a) == ""
