"""prepend_newline: the answer starts on a new line when the prefix does not end with one."""

from evalkit.postprocess.steps import prepend_newline


def test_prefix_ending_in_a_comment_without_newline():
    prefix = "import math\n\n# gcd of a and b"
    assert prepend_newline("def gcd(a, b):\n    return math.gcd(a, b)\n", prefix=prefix) == (
        "\ndef gcd(a, b):\n    return math.gcd(a, b)\n")


def test_prefix_ending_in_newline_is_left_alone():
    assert prepend_newline("    return a\n", prefix='def f(a):\n    """Id."""\n') == "    return a\n"


def test_answer_already_starting_with_newline_or_empty():
    assert prepend_newline("\nx = 1", prefix="# x") == "\nx = 1"
    assert prepend_newline("", prefix="# x") == ""
