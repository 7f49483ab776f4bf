"""Benchmark tasks: loading through ``datasets``, validation into Task records.

The registry below maps a dataset name to the module that knows its source and
how its rows become Tasks; it is a plain dict, built here and nowhere else.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

from evalkit.benchmarks import humaneval, infilling, jsonl, mbpp
from evalkit.config import DATASETS_DIR, ConfigError, DatasetConfig
from evalkit.records import Task

NumberedRows = list[tuple[int, dict[str, Any]]]

KINDS = ("generation", "completion")
"""A set of instructions (code generation) or of holes to fill in the middle (code completion)."""


@dataclass(frozen=True)
class _Source:
    """How one benchmark is found and mapped."""

    read: Callable[[DatasetConfig], tuple[str, NumberedRows]]
    """(where, rows): a location for error messages and the rows numbered by line."""
    to_task: Callable[[Mapping[str, Any]], Task]
    """Row -> Task; raises ValueError (message without location) for a bad row."""
    required: tuple[str, ...] = ()
    """String fields checked before `to_task` (for mappers that do not validate)."""
    kind: str | None = "generation"
    """``generation`` or ``completion`` (picks the template kind); None: ``dataset.kind`` says."""


def _humaneval_rows(cfg: DatasetConfig) -> tuple[str, NumberedRows]:
    path = Path(cfg.path) if cfg.path else humaneval.data_file()
    return str(path), list(enumerate(_rows(path), start=1))


def _infilling_rows(name: str) -> Callable[[DatasetConfig], tuple[str, NumberedRows]]:
    def read(cfg: DatasetConfig) -> tuple[str, NumberedRows]:
        path = Path(cfg.path) if cfg.path else infilling.data_file(name)
        return str(path), list(enumerate(_rows(path), start=1))

    return read


def _local_jsonl(default: Path | None) -> Callable[[DatasetConfig], tuple[str, NumberedRows]]:
    def read(cfg: DatasetConfig) -> tuple[str, NumberedRows]:
        given = cfg.path if cfg.path and cfg.path != "???" else None
        if given is None and default is None:
            raise ConfigError(f"dataset={cfg.name} needs dataset.path=<file.jsonl> "
                              "(Task schema: datasets/README.md)")
        path = Path(given) if given else default
        return str(path), jsonl.read_rows(path)

    return read


REGISTRY: dict[str, _Source] = {
    "humaneval": _Source(_humaneval_rows, humaneval.to_task, humaneval.REQUIRED),
    "instruct_python": _Source(_local_jsonl(DATASETS_DIR / "instruct_python.jsonl"), jsonl.to_task),
    "instruct_javascript": _Source(_local_jsonl(DATASETS_DIR / "instruct_javascript.jsonl"), jsonl.to_task),
    **{name: _Source(_local_jsonl(DATASETS_DIR / f"{name}.jsonl"), jsonl.to_task, kind="completion")
       for name in ("ide_completion_python", "ide_completion_javascript")},
    "jsonl": _Source(_local_jsonl(None), jsonl.to_task, kind=None),
    "mbpp": _Source(mbpp.read, mbpp.to_task),
    **{name: _Source(_infilling_rows(name), infilling.to_task, infilling.REQUIRED, kind="completion")
       for name in infilling.SUBSETS},
}


def _rows(path: Path) -> list[dict[str, Any]]:
    import datasets

    jsonl.require_file(path)
    datasets.disable_progress_bars()
    try:
        ds = datasets.load_dataset("json", data_files=str(path), split="train")
    except OSError as exc:  # where datasets keeps its cache: HF_HOME or HF_DATASETS_CACHE unusable
        cache = getattr(datasets.config, "HF_DATASETS_CACHE", None)
        if exc.filename and cache and not str(exc.filename).startswith(str(path)):
            raise ConfigError(f"cannot use the datasets cache at {cache} ({exc.strerror}: {exc.filename}); "
                              "point HF_HOME or HF_DATASETS_CACHE at a folder evalkit can write") from None
        raise ConfigError(f"dataset file {path} could not be read: {str(exc).splitlines()[0]}") from None
    except Exception as exc:  # datasets wraps the JSON error; keep its first line
        raise ConfigError(f"dataset file {path} could not be read: {str(exc).splitlines()[0]}") from None
    return ds.to_list()


def _validate(rows: NumberedRows, source: _Source, where: str) -> list[Task]:
    tasks, seen = [], set()
    for line, row in rows:
        try:
            jsonl.check_strings(row, source.required)
            task = source.to_task(row)
        except ValueError as exc:
            raise ConfigError(f"{where}:{line}: {exc}") from None
        if task.task_id in seen:
            raise ConfigError(f"{where}:{line}: repeats task_id {task.task_id}")
        seen.add(task.task_id)
        tasks.append(task)
    if not tasks:
        raise ConfigError(f"{where}: no tasks")
    return tasks


@dataclass(frozen=True)
class Benchmark:
    """The selected tasks of one benchmark and the identity of the whole set."""

    name: str
    """The dataset's name in the registry below (``dataset.name``)."""
    tasks: tuple[Task, ...]
    """The selected tasks, in file order (``dataset.task_ids``, then ``dataset.limit``)."""
    content_sha256: str
    """Hash of every task of the set (not only the selection), so a gate can refuse
    to compare runs on different versions of a benchmark yet accept subsets."""
    kind: str = "generation"
    """``generation`` or ``completion``: every task's kind, and the template kind it needs."""
    all_task_ids: tuple[str, ...] = ()
    """Every task id of the set in file order, the selection's and the others' (a samples file may
    hold tasks the selection leaves out; bigcode's generations are numbered by this order)."""


NOT_SHIPPED = ("jsonl", "mbpp")
"""Datasets whose tasks evalkit does not carry: a file of the user's, or one from the hub."""


def shipped_tasks() -> list[Task]:
    """The tasks of every dataset evalkit ships (HumanEval first, then the rest in REGISTRY's
    order): what `evalkit serve-demo` answers, so that it serves every shipped dataset and
    template, code completion included."""
    return [task for name in REGISTRY if name not in NOT_SHIPPED
            for task in load_tasks(DatasetConfig(name=name))]


def load_tasks(cfg: DatasetConfig) -> list[Task]:
    """The benchmark's tasks, validated, in file order, with `task_ids` then `limit` applied."""
    return list(load_benchmark(cfg).tasks)


def load_benchmark(cfg: DatasetConfig) -> Benchmark:
    """Load, validate and select the tasks of `cfg`'s benchmark."""
    source = REGISTRY.get(cfg.name)
    if source is None:
        raise ConfigError(f"unknown dataset {cfg.name!r}; known: {', '.join(sorted(REGISTRY))}")
    kind = _kind(cfg, source)
    where, rows = source.read(cfg)
    tasks = _validate(rows, source, where)
    if any(task.kind != kind for task in tasks):
        tasks = [dataclasses.replace(task, kind=kind) for task in tasks]
    digest = content_sha256(tasks)
    all_task_ids = tuple(task.task_id for task in tasks)
    if cfg.task_ids is not None:
        by_id = {t.task_id: t for t in tasks}
        unknown = [t for t in cfg.task_ids if t not in by_id]
        if unknown:
            raise ConfigError(f"dataset.task_ids names unknown tasks: {', '.join(unknown[:5])}")
        tasks = [by_id[t] for t in cfg.task_ids]
    if cfg.limit is not None:  # at least 1: config.DatasetConfig
        tasks = tasks[: cfg.limit]
    return Benchmark(name=cfg.name, tasks=tuple(tasks), content_sha256=digest, kind=kind,
                     all_task_ids=all_task_ids)


def _kind(cfg: DatasetConfig, source: _Source) -> str:
    """The set's kind: the benchmark's own, else ``dataset.kind``; a contradiction exits 2."""
    if cfg.kind is not None and cfg.kind not in KINDS:
        raise ConfigError(f"dataset.kind must be one of {', '.join(KINDS)}, not {cfg.kind!r}")
    if source.kind is None:
        return cfg.kind or "generation"
    if cfg.kind is not None and cfg.kind != source.kind:
        raise ConfigError(f"dataset={cfg.name} is a {source.kind} set; "
                          f"dataset.kind={cfg.kind} does not apply")
    return source.kind


def content_sha256(tasks: list[Task]) -> str:
    """Hash of the tasks' content (not file bytes): equal for equal benchmarks."""
    digest = hashlib.sha256()
    for task in tasks:
        fields = [task.task_id, task.language, task.prompt, task.suffix, task.instruction,
                  task.entry_point, task.tests, task.reference]
        digest.update(json.dumps(fields).encode())
    return digest.hexdigest()

