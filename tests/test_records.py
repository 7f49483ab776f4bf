"""The artefact records read the files evalkit writes, old and new, and name what is wrong in a bad one."""

import json
import os
import re
import shutil
import subprocess
import sys

import pytest

from evalkit.records import (
    COMPARISON_SCHEMA_VERSION,
    GATE_SCHEMA_VERSION,
    SCHEMA_VERSION,
    ComparisonResults,
    GateResults,
    NewerSchemaError,
    RecordError,
    RunResults,
    SampleResult,
    Status,
)
from evalkit.results import load_runs
from tests.support.cli import FIXTURES, REPO, run_evalkit

SCHEMA_1 = FIXTURES / "runs" / "schema_v1"


def test_schema_1_results_load_with_prices_moved_into_each_arm():
    results = RunResults.from_json(json.loads((SCHEMA_1 / "results.json").read_text()))
    assert results.schema_version == 1
    assert [arm.arm for arm in results.arms] == ["demo-oracle", "demo-buggy"]
    oracle = results.arm("demo-oracle")
    assert oracle.prices is not None and oracle.prices.prompt == 0.0
    assert oracle.pass_at_k[1].value == 1.0
    assert oracle.verdicts[Status.PASSED] == oracle.n_tasks * oracle.n_samples
    with pytest.raises(KeyError):
        results.arm("no-such-arm")


def test_schema_1_samples_load_and_write_back_unchanged():
    lines = (SCHEMA_1 / "samples.jsonl").read_text().splitlines()
    samples = [SampleResult.from_json(json.loads(line)) for line in lines]
    assert len(samples) == 16
    assert {s.key[0] for s in samples} == {"demo-oracle", "demo-buggy"}
    assert not any(s.verdict.verified for s in samples)  # decided in the program's own process
    first = json.loads(lines[0])
    again = samples[0].to_json()
    for reading in (again["verdict"], again["lenient"]["verdict"]):
        assert reading.pop("verified") is False
    assert {k: again[k] for k in first} == first


def test_new_results_carry_the_schema_version():
    results = RunResults.from_json(json.loads((SCHEMA_1 / "results.json").read_text()))
    written = json.loads(json.dumps(results.to_json()))
    assert RunResults.from_json(written | {"schema_version": SCHEMA_VERSION}).arms == results.arms


def test_a_bad_sample_names_the_field():
    line = json.loads((SCHEMA_1 / "samples.jsonl").read_text().splitlines()[0])
    line["verdict"]["status"] = "splendid"
    with pytest.raises(RecordError, match=r"verdict\.status"):
        SampleResult.from_json(line)


@pytest.mark.parametrize(("path", "value"), [
    (("sample_index",), "3"), (("sample_index",), True), (("sample_index",), -1),
    (("cached",), "yes"), (("cached",), 1), (("verdict", "verified"), "off"),
    (("latency_s",), "1.5"), (("latency_s",), -3.0), (("latency_s",), True),
    (("usage", "prompt_tokens"), -5), (("usage", "completion_tokens"), "7"),
    (("metrics", "exact_match"), 7.0), (("metrics", "edit_similarity"), -1.5),
    (("sample_index",), 10**30), (("usage", "prompt_tokens"), 10**30),
    (("verdict", "duration_s"), -1), (("ttft_s",), "0.2"),
    (("latency_s",), float("inf")), (("latency_s",), float("nan")), (("metrics", "bleu"), float("nan")),
])
def test_a_sample_with_a_wrong_type_or_out_of_range_number_is_refused(path, value):
    line = json.loads((SCHEMA_1 / "samples.jsonl").read_text().splitlines()[0])
    *parents, name = path
    holder = line
    for parent in parents:
        holder = holder.setdefault(parent, {})
    holder[name] = value
    with pytest.raises(RecordError, match=r"^" + r"\.".join(path) + ":"):
        SampleResult.from_json(line)


@pytest.mark.parametrize("cosine", [1.0000000000000002, -0.03])
def test_an_older_run_s_unclipped_cosine_still_loads(cosine):
    # embedding_cosine was written unclipped before evalkit clipped it to [0, 1]: such runs and
    # baselines were refused outright, and a committed baseline made every nightly gate exit 2.
    line = json.loads((SCHEMA_1 / "samples.jsonl").read_text().splitlines()[0])
    line["metrics"] = {"embedding_cosine": cosine}
    assert SampleResult.from_json(line).metrics["embedding_cosine"] == cosine


def test_whole_numbers_stay_valid_durations_and_similarities():
    """JSON writes 1.0 as 1 in many tools: a latency of 1 or a similarity of 0 is still a number."""
    line = json.loads((SCHEMA_1 / "samples.jsonl").read_text().splitlines()[0])
    line |= {"latency_s": 1, "ttft_s": 0, "metrics": {"exact_match": 1, "edit_similarity": 0}}
    sample = SampleResult.from_json(line)
    assert (sample.latency_s, sample.ttft_s, dict(sample.metrics)) == (1.0, 0.0, {"exact_match": 1.0,
                                                                                  "edit_similarity": 0.0})


@pytest.mark.slow  # a new Python process
def test_docs_schema_is_generated_from_the_records():
    """docs/schema.md documents every field the records have, in their own words."""
    # PYTHONPATH: the script's own folder comes first on sys.path, and it must read this checkout's records
    result = subprocess.run([sys.executable, "docs/make_schema.py", "--check"], cwd=REPO, check=False,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    assert result.returncode == 0, "docs/schema.md is stale: run python docs/make_schema.py"
    text = (REPO / "docs" / "schema.md").read_text()
    for record in (SampleResult, RunResults):
        assert all(f"| `{name}` |" in text for name in record.json_schema()["properties"])
    assert "|  |\n" not in text  # every field has its docstring


def test_docs_schema_names_only_results_json_fields_that_exist():
    """SampleResult.params pointed readers to results.json ``seed``, which no results.json has (the
    run's seed is in run.json; results.json's ``statistics.seed`` is the bootstrap's)."""
    schema = RunResults.json_schema()
    named = re.findall(r"results\.json(?:'s)? ``([\w.]+)``", (REPO / "docs" / "schema.md").read_text())
    assert named
    for dotted in named:
        node = schema
        for part in dotted.split("."):
            node = schema["$defs"][node["$ref"].rsplit("/", 1)[-1]] if "$ref" in node else node
            assert part in node.get("properties", {}), f"results.json has no {dotted}"
            node = node["properties"][part]


@pytest.mark.slow  # a whole evalkit process: the full suite, not the fast tier
def test_results_of_a_newer_schema_are_refused_not_read_or_rewritten_as_this_one(tmp_path):
    # Read as this schema, a newer evalkit's results.json lost its new fields without a word, and
    # `evalkit report` rewrote it as this schema (a checker's trial).
    run = tmp_path / "runs" / "newer"
    shutil.copytree(SCHEMA_1, run)
    newer = json.loads((run / "results.json").read_text())
    newer |= {"schema_version": SCHEMA_VERSION + 1, "new": {"x": 1}}
    (run / "results.json").write_text(written := json.dumps(newer))
    said = (rf"written by a newer evalkit \(schema_version {SCHEMA_VERSION + 1}; "
            rf"this one reads up to {SCHEMA_VERSION}\)")
    with pytest.raises(RecordError, match=said):
        RunResults.from_json(newer)
    with pytest.warns(UserWarning, match=rf"left out {re.escape(str(run))}.*{said}"):
        assert len(load_runs(tmp_path / "runs")) == 0
    proc = run_evalkit("report", str(run))
    assert proc.returncode == 2 and re.search(said, proc.stderr), proc.stderr
    assert (run / "results.json").read_text() == written


@pytest.mark.parametrize(("record", "version"), [(ComparisonResults, COMPARISON_SCHEMA_VERSION),
                                                 (GateResults, GATE_SCHEMA_VERSION)])
def test_comparison_and_gate_files_of_a_newer_schema_are_refused(record, version):
    said = rf"schema_version {version + 1}; this one reads up to {version}\)"
    with pytest.raises(NewerSchemaError, match=said):
        record.from_json({"schema_version": version + 1})
