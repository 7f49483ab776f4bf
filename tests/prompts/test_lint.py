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
PROMPT = '"<|fim_prefix|>{{prefix}}<|fim_suffix|>{{suffix}}<|fim_middle|>"'


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
      "its prompt is in CodeGemma and Qwen2.5-Coder's FIM format without its <|fim_middle|>"]),
    (CODEGEMMA, PROMPT, PROMPT.replace("<|fim_suffix|>", "<fim_suffix>"),
     ["its prompt mixes FIM formats: <|fim_prefix|> <|fim_middle|> (CodeGemma and Qwen2.5-Coder); "
      "<fim_suffix> (StarCoder2)"]),
    (CODEGEMMA, PROMPT, PROMPT.replace("{{suffix}}", ""),
     ["its prompt is in CodeGemma and Qwen2.5-Coder's FIM format but the code below the cursor "
      "({{suffix}}) is nowhere in the request"]),
    (CODEGEMMA, '"<|file_separator|>"]', '"<fim_middle>"]',
     ["its stop '<fim_middle>' is another format's marker, <fim_middle> (StarCoder2), where its prompt "
      "is in CodeGemma and Qwen2.5-Coder's"]),
    (CODELLAMA, '"<EOT>"]', '"<EOT>", "<MIID>"]',
     ["its stop '<MIID>' has <MIID>, no model's control token: <MID>?"]),
], ids=["misspelt-middle", "starcoder-suffix", "no-suffix", "foreign-stop", "misspelt-stop"])
def test_a_completion_template_s_fim_format_is_checked(tmp_path, file, old, new, said):
    root = _registry_with(tmp_path, file, old, new)
    assert lint(root).problems == [f"{root / file}: {line}" for line in said]


def test_the_shipped_completion_templates_and_a_gateway_s_own_words_lint_clean(tmp_path):
    # What is no misspelling stays: a template's own tags (`<prefix>`, `<cursor>`) in an instruction,
    # and the code around the cursor, which may hold any token.
    assert lint(PROMPTS_DIR).problems == []
    root = _registry_with(tmp_path, CODEGEMMA, PROMPT,
                          '"<prefix>{{prefix}}</prefix><cursor/><suffix>{{suffix}}</suffix> [FIX] <|fim|>"')
    assert lint(root).problems == []


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
    problems = lint(root).problems
    assert len(problems) == 1 and problems[0].startswith(f"{section}:"), problems
    assert "exampel" in problems[0] and "(in " in problems[0]  # the templates that include it are named
