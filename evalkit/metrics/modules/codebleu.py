"""CodeBLEU, per example (an `evaluate` metric module).

The codebleu package (Ren et al. 2020: n-gram, weighted n-gram, syntax and
data-flow match, equal weights) on one (reference, prediction) pair at a time.
An empty or whitespace-only prediction scores 0.0 without calling the parser.
"""

import logging

import datasets
import evaluate
from codebleu import calc_codebleu

_DESCRIPTION = "CodeBLEU in [0, 1] of each prediction against its reference (codebleu package)."
_KWARGS = (
    "predictions: list of str; references: list of str; lang: language name (default 'python'). "
    "Returns {'scores': list of float}."
)


class CodeBleu(evaluate.Metric):
    """Per-example CodeBLEU."""

    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="Ren et al., 2020. CodeBLEU: a Method for Automatic Evaluation of Code Synthesis.",
            inputs_description=_KWARGS,
            features=datasets.Features(
                {"predictions": datasets.Value("string"), "references": datasets.Value("string")}
            ),
        )

    def _compute(self, predictions, references, lang="python"):
        # codebleu calls logging.warning() for every pair without data-flow (common for
        # one-liners): drop just that message, and keep logging.warning() from running
        # basicConfig() on a root logger without handlers.
        root = logging.getLogger()
        quiet = _NoDataflowWarning()
        spare = logging.NullHandler()
        root.addFilter(quiet)
        root.addHandler(spare)
        try:
            scores = [
                calc_codebleu([r], [p], lang=lang)["codebleu"] if p.strip() else 0.0
                for p, r in zip(predictions, references, strict=True)
            ]
        finally:
            root.removeHandler(spare)
            root.removeFilter(quiet)
        return {"scores": [float(s) for s in scores]}


class _NoDataflowWarning(logging.Filter):
    """Drops codebleu's per-pair 'no data-flows' warning, nothing else."""

    def filter(self, record):
        return "data-flows extracted" not in str(record.msg)
