"""Public API over finished runs, for notebooks, `compare`, `gate` and reporting.

Everything here reads files a run wrote (samples.jsonl and results.json, whose schema is the
records ``SampleResult`` and ``RunResults`` in evalkit/records.py, see docs/schema.md) and
returns pandas frames or those records:

    load_samples(run_dir)   one row per sample, flattened columns
    load_results(run_dir)   the results.json record (``RunResults``)
    load_comparison(out)    the comparison.json of `evalkit compare` (``ComparisonResults``)
    load_gate(out)          the gate.json of `evalkit gate` (``GateResults``)
    load_runs(root)         one row per arm across every run under ``root``
    load_templates(root)    one row per distinct template recorded under ``root``
    task_pass_rates(df)     per-task pass rate of each arm (the paired statistics' input)
    natural_key(task_id)    sort key: HumanEval/2 before HumanEval/10
    source_diff(a, b)       unified diff of two recorded templates

Status columns hold ``Status`` members, so filters read
``df[df.status == Status.FAILED]``; ``passed``/``lenient_passed`` are booleans.
Labels that repeat over many samples (arm, task_id, status, ...: ``CATEGORICAL_COLUMNS``)
are pandas categoricals, so group by them with ``observed=True``.
"""

from __future__ import annotations

import codecs
import difflib
import itertools
import json
import math
import os
import re
import warnings
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Sequence, TypeVar

import numpy as np
import pandas as pd
from pandas.api.types import union_categoricals

from evalkit.config import ConfigError
from evalkit.records import (
    ArmResult,
    ComparisonResults,
    GateResults,
    Interval,
    NewerSchemaError,
    RecordError,
    RunResults,
    SampleResult,
    Status,
    TemplateSource,
    non_finite_field,
    valid_strings,
)

SAMPLE_COLUMNS = (
    "run_id", "arm", "model", "template_family", "template_version", "template_sha256",
    "task_id", "sample_index", "status", "passed", "lenient_status", "lenient_passed",
    "detail", "latency_s", "prompt_tokens", "completion_tokens", "cached", "completion",
    "raw_output", "finish_reason", "duration_s", "lenient_completion", "lenient_detail", "prompt",
    "verified", "ttft_s", "answered_by",
)
"""Columns of ``load_samples`` (``metric_<name>`` columns follow these)."""

CATEGORICAL_COLUMNS = (
    "run_id", "arm", "model", "template_family", "template_version", "template_sha256",
    "task_id", "status", "lenient_status", "detail", "finish_reason", "lenient_detail", "answered_by",
)
"""``load_samples`` columns held as pandas categoricals: their few distinct values repeat over
thousands of samples, so each value is stored once and rows hold small integer codes.
Categories are sorted, so grouping (with ``observed=True``: pandas otherwise adds empty
groups for absent categories) orders keys as it would plain strings."""

_DTYPES: dict[str, Any] = {
    "sample_index": "int64", "passed": bool, "lenient_passed": bool, "latency_s": "float64",
    "prompt_tokens": "int32", "completion_tokens": "int32", "cached": bool, "duration_s": "float64",
    "verified": bool, "ttft_s": "float64",
} | dict.fromkeys(CATEGORICAL_COLUMNS, "category")
"""dtypes of the ``load_samples`` columns other than free text (completions and prompts are
objects, metrics float64). Sample indexes come from input files as any integer; token counts
of one sample fit 32 bits."""

READ_CHUNK = 2_000
"""Samples held as Python objects at a time before their values go into the frame's columns:
a flattened sample takes about 1.5 kB as objects, under 60 bytes in the columns."""

_KEY = ["arm", "task_id", "sample_index"]


RUN_FILE = "run.json"
"""In a run directory: ``{"run_id", "seed", "endpoints"}``, the run's id from its first attempt on and
(`evalkit run`) its seed and each arm's endpoint identity as its first probe found it, so that every
attempt goes on under one id and a run resumed with another seed or against another endpoint is refused
(``require_same_seed``, ``require_same_endpoint``)."""


def _run_file(run_dir: Path) -> dict:
    """RUN_FILE's object ({} where there is none or it cannot be read)."""
    try:
        data = json.loads((run_dir / RUN_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def run_seed(run_dir: Path) -> int | None:
    """The seed RUN_FILE records for a run made by `evalkit run` (None for other runs: `evalkit
    score`, or a directory an evalkit before run.json's seed wrote)."""
    seed = _run_file(run_dir).get("seed")
    return seed if isinstance(seed, int) and not isinstance(seed, bool) else None


def flatten_sample(obj: Any, where: str = "sample") -> dict[str, Any]:
    """One samples.jsonl object (a ``SampleResult``) as a flat row (ConfigError naming ``where``)."""
    try:
        sample = SampleResult.from_json(obj)
    except RecordError as exc:
        raise ConfigError(f"{where}: not a sample record ({exc})") from None
    verdict, lenient, template = sample.verdict, sample.lenient, sample.template
    row = {
        "run_id": sample.run_id, "arm": sample.arm, "model": sample.model,
        "template_family": template.family if template else "",
        "template_version": template.version if template else "",
        "template_sha256": template.sha256 if template else "",
        "task_id": sample.task_id, "sample_index": sample.sample_index,
        "status": verdict.status, "passed": verdict.passed,
        "lenient_status": lenient.verdict.status, "lenient_passed": lenient.verdict.passed,
        "detail": verdict.detail, "latency_s": sample.latency_s,
        "prompt_tokens": sample.usage.prompt_tokens, "completion_tokens": sample.usage.completion_tokens,
        "cached": sample.cached, "completion": sample.completion, "raw_output": sample.raw_output,
        "finish_reason": sample.finish_reason, "duration_s": verdict.duration_s,
        "lenient_completion": lenient.completion, "lenient_detail": lenient.verdict.detail,
        "prompt": sample.prompt, "verified": verdict.verified,
        "ttft_s": float("nan") if sample.ttft_s is None else sample.ttft_s,
        # canonical JSON text: a categorical column of few values, counted per arm (aggregate_arm)
        "answered_by": "" if sample.answered_by is None else json.dumps(
            sample.answered_by, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str),
    }
    for name, value in sample.metrics.items():
        row[f"metric_{name}"] = value
    return row


def samples_frame(objects: Iterable[Mapping[str, Any]], source: str = "sample",
                  without: Sequence[str] = (), size: int | None = None) -> pd.DataFrame:
    """A tidy frame from sample objects; a later record for the same (arm, task, sample) wins.

    ``without`` names text columns to leave out: each row is trimmed as it is read, so a
    frame of 100,000 samples need not hold every prompt. ``size`` is at least the number of
    objects (a file's line count): each column that is not categorical is then allocated once
    and filled chunk by chunk, never held twice; without it the objects are counted first, in
    a list.
    """
    if size is None:
        objects = list(objects)
        size = len(objects)
    rows = (flatten_sample(obj, f"{source} {number}") for number, obj in enumerate(objects, 1))
    return _frame(rows, without, size)


def _frame(rows: Iterator[dict[str, Any]], without: Sequence[str], size: int) -> pd.DataFrame:
    """``samples_frame`` of flattened rows, at most ``size`` of them."""
    dropped = set(without)
    arrays: dict[str, np.ndarray] = {}  # numeric and text columns, ``size`` long
    pieces: dict[str, list[pd.Categorical]] = {}  # categorical columns, a piece per chunk
    n_rows = 0
    for count, chunk in _chunks(rows, dropped):
        for name, values in chunk.items():
            if name in CATEGORICAL_COLUMNS:
                pieces.setdefault(name, []).append(pd.Categorical(values))
                continue
            if name not in arrays:  # a metric first seen here is NaN in the rows before
                arrays[name] = (np.full(size, np.nan) if name.startswith("metric_")
                                else np.empty(size, dtype=_DTYPES.get(name, object)))
            arrays[name][n_rows:n_rows + count] = values
        n_rows += count
    columns = ([name for name in SAMPLE_COLUMNS if name not in dropped]
               + sorted(name for name in arrays if name.startswith("metric_")))
    if not n_rows:
        return pd.DataFrame({name: pd.Series(dtype=_DTYPES.get(name, object)) for name in columns})
    # copy=False: the columns stay the arrays filled above, not copied into a 2-d block per dtype.
    frame = pd.DataFrame({name: union_categoricals(pieces.pop(name), sort_categories=True)
                          if name in CATEGORICAL_COLUMNS else arrays[name][:n_rows] for name in columns},
                         copy=False)
    # samples.jsonl is append-only: a resumed run may append a sample again.
    repeated = frame.duplicated(subset=_KEY, keep="last")
    if repeated.any():  # only then: filtering copies the whole frame
        frame = frame[~repeated].reset_index(drop=True)
    return frame


def _chunks(rows: Iterator[dict[str, Any]], dropped: set[str]) -> Iterator[tuple[int, dict[str, list[Any]]]]:
    """``READ_CHUNK`` flattened rows at a time, less the ``dropped`` columns: their count and
    their values column by column (one list per column costs far less than one dict per row)."""
    while True:
        chunk: dict[str, list[Any]] = {}
        count = 0
        for row in itertools.islice(rows, READ_CHUNK):
            for name, value in row.items():
                if name in dropped:
                    continue
                if name not in chunk:  # a metric first seen here: None in the rows before
                    chunk[name] = [None] * count
                chunk[name].append(value)
            count += 1
            for values in chunk.values():
                if len(values) < count:  # a metric this row lacks
                    values.append(None)
        if not count:
            return
        yield count, chunk


def _line_count(path: Path) -> int:
    """Lines of a file (the last one even without its newline): at least its records. 0 for a
    missing file, which reading it then reports."""
    if not path.is_file():
        return 0
    with path.open("rb") as handle:
        return sum(block.count(b"\n") for block in iter(lambda: handle.read(1 << 20), b"")) + 1


def _samples_path(run_dir: Path | str) -> Path:
    path = Path(run_dir)
    return path if path.is_file() else path / "samples.jsonl"


def read_sample_objects(path: Path) -> list[dict[str, Any]]:
    """The JSON objects of a samples.jsonl file (ConfigError naming the bad line)."""
    return list(iter_sample_objects(path))


def iter_sample_objects(path: Path) -> Iterator[dict[str, Any]]:
    """The JSON objects of a samples.jsonl file, one at a time (ConfigError naming the bad line)."""
    return (obj for _, obj in _numbered_sample_objects(path))


def _numbered_sample_objects(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """The JSON objects of a samples.jsonl file with their line numbers (blank lines are skipped, so
    the n-th object need not be on line n)."""
    if not path.is_file():
        raise ConfigError(f"no samples file at {path}")
    # Bytes, decoded line by line: a line that is not UTF-8 is named like a malformed one.
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, 1):
            line = _utf8(raw, f"{path}:{number}")
            if not line.strip():
                continue
            finite = True
            try:
                obj = _FINITE_DECODER.decode(line)
            except _NonFinite:  # decoded again, as Python reads it, to name the field
                obj, finite = json.loads(line), False
            except json.JSONDecodeError as exc:
                problem = _json_problem(exc, line=False)
                raise ConfigError(f"{path}:{number}: malformed JSON ({problem})") from None
            if not isinstance(obj, dict):
                raise ConfigError(f"{path}:{number}: expected a JSON object")
            if not finite and (field := non_finite_field(obj)) is not None:
                raise ConfigError(f"{path}:{number}: not a sample record ({field}: not a finite number)")
            # a lone surrogate (a hand edit, or an evalkit before valid_text) crashed every report
            yield number, valid_strings(obj) if _SURROGATE_ESCAPE.search(line) else obj


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
"""JSON's escape of a UTF-16 surrogate: the lines whose strings ``valid_strings`` must look at."""



class _NonFinite(Exception):
    """A samples line holds NaN, Infinity or a number too large for a float (``1e400``)."""


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise _NonFinite
    return value


def _refuse_constant(text: str) -> float:
    raise _NonFinite


_FINITE_DECODER = json.JSONDecoder(parse_float=_finite_float, parse_constant=_refuse_constant)
"""Decodes a samples line and stops at a number no report can write, which only a hand edit or
another tool puts there. A regular expression that picked such lines out before decoding cost 5
times what decoding does (53 against 12 us a line of a demo run)."""


def _json_problem(exc: json.JSONDecodeError, *, line: bool) -> str:
    """What the parser found and where (``Invalid control character at column 51``): its ``msg``
    alone ends in a bare "at" for some problems."""
    where = f"line {exc.lineno} column {exc.colno}" if line else f"column {exc.colno}"
    return f"{exc.msg} {where}" if exc.msg.endswith(" at") else f"{exc.msg} at {where}"


def _utf8(raw: bytes, where: str) -> str:
    """The text of bytes a run wrote (UTF-8); ConfigError naming ``where`` when they are not. A byte
    order mark, which Windows editors add to a file they save, is dropped (`evalkit score` takes it too)."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{where}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start}); "
                          "not a file evalkit wrote") from None


def load_samples(run_dir: Path | str, without: Sequence[str] = ()) -> pd.DataFrame:
    """Every sample of a run (its directory or its samples.jsonl), one row per sample.

    Columns: ``SAMPLE_COLUMNS`` (less any named in ``without``, e.g. ``("prompt",)``)
    then ``metric_<name>`` for each similarity metric.
    """
    path = _samples_path(run_dir)
    rows = (flatten_sample(obj, f"{path}:{number}") for number, obj in _numbered_sample_objects(path))
    return _frame(rows, without, _line_count(path))


def refuse_run_dir_as_output(out_dir: Path | str, what: str) -> None:
    """ConfigError when ``out_dir`` is a run directory (it holds results.json or samples.jsonl): a
    comparison's or gate's files have the names of the run's own reports (report.md, junit.xml,
    metrics.txt) and would replace them."""
    if any(os.path.lexists(Path(out_dir) / name) for name in ("results.json", "samples.jsonl")):
        raise ConfigError(f"cannot write the {what} to {out_dir}: it is a run directory (it holds "
                          "results.json or samples.jsonl) whose own reports it would overwrite; "
                          "give another -o")


def run_identity(run_dir: Path | str, run_id: str) -> tuple[str, bytes]:
    """What names one run wherever its folder is copied: its id and the first line of its samples. A
    copy and its original share both, also once either was resumed (each attempt has a start time of
    its own); two runs do not, even where an evalkit before run ids had suffixes named both after
    one folder."""
    try:
        with open(Path(run_dir) / "samples.jsonl", "rb") as fh:
            # a copy an editor saved (a byte order mark, CRLF line ends, a trailing space) is the same run
            return run_id, fh.readline().removeprefix(codecs.BOM_UTF8).strip()
    except OSError:
        return run_id, b""


def run_name_of(run_dir: Path | str) -> str:
    """The name a run directory gives its run: its own name, with the sweep's for a sweep job
    (whose directories are 0, 1, ...). It names files made from the run (a blessed baseline);
    the run's id adds a suffix of its own (rundir.run_id_of)."""
    run_dir = Path(os.path.abspath(run_dir))  # `evalkit baseline bless .` named its file humaneval_.json
    return f"{run_dir.parent.name}-{run_dir.name}" if run_dir.name.isdigit() else run_dir.name


def load_results(run_dir: Path | str) -> RunResults:
    """The results.json of a run (its directory or the file itself), schema 1 or 2."""
    path = Path(run_dir)
    given_dir = path.is_dir()
    if given_dir:
        path = path / "results.json"
    if not path.is_file():
        unfinished = given_dir and (path.parent / "samples.jsonl").is_file()
        raise ConfigError(f"no results.json at {path}" + (
            " (the run did not finish: start it again with the same hydra.run.dir to finish it)"
            if unfinished else ""))
    return _record_file(path, RunResults, "results.json")


def load_comparison(path: Path | str) -> ComparisonResults:
    """The comparison.json `evalkit compare` wrote (its output folder or the file itself)."""
    return _record_file(_named_file(Path(path), "comparison.json"), ComparisonResults, "comparison.json")


def load_gate(path: Path | str) -> GateResults:
    """The gate.json `evalkit gate` wrote (its output folder or the file itself)."""
    return _record_file(_named_file(Path(path), "gate.json"), GateResults, "gate.json")


def _named_file(path: Path, name: str) -> Path:
    path = path / name if path.is_dir() else path
    if not path.is_file():
        raise ConfigError(f"no {name} at {path}")
    return path


def _record_file(path: Path, record: type[_File], kind: str) -> _File:
    """The record of the JSON file at ``path`` (a ``kind``); ConfigError naming the file and what is wrong."""
    try:
        obj = json.loads(_utf8(path.read_bytes(), str(path)))
        if (field := non_finite_field(obj)) is not None:
            raise RecordError(f"{field}: not a finite number")
        return record.from_json(obj)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: malformed JSON ({_json_problem(exc, line=True)})") from None
    except NewerSchemaError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    except RecordError as exc:
        raise ConfigError(f"{path}: not a {kind} ({exc})") from None


_File = TypeVar("_File", RunResults, ComparisonResults, GateResults)


def _interval_columns(prefix: str, table: Mapping[Any, Interval]) -> dict[str, Any]:
    row: dict[str, Any] = {}
    for key, cell in table.items():
        row |= {f"{prefix}{key}": cell.value, f"{prefix}{key}_low": cell.ci_low,
                f"{prefix}{key}_high": cell.ci_high}
    return row


def arm_row(results: RunResults, arm: ArmResult) -> dict[str, Any]:
    """One flat row for one arm of a run."""
    template = arm.template
    row: dict[str, Any] = {
        "run_id": results.run_id, "started_at": results.started_at,
        "dataset": results.dataset.name, "dataset_sha256": results.dataset.content_sha256,
        "arm": arm.arm, "model": arm.model, "synthetic": arm.synthetic,
        "template_family": template.family if template else None,
        "template_version": template.version if template else None,
        "template_sha256": template.sha256 if template else None,
        "n_samples": arm.n_samples, "n_tasks": arm.n_tasks, "unverified": arm.unverified,
        # the sampling parameters sent (a temperature sweep's arms were alike rows without them)
        **{f"param_{key}": value if not isinstance(value, list | tuple) else tuple(value)
           for key, value in arm.params.items()},
        # why the run exited 2 (None: it did not): such a row read as a healthy run's
        "problem": results.problems[0] if results.problems else None,
    }
    row |= _interval_columns("pass@", arm.pass_at_k)
    row |= _interval_columns("lenient_pass@", arm.pass_at_k_lenient)
    row |= _interval_columns("metric_", arm.metrics)
    row |= {f"verdict_{status.value}": count for status, count in arm.verdicts.items()}
    row |= {"latency_p50": arm.latency_s.p50, "latency_p95": arm.latency_s.p95,
            "prompt_tokens": arm.tokens.prompt, "completion_tokens": arm.tokens.completion, "cost": arm.cost}
    return row


def load_runs(root: Path | str = "reports") -> pd.DataFrame:
    """One row per arm of every results.json under ``root`` (searched recursively).

    A ``run_dir`` column says where each came from, and ``seed`` the run's seed (run.json's: each
    request's seed derives from it; None for `evalkit score` runs); rows are ordered by start time.
    A results file that cannot be read (damaged, of a newer schema) is left out with a warning that
    names it and why (left out silently, a notebook showed fewer runs and said nothing); a run still
    in progress has none yet.
    """
    rows = []
    for path in sorted(Path(root).rglob("results.json")):
        try:
            results = load_results(path)
        except ConfigError as exc:
            warnings.warn(f"load_runs: left out {path}: {exc}", stacklevel=2)
            continue
        # the run's seed is in run.json (results.json's statistics.seed is the bootstrap's)
        seed = run_seed(path.parent)
        for arm in results.arms:
            rows.append({"run_dir": str(path.parent), "seed": seed} | arm_row(results, arm))
    frame = pd.DataFrame(rows)
    if frame.empty:
        return pd.DataFrame(columns=["run_dir", "seed", "run_id", "started_at", "arm", "model"])
    # whole numbers, blank (pandas.NA) for `evalkit score` runs: one blank made the column 1234.0 floats
    frame["seed"] = frame["seed"].astype("Int64")
    frame = frame.sort_values(["started_at", "run_dir"], na_position="last", kind="stable")
    return frame.reset_index(drop=True)


def task_pass_rates(samples: pd.DataFrame, column: str = "passed") -> pd.DataFrame:
    """Per task (rows, natural order) and arm (columns, sorted): the share of samples that passed.

    ``samples`` is a ``load_samples`` frame; ``column`` is ``passed`` (faithful reading) or
    ``lenient_passed``. Samples whose verdict in that reading is infra_error are left out, as
    the gate leaves them out: they say nothing about the model. A task with no other sample
    in an arm is NaN there.
    Two columns of the result are the aligned inputs of ``metrics.paired_difference``.
    """
    # The lenient reading is executed apart from the faithful one, so its sandbox can fail alone.
    status = samples["lenient_status" if column.startswith("lenient") else "status"]
    rows = status != Status.INFRA_ERROR
    # Copied (the columns used) only when some sample is left out: 100,000 rows are costly.
    scored = samples if rows.all() else samples.loc[rows, ["task_id", "arm", column]]
    rates = scored.groupby(["task_id", "arm"], observed=True)[column].mean().unstack("arm")
    rates = rates.reindex(index=sorted(samples["task_id"].unique(), key=natural_key),
                          columns=sorted(samples["arm"].unique())).astype(float)
    rates.index.name, rates.columns.name = "task_id", "arm"
    return rates


def natural_key(text: str) -> tuple[Any, ...]:
    """Sort key for task ids and versions in natural order: HumanEval/2 before HumanEval/10.

    ``re.split`` with a group alternates text and digit runs, so equal positions always
    hold the same type and keys of different ids compare without a TypeError.
    """
    return tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", text))


def load_templates(root: Path | str = "reports") -> pd.DataFrame:
    """One row per distinct template (by sha256) recorded in a results.json under ``root``.

    ``root`` is a folder searched recursively (or one run directory). Columns: family,
    version, sha256, source_text (template file and partials, as results.json keeps them)
    and runs (run ids using it, in start order); rows sorted by family, then version
    (1.10.0 after 1.9.0).
    """
    found: dict[str, dict[str, Any]] = {}
    for run_dir in load_runs(root)["run_dir"].unique():
        results = load_results(Path(run_dir))
        for arm in results.arms:
            source = results.templates.get(arm.template.sha256) if arm.template else None
            if source is None:
                continue  # answers scored with `evalkit score`, or a run without template sources
            entry = found.setdefault(arm.template.sha256, {
                "family": source.family, "version": source.version, "sha256": arm.template.sha256,
                "source_text": source.source_text, "runs": []})
            if results.run_id not in entry["runs"]:
                entry["runs"].append(results.run_id)
    rows = sorted(found.values(), key=lambda t: (t["family"], natural_key(t["version"]), t["sha256"]))
    return pd.DataFrame(rows, columns=["family", "version", "sha256", "source_text", "runs"])


def source_diff(a: TemplateSource, b: TemplateSource) -> str:
    """Unified diff of two recorded templates, ``a`` to ``b``; empty when the sources are identical.

    The same text ``evalkit.prompts.template_diff`` gives for loaded templates, for templates
    known only from results.json (the registry may have moved on since). A ``load_templates``
    row becomes a ``TemplateSource`` with ``TemplateSource.from_json(row)``.
    """
    return "".join(difflib.unified_diff(
        a.source_text.splitlines(keepends=True), b.source_text.splitlines(keepends=True),
        fromfile=f"{a.family}/{a.version}", tofile=f"{b.family}/{b.version}"))
