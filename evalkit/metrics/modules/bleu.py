"""Sentence-level BLEU, per example, scaled to [0, 1] (an `evaluate` metric module).

sacrebleu's sentence BLEU (13a tokenisation, exponential smoothing, effective
order, as `sacrebleu.sentence_bleu`) divided by 100 so every similarity metric
shares the [0, 1] scale.
"""

import datasets
import evaluate
from sacrebleu.metrics import BLEU

_DESCRIPTION = "Sentence-level BLEU (sacrebleu) / 100 of each prediction against its reference."
_KWARGS = "predictions: list of str; references: list of str. Returns {'scores': list of float}."


class SentenceBleu(evaluate.Metric):
    """Per-example sentence BLEU on a [0, 1] scale."""

    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="Post, 2018. A Call for Clarity in Reporting BLEU Scores.",
            inputs_description=_KWARGS,
            features=datasets.Features(
                {"predictions": datasets.Value("string"), "references": datasets.Value("string")}
            ),
        )

    def _compute(self, predictions, references):
        bleu = BLEU(effective_order=True)
        pairs = zip(predictions, references, strict=True)
        scores = [bleu.sentence_score(p, [r]).score / 100.0 for p, r in pairs]
        # float rounding can give 1.0000000000000004 for a perfect match
        return {"scores": [min(1.0, s) for s in scores]}
