"""SamplesFile: the keys of samples.jsonl, indexed from an earlier attempt and as lines are written."""

from __future__ import annotations

import json

import pytest

from evalkit.config import ConfigError
from evalkit.samples import SamplesFile


def test_keys_of_an_earlier_attempt_and_of_written_lines(tmp_path):
    path = tmp_path / "samples.jsonl"
    earlier = json.dumps({"arm": "A", "task_id": "HumanEval/1", "sample_index": 3})
    path.write_text(earlier + '\n{"arm": "A", "task_id": "Hum')  # the last line torn by a kill
    samples = SamplesFile(path)
    assert ("A", "HumanEval/1", 3) in samples.done and len(samples.done) == 1
    assert ("A", "HumanEval/1", 0) not in samples.done and ("B", "HumanEval/1", 3) not in samples.done
    samples.write({"arm": "A", "task_id": "HumanEval/1", "sample_index": 0})
    samples.write({"arm": "B", "task_id": "HumanEval/1", "sample_index": 3})
    samples.done.add(("A", "HumanEval/1", 3))  # known already: counted once
    assert ("A", "HumanEval/1", 0) in samples.done and ("B", "HumanEval/1", 3) in samples.done
    assert len(samples.done) == 3
    samples.close()
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [(row["arm"], row["sample_index"]) for row in lines] == [("A", 3), ("A", 0), ("B", 3)]


def test_a_run_directory_holding_a_file_evalkit_did_not_write_is_refused(tmp_path):
    path = tmp_path / "samples.jsonl"
    path.write_text('{"hello": 1}\n')
    with pytest.raises(ConfigError, match=r"samples.jsonl:1: not a sample evalkit wrote .*hydra.run.dir$"):
        SamplesFile(path)
    assert path.read_text() == '{"hello": 1}\n'  # left as it was
