"""Golden cases of the completion (fill-in-the-middle) steps: real-looking FIM answers, one file per step
(tests/fixtures/completion_golden/), and the lenient reading that chains them."""

from __future__ import annotations

import pytest
import yaml

from evalkit.postprocess import COMPLETION_STEPS, bind, lenient_reading
from evalkit.records import Task
from tests.support.cli import FIXTURES

GOLDEN = FIXTURES / "completion_golden"


def _cases() -> list:
    out = []
    for step in COMPLETION_STEPS:
        for case in yaml.safe_load((GOLDEN / f"{step}.yaml").read_text(encoding="utf-8")):
            out.append(pytest.param(step, case, id=f"{step}: {case['name']}"))
    return out


def test_every_completion_step_has_a_golden_file_of_several_cases():
    for step in COMPLETION_STEPS:
        assert len(yaml.safe_load((GOLDEN / f"{step}.yaml").read_text(encoding="utf-8"))) >= 5, step


@pytest.mark.parametrize(("step", "case"), _cases())
def test_golden_case(step, case):
    function = bind(step, case.get("prefix", ""), case.get("suffix", ""), case.get("language", ""),
                    case.get("stops"))
    assert function(case["raw"]) == case["expected"]


def test_lenient_reading_of_a_completion_chains_the_steps():
    task = Task(task_id="t", language="python", entry_point="add", tests="", reference="", kind="completion",
                prompt="def add(x, y):\n", suffix="    return result\n")
    raw = "    result = x + y   \n    return result\n<|file_separator|>\ndef sub(x, y):\n"
    assert lenient_reading(task, raw) == "    result = x + y   \n"
    assert lenient_reading(task, "    # add them\n<|fim_middle|>") == ""


def test_a_middle_built_to_exhaust_the_compiler_is_only_parsed_when_its_overlap_is_trimmed():
    # trim_suffix_overlap asks whether the file parses with and without the repeated lines: compiled
    # here, string constants that fold into each other would take gigabytes of the harness (an
    # attacker's bomb of ~100 KB: 4,096 sums of 4,096-character strings); parsed, a few megabytes
    import resource

    leaves = ['("\U0001F600" * 4096)' for _ in range(4096)]
    while len(leaves) > 1:
        leaves = [f"({a} + {b})" for a, b in zip(leaves[::2], leaves[1::2], strict=True)]
    trim = bind("trim_suffix_overlap", "def f():\n", "    return x\n", "python", ())
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert trim(f"    x = {leaves[0]}\n    return x\n") == f"    x = {leaves[0]}\n"
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 200_000  # KiB: no gigabytes
