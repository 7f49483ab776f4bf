"""drop_reflection: comment lines and large blocks the model copied from the prefix are removed."""

from evalkit.postprocess.steps import drop_reflection
from tests.support.prompts import recorded, task


def _mistral(task_id: str, run: int = 0) -> str:
    rows = recorded("mistral-7b-v0.1_multiple-humaneval-py.run0.jsonl")
    return next(r["solution"] for r in rows if r["task_id"] == task_id and r["run"] == run)


def test_real_answer_repeating_the_whole_prompt_keeps_only_the_body():
    # Mistral 7B (greedy) repeated HumanEval/23's signature and docstring before the body.
    raw = _mistral("HumanEval/23")
    assert raw == ('def strlen(string: str) -> int:\n    """ Return length of given string\n'
                   "    >>> strlen('')\n    0\n    >>> strlen('abc')\n    3\n    \"\"\"\n"
                   "    return len(string)\n\n")
    assert drop_reflection(raw, prefix=task("HumanEval/23").prompt) == "    return len(string)\n\n"


def test_real_answer_whose_copied_lines_are_symbol_heavy_is_kept_whole():
    # HumanEval/22: the copied signature and doctests are rich in brackets and quotes, so under
    # the gateway's thresholds they are not prose-like reflection; the answer stays a whole
    # program, which assembly then joins with the prefix.
    raw = _mistral("HumanEval/22")
    assert raw.startswith("from typing import List, Any\n\ndef filter_integers(values: List[Any]) ->")
    assert drop_reflection(raw, prefix=task("HumanEval/22").prompt) == raw


def test_single_comment_line_from_the_prefix_goes_but_new_comments_stay():
    prefix = "import math\n\n# gcd(a, b): greatest common divisor\n"
    answer = ("# gcd(a, b): greatest common divisor\ndef gcd(a, b):\n"
              "    # Euclid's algorithm\n    return math.gcd(a, b)\n")
    assert drop_reflection(answer, prefix=prefix) == (
        "def gcd(a, b):\n    # Euclid's algorithm\n    return math.gcd(a, b)\n")


def test_short_or_symbol_heavy_repeats_stay():
    prefix = "def f(xs):\n    ys = []\n    for x in xs:\n        ys.append(x)\n    return ys\n"
    # a single repeated code line is not reflection
    assert drop_reflection("    return ys\n", prefix=prefix) == "    return ys\n"
    closing = "    }\n  }\n}\n);\n])\n"
    assert drop_reflection(closing, prefix="f(() => {\n" + closing) == closing


def test_nothing_in_common_is_unchanged():
    assert drop_reflection("    return 1\n", prefix="def one():\n") == "    return 1\n"
