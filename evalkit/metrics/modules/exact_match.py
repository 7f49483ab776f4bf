"""Exact match after whitespace normalisation, per example (an `evaluate` metric module).

Python's indentation is syntax, so whitespace is normalised by line: blank
lines are dropped and each distinct indentation width is replaced by its rank
(2- and 4-space code match), while nesting is kept (a statement moved out of a
loop still differs). Within a
line, whitespace is dropped except a single space between two word characters,
so ``x+1`` and ``x + 1`` match while ``return x`` and ``returnx`` do not (string
literals are normalised too: a deliberate, rare false positive).
"""

import re

import datasets
import evaluate

_DESCRIPTION = "1.0 when prediction and reference are equal after whitespace normalisation, else 0.0."
_KWARGS = "predictions: list of str; references: list of str. Returns {'scores': list of float}."


_INNER_SPACE = re.compile(r"\s+")
_NON_WORD_GAP = re.compile(r"(?<!\w) | (?!\w)")


def normalise(code: str) -> str:
    """Whitespace-normalised code: blank lines dropped, indentation by rank, inner spaces squeezed."""
    lines = [line for line in code.expandtabs(4).splitlines() if line.strip()]
    widths = [len(line) - len(line.lstrip()) for line in lines]
    rank = {width: i for i, width in enumerate(sorted(set(widths)))}
    return "\n".join(
        " " * rank[width] + _NON_WORD_GAP.sub("", _INNER_SPACE.sub(" ", line.strip()))
        for line, width in zip(lines, widths, strict=True)
    )


class ExactMatch(evaluate.Metric):
    """Per-example exact match of code after whitespace normalisation."""

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
        scores = [float(normalise(p) == normalise(r)) for p, r in zip(predictions, references, strict=True)]
        return {"scores": scores}
