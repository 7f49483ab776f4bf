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
                    case.get("stops", ()))
    assert function(case["raw"]) == case["expected"]


def test_lenient_reading_of_a_completion_chains_the_steps():
    task = Task(task_id="t", language="python", entry_point="add", tests="", reference="", kind="completion",
                prompt="def add(x, y):\n", suffix="    return result\n")
    raw = "    result = x + y   \n    return result\n<|file_separator|>\ndef sub(x, y):\n"
    assert lenient_reading(task, raw) == "    result = x + y   \n"
    assert lenient_reading(task, "    # add them\n<|fim_middle|>") == ""
