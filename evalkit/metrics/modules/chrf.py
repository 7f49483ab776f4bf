"""Sentence-level chrF, per example, scaled to [0, 1] (an `evaluate` metric module).

sacrebleu's chrF (character 6-grams, beta 2) divided by 100.
"""

import datasets
import evaluate
from sacrebleu.metrics import CHRF

_DESCRIPTION = "Sentence-level chrF (sacrebleu) / 100 of each prediction against its reference."
_KWARGS = "predictions: list of str; references: list of str. Returns {'scores': list of float}."


class SentenceChrf(evaluate.Metric):
    """Per-example chrF on a [0, 1] scale."""

    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="Popovic, 2015. chrF: character n-gram F-score for automatic MT evaluation.",
            inputs_description=_KWARGS,
            features=datasets.Features(
                {"predictions": datasets.Value("string"), "references": datasets.Value("string")}
            ),
        )

    def _compute(self, predictions, references):
        chrf = CHRF()
        pairs = zip(predictions, references, strict=True)
        return {"scores": [chrf.sentence_score(p, [r]).score / 100.0 for p, r in pairs]}
