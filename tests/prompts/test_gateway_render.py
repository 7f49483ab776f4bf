"""Every family of the gateway-layout fixture renders to the request body the gateway's way gives.

The fixture (tests/fixtures/gateway_registry) has the real registry's layout, schema, variables,
includes and stops in our own words; rendering follows the gateway's Jinja2 setting, so blank lines
left by empty sections are part of the expected text, as they are of the gateway's prompts.
"""

from __future__ import annotations

import shutil

import pytest

from evalkit.config import PROMPTS_DIR
from evalkit.models.request import request_body
from evalkit.postprocess import COMPLETION_STEPS, FIM_RAW_STEPS, postprocess
from evalkit.prompts import CURSOR_MARKER, MVP, load_template, render
from evalkit.prompts.derive import FIRST_RELEASE_STOP_WHY
from evalkit.records import Api, Task
from tests.support.prompts import FIXTURE_REGISTRY, humaneval_tasks, task

ADD = Task(task_id="t/add", language="python", entry_point="add", tests="", reference="",
           prompt='def add(a, b):\n    """Sum of a and b."""\n', instruction="Complete add.",
           suffix="\n\nprint(add(1, 2))\n", file_name="calc.py")
"""A small task with code below the cursor, so that every variable shows in the bodies."""

EMPTY_SECTION = "\n\n\n\n"
"""What an included section with nothing to say leaves between two paragraphs (the gateway's way)."""
SELF_HOSTED_SYSTEM = (
    "You write new Python code for the file 'calc.py'. Answer with code only: no explanation, no comments, "
    "no feedback." + EMPTY_SECTION + "Rules for the new code:\n1. It is valid Python.\n"
    "2. It keeps the variable, parameter and function names of the existing code.\n"
    "3. It does what the instruction says, fully.\n4. It has no comments and no explanation around it.\n"
    "5. It repeats nothing from before or after the instruction.\n"
    "6. It has no markdown and no language tags such as ```python." + EMPTY_SECTION
    + "If you cannot write the code, answer with nothing.")
MISTRAL_SYSTEM = (
    "You write new Python code for the file 'calc.py'. Answer with the code alone." + EMPTY_SECTION
    + "Rules for the new code:\n1. It is valid Python and keeps the names of the existing code.\n"
    "2. It does what the instruction says.\n"
    "3. No comments, no explanation, no markdown fences, nothing repeated from the existing code."
    + EMPTY_SECTION + "If you cannot write the code, answer with nothing.")
SELF_HOSTED_USER = ('## The code so far:\n\ndef add(a, b):\n    """Sum of a and b."""\n\n\n'
                    "## What to write next:\n  Complete add.")
COMPLETION_SYSTEM = (
    "You fill in missing Python code between a prefix and a suffix in the file 'calc.py'.\n\nRules:\n"
    "- Output code only, with no explanation.\n"
    "- The code must fit by plain concatenation between the prefix and the suffix.\n- No markdown.\n"
    "- Do not repeat or change the prefix or the suffix.\n\nIf nothing fits, output nothing.")
CODESTRAL_COMPLETION_SYSTEM = (
    "You complete Python code: write exactly the Python that joins the given 'prefix' to the given "
    "'suffix'.\n\n"
    "### Rules:\n1. Only Python code, matching the prefix and the suffix.\n"
    "2. Only the missing part; nothing repeated, no formatting, no explanation.\n\n"
    "Answer with code alone, or with nothing.")
PREFIX = 'def add(a, b):\n    """Sum of a and b."""\n'
SUFFIX = "\n\nprint(add(1, 2))\n"
MISTRAL_STOPS = ["[INST]", "[/INST]", "[PREFIX]", "[MIDDLE]", "[SUFFIX]"]


def _chat(system: str, user: str, temperature: float, max_tokens: int, **extra) -> dict:
    messages = [{"role": "system", "content": system}, {"role": "user", "content": user}]
    return {"model": "m", "messages": messages,
            "temperature": temperature, "top_p": 0.95, "max_tokens": max_tokens, "n": 1, "seed": 1} | extra


def _text(prompt: str, temperature: float, max_tokens: int, **extra) -> dict:
    return {"model": "m", "prompt": prompt, **extra.pop("before", {}), "temperature": temperature,
            "top_p": 0.95, "max_tokens": max_tokens, "n": 1, "seed": 1} | extra


GENERATION_BODIES = {
    "codegemma": _chat(SELF_HOSTED_SYSTEM, SELF_HOSTED_USER, 0.95, 512),
    "codellama": _chat(SELF_HOSTED_SYSTEM, SELF_HOSTED_USER, 0.95, 256),
    "gpt": _chat(SELF_HOSTED_SYSTEM, SELF_HOSTED_USER, 1.0, 512),
    "llama3": _chat(SELF_HOSTED_SYSTEM, SELF_HOSTED_USER, 0.2, 256),  # only max_tokens in the file
    "mistral": _chat(MISTRAL_SYSTEM, SELF_HOSTED_USER, 0.95, 256),
    "mixtral": _chat(MISTRAL_SYSTEM, SELF_HOSTED_USER, 0.2, 2048),  # no model key: the gateway's defaults
    "deepseekcoder": _chat(
        "You are a programming assistant built on the DeepSeek Coder model; you answer programming questions "
        "only.\n" + SELF_HOSTED_SYSTEM, SELF_HOSTED_USER + "\n### Response:", 0.95, 512),
    "codestral": _chat(
        "You write new Python code for the file 'calc.py'." + EMPTY_SECTION + "STRICT OUTPUT RULES:\n"
        "1. Send ONLY the new code.\n2. Never send:\n   - markdown fences (```)\n   - a language name\n"
        "   - comments or explanations\n   - code that is already in the file\n"
        "3. Send an empty answer if you cannot write it." + EMPTY_SECTION + "REMEMBER: raw code only.",
        'The code so far: def add(a, b):\n    """Sum of a and b."""\n\n  Complete add.\n\n'
        "STRICT OUTPUT RULES:\n1. Only the code that was asked for.\n2. Nothing that is not code.\n"
        "3. Short code that runs as it is.\n4. An empty answer when nothing fits.", 0.3, 256),
}

COMPLETION_BODIES = {
    "codegemma": _text(f"<|fim_prefix|>{PREFIX}<|fim_suffix|>{SUFFIX}<|fim_middle|>", 0.95, 128,
                       stop=["<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>", "<|file_separator|>"]),
    "codellama": _text(f"<PRE> {PREFIX} <SUF> {SUFFIX} <MID>", 0.95, 128,
                       stop=["<PRE>", "<SUF>", "<MID>", "<EOT>"]),
    "deepseekcoder": _text(f"<｜fim▁begin｜>{PREFIX}<｜fim▁hole｜>{SUFFIX}<｜fim▁end｜>", 0.2, 128),
    # the FIM API: the prefix alone, the suffix in the request's own field
    "completion_fim": _text(PREFIX, 0.32, 64, before={"suffix": SUFFIX},
                            stop=["[PREFIX]", "[MIDDLE]", "[SUFFIX]", "</s>[SUFFIX]"]),
    "completion_text": _text(PREFIX, 0.32, 64, stop=["\n\n"]),
    "codestral": _chat(CODESTRAL_COMPLETION_SYSTEM, f"<s>[SUFFIX]{SUFFIX}[PREFIX]{PREFIX}", 0.32, 64,
                       stop=MISTRAL_STOPS),
    "mistral": _chat(COMPLETION_SYSTEM, f"<s>[SUFFIX]{SUFFIX}[PREFIX]{PREFIX}", 0.2, 64, stop=MISTRAL_STOPS),
    "qwen2p5-coder-7b": _chat(
        CODESTRAL_COMPLETION_SYSTEM, f"<|fim_prefix|>{PREFIX}<|fim_suffix|>{SUFFIX}<|fim_middle|>", 0.95, 48,
        stop=["<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>", "<|fim_pad|>", "<|repo_name|>",
              "<|file_sep|>", "<|im_start|>", "<|im_end|>", "\n\n"]),
    "base": _chat(COMPLETION_SYSTEM, f"The file 'calc.py' (Python) has a gap.\n<prefix>\n{PREFIX}\n"
                  f"</prefix>\n<suffix>\n{SUFFIX}\n</suffix>\nWrite only the code that fills the gap.",
                  0.2, 128),
    "llama3": _chat(COMPLETION_SYSTEM, f"The code around the gap:\n{PREFIX}\n|GAP|\n{SUFFIX}\n\n"
                    "Write only the code that replaces |GAP|, nothing else.", 0.2, 64),
    "gpt": _chat("You are a fill-in-the-middle completion engine. You get the code before a gap and the code "
                 "after it.\nOutput only the smallest piece of code that fits the gap, with no markers and "
                 "no padding.",
                 f"------\nLanguage: Python\n\n<|prefix|>{PREFIX}<|suffix|>{SUFFIX}", 0.0, 64),
}


@pytest.mark.parametrize("family", sorted(GENERATION_BODIES))
def test_self_hosted_generation_bodies(family):
    prompt = render(load_template(FIXTURE_REGISTRY, family), ADD)
    assert request_body(prompt, "m", seed=1) == GENERATION_BODIES[family]


@pytest.mark.parametrize("family", sorted(COMPLETION_BODIES))
def test_completion_bodies_carry_prefix_suffix_and_fim_tokens(family):
    prompt = render(load_template(FIXTURE_REGISTRY, family, kind="completions"), ADD)
    assert request_body(prompt, "m", seed=1) == COMPLETION_BODIES[family]


def test_the_claude_family_puts_the_file_around_the_cursor_marker_and_prefills():
    he = task("HumanEval/0")
    template = load_template(FIXTURE_REGISTRY, "base")
    body = request_body(render(template, he), "claude", seed=1)
    system, user, assistant = (m["content"] for m in body["messages"])
    assert system.startswith("You are a precise assistant that writes new Python code into the\n"
                             "file 'solution.py', following what the user asks.\n")
    # the existing-code section: content above the cursor, the literal marker, content below (none here)
    assert f"\n<existing_code>\n{he.prompt}{CURSOR_MARKER}\n</existing_code>\n" in system
    assert "where the {{cursor}} marker stands." in system  # {% raw %} prints the marker itself
    assert user == he.instruction and assistant == "<new_code>"
    assert (body["continue_final_message"], body["add_generation_prompt"]) == (True, False)
    assert (body["temperature"], body["max_tokens"], body["stop"]) == (0.2, 2048, ["</new_code>"])


def test_a_partial_that_includes_partials_renders_them_all():
    template = load_template(FIXTURE_REGISTRY, "base", "3.0.2-dev")
    assert ("code_suggestions/generations/jinja_template/_existing_code_section/1.0.0.jinja"
            in template.partials)
    system = render(template, ADD).messages[0].content
    assert f"<existing_code>\n{PREFIX}{CURSOR_MARKER}{SUFFIX}\n</existing_code>" in system


@pytest.mark.parametrize("family", ["mistral", "mixtral"])
def test_the_first_release_file_is_a_raw_inst_text_with_its_placeholders_filled(family):
    template = load_template(FIXTURE_REGISTRY, family, MVP)
    assert template.two_pass
    # the text is a whole [INST] conversation: a raw prompt (Mistral 7B v0.1 has no chat template), not a
    # chat message the server's template would wrap in a second [INST]
    assert template.api is Api.COMPLETIONS
    assert template.derived[0].startswith("api=completions: a user-only text that writes its own [INST]")
    assert render(template, ADD).text == (
        "<s>[INST] You write new Python code for the file 'calc.py'. Answer with code only: no explanation, "
        "no comments.\n\nRules for the new code:\n1. It is valid Python.\n"
        "2. It keeps the names of the existing code.\n3. It does what the instruction says.\n"
        "4. No comments and no explanation around it.\n\n"
        "If you cannot write the code, answer with nothing.\n[/INST]\n\n[INST]\n## The code so far:\n\n"
        f"{PREFIX}\n\n## What to write next:\n"
        # As shipped: the Jinja2 pass ran before any request, so `{% if instruction %}` was always false.
        "  Write the code this file needs next.\n\n[/INST]")


@pytest.mark.parametrize("family", ["mistral", "mixtral"])
def test_the_first_release_file_is_sent_the_500_characters_above_the_cursor_as_its_editor_sent_them(family):
    # "the last ~500 characters above the cursor": sent whole, 44 of HumanEval's prompts showed the model
    # a signature the first releases never did, and their baseline was measured on more than they had.
    template = load_template(FIXTURE_REGISTRY, family, MVP)
    long = next(t for t in humaneval_tasks() if t.task_id == "HumanEval/129")
    text = render(template, long).text
    assert len(long.prompt) > 1000 and long.prompt[-500:] in text and long.prompt[-501:] not in text
    assert render(template, ADD).text.count(PREFIX) == 1  # a short file is sent whole


def test_a_task_without_a_language_renders_the_optional_language_away():
    nameless = Task(task_id="t/x", language="", entry_point="", tests="", reference="", prompt="x = 1\n")
    system = render(load_template(FIXTURE_REGISTRY, "codegemma"), nameless).messages[0].content
    assert system.startswith("You write new  code for the file 'solution.py'.")


def test_the_fim_api_family_sends_its_suffix_in_the_request_s_field_though_its_file_names_no_api():
    # The reference's completion_fim file has no key that names the FIM API (evalkit's own has
    # completion_type: fim): the family is the FIM API's, and its suffix went nowhere (the model saw
    # only the code above the cursor, and nothing said so).
    template = load_template(FIXTURE_REGISTRY, "completion_fim", kind="completions")
    assert "model.params.completion_type" not in dict(template.unsent)
    assert request_body(render(template, ADD), "m", seed=1)["suffix"] == SUFFIX
    assert any(line.startswith("suffix in the request's suffix field") for line in template.derived)
    # said too where the file asks for the FIM API itself (evalkit's own): the rendered prompt shows
    # the prefix alone, and nothing said where the suffix went
    own = load_template(PROMPTS_DIR, "completion_fim", kind="completions")
    assert "suffix in the request's suffix field: the file's model.params.completion_type: fim" in own.derived


@pytest.mark.parametrize("family", sorted(COMPLETION_BODIES))
def test_hosted_completions_get_the_gateway_s_completion_steps_and_self_hosted_ones_none(family):
    # "Today it applies no post-processing to self-hosted completion models": Claude (base), GPT and
    # Mistral's FIM API are hosted, so the gateway's steps are their faithful reading.
    template = load_template(FIXTURE_REGISTRY, family, kind="completions")
    hosted = family in ("base", "gpt", "completion_fim")
    assert template.postprocess == (COMPLETION_STEPS if hosted else FIM_RAW_STEPS)
    # a middle that writes the suffix's first line again: the gateway's steps trim it from a hosted answer
    middle = "    return a + b\nprint(add(1, 2))\n"
    cleaned = postprocess(middle, template.postprocess, PREFIX, SUFFIX, "python", template.params.stop)
    assert cleaned == ("    return a + b\n" if hosted else middle)


@pytest.mark.parametrize("family", ["mistral", "mixtral"])
def test_the_first_release_files_stop_at_the_closing_tag_the_gateway_s_code_set(family):
    # "Stop sequence for mistral and mixtral: </new_code>": the first releases' files carry none, the
    # gateway's code set it; the answer was sent unstopped and run with its tags.
    template = load_template(FIXTURE_REGISTRY, family, MVP)
    assert request_body(render(template, ADD), "m", seed=1)["stop"] == ["</new_code>"]
    assert f"stop=[</new_code>]: {FIRST_RELEASE_STOP_WHY}" in template.derived
    answer = "<new_code>\n    return a\\_b + 1\n"  # the server stopped it at </new_code>
    cleaned = postprocess(answer, template.postprocess, PREFIX, "", "python", template.params.stop)
    assert cleaned == ("\n    return a_b + 1\n" if family == "mixtral" else "\n    return a\\_b + 1\n")


def test_another_family_s_first_release_file_gets_no_mistral_stop(tmp_path):
    # The gateway's code set </new_code> for mistral and mixtral, the first releases' two families
    root = tmp_path / "definitions"
    shutil.copytree(FIXTURE_REGISTRY, root)
    generations = root / "code_suggestions" / "generations"
    shutil.copy(generations / "mistral.yml", generations / "codegemma.yml")
    template = load_template(root, "codegemma", MVP)
    assert template.params.stop == () and template.postprocess[0] != "cut_at_stop"
