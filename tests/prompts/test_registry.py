"""evalkit's own registry (prompts/): every shipped template loads, identities, lint, diffs."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from evalkit.config import PROMPTS_DIR
from evalkit.postprocess import STEPS
from evalkit.prompts import TemplateError, families, lint, load_template, template_diff, versions
from evalkit.records import Api
from tests.support.prompts import FIXTURE_REGISTRY, humaneval_tasks

SHIPPED = {"base": ["1.0.0"], "mistral": ["1.0.0", "2.0.0"], "mixtral": ["1.0.0", "2.0.0"]}


def _copy_registry(tmp_path: Path) -> Path:
    root = tmp_path / "prompts"
    shutil.copytree(PROMPTS_DIR, root)
    return root


def test_every_shipped_template_loads_with_known_steps():
    assert {f: versions(PROMPTS_DIR, f) for f in families(PROMPTS_DIR)} == SHIPPED
    assert families(PROMPTS_DIR, "completions") == [  # rendered in tests/prompts/test_code_completion.py
        "codegemma", "codellama", "codestral", "completion_fim", "completion_text", "deepseekcoder",
        "qwen2p5-coder-7b", "starcoder2"]
    for family, found in SHIPPED.items():
        for version in found:
            template = load_template(PROMPTS_DIR, family, version)
            assert (template.family, template.version, template.kind) == (family, version, "generations")
            assert template.unit_primitive == "generate_code"
            assert re.fullmatch(r"[0-9a-f]{64}", template.sha256)
            assert template.postprocess and all(step in STEPS for step in template.postprocess)
            assert not any(d.startswith(("api=", "postprocess=")) for d in template.derived)  # ours say so
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
    assert dict(mixtral.unsent) == {"model.params.top_k": 40, "params.timeout": 30}
    assert "unescape_underscores" in mixtral.postprocess
    claude = load_template(PROMPTS_DIR, "base", "1.0.0")
    assert (claude.params.temperature, claude.params.max_tokens) == (0.2, 2048)
    assert claude.params.stop == ("</new_code>",)
    assert claude.postprocess == ("cut_at_stop", "empty_if_blank")


def test_lint_passes_on_every_shipped_template_with_real_tasks():
    report = lint(PROMPTS_DIR, humaneval_tasks()[:20])
    assert report.problems == []
    assert report.checked == {"generations": 5, "completions": 8}
    assert lint(PROMPTS_DIR).problems == []  # the built-in sample tasks, one of them IDE-style


def test_lint_passes_on_the_gateway_layout_fixture_both_kinds_both_eras():
    report = lint(FIXTURE_REGISTRY, humaneval_tasks()[:5])
    assert report.problems == []
    assert report.checked == {"generations": 15, "completions": 11}
    assert (report.prereleases, report.mvp) == (2, 2)
    assert report.summary().startswith("lint: 26 templates (15 generations, 11 completions; 2 pre-releases, "
                                       "2 pre-versioning) under ")


def test_sha256_is_stable_and_changes_when_a_partial_changes(tmp_path):
    root = _copy_registry(tmp_path)
    before = {f: load_template(root, f, "1.0.0").sha256 for f in ("mistral", "mixtral", "base")}
    assert before == {f: load_template(PROMPTS_DIR, f, "1.0.0").sha256 for f in before}
    partial = root / "code_generation/partials/system/1.0.0.jinja"
    partial.write_text(partial.read_text() + "- Keep lines under 100 characters.\n")
    after = {f: load_template(root, f, "1.0.0").sha256 for f in before}
    assert after["mixtral"] != before["mixtral"]  # mixtral 1.0.0 includes the changed partial
    assert after["mistral"] == before["mistral"]  # the MVP template does not
    assert after["base"] == before["base"]


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
    path = root / "code_generation/toy/1.0.0.yml"
    path.parent.mkdir(parents=True)
    path.write_text("name: toy\napi: chat\nprompt_template:\n  system: |\n    Write {{ language }}.\n"
                    "  user: |\n    Code:\n    {{ prefix }}\n    {{ file_nam }}\n")
    with pytest.raises(TemplateError, match=re.escape(f"{path}:9: unknown template variable 'file_nam'")):
        load_template(root, "toy")


def test_lint_reports_each_problem_on_one_line(tmp_path):
    root = _copy_registry(tmp_path)
    for name, text in [("1.0.0", "name: t\npostprocess: [strip_fence]\nprompt_template:\n  user: x\n"),
                       ("1.1.0", "name: t\nprompt_template:\n  user: '{{ prefix.nope }}'\n")]:
        path = root / f"code_generation/toy/{name}.yml"
        path.parent.mkdir(exist_ok=True)
        path.write_text(text)
    problems = lint(root).problems
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


def test_template_diff_across_registries_and_eras():
    ours = load_template(PROMPTS_DIR, "mixtral", "1.0.0")
    gateway = load_template(FIXTURE_REGISTRY, "mixtral", "1.0.0")
    first = load_template(FIXTURE_REGISTRY, "mixtral", "mvp")
    assert len({ours.sha256, gateway.sha256, first.sha256}) == 3
    across = template_diff(gateway, ours)
    gateway_user = "code_suggestions/generations/jinja_template/self_hosted/user/1.0.0.jinja"
    assert f"-    {{% include '{gateway_user}' %}}\n" in across
    assert "+    {% include 'code_generation/partials/user/1.0.0.jinja' %}\n" in across
    assert "-  user: |\n" not in template_diff(first, gateway)  # both have a user turn


def _gateway_file(root: Path, family: str, user: str, partial: bytes | None = None) -> Path:
    """A one-turn gateway generation file; with ``partial``, its user turn includes that partial."""
    base = root / "code_suggestions/generations"
    if partial is not None:
        include = f"code_suggestions/generations/jinja_template/{family}/1.0.0.jinja"
        (root / include).parent.mkdir(parents=True, exist_ok=True)
        (root / include).write_bytes(partial)
        user = f"{{% include '{include}' %}}"
    path = base / family / "1.0.0.yml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"name: {family}\nprompt_template:\n  user: |\n    {user}\n")
    return path


def test_a_python_error_while_rendering_is_a_problem_naming_file_and_line_and_lint_goes_on(tmp_path):
    zero = _gateway_file(tmp_path, "zero", "{% if 'add' in prefix %}{{ 1/0 }}{% endif %}")
    fmt = _gateway_file(tmp_path, "fmt", "{{ '%d'|format(prefix) }}")
    _gateway_file(tmp_path, "cycle", "", b"{{ prefix }}\n{% include "
                  b"'code_suggestions/generations/jinja_template/cycle/1.0.0.jinja' %}\n")
    _gateway_file(tmp_path, "latin", "", b"caf\xe9 {{ prefix }}\n")
    partials = tmp_path / "code_suggestions/generations/jinja_template"
    assert sorted(lint(tmp_path).problems) == sorted([
        f"{partials}/cycle/1.0.0.jinja:2: cannot render this partial: partials include, import or "
        "extend one another without end (a cycle: code_suggestions/generations/jinja_template/cycle/"
        "1.0.0.jinja -> code_suggestions/generations/jinja_template/cycle/1.0.0.jinja) (in 1 template: "
        "code_suggestions/generations/cycle/1.0.0.yml)",
        f"{partials}/latin/1.0.0.jinja: partial is not UTF-8 text (invalid continuation byte at byte 3) "
        "(in 1 template: code_suggestions/generations/latin/1.0.0.yml)",
        f"{fmt}:4: cannot render prompt_template.user: TypeError: %d format: a real number is required, "
        "not str",
        f"{zero}:4: cannot render prompt_template.user: ZeroDivisionError: division by zero",
    ])


def test_partials_that_include_one_another_are_one_cycle_and_a_macro_s_recursion_its_own(tmp_path):
    # Each said "RecursionError: maximum recursion depth exceeded", and a cycle entered from several
    # templates was as many problems, each naming another file and order.
    jinja = "code_suggestions/generations/jinja_template"
    partials = tmp_path / jinja

    def partial(name: str, text: str) -> None:
        (partials / name).parent.mkdir(parents=True, exist_ok=True)
        (partials / name).write_text(text)

    partial("c.jinja", f"{{% include '{jinja}/a.jinja' %}}")  # a -> b -> c -> a, b's include in a macro
    partial("b.jinja", f"{{% macro m() %}}{{% include '{jinja}/c.jinja' %}}{{% endmacro %}}{{{{ m() }}}}")
    partial("a.jinja", f"A\n{{% include '{jinja}/b.jinja' %}}")
    partial("outer.jinja", f"{{% include '{jinja}/a.jinja' %}}")
    for family, entry in (("one", "a"), ("two", "b"), ("three", "outer")):
        _gateway_file(tmp_path, family, f"{{% include '{jinja}/{entry}.jinja' %}}{{{{ prefix }}}}")
    partial("p.j2", f"{{% import '{jinja}/q.j2' as q %}}")  # any name a partial has, import too
    partial("q.j2", f"{{% include '{jinja}/p.j2' %}}")
    _gateway_file(tmp_path, "j2", f"{{% include '{jinja}/p.j2' %}}{{{{ prefix }}}}")
    partial("deep.jinja", "{% macro m(n) %}{{ m(n) }}{% endmacro %}{{ m(1) }}")
    _gateway_file(tmp_path, "deep", f"{{% include '{jinja}/deep.jinja' %}}")
    partial("calls.jinja",
            f"{{% macro m(f) %}}{{% include '{jinja}/back.jinja' %}}{{% endmacro %}}{{{{ m(m) }}}}")
    partial("back.jinja", "{{ f(f) }}")  # the macro recurses through an include: not a cycle of partials
    _gateway_file(tmp_path, "calls", f"{{% include '{jinja}/calls.jinja' %}}")
    loop = _gateway_file(tmp_path, "loop", "{% for x in [1] recursive %}{{ loop([1]) }}{% endfor %}")
    # the cycle entered from a system turn and from a first release's turn is the same problem
    (tmp_path / "code_suggestions/generations/four/1.0.0.yml").parent.mkdir()
    (tmp_path / "code_suggestions/generations/four/1.0.0.yml").write_text(
        f"name: t\nprompt_template:\n  system: |\n    {{% include '{jinja}/a.jinja' %}}\n"
        "  user: '{{ prefix }}'\n")
    (tmp_path / "code_suggestions/generations/mixtral.yml").write_text(
        f"name: t\nprompt_template:\n  user: |\n    {{prefix}} {{% include '{jinja}/b.jinja' %}}\n")
    endless = "a macro or a recursive loop calls itself without end"
    assert sorted(lint(tmp_path).problems) == sorted([
        f"{partials}/a.jinja:2: cannot render this partial: partials include, import or extend one "
        f"another without end (a cycle: {jinja}/a.jinja -> {jinja}/b.jinja -> {jinja}/c.jinja -> "
        f"{jinja}/a.jinja) (in 5 templates: code_suggestions/generations/four/1.0.0.yml, "
        "code_suggestions/generations/mixtral.yml, code_suggestions/generations/one/1.0.0.yml, "
        "code_suggestions/generations/three/1.0.0.yml, code_suggestions/generations/two/1.0.0.yml)",
        f"{partials}/p.j2:1: cannot render this partial: partials include, import or extend one "
        f"another without end (a cycle: {jinja}/p.j2 -> {jinja}/q.j2 -> {jinja}/p.j2) (in 1 template: "
        "code_suggestions/generations/j2/1.0.0.yml)",
        f"{partials}/deep.jinja:1: cannot render this partial: {endless} (in 1 template: "
        "code_suggestions/generations/deep/1.0.0.yml)",
        f"{partials}/calls.jinja:1: cannot render this partial: {endless} (in 1 template: "
        "code_suggestions/generations/calls/1.0.0.yml)",
        f"{loop}:4: cannot render prompt_template.user: {endless}",
    ])


def test_a_first_release_s_render_error_and_text_nested_too_deeply_are_one_line_problems(tmp_path):
    # Both were tracebacks, exit 3, and lint stopped there: the first release's placeholder check
    # renders the file as it loads, and Jinja's parser recurses.
    first = tmp_path / "code_suggestions/generations/mixtral.yml"
    first.parent.mkdir(parents=True)
    first.write_text("name: t\nprompt_template:\n  user: |\n    {prefix} {{ 1/0 }}\n")
    deep = _gateway_file(tmp_path, "deep", "{{ " + "(" * 150 + "1" + ")" * 150 + " }}{{ prefix }}")
    assert sorted(lint(tmp_path).problems) == [
        f"{deep}: its template text nests too deeply for Jinja to read (Python's recursion limit)",
        f"{first}:4: cannot render prompt_template.user: ZeroDivisionError: division by zero",
    ]


def test_lint_says_each_problem_once_naming_the_templates_it_affects(tmp_path):
    root = tmp_path / "defs"
    shutil.copytree(FIXTURE_REGISTRY, root)
    partials = root / "code_suggestions/generations/jinja_template"
    (partials / "_example_section/1.0.0.jinja").unlink()
    problems = lint(root).problems
    assert len(set(problems)) == len(problems) == 5  # the five partials that include the missing one
    system = next(p for p in problems if p.startswith(f"{partials}/self_hosted/system/1.0.0.jinja:3: "))
    assert system.endswith(
        "included partial 'code_suggestions/generations/jinja_template/_example_section/1.0.0.jinja' not "
        "found (include paths start at the registry root) (in 5 templates: "
        "code_suggestions/generations/codegemma/1.0.0.yml, code_suggestions/generations/codellama/1.0.0.yml, "
        "code_suggestions/generations/"
        "deepseekcoder/1.0.0.yml, code_suggestions/generations/gpt/1.0.0.yml, "
        "code_suggestions/generations/llama3/1.0.0.yml)")
    counts = [int(re.search(r"\(in (\d+) templates?: ", p).group(1)) for p in problems]
    assert sum(counts) == 13  # every generation template but the first releases' includes it
