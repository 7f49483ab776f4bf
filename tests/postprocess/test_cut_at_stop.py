"""cut_at_stop: the <new_code> prefill tag goes and the answer ends at the first stop tag."""

from evalkit.postprocess.steps import cut_at_stop


def test_prefilled_claude_answer_that_the_server_did_not_stop():
    raw = "<new_code>\n    return sorted(set(l))\n</new_code>\n\nThis removes duplicates."
    assert cut_at_stop(raw) == "\n    return sorted(set(l))\n"


def test_answer_stopped_by_the_server_only_loses_the_opening_tag():
    assert cut_at_stop("<new_code>\n    return a + b\n") == "\n    return a + b\n"


def test_mvp_answer_opening_the_tag_itself_after_whitespace():
    assert cut_at_stop(" <new_code>x = 1</new_code>") == "x = 1"


def test_tag_in_the_middle_is_only_cut_at_the_stop():
    assert cut_at_stop("Sure:\n<new_code>\nx = 1\n</new_code>") == "Sure:\n<new_code>\nx = 1\n"


def test_plain_code_is_unchanged():
    assert cut_at_stop("    return n * 2\n") == "    return n * 2\n"
