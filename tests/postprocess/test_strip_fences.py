"""strip_fences: every markdown fence line goes, then trailing backticks."""

from evalkit.postprocess.steps import strip_fences
from tests.support.prompts import recorded

# GPT-4 Turbo's answer to HumanEval/79 (/work/shared/recorded/gpt-4-turbo-cot_humaneval_raw.jsonl).
GPT4_79_RAW = (
    '```python\ndef decimal_to_binary(decimal):\n'
    "    # Convert the decimal number to binary using bin() and remove the '0b' prefix\n"
    '    binary_str = bin(decimal)[2:]\n'
    "    # Add the 'db' prefix and suffix to the binary string\n"
    '    return f"db{binary_str}db"\n```'
)
GPT4_79_CLEAN = (
    'def decimal_to_binary(decimal):\n'
    "    # Convert the decimal number to binary using bin() and remove the '0b' prefix\n"
    '    binary_str = bin(decimal)[2:]\n'
    "    # Add the 'db' prefix and suffix to the binary string\n"
    '    return f"db{binary_str}db"\n'
)


def test_real_fenced_answer():
    assert strip_fences(GPT4_79_RAW) == GPT4_79_CLEAN


def test_every_recorded_fenced_answer_loses_its_fences():
    for row in recorded("gpt-4-turbo-cot_humaneval_raw.jsonl"):
        out = strip_fences(row["raw_output"])
        assert "```" not in out, row["task_id"]


def test_prose_around_fences_stays_and_every_fence_line_goes():
    raw = "Here is the code:\n```py\n    return a + b\n```\nIt adds.\n```\nprint(1)\n```"
    assert strip_fences(raw) == "Here is the code:\n    return a + b\nIt adds.\nprint(1)\n"


def test_untagged_fence_and_trailing_backticks_without_newline():
    assert strip_fences("```\nx = 1\n``") == "x = 1\n"


def test_backticks_inside_code_are_kept():
    code = "    s = '```'\n    return s\n"
    assert strip_fences(code) == code


def test_text_without_fences_is_unchanged():
    assert strip_fences("    return sorted(xs)\n") == "    return sorted(xs)\n"
