"""Similarity of extracted code to the reference solution, through local `evaluate` modules.

Each metric is a module file under ``modules/`` loaded with
``evaluate.load(<local path>)``: a path to a file never reaches the Hugging Face
Hub (hub names such as ``"exact_match"`` would, and fail offline). Loaded
modules are cached per process. Every module returns one score per example in
[0, 1] (``{"scores": [...]}``), so an arm reports a mean with a bootstrap
interval and two arms a paired difference.

At low temperature most samples repeat, so identical (prediction, reference)
pairs are scored once and the scores fanned back out.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from evalkit.config import ConfigError

MODULES_DIR = Path(__file__).resolve().parent / "modules"
"""Folder of the local `evaluate` metric module files."""

METRICS: dict[str, Path] = {
    name: MODULES_DIR / f"{name}.py"
    for name in ("exact_match", "edit_similarity", "first_line_exact_match", "bleu", "chrf", "codebleu",
                 "embedding_cosine")
}
"""Metric name -> its local `evaluate` module file."""

COMPLETION_METRICS = ("exact_match", "edit_similarity", "first_line_exact_match")
"""Measured on every completion (fill-in-the-middle) task besides ``scoring.metrics``: the middle
against the reference middle."""

_LOADED: dict[str, object] = {}
_LOAD_LOCK = threading.Lock()
_COMPUTE_LOCK = threading.Lock()
"""An evaluate module buffers its inputs between calls: one compute at a time per process."""


def load_metric(name: str):
    """The loaded `evaluate.EvaluationModule` for a metric name, loaded once per process.

    Raises ConfigError for an unknown name.
    """
    if name not in METRICS:
        raise ConfigError(f"unknown similarity metric {name!r}; known metrics: {', '.join(METRICS)}")
    with _LOAD_LOCK:
        if name not in _LOADED:
            evaluate = _import_evaluate()
            # A local file path: evaluate loads it without any hub lookup. keep_in_memory: no
            # cache files, so parallel processes (Hydra sweeps) cannot collide on them.
            _LOADED[name] = evaluate.load(str(METRICS[name]), keep_in_memory=True)
        return _LOADED[name]


class _WithoutScipyStats(importlib.abc.MetaPathFinder):
    """While one thread imports ``evaluate``, its import of ``scipy.stats`` fails (other
    threads import it as usual)."""

    def __init__(self) -> None:
        self.thread = threading.get_ident()

    def find_spec(self, name, path=None, target=None):
        if name == "scipy.stats" and threading.get_ident() == self.thread:
            raise ModuleNotFoundError("scipy.stats is not imported with evaluate", name=name)


def _import_evaluate():
    """``evaluate``, imported without ``scipy.stats``.

    evaluate's top level imports its Evaluator classes, which import ``scipy.stats`` for
    bootstrap intervals if they can (evaluate/evaluator/base.py: ``SCIPY_AVAILABLE``). evalkit
    never uses an Evaluator, and ``scipy.stats`` was 56 MB of the harness's memory and a third
    of a second of every run's start-up. So that one import fails the way evaluate expects, and
    then the Evaluator gets a ``bootstrap`` that imports ``scipy.stats`` when first called:
    a notebook that uses evaluate's Evaluator after evalkit works as without evalkit.
    """
    if "evaluate" in sys.modules or "scipy.stats" in sys.modules:
        import evaluate

        return evaluate
    finder = _WithoutScipyStats()
    sys.meta_path.insert(0, finder)
    try:
        import evaluate
    finally:
        sys.meta_path.remove(finder)
    base = sys.modules.get("evaluate.evaluator.base")
    if base is not None and getattr(base, "SCIPY_AVAILABLE", True) is False \
            and importlib.util.find_spec("scipy") is not None:
        base.bootstrap, base.SCIPY_AVAILABLE = _bootstrap, True
    return evaluate


def _bootstrap(*args, **kwargs):
    """scipy.stats.bootstrap, imported when first called (for evaluate's Evaluator)."""
    from scipy.stats import bootstrap

    return bootstrap(*args, **kwargs)


def load_metrics(metrics: Sequence[str], embedding_model: str | Path | None = None) -> None:
    """Check and load the named metrics now (raises ConfigError), not at the first sample: loading
    `evaluate` and its modules takes about a second, and a bad name must stop a run before it starts."""
    if "embedding_cosine" in metrics:  # first: its module is no use without a model
        _check_embedding_model(embedding_model)
    for name in metrics:
        load_metric(name)


def _check_embedding_model(embedding_model: str | Path | None) -> str:
    """The validated local model directory for embedding_cosine, or a ConfigError saying why not."""
    if not embedding_model:
        raise ConfigError(
            "embedding_cosine needs a local sentence-transformers model: "
            "set scoring.embedding_model=/path/to/model (nothing is downloaded)"
        )
    if importlib.util.find_spec("sentence_transformers") is None:
        raise ConfigError(
            "embedding_cosine needs the sentence-transformers package, which is not installed; "
            "pip install sentence-transformers or drop embedding_cosine from scoring.metrics"
        )
    path = Path(embedding_model).expanduser()
    if not path.is_dir():
        raise ConfigError(f"scoring.embedding_model {str(path)!r} is not a local model directory")
    return str(path)


def similarity_scores(
    predictions: list[str],
    references: list[str],
    metrics: Sequence[str],
    embedding_model: str | Path | None = None,
) -> dict[str, list[float]]:
    """Per-example similarity of each prediction to its reference, for each named metric.

    Args:
        predictions: extracted code, one per sample.
        references: the task's reference solution for each sample (aligned with predictions).
        metrics: names from ``METRICS`` (exact_match, edit_similarity, bleu, chrf, codebleu,
            embedding_cosine).
        embedding_model: local sentence-transformers model directory; required for
            embedding_cosine, which is off unless named.

    Returns:
        ``{metric: [score per example]}``, scores in [0, 1], aligned with predictions.

    Raises:
        ConfigError: unknown metric, or embedding_cosine without a usable local model.
        ValueError: predictions and references differ in length.
    """
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions but {len(references)} references")
    unknown = [m for m in metrics if m not in METRICS]
    if unknown:
        raise ConfigError(f"unknown similarity metric {unknown[0]!r}; known metrics: {', '.join(METRICS)}")
    extra: dict[str, dict] = {}
    if "embedding_cosine" in metrics:
        extra["embedding_cosine"] = {"model_path": _check_embedding_model(embedding_model)}
    # Score each distinct pair once; position maps every example to its pair.
    pair_index: dict[tuple[str, str], int] = {}
    pairs = zip(predictions, references, strict=True)
    position = [pair_index.setdefault(pair, len(pair_index)) for pair in pairs]
    unique_preds = [p for p, _ in pair_index]
    unique_refs = [r for _, r in pair_index]
    scores: dict[str, list[float]] = {}
    for name in dict.fromkeys(metrics):
        if not pair_index:
            scores[name] = []
            continue
        module = load_metric(name)
        with _COMPUTE_LOCK:
            result = module.compute(predictions=unique_preds, references=unique_refs, **extra.get(name, {}))
        unique_scores = result["scores"]
        scores[name] = [float(unique_scores[i]) for i in position]
    return scores
