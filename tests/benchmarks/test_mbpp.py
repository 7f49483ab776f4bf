"""dataset=mbpp: refused without network permission, a clear exit 2 offline, and the row mapping."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from evalkit.benchmarks import load_tasks, mbpp
from evalkit.config import ConfigError, DatasetConfig
from evalkit.execution import program_for
from tests.support.cli import REPO, run_evalkit

# Hand-written rows in MBPP's layouts (not MBPP's own problems).
TABS = {"task_id": 901, "text": "Write a function to count the vowels in a string.",
        "code": "def count_vowels(s):\r\n\tcount = 0\r\n\tfor ch in s:\r\n\t\tif ch in 'aeiouAEIOU':\r\n"
                "\t\t\tcount += 1\r\n\treturn count",
        "test_list": ["assert count_vowels('hello') == 2", "assert count_vowels('xyz') == 0",
                      "assert count_vowels('AEIOU') == 5"],
        "test_setup_code": "", "challenge_test_list": []}
HELPERS = {"task_id": 902, "text": 'Write a function to get the n largest numbers of a list with a "heap".',
           "code": "import heapq as hq\ndef _valid(n):\n    return n >= 0\n"
                   "def largest_n(nums, n=1):\n  '''Own docstring.'''\n  assert _valid(n)\n"
                   "  return hq.nlargest(n, nums)",
           "test_list": ["assert largest_n([3, 1, 4, 1, 5], 2) == [5, 4]", "assert largest_n(DATA) == [9]"],
           "test_setup_code": "DATA = [9, 2, 7]", "challenge_test_list": []}
SANITIZED = {"source_file": "x.py", "task_id": 903, "prompt": "Return the square root of x.",
             "code": "import math\ndef root(x):\n    return math.sqrt(x)",
             "test_imports": ["import math"], "test_list": ["assert math.isclose(root(16), 4.0)"]}


def _passes(task, code: str) -> bool:
    source = program_for(task, code, task.task_id, 10).source
    return subprocess.run([sys.executable, "-c", source], capture_output=True, timeout=60,
                          check=False).returncode == 0


def test_network_not_allowed_is_a_config_error():
    with pytest.raises(ConfigError) as info:
        load_tasks(DatasetConfig(name="mbpp"))
    assert "dataset.allow_network is false" in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.slow  # starts processes: the full suite, not the fast tier
def test_cli_exits_2_with_one_line():
    out = run_evalkit("prompts", "render", "dataset=mbpp")
    assert out.returncode == 2
    expected = "evalkit: error: dataset mbpp is downloaded from the Hugging Face hub"
    assert out.stderr.strip().startswith(expected)
    assert len(out.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_network_allowed_but_offline_is_a_config_error(tmp_path):
    code = ("from evalkit.benchmarks import load_tasks\n"
            "from evalkit.config import ConfigError, DatasetConfig\n"
            "try:\n    load_tasks(DatasetConfig(name='mbpp', allow_network=True))\n"
            "except ConfigError as exc:\n    print('CONFIG', exc)\n")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "HF_HOME": str(tmp_path / "hf"),
           "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=REPO,
                         timeout=120, check=False)
    expected = "CONFIG dataset mbpp could not be loaded from the Hugging Face hub"
    assert out.stdout.startswith(expected), out.stderr
    assert "dataset.path" in out.stdout and len(out.stdout.strip().splitlines()) == 1


@pytest.mark.parametrize("row", [TABS, HELPERS, SANITIZED], ids=["tabs", "helpers", "sanitized"])
def test_row_becomes_a_task_whose_reference_passes(row):
    task = mbpp.to_task(row)
    assert task.task_id == f"MBPP/{row['task_id']}"
    assert task.prompt.splitlines()[-1].strip() == '"""'
    assert f"def {task.entry_point}(" in task.prompt
    assert "def check(candidate):" in task.tests and f"{task.entry_point}(" not in task.tests
    assert _passes(task, task.prompt + task.reference)
    assert not _passes(task, task.prompt + "    return None\n")


def test_mapping_details():
    task = mbpp.to_task(TABS)
    assert task.entry_point == "count_vowels"
    assert task.prompt.startswith('def count_vowels(s):\n    """\n    Write a function to count the vowels')
    assert "assert count_vowels('hello') == 2" in task.prompt
    assert task.reference.startswith("    count = 0\n") and "\t" not in task.reference
    helpers = mbpp.to_task(HELPERS)
    assert helpers.prompt.startswith("import heapq as hq\n\n\ndef largest_n(nums, n=1):\n")
    assert '\\"heap\\"' not in helpers.prompt and '"heap"' in helpers.prompt
    assert "Own docstring" not in helpers.reference and "def _valid(n):" in helpers.reference
    assert helpers.tests.startswith("DATA = [9, 2, 7]\n")
    assert mbpp.to_task(SANITIZED).tests.startswith("import math\n")


def test_bad_rows_name_the_problem():
    with pytest.raises(ValueError, match="missing field 'code'"):
        mbpp.to_task({k: v for k, v in TABS.items() if k != "code"})
    with pytest.raises(ValueError, match="test_list"):
        mbpp.to_task(dict(TABS, test_list=[]))


def test_local_mbpp_file_loads_without_network(tmp_path):
    path = tmp_path / "mbpp.jsonl"
    rows = [TABS, HELPERS, {"task_id": 904}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"mbpp.jsonl:3: missing field 'text'"):
        load_tasks(DatasetConfig(name="mbpp", path=str(path)))
    path.write_text("".join(json.dumps(r) + "\n" for r in [TABS, HELPERS]), encoding="utf-8")
    tasks = load_tasks(DatasetConfig(name="mbpp", path=str(path)))
    assert [t.task_id for t in tasks] == ["MBPP/901", "MBPP/902"]
