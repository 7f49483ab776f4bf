"""Rendering each shipped template for real HumanEval tasks and IDE-style tasks; request bodies."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evalkit.config import PROMPTS_DIR
from evalkit.models.request import request_body
from evalkit.prompts import CURSOR_MARKER, TemplateError, load_template, render
from evalkit.records import Api, Task
from tests.support.prompts import task

IDE_TASK = Task(
    task_id="ide/gcd", language="python", entry_point="gcd", tests="", reference="",
    prompt="import math\n\n\n# gcd(a, b): the greatest common divisor of two positive integers\n",
    suffix="\n\nprint(gcd(12, 18))\n", instruction="", file_name="numbers.py",
)
"""An editor-style task: the file ends in a comment saying what to write; no instruction."""

USER_DEFAULT = ("Write the code that the last comment of the existing code describes, "
                "or finish the code the existing code ends in.")


def _user_turn(prefix: str, instruction: str) -> str:
    return f"<existing_code>\n{prefix}\n</existing_code>\n\n<instruction>\n{instruction}\n</instruction>"


def test_mistral_mvp_is_one_inst_text_for_the_completions_api():
    he = task("HumanEval/0")
    prompt = render(load_template(PROMPTS_DIR, "mistral", "1.0.0"), he)
    assert prompt.api is Api.COMPLETIONS and prompt.messages == () and prompt.prefill == ""
    assert prompt.text.startswith("[INST] You are a coding assistant inside an editor. Write the Python code")
    assert prompt.text.endswith("Put only the new code between <new_code> and </new_code>. [/INST]")
    assert prompt.text.count("[INST]") == 1 and prompt.text.count("[/INST]") == 1
    # the MVP showed about 500 characters above the cursor and 500 below
    assert f"<existing_code>\n{he.prompt[-500:]}{CURSOR_MARKER}\n</existing_code>" in prompt.text
    assert f"\nInstruction: {he.instruction}\n\n" in prompt.text
    assert "1. Write valid Python code only.\n" in prompt.text
    assert prompt.params.stop == ("</new_code>",)
    assert prompt.as_json() == prompt.text


@pytest.mark.parametrize(("family", "version"),
                         [("mistral", "2.0.0"), ("mixtral", "1.0.0"), ("mixtral", "2.0.0")])
def test_registry_shape_has_a_system_turn_and_a_user_turn(family, version):
    he = task("HumanEval/0")
    template = load_template(PROMPTS_DIR, family, version)
    prompt = render(template, he)
    assert prompt.api is Api.CHAT and prompt.text == "" and prompt.prefill == ""
    assert [m.role for m in prompt.messages] == ["system", "user"]
    system, user = (m.content for m in prompt.messages)
    assert system.startswith("You are an expert Python programmer working in the file solution.py")
    assert "- Do not wrap the code in markdown fences" in system
    assert system.endswith("- If you cannot write the code, answer with an empty message.")
    assert user == _user_turn(he.prompt, he.instruction)
    assert prompt.template == template.id and prompt.postprocess == template.postprocess


def test_claude_puts_code_around_the_cursor_in_the_system_turn_and_prefills():
    he = task("HumanEval/2")
    prompt = render(load_template(PROMPTS_DIR, "base", "1.0.0"), he)
    assert [m.role for m in prompt.messages] == ["system", "user", "assistant"]
    system, user, assistant = (m.content for m in prompt.messages)
    assert f"<existing_code>\n{he.prompt}{CURSOR_MARKER}\n</existing_code>" in system
    assert "inside <new_code></new_code> tags" in system
    assert user == he.instruction
    assert assistant == prompt.prefill == "<new_code>"
    assert prompt.params.stop == ("</new_code>",)


def test_instruction_style_task_renders_for_every_family():
    for family, version in [("mistral", "1.0.0"), ("mistral", "2.0.0"), ("mixtral", "1.0.0"),
                            ("mixtral", "2.0.0"), ("base", "1.0.0")]:
        prompt = render(load_template(PROMPTS_DIR, family, version), IDE_TASK)
        shown = prompt.text or "\n".join(m.content for m in prompt.messages)
        assert "# gcd(a, b): the greatest common divisor of two positive integers" in shown, family
        assert "numbers.py" in shown, family
    mvp = render(load_template(PROMPTS_DIR, "mistral", "1.0.0"), IDE_TASK).text
    assert (f"{IDE_TASK.prompt}{CURSOR_MARKER}{IDE_TASK.suffix}\n</existing_code>" in mvp)
    assert "Instruction: write the code that the comment right above the cursor asks for" in mvp
    chat = render(load_template(PROMPTS_DIR, "mixtral", "2.0.0"), IDE_TASK)
    assert chat.messages[1].content == _user_turn(IDE_TASK.prompt, USER_DEFAULT)
    claude = render(load_template(PROMPTS_DIR, "base", "1.0.0"), IDE_TASK)
    assert f"{IDE_TASK.prompt}{CURSOR_MARKER}{IDE_TASK.suffix}" in claude.messages[0].content
    assert claude.messages[1].content == "Write the code that belongs at the cursor."


def test_fold_system_puts_the_system_text_into_the_first_user_turn():
    he = task("HumanEval/0")
    template = load_template(PROMPTS_DIR, "mistral", "2.0.0")
    plain = render(template, he)
    folded = render(template, he, fold_system=True)
    assert [m.role for m in folded.messages] == ["user"]
    assert folded.messages[0].content == plain.messages[0].content + "\n\n" + plain.messages[1].content
    claude = render(load_template(PROMPTS_DIR, "base", "1.0.0"), he, fold_system=True)
    assert [m.role for m in claude.messages] == ["user", "assistant"]  # still alternating, prefill kept


def test_request_bodies_are_exact_json():
    he = task("HumanEval/0")
    claude = request_body(render(load_template(PROMPTS_DIR, "base", "1.0.0"), he), "claude-3-5-sonnet",
                          seed=3)
    assert claude["model"] == "claude-3-5-sonnet"
    assert claude["messages"][-1] == {"role": "assistant", "content": "<new_code>"}
    assert claude["continue_final_message"] is True and claude["add_generation_prompt"] is False
    assert (claude["temperature"], claude["max_tokens"], claude["stop"]) == (0.2, 2048, ["</new_code>"])
    mvp_prompt = render(load_template(PROMPTS_DIR, "mistral", "1.0.0"), he)
    mvp = request_body(mvp_prompt, "mistralai/Mistral-7B-v0.1", seed=3, n=4)
    assert mvp["prompt"].startswith("[INST]") and "messages" not in mvp
    assert "continue_final_message" not in mvp and (mvp["n"], mvp["seed"]) == (4, 3)
    chat = request_body(render(load_template(PROMPTS_DIR, "mixtral", "1.0.0"), he), "mixtral", seed=3)
    assert "stop" not in chat and "continue_final_message" not in chat
    json.dumps([claude, mvp, chat])


def test_error_while_rendering_names_the_file(tmp_path: Path):
    path = tmp_path / "code_generation/toy/1.0.0.yml"
    path.parent.mkdir(parents=True)
    path.write_text("name: toy\nprompt_template:\n  user: |\n    Code:\n    {{ prefix.nope }}\n")
    template = load_template(tmp_path, "toy")  # statically fine: prefix is a known variable
    with pytest.raises(TemplateError, match=rf"^{path}:5: cannot render prompt_template.user: .*nope"):
        render(template, task("HumanEval/0"))


@pytest.mark.parametrize(("expression", "rendered"), [('{{ "x\\ud83d\\ude00y" }}', "x\U0001f600y"),
                                                     ('{{ "x\\ud800y" }}', None)])
def test_a_jinja_string_escape_renders_text_or_fails_naming_the_file(tmp_path: Path, expression, rendered):
    # A lone surrogate reached the request and was reported as an unreachable endpoint; an emoji
    # escaped as its two halves (json.dumps writes it so) would have failed the same way.
    path = tmp_path / "code_generation/toy/1.0.0.yml"
    path.parent.mkdir(parents=True)
    path.write_text(f"name: toy\nprompt_template:\n  user: |\n    Code:\n    {expression}\n")
    template = load_template(tmp_path, "toy")
    if rendered is None:
        with pytest.raises(TemplateError, match=rf"^{path}:4: prompt_template.user renders a lone surrogate"):
            render(template, task("HumanEval/0"))
        return
    content = render(template, task("HumanEval/0")).messages[0].content
    assert content == f"Code:\n{rendered}" and content.encode("utf-8")


def test_absent_values_render_as_the_editor_side_sends_them(tmp_path: Path):
    """No instruction is None (``{% if instruction %}`` works); the enhancer's lists are empty lists."""
    path = tmp_path / "code_generation/toy/1.0.0.yml"
    path.parent.mkdir(parents=True)
    path.write_text("name: toy\nprompt_template:\n  user: |\n"
                    "    {% if instruction is none %}none{% endif %}|{{ libraries | join(',') }}|"
                    "{{ related_files | length }}|{{ user_instruction }}\n")
    shown = render(load_template(tmp_path, "toy"), IDE_TASK).messages[0].content
    assert shown == "none||0|Write the code that the comment above the cursor asks for."
