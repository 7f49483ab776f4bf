"""empty_if_blank: whitespace-only output becomes empty (verdict empty)."""

from evalkit.postprocess import postprocess
from evalkit.postprocess.steps import empty_if_blank


def test_whitespace_only():
    assert empty_if_blank(" \n\t\n") == ""
    assert empty_if_blank("") == ""


def test_code_keeps_its_whitespace():
    assert empty_if_blank("\n    return x\n\n") == "\n    return x\n\n"


def test_a_claude_answer_with_nothing_between_the_tags_is_empty():
    assert postprocess("<new_code>\n</new_code>", ["cut_at_stop", "empty_if_blank"], prefix="") == ""


def test_a_fence_only_answer_is_empty():
    steps = ["strip_fences", "prepend_newline", "drop_reflection", "empty_if_blank"]
    assert postprocess("```python\n```", steps, prefix="def f():\n") == ""
