"""`evalkit prompts lint` on completion templates: a FIM format a model would read as plain text is named.

A checker's trial: a CodeGemma template with `<|fim_midle|>` and StarCoder's `<fim_suffix>` linted
valid, and the demo, which reads no tokens, still scored it 1.0; a real CodeGemma would garble
every answer.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from evalkit.config import PROMPTS_DIR
from evalkit.prompts import lint
from tests.support.cli import run_evalkit
from tests.support.prompts import FIXTURE_REGISTRY

CODEGEMMA = Path("code_completion") / "codegemma" / "1.0.0.yml"
CODELLAMA = Path("code_completion") / "codellama" / "1.0.0.yml"
CODESTRAL = Path("code_completion") / "codestral" / "1.0.0.yml"
DEEPSEEK = Path("code_completion") / "deepseekcoder" / "1.0.0.yml"
STARCODER = Path("code_completion") / "starcoder2" / "1.0.0.yml"
PROMPT = '"<|fim_prefix|>{{prefix}}<|fim_suffix|>{{suffix}}<|fim_middle|>"'
GEMMA = "CodeGemma and Qwen2.5-Coder"
ORDER = (f"its prompt is not in {GEMMA}'s FIM order: "
         "<|fim_prefix|> prefix <|fim_suffix|> suffix <|fim_middle|>")


def _registry_with(tmp_path: Path, file: Path, old: str, new: str) -> Path:
    root = tmp_path / "prompts"
    shutil.copytree(PROMPTS_DIR, root)
    text = (root / file).read_text(encoding="utf-8")
    assert old in text
    (root / file).write_text(text.replace(old, new), encoding="utf-8")
    return root


@pytest.mark.parametrize(("file", "old", "new", "said"), [
    (CODEGEMMA, PROMPT, PROMPT.replace("<|fim_middle|>", "<|fim_midle|>"),
     ["its prompt has <|fim_midle|>, no model's control token: <|fim_middle|>?",
      f"its prompt is in {GEMMA}'s FIM format without its <|fim_middle|>"]),
    (CODEGEMMA, PROMPT, PROMPT.replace("<|fim_suffix|>", "<fim_suffix>"),
     [f"its prompt mixes FIM formats: {GEMMA}'s with <fim_suffix>",
      f"its prompt is in {GEMMA}'s FIM format without its <|fim_suffix|>"]),
    (CODEGEMMA, PROMPT, PROMPT.replace("{{suffix}}", ""), [ORDER]),
    (CODEGEMMA, PROMPT, '"<|fim_prefix|>{{suffix}}<|fim_suffix|>{{prefix}}<|fim_middle|>"', [ORDER]),
    (CODEGEMMA, PROMPT, '"<|fim_prefix|>{{prefix}}<|fim_middle|>{{suffix}}<|fim_suffix|>"', [ORDER]),
    (CODEGEMMA, PROMPT, '"<|fim_suffix|>{{suffix}}<|fim_middle|>"',
     [f"its prompt is in {GEMMA}'s FIM format without its <|fim_prefix|>"]),
    (CODEGEMMA, PROMPT, PROMPT.replace("<|fim_prefix|>", "<|FIM_PREFIX|>"),
     ["its prompt has <|FIM_PREFIX|>, no model's control token: <|fim_prefix|>?",
      f"its prompt is in {GEMMA}'s FIM format without its <|fim_prefix|>"]),
    (CODESTRAL, '"<s>[SUFFIX]{{suffix}}[PREFIX]{{prefix}}"', '"<s>[PREFIX]{{prefix}}[SUFFIX]{{suffix}}"',
     ["its prompt is not in Codestral's FIM order: [SUFFIX] suffix [PREFIX] prefix"]),
    (DEEPSEEK, "<｜fim▁begin｜>{{prefix}}", "<|fim▁begin|>{{prefix}}",
     ["its prompt has <|fim▁begin|>, no model's control token: <｜fim▁begin｜>?",
      "its prompt is in DeepSeek-Coder's FIM format without its <｜fim▁begin｜>"]),
    (STARCODER, '"<fim_prefix>{{prefix}}', '"<fim-prefix>{{prefix}}',
     ["its prompt has <fim-prefix>, no model's control token: <fim_prefix>?",
      "its prompt is in StarCoder2's FIM format without its <fim_prefix>"]),
    (CODELLAMA, '"<EOT>"]', '"<EOT>", "<MIID>"]',
     ["its stop '<MIID>' has <MIID>, no model's control token: <MID>?"]),
    (CODEGEMMA, '"<|file_separator|>"]', '"<|fim_prefix>"]',
     ["its stop '<|fim_prefix>' has <|fim_prefix>, no model's control token: <|fim_prefix|>?"]),
], ids=["misspelt-middle", "starcoder-suffix", "no-suffix", "swapped", "out-of-order", "no-prefix",
        "upper-case", "codestral-reversed", "deepseek-ascii-bars", "hyphen", "misspelt-stop",
        "stop-missing-a-bar"])
def test_a_completion_template_s_fim_format_is_checked(tmp_path, file, old, new, said):
    root = _registry_with(tmp_path, file, old, new)
    assert lint(root).problems == [f"{root / file}: {line}" for line in said]


@pytest.mark.parametrize(("file", "old", "new"), [
    # StarCoder2's repository-level format, and its own tags around the code
    (STARCODER, '"<fim_prefix>{{prefix}}', '"<repo_name>shop<file_sep>cart.py\\n<fim_prefix>{{prefix}}'),
    (CODEGEMMA, PROMPT, '"<prefix>{{prefix}}</prefix><cursor/><suffix>{{suffix}}</suffix> [FIX] <|fim|>"'),
    # other models' tokens: Llama 3's end of text, DeepSeek's begin of sentence, stops of several formats
    (CODEGEMMA, '"<|file_separator|>"]',
     '"<|file_separator|>", "<|end_of_text|>", "<fim_middle>", "[SUFFIX]"]'),
    (DEEPSEEK, '"<｜fim▁begin｜>{{prefix}}', '"<｜begin▁of▁sentence｜><｜fim▁begin｜>{{prefix}}'),
    # a chat turn that only mentions a token, beside the turn that holds the code
    (CODEGEMMA, "prompt_template:\n",
     "prompt_template:\n  system: \"Never write <|fim_middle|> or <MID>.\"\n"),
], ids=["starcoder-repo-level", "own-tags", "other-models-stops", "deepseek-bos",
        "mentioned-in-a-system-turn"])
def test_what_is_no_misspelling_lints_clean(tmp_path, file, old, new):
    assert lint(_registry_with(tmp_path, file, old, new)).problems == []


def test_the_shipped_completion_templates_lint_clean():
    assert lint(PROMPTS_DIR).problems == lint(PROMPTS_DIR).warnings == []


@pytest.mark.slow  # a whole evalkit process: the full suite, not the fast tier
def test_the_command_names_the_template_and_exits_2(tmp_path):
    root = _registry_with(tmp_path, CODEGEMMA, PROMPT, PROMPT.replace("<|fim_middle|>", "<|fim_midle|>"))
    proc = run_evalkit("prompts", "lint", "--registry", str(root))
    assert proc.returncode == 2
    said = f"{root / CODEGEMMA}: its prompt has <|fim_midle|>, no model's control token: <|fim_middle|>?"
    assert said in proc.stderr


def test_the_sections_a_benchmark_leaves_empty_are_rendered_too(tmp_path):
    # The prompt enhancer's examples, related files and libraries are empty for a benchmark task, so
    # a misspelt `item.exampel` in the gateway's example section linted valid (a checker's trial),
    # and would break in the gateway the first time an editor sent an example.
    root = tmp_path / "definitions"
    shutil.copytree(FIXTURE_REGISTRY, root)
    partials = root / "code_suggestions" / "generations" / "jinja_template"
    section = next((partials / "_example_section").glob("*.jinja"))
    text = section.read_text(encoding="utf-8")
    section.write_text(text.replace("item.example", "item.exampel"), encoding="utf-8")
    # a warning, not a problem: a gateway's enhancer data may have fields the reference does not name
    report = lint(root)
    assert report.problems == [] and len(report.warnings) == 1, report.warnings
    assert report.warnings[0].startswith(f"{section}:") and "exampel" in report.warnings[0]
    assert "(in 13 templates: " in report.warnings[0]  # the templates that include it are named
    assert report.warnings[0].endswith("(with the prompt enhancer's sample data: examples, related files, "
                                       "libraries)")
    assert report.summary().endswith("are valid (1 warning above)")
