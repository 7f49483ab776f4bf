"""Normalised Levenshtein similarity, per example (an `evaluate` metric module).

1 - distance / max(len(prediction), len(reference)) on characters, computed by
rapidfuzz; two empty strings score 1.0.
"""

import datasets
import evaluate
from rapidfuzz.distance import Levenshtein

_DESCRIPTION = "Normalised Levenshtein similarity in [0, 1] between prediction and reference (rapidfuzz)."
_KWARGS = "predictions: list of str; references: list of str. Returns {'scores': list of float}."


class EditSimilarity(evaluate.Metric):
    """Per-example normalised edit similarity."""

    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description=_KWARGS,
            features=datasets.Features(
                {"predictions": datasets.Value("string"), "references": datasets.Value("string")}
            ),
        )

    def _compute(self, predictions, references):
        similarity = Levenshtein.normalized_similarity
        return {"scores": [float(similarity(p, r)) for p, r in zip(predictions, references, strict=True)]}
