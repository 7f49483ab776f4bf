"""Registry roots, families and versions: the gateway's layout, pre-releases and first-release files."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from evalkit.config import PROMPTS_DIR
from evalkit.prompts import MVP, TemplateError, families, lint, load_template, registry_root, versions
from evalkit.records import Api
from tests.support.prompts import FIXTURE_CHECKOUT, FIXTURE_REGISTRY

GENERATION_FAMILIES = ["base", "codegemma", "codellama", "codestral", "deepseekcoder", "gpt", "llama3",
                       "mistral", "mixtral"]
COMPLETION_FAMILIES = ["base", "codegemma", "codellama", "codestral", "completion_fim", "completion_text",
                       "deepseekcoder", "gpt", "llama3", "mistral", "qwen2p5-coder-7b"]


@pytest.mark.parametrize("pointed", [
    FIXTURE_CHECKOUT, FIXTURE_CHECKOUT / "ai_gateway", FIXTURE_CHECKOUT / "ai_gateway/prompts",
    FIXTURE_REGISTRY,
    FIXTURE_REGISTRY / "code_suggestions", FIXTURE_REGISTRY / "code_suggestions/generations",
    FIXTURE_REGISTRY / "code_suggestions/completions",
])
def test_a_checkout_the_definitions_root_and_the_folders_between_are_one_registry(pointed):
    assert registry_root(pointed) == FIXTURE_REGISTRY
    assert load_template(pointed, "mixtral").path == (
        FIXTURE_REGISTRY / "code_suggestions/generations/mixtral/1.0.0.yml")


def test_our_own_prompts_folder_is_a_registry_too():
    assert registry_root(PROMPTS_DIR) == PROMPTS_DIR
    assert registry_root(PROMPTS_DIR / "code_generation") == PROMPTS_DIR


def test_a_folder_that_holds_no_registry_is_refused(tmp_path):
    with pytest.raises(TemplateError, match="not a prompt registry: no code_suggestions/"):
        registry_root(tmp_path)
    with pytest.raises(TemplateError, match="no such registry folder"):
        registry_root(tmp_path / "missing")
    with pytest.raises(TemplateError, match="not a prompt registry: no code_suggestions/"):
        lint(tmp_path)  # one line, not a count of template problems


def test_every_family_of_both_kinds_is_found():
    assert families(FIXTURE_REGISTRY) == GENERATION_FAMILIES
    assert families(FIXTURE_REGISTRY, "completions") == COMPLETION_FAMILIES
    assert "jinja_template" not in families(FIXTURE_REGISTRY)  # partial folders hold no .yml
    assert "system" not in families(FIXTURE_REGISTRY, "completions")


def test_semantic_versions_with_pre_releases_sort_as_the_gateway_sorts_them():
    assert versions(FIXTURE_REGISTRY, "base") == ["1.0.0", "1.1.0-dev", "1.1.0", "2.0.3", "3.0.2-dev"]
    # the first-release file comes first of all
    assert versions(FIXTURE_REGISTRY, "mixtral") == [MVP, "1.0.0"]


def test_a_pre_release_is_never_the_default_but_can_be_named():
    assert load_template(FIXTURE_REGISTRY, "base").version == "2.0.3"  # not 3.0.2-dev
    named = load_template(FIXTURE_REGISTRY, "base", "3.0.2-dev")
    assert named.version == "3.0.2-dev" and named.params.max_tokens == 4096
    assert load_template(FIXTURE_REGISTRY, "base", "1.1.0-dev").params.temperature == 0.1


def test_a_first_release_file_is_picked_only_when_named_or_alone(tmp_path):
    assert load_template(FIXTURE_REGISTRY, "mistral").version == "1.0.0"
    assert load_template(FIXTURE_REGISTRY, "mistral", MVP).two_pass
    root = tmp_path / "defs"
    (root / "code_suggestions/generations").mkdir(parents=True)
    shutil.copy(FIXTURE_REGISTRY / "code_suggestions/generations/mistral.yml",
                root / "code_suggestions/generations/mistral.yml")
    assert versions(root, "mistral") == [MVP]
    assert load_template(root, "mistral").version == MVP  # a checkout of the first releases


def test_a_family_with_only_pre_releases_asks_for_a_version(tmp_path):
    root = tmp_path / "defs"
    folder = root / "code_suggestions/generations/base"
    folder.mkdir(parents=True)
    shutil.copy(FIXTURE_REGISTRY / "code_suggestions/generations/base/2.0.3.yml", folder / "4.0.0-dev.yml")
    shutil.copytree(FIXTURE_REGISTRY / "code_suggestions/generations/jinja_template",
                    root / "code_suggestions/generations/jinja_template")
    with pytest.raises(TemplateError, match=r"only pre-releases \(4.0.0-dev\); name one with prompt.version"):
        load_template(root, "base")
    assert load_template(root, "base", "4.0.0-dev").version == "4.0.0-dev"


def test_unknown_family_version_and_kind_list_what_exists():
    with pytest.raises(TemplateError, match="known families: base, codegemma, .*the gateway calls the Claude "
                                            "family 'base'"):
        load_template(FIXTURE_REGISTRY, "claude")
    # a family of the other kind only (model=qwen_coder on HumanEval): said which kind, and the dataset
    generation = families(FIXTURE_REGISTRY, "generations")
    completion_only = next(n for n in families(FIXTURE_REGISTRY, "completions") if n not in generation)
    with pytest.raises(TemplateError, match=r"it is a completions family: give a completion dataset"):
        load_template(FIXTURE_REGISTRY, completion_only)
    with pytest.raises(TemplateError,
                       match=r"version '2.0.4' of generations family base; it has 1.0.0, 1.1.0-dev, 1.1.0, "
                             r"2.0.3, 3.0.2-dev"):
        load_template(FIXTURE_REGISTRY, "base", "2.0.4")
    with pytest.raises(TemplateError, match="prompt.kind must be one of generations, completions"):
        load_template(FIXTURE_REGISTRY, "base", kind="chat")
    with pytest.raises(TemplateError, match="no completions template family 'completion_ffim'"):
        load_template(FIXTURE_REGISTRY, "completion_ffim", kind="completions")


def test_the_model_api_picks_the_newest_stable_version_written_for_it():
    # evalkit's own mistral 1.0.0 is the MVP-shaped [INST] text for Mistral 7B's completions API
    assert load_template(PROMPTS_DIR, "mistral", api=Api.COMPLETIONS).version == "1.0.0"
    assert load_template(PROMPTS_DIR, "mistral", api=Api.CHAT).version == "2.0.0"
    # a file that names its API must fit the model's; a file pinned explicitly must too
    with pytest.raises(TemplateError, match="template is for the chat API but the model is served on "
                                            "completions"):
        load_template(PROMPTS_DIR, "mistral", "2.0.0", api=Api.COMPLETIONS)


@pytest.mark.parametrize(("family", "kind"), [
    ("mistral", "generations"), ("codestral", "completions"), ("qwen2p5-coder-7b", "completions")])
def test_a_gateway_file_names_no_api_so_its_turns_decide_as_in_the_gateway(family, kind):
    # the presets mistral, codestral and qwen_coder say api=completions; the gateway's files have a
    # system turn, and the gateway sends those turns as chat messages whatever the model preset says
    for version in (None, "1.0.0"):
        template = load_template(FIXTURE_REGISTRY, family, version, api=Api.COMPLETIONS, kind=kind)
        assert (template.version, template.api, template.states_api) == ("1.0.0", Api.CHAT, False)
        assert [role for role, _, _ in template.turns] == ["system", "user"]
    # a user-only completion text still goes raw to /completions
    codegemma = load_template(FIXTURE_REGISTRY, "codegemma", api=Api.CHAT, kind="completions")
    assert codegemma.api is Api.COMPLETIONS


def test_lint_reports_a_file_in_a_family_folder_that_is_not_a_version(tmp_path: Path):
    root = tmp_path / "defs"
    shutil.copytree(FIXTURE_REGISTRY, root)
    stray = root / "code_suggestions/generations/mixtral/latest.yml"
    stray.write_text("name: x\n")
    # and a version written .yaml, which the gateway does not read either: it was skipped unsaid
    spelt = root / "code_suggestions/generations/mixtral/1.1.0.yaml"
    spelt.write_text("name: x\n")
    # and a semantic version's pre-release that PEP 440 does not read, named as such
    semver = root / "code_suggestions/generations/mixtral/2.1.0-beta.feature-x.yml"
    semver.write_text("name: x\n")
    not_a_version = ("not read: its name is not a version (a PEP 440 one of three or more parts, as the "
                     "gateway parses them: 1.2.0, 1.2.0-dev, 1.2.0rc1)")
    assert lint(root).problems == [f"{spelt}: not read: the registry reads <version>.yml, not .yaml",
                                   f"{semver}: {not_a_version}", f"{stray}: {not_a_version}"]
    # a pin of the version only the .yaml holds says why it is missing
    with pytest.raises(TemplateError, match=r"no such template version '1.1.0' of generations family "
                                            r"mixtral; it has mvp, 1.0.0 \(1.1.0.yaml is there, but the "
                                            r"registry reads <version>.yml only\)"):
        load_template(root, "mixtral", "1.1.0")
    with pytest.raises(TemplateError, match=r"\(2.1.0-beta.feature-x.yml is there, but its name is not a "
                                            r"version the gateway reads\)"):
        load_template(root, "mixtral", "2.1.0-beta.feature-x")  # lint's "not read" holds for a pin too


def test_lint_reports_two_files_of_one_version(tmp_path: Path):
    # v1.0.0.yml beside 1.0.0.yml (or 1.1.0.dev0 beside 1.1.0-dev): both loaded, lint said "valid",
    # and which one a run without a pin took depended on the order the folder listed them
    root = tmp_path / "defs"
    shutil.copytree(FIXTURE_REGISTRY, root)
    family = root / "code_suggestions/generations/mistral"
    shutil.copy(family / "1.0.0.yml", family / "v1.0.0.yml")
    assert lint(root).problems == [f"{family}: 1.0.0.yml and v1.0.0.yml name one version: which one the "
                                   "gateway serves depends on the order it lists them; keep one"]
    # and a run, `prompts render`, pinned or not, refuse it as lint does: they used one of the two
    # silently and named the version by that file in samples, reports and history (a researcher's trial)
    for pinned in ("1.0.0", "v1.0.0", None):
        with pytest.raises(TemplateError, match="1.0.0.yml and v1.0.0.yml name one version"):
            load_template(root, "mistral", pinned)
