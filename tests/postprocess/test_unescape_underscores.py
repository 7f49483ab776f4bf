"""unescape_underscores: Mixtral's markdown-escaped underscores become plain again."""

from evalkit.config import PROMPTS_DIR
from evalkit.postprocess import postprocess
from evalkit.postprocess.steps import unescape_underscores
from evalkit.prompts import load_template


def test_escaped_identifiers():
    raw = ("    max\\_len = 0\n    for word\\_list in words:\n"
           "        max\\_len = max(max\\_len, len(word\\_list))\n")
    assert unescape_underscores(raw) == (
        "    max_len = 0\n    for word_list in words:\n        max_len = max(max_len, len(word_list))\n")


def test_dunder_and_plain_text():
    assert unescape_underscores("if \\_\\_name\\_\\_ == '\\_\\_main\\_\\_':") == "if __name__ == '__main__':"
    assert unescape_underscores("x_y = 1\n") == "x_y = 1\n"


def test_mixtral_chain_unescapes_before_comparing_with_the_prefix():
    prefix = "import os\n\n# read_env(name): the variable's value or ''\n"
    raw = ("```python\n# read\\_env(name): the variable's value or ''\n"
           "def read\\_env(name):\n    return os.environ.get(name, '')\n```")
    steps = load_template(PROMPTS_DIR, "mixtral", "2.0.0").postprocess
    assert postprocess(raw, steps, prefix) == "def read_env(name):\n    return os.environ.get(name, '')\n"
