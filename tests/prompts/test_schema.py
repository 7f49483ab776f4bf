"""The gateway's prompt-file schema, strictly: its keys load, an unknown key is a one-line error."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from evalkit.config import ConfigError
from evalkit.prompts import TemplateError, lint, load_template
from evalkit.prompts.registry import compiled
from evalkit.records import Api
from tests.support.prompts import FIXTURE_REGISTRY

GENERATIONS = "code_suggestions/generations"


def _write(root: Path, rel: str, text: str) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_both_key_styles_of_the_gateway_load_with_their_values():
    old = load_template(FIXTURE_REGISTRY, "base", "1.0.0")  # unit_primitives list, model.name, 2_048
    assert old.unit_primitive == "generate_code"
    assert (old.params.temperature, old.params.max_tokens, old.params.stop) == (0.2, 2048, ("</new_code>",))
    # the gateway's default top_k, where a file sets none, is not sent either: said, not silently dropped
    assert dict(old.unsent) == {"model.params.max_retries": 1, "params.timeout": 60,
                                "model.params.model_class_provider": "anthropic",
                                "top_k": "40 (the gateway's default)"}
    new = load_template(FIXTURE_REGISTRY, "base", "2.0.3")  # unit_primitive: generate_code
    assert new.unit_primitive == "generate_code"
    assert dict(new.unsent) == {"params.max_retries": 1, "top_k": "40 (the gateway's default)"}
    fim = load_template(FIXTURE_REGISTRY, "completion_fim", kind="completions")
    assert fim.unit_primitive == "complete_code"
    assert dict(fim.unsent)["model.params.fim_format"] == "</s>[SUFFIX]{suffix}[PREFIX]{prefix}[MIDDLE]"
    mvp = load_template(FIXTURE_REGISTRY, "mixtral", "mvp")  # unit_primitives: [code_suggestions]
    assert mvp.unit_primitive == "code_suggestions" and dict(mvp.unsent)["model.params.timeout"] == 60


def test_a_file_without_model_params_gets_the_gateways_defaults_and_says_so():
    mixtral = load_template(FIXTURE_REGISTRY, "mixtral", "1.0.0")  # no model key at all
    assert (mixtral.params.temperature, mixtral.params.top_p, mixtral.params.max_tokens) == (0.2, 0.95, 2048)
    assert "temperature=0.2, top_p=0.95, max_tokens=2048: not in the file, the gateway's defaults" in (
        mixtral.derived)


def test_api_and_postprocess_are_derived_the_gateways_way_and_recorded():
    derived = {(f, k): load_template(FIXTURE_REGISTRY, f, kind=k)
               for f, k in [("base", "generations"), ("mixtral", "generations"), ("codestral", "generations"),
                            ("codegemma", "completions"), ("codestral", "completions")]}
    base = derived["base", "generations"]
    assert base.api is Api.CHAT and base.postprocess == ("cut_at_stop", "empty_if_blank")
    assert base.derived[:2] == (
        "api=chat: the gateway sends a template's turns as chat messages",
        "postprocess=[cut_at_stop, empty_if_blank]: the answer continues the prefilled assistant turn to its "
        "stop (Claude's way)")
    assert "unescape_underscores" in derived["mixtral", "generations"].postprocess
    assert derived["codestral", "generations"].postprocess == (
        "strip_fences", "prepend_newline", "drop_reflection", "empty_if_blank")
    fim = derived["codegemma", "completions"]  # a user-only FIM text: a raw prompt
    assert fim.api is Api.COMPLETIONS and fim.postprocess == ("cut_at_fim_stop",)
    assert derived["codestral", "completions"].api is Api.CHAT  # has a system turn


def test_model_params_stop_is_sent_with_params_stop_the_clients_first_each_once(tmp_path):
    _write(tmp_path, f"{GENERATIONS}/toy/1.0.0.yml",
           "name: t\nmodel:\n  params:\n    stop: ['</new_code>', '[INST]']\n"
           "params:\n  stop: ['[INST]', '</s>']\nprompt_template:\n  user: '{{ prefix }}'\n")
    assert load_template(tmp_path, "toy").params.stop == ("</new_code>", "[INST]", "</s>")
    _write(tmp_path, f"{GENERATIONS}/toy/1.0.0.yml",
           "name: t\nmodel:\n  params:\n    stop: '</new_code>'\nprompt_template:\n  user: '{{ prefix }}'\n")
    assert load_template(tmp_path, "toy").params.stop == ("</new_code>",)


def test_evalkit_keys_win_over_derivation(tmp_path):
    _write(tmp_path, f"{GENERATIONS}/toy/1.0.0.yml",
           "name: t\nunit_primitive: generate_code\napi: completions\npostprocess: [strip_fences]\n"
           "prompt_template:\n  user: '{{ prefix }}'\n")
    toy = load_template(tmp_path, "toy")
    assert (toy.api, toy.postprocess) == (Api.COMPLETIONS, ("strip_fences",))
    assert not any(d.startswith(("api=", "postprocess=")) for d in toy.derived)


@pytest.mark.parametrize(("body", "expected"), [
    ("name: t\nprompt_template:\n  user: hi\nsurprise: 1\n", "unknown key surprise; known keys: api, model"),
    ("name: t\nunit_primitve: generate_code\nprompt_template:\n  user: hi\n", "unknown key unit_primitve"),
    ("name: t\nprompt_template:\n  user: hi\n  tool: x\n", "unknown key prompt_template.tool"),
    ("name: t\nmodel:\n  size: 7b\nprompt_template:\n  user: hi\n", "unknown key model.size"),
    ("name: t\nmodel:\n  params:\n    temprature: 1\nprompt_template:\n  user: hi\n",
     "unknown key model.params.temprature; known keys: completion_type"),
    ("name: t\nparams:\n  stops: [x]\nprompt_template:\n  user: hi\n",
     "unknown key params.stops; known keys: max_retries, stop, timeout, vertex_location"),
    ("name: t\nprompt_template:\n  system: hi\n", "prompt_template.user is missing"),
    ("prompt_template:\n  user: hi\n", "name is missing"),
    ("name: t\nmodel:\n  params:\n    temperature: hot\nprompt_template:\n  user: hi\n",
     "model.params.temperature must be a number, not 'hot'"),
    ("name: t\nmodel:\n  params:\n    max_tokens: 1.5\nprompt_template:\n  user: hi\n",
     "model.params.max_tokens must be an integer"),
    ("name: t\nparams:\n  timeout: soon\nprompt_template:\n  user: hi\n", "params.timeout must be a number"),
    # values every endpoint refuses (400 on each request), refused as the command line's overrides are
    ("name: t\nmodel:\n  params:\n    temperature: -1\nprompt_template:\n  user: hi\n",
     "model.params.temperature must be a finite number of at least 0, not -1"),
    ("name: t\nmodel:\n  params:\n    top_p: 7\nprompt_template:\n  user: hi\n",
     "model.params.top_p must be above 0 and at most 1, not 7"),
    ("name: t\nmodel:\n  params:\n    max_tokens: 0\nprompt_template:\n  user: hi\n",
     "model.params.max_tokens must be at least 1, not 0"),
    ("name: t\nparams:\n  stop: [1]\nprompt_template:\n  user: hi\n", "params.stop must be a list"),
    ("name: t\nmodel:\n  params:\n    stop: ['']\nprompt_template:\n  user: hi\n",
     "model.params.stop must be a list of non-empty strings"),
    ("name: t\nunit_primitive: explain_code\nprompt_template:\n  user: hi\n",
     "unit_primitive 'explain_code' is not a code-suggestions unit primitive"),
    ("name: t\nunit_primitive: complete_code\nprompt_template:\n  user: hi\n",
     "unit_primitive complete_code is for completions, but the file is under generations/"),
    ("name: t\nunit_primitive: generate_code\nunit_primitives: [generate_code]\n"
     "prompt_template:\n  user: hi\n",
     "give unit_primitive or the older unit_primitives, not both"),
    ("name: t\napi: rest\nprompt_template:\n  user: hi\n", "api must be chat or completions"),
    ("name: t\npostprocess: strip_fences\nprompt_template:\n  user: hi\n", "postprocess must be a list"),
    ("name: t\npostprocess: [strip_fence]\nprompt_template:\n  user: hi\n",
     "unknown postprocess step 'strip_fence'"),
    ("name: t\nprompt_template:\n  user: |\n    {% include 'nowhere/1.0.0.jinja' %}\n",
     ":4: included partial 'nowhere/1.0.0.jinja' not found (include paths start at the registry root)"),
    ("name: t\nprompt_template:\n  user: |\n    {% if prefix %}\n", ":4: Jinja syntax error"),
    ("name: [t\n", "invalid YAML"),
    ("name: t\nprompt_template:\n  user: first\n  system: s\n  user: second\n", ":5: duplicate key 'user'"),
    ("name: t\nmodel:\n  params:\n    top_p: 0.9\n    top_p: 0.5\nprompt_template:\n  user: hi\n",
     ":5: duplicate key 'top_p'"),
    # YAML's escape makes a lone surrogate, which no request can carry (it was taken for an
    # unreachable endpoint)
    ('name: t\nparams:\n  stop: ["\\ud800"]\nprompt_template:\n  user: hi\n',
     "params.stop[0] holds a lone surrogate"),
    ('name: t\nprompt_template:\n  user: "x\\udfffy"\n', "prompt_template.user holds a lone surrogate"),
])
def test_invalid_files_fail_on_load_with_one_line_naming_file_and_key(tmp_path, body, expected):
    path = _write(tmp_path, f"{GENERATIONS}/toy/1.0.0.yml", body)
    with pytest.raises(TemplateError) as info:
        load_template(tmp_path, "toy")
    message = str(info.value)
    assert message.startswith(str(path)) and expected in message and "\n" not in message
    assert isinstance(info.value, ConfigError)  # the CLI exits 2 with it


def test_an_emoji_escaped_as_two_halves_loads_as_the_emoji(tmp_path):
    # json.dumps writes an emoji as "\ud83d\ude00"; YAML left the two halves, refused as lone surrogates
    _write(tmp_path, f"{GENERATIONS}/toy/1.0.0.yml",
           'name: t\nparams:\n  stop: ["\\ud83d\\ude00"]\nprompt_template:\n  user: "go \\ud83d\\ude00"\n')
    template = load_template(tmp_path, "toy")
    assert template.params.stop == ("\U0001f600",)


def test_a_misspelt_variable_names_the_partial_its_line_and_the_variable(tmp_path):
    partial = _write(tmp_path, f"{GENERATIONS}/jinja_template/user/1.0.0.jinja",
                     "Code:\n{{ prefix }}\n{% if instruction %}{{ instuction }}{% endif %}\n")
    _write(tmp_path, f"{GENERATIONS}/toy/1.0.0.yml",
           "name: t\nprompt_template:\n  user: |\n"
           "    {% include 'code_suggestions/generations/jinja_template/user/1.0.0.jinja' %}\n")
    with pytest.raises(TemplateError, match=re.escape(f"{partial}:3: unknown template variable 'instuction'; "
                                                      "a generations template gets: prefix, instruction")):
        load_template(tmp_path, "toy")


def test_variables_are_those_the_gateway_passes_each_kind(tmp_path):
    path = _write(tmp_path, f"{GENERATIONS}/toy/1.0.0.yml",
                  "name: t\nprompt_template:\n  user: |\n    {{ prefix }}\n    {{ suffix }}\n")
    # the gateway passes a generation template no suffix: the content below the cursor is trimmed_content_*
    with pytest.raises(TemplateError, match=re.escape(f"{path}:5: unknown template variable 'suffix'")):
        load_template(tmp_path, "toy")
    path = _write(tmp_path, "code_suggestions/completions/toy/1.0.0.yml",
                  "name: t\nprompt_template:\n  user: '{{ prefix }}{{ user_instruction }}'\n")
    with pytest.raises(TemplateError, match="unknown template variable 'user_instruction'; a completions "
                                            "template gets: prefix, suffix, language, file_name"):
        load_template(tmp_path, "toy", kind="completions")


def test_a_first_release_file_with_an_unknown_placeholder_names_it(tmp_path):
    path = _write(tmp_path, f"{GENERATIONS}/toy.yml",
                  "name: t\nprompt_template:\n  user: |\n    [INST] {language} code\n    {prefix}\n"
                  "    {filename} [/INST]\n")
    with pytest.raises(TemplateError, match=re.escape(f"{path}:6: unknown placeholder {{filename}} in "
                                                      "prompt_template.user")):
        load_template(tmp_path, "toy", "mvp")


def test_a_partial_may_use_what_its_includer_binds_where_it_includes_it(tmp_path):
    item = f"{GENERATIONS}/jinja_template/_example_item/1.0.0.jinja"
    _write(tmp_path, item, "{{ heading }}: {{ item.example }} gives {{ item.response }}\n")
    path = _write(tmp_path, f"{GENERATIONS}/toy/1.0.0.yml",
                  "name: t\nprompt_template:\n  user: |\n    {% set heading = 'Example' %}\n"
                  "    {% for item in examples_array %}\n"
                  f"    {{% include '{item}' %}}\n"
                  "    {% endfor %}\n")
    assert lint(tmp_path).problems == []
    # as Jinja renders it for an editor request that has examples
    source = load_template(tmp_path, "toy").turns[0][1]
    assert "Example: f(1) gives 2" in compiled(tmp_path, source).render(
        examples_array=[{"example": "f(1)", "response": "2"}])
    # bound after the include, or only inside a loop that ended, is not bound where the partial is included
    path.write_text("name: t\nprompt_template:\n  user: |\n    {% for item in examples_array %}{% endfor %}\n"
                    f"    {{% include '{item}' %}}\n    {{% set heading = 'Example' %}}\n")
    with pytest.raises(TemplateError, match=re.escape(f"{tmp_path / item}:1: unknown template variable")):
        load_template(tmp_path, "toy")


def test_names_a_template_guards_and_includes_jinja_may_skip_load(tmp_path):
    # `is defined`, `default`, a list of includes and `ignore missing` render in Jinja whatever the
    # gateway passes or whichever partial exists; each was refused ("unknown template variable",
    # "included partial ... not found").
    real = f"{GENERATIONS}/jinja_template/_section/1.0.0.jinja"
    _write(tmp_path, real, "Section\n")
    _write(tmp_path, f"{GENERATIONS}/toy/1.0.0.yml",
           "name: t\nprompt_template:\n  user: |\n"
           "    {% if editor_hint is defined %}{{ editor_hint }}{% endif %}{{ other_hint | default('') }}\n"
           f"    {{% include ['{GENERATIONS}/jinja_template/gone/1.0.0.jinja', '{real}'] %}}\n"
           f"    {{% include '{GENERATIONS}/jinja_template/gone/2.0.0.jinja' ignore missing %}}\n"
           "    {{ prefix }}\n")
    assert lint(tmp_path).problems == []
    source = load_template(tmp_path, "toy").turns[0][1]
    assert compiled(tmp_path, source).render(prefix="def f():") == "\nSection\n\ndef f():"
    # a list none of whose partials exists is still refused, naming them
    _write(tmp_path, f"{GENERATIONS}/toy/1.0.0.yml", "name: t\nprompt_template:\n  user: |\n"
           f"    {{% include ['{GENERATIONS}/a.jinja', '{GENERATIONS}/b.jinja'] %}}\n")
    with pytest.raises(TemplateError, match=r"included partial '.*a\.jinja' or '.*b\.jinja' not found"):
        load_template(tmp_path, "toy")
    # an empty list names none (it named "partial  not found"); with `ignore missing` it renders nothing
    _write(tmp_path, f"{GENERATIONS}/toy/1.0.0.yml", "name: t\nprompt_template:\n  user: |\n"
           "    {% include [] ignore missing %}{{ prefix }}\n    {% include [] %}\n")
    with pytest.raises(TemplateError, match=r"toy/1\.0\.0\.yml:5: an include of an empty list names no part"):
        load_template(tmp_path, "toy")
    # import and extends take one name: a list passed the check, then failed as it rendered
    # ("TypeError: unhashable type: 'list'"), and an empty one was called an include
    for statement in (f"{{% import ['{real}'] as m %}}", "{% extends [] %}",
                      f"{{% from ['{real}'] import x %}}"):
        _write(tmp_path, f"{GENERATIONS}/toy/1.0.0.yml",
               f"name: t\nprompt_template:\n  user: |\n    {statement}\n")
        with pytest.raises(TemplateError, match=r"yml:4: \{% (import|extends) %\} takes one partial's path"):
            load_template(tmp_path, "toy")


def test_an_unknown_filter_is_a_template_problem_naming_file_and_line(tmp_path):
    # a traceback and "internal error", exit 3; lint stopped at it
    path = _write(tmp_path, f"{GENERATIONS}/toy/1.0.0.yml",
                  "name: t\nprompt_template:\n  user: |\n    {{ prefix|nosuchfilter }}\n")
    with pytest.raises(TemplateError, match=re.escape(f"{path}:4: No filter named 'nosuchfilter'")):
        load_template(tmp_path, "toy")
    assert [p for p in lint(tmp_path).problems if "nosuchfilter" in p]
