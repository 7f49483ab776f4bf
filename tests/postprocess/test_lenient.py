"""lenient_extract: the first fenced block, else the <new_code> content, else the raw answer."""

from evalkit.postprocess import lenient_extract
from tests.support.prompts import recorded


def test_first_fenced_block_wins_over_prose_and_later_blocks():
    raw = "Sure! Here it is:\n```python\n    return a + b\n```\nOr:\n```python\n    return sum((a, b))\n```"
    assert lenient_extract(raw) == "    return a + b\n"


def test_unterminated_block_runs_to_the_end():
    assert lenient_extract("```python\ndef f():\n    return 1") == "def f():\n    return 1"


def test_prefilled_tags_without_fences():
    assert lenient_extract("<new_code>\n    return 1\n</new_code> done") == "\n    return 1\n"


def test_raw_without_block_is_returned_as_is():
    assert lenient_extract("    return 1\n") == "    return 1\n"


def test_recorded_gpt4_answers_match_the_recorded_extraction():
    for row in recorded("gpt-4-turbo-cot_humaneval_raw.jsonl"):
        assert lenient_extract(row["raw_output"]).strip() == row["solution"].strip(), row["task_id"]
