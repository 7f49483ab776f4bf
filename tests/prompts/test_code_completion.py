"""evalkit's completion templates (prompts/code_completion/): each FIM family renders a real infilling
task with the prefix and the suffix around the model's own tokens, and the dataset's kind picks them."""

from __future__ import annotations

import pytest

from evalkit.benchmarks import load_benchmark
from evalkit.config import PROMPTS_DIR, ConfigError, DatasetConfig, model_config, prompt_config
from evalkit.models.request import request_body
from evalkit.postprocess import STEPS
from evalkit.prompts import load_template, render
from evalkit.records import Api
from tests.support.cli import run_evalkit

TASK_ID = "SingleLineInfilling/HumanEval/0/L0"

# family -> (the text before the prefix, between prefix and suffix, after the suffix); None: no suffix
FIM_SHAPES = {
    "codegemma": ("<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>"),
    "qwen2p5-coder-7b": ("<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>"),
    "starcoder2": ("<fim_prefix>", "<fim_suffix>", "<fim_middle>"),
    "codellama": ("<PRE> ", " <SUF>", " <MID>"),
    "deepseekcoder": ("<｜fim▁begin｜>", "<｜fim▁hole｜>", "<｜fim▁end｜>"),
}


@pytest.fixture(scope="module")
def task():
    bench = load_benchmark(DatasetConfig(name="infilling_single_line", task_ids=(TASK_ID,)))
    return bench.tasks[0]


@pytest.mark.parametrize("family", sorted(FIM_SHAPES))
def test_fim_family_puts_prefix_and_suffix_around_its_tokens(task, family):
    template = load_template(PROMPTS_DIR, family, kind="completions")
    prompt = render(template, task)
    before, between, after = FIM_SHAPES[family]
    assert prompt.api is Api.COMPLETIONS
    assert prompt.text == before + task.prompt + between + task.suffix + after
    assert prompt.suffix == ""  # the suffix is in the text, never in a `suffix` field
    assert before.strip() in prompt.params.stop  # a FIM token ends the middle
    assert all(step in STEPS for step in template.postprocess)


def test_codestral_text_puts_the_suffix_first(task):
    prompt = render(load_template(PROMPTS_DIR, "codestral", kind="completions"), task)
    assert prompt.text == "<s>[SUFFIX]" + task.suffix + "[PREFIX]" + task.prompt
    assert "[SUFFIX]" in prompt.params.stop and prompt.params.max_tokens == 64


def test_fim_api_sends_the_prefix_as_prompt_and_the_suffix_in_its_field(task):
    template = load_template(PROMPTS_DIR, "completion_fim", kind="completions")
    prompt = render(template, task)
    body = request_body(prompt, "codestral-latest", seed=1)
    assert body["prompt"] == task.prompt and body["suffix"] == task.suffix
    # The gateway cleans up a hosted provider's middles: the template names the steps.
    assert template.postprocess == ("cut_at_fim_stop", "drop_comment_only", "keep_min_context",
                                    "trim_suffix_overlap", "empty_if_blank")


def test_text_fim_templates_send_no_suffix_field(task):
    prompt = render(load_template(PROMPTS_DIR, "codegemma", kind="completions"), task)
    assert "suffix" not in request_body(prompt, "google/codegemma-7b", seed=1)


def test_prefix_only_completion_sees_no_suffix(task):
    prompt = render(load_template(PROMPTS_DIR, "completion_text", kind="completions"), task)
    assert prompt.text == task.prompt and prompt.suffix == "" and prompt.params.stop == ("\n\n",)


def test_the_dataset_kind_picks_the_template_kind_and_a_contradiction_is_refused():
    demo = model_config({"name": "demo-oracle", "base_url": None, "family": "mixtral",
                         "fim_family": "codegemma"})
    picked = prompt_config({"family": None, "kind": None}, demo, "completion")
    assert (picked.kind, picked.family) == ("completions", "codegemma")
    assert prompt_config({"kind": None}, demo, "generation").family == "mixtral"
    with pytest.raises(ConfigError, match="the dataset is a completion set and needs completions templates; "
                                          "prompt.kind=generations does not fit it"):
        prompt_config({"kind": "generations"}, demo, "completion")


@pytest.mark.slow
def test_prompts_render_shows_codegemma_tokens_around_prefix_and_suffix(task):
    out = run_evalkit("prompts", "render", "model=codegemma", "dataset=infilling_single_line",
                      f"task={TASK_ID}")
    assert out.returncode == 0, out.stderr
    assert "# POST http://localhost:8000/v1/completions" in out.stdout
    assert "# | <|fim_prefix|>from typing import List" in out.stdout
    assert "# | <|fim_suffix|>        for idx2, elem2 in enumerate(numbers):" in out.stdout
    assert out.stdout.rstrip().endswith("# | <|fim_middle|>")
