"""Composing configs the way Hydra does: presets with their defaults lists, stage defaults, errors."""

from __future__ import annotations

import pytest

from evalkit import hydra_app
from evalkit.config import ConfigError, ExecutorConfig, GateConfig


def test_arms_naming_presets_get_them_as_hydra_composes_them():
    rc = hydra_app.compose_run_config(["model=mixtral", "arms=[{model: claude}, {prompt: {version: 1.0.0}}]"])
    claude, mixtral = rc.arms
    assert (claude.model.name, claude.model.family, claude.model.api_key_env) == (
        "claude-3-5-sonnet", "base", "ANTHROPIC_API_KEY")
    assert claude.model.concurrency == 4  # its own value
    # only conf/model/openai_compatible.yaml, which claude.yaml names in its defaults list, has these
    assert set(claude.model.params) == {"temperature", "top_p", "max_tokens", "stop", "seed"}
    assert mixtral.model.name == "mistralai/Mixtral-8x7B-Instruct-v0.1" and mixtral.prompt.version == "1.0.0"


def test_an_arm_naming_an_unknown_preset_names_the_choices():
    with pytest.raises(ConfigError, match=r"unknown model 'clade'; did you mean 'claude'\? available: "):
        hydra_app.compose_run_config(["arms=[{model: clade}]"])


def test_the_demo_arms_follow_the_dataset_kind():
    generation = hydra_app.compose_run_config([])
    assert [arm.label for arm in generation.arms] == [
        "demo-oracle", "demo-mimic@mixtral-1.0.0", "demo-mimic@mixtral-2.0.0"]
    completion = hydra_app.compose_run_config(["dataset=infilling_single_line"])
    assert [arm.label for arm in completion.arms] == ["demo-oracle", "demo-buggy"]
    assert {arm.prompt.kind for arm in completion.arms} == {"completions"}


def test_arm_kinds_are_checked():
    with pytest.raises(ConfigError, match=r"arms\[\]\.kinds must be a list of generation, completion"):
        hydra_app.compose_run_config(["arms=[{kinds: [generations]}]"])
    with pytest.raises(ConfigError, match="no arm applies to a completion dataset"):
        hydra_app.compose_run_config(["dataset=infilling_single_line", "arms=[{kinds: [generation]}]"])


def test_stage_groups_carry_the_dataclass_defaults_and_take_overrides():
    rc = hydra_app.compose_run_config(["executor=ray", "executor.workers=3", "gate.max_drop=0.05"])
    assert rc.executor == ExecutorConfig(kind="ray", workers=3)
    assert rc.gate == GateConfig(max_drop=0.05)
    assert rc.report.formats == ("md", "html")
    assert rc.arms[0].prompt.kind == "generations" and rc.arms[0].prompt.family == "mixtral"


def test_missing_config_folder_is_not_called_a_bad_override(monkeypatch, tmp_path):
    monkeypatch.setattr(hydra_app, "CONF_DIR", tmp_path / "nowhere")
    with pytest.raises(ConfigError) as err:
        hydra_app.compose_run_config(["dataset.limit=5"])
    assert "bad override" not in str(err.value)
    assert "configuration is missing" in str(err.value) and "reinstall" in str(err.value)
