"""Exact match of the first non-blank line, per example (an `evaluate` metric module).

The line-level measure completion papers report: an editor shows the first line of a
suggestion inline, so a completion whose first line is right is half accepted. Lines
compare after the whitespace normalisation of ``exact_match`` (leading indentation and
inner spacing do not count).
"""

import re

import datasets
import evaluate

_DESCRIPTION = "1.0 when the first non-blank lines of prediction and reference are equal after whitespace " \
               "normalisation, else 0.0."
_KWARGS = "predictions: list of str; references: list of str. Returns {'scores': list of float}."

_INNER_SPACE = re.compile(r"\s+")
_NON_WORD_GAP = re.compile(r"(?<!\w) | (?!\w)")


def first_line(code: str) -> str:
    """The first non-blank line, stripped, inner spaces squeezed as ``exact_match`` does."""
    line = next((line for line in code.splitlines() if line.strip()), "")
    return _NON_WORD_GAP.sub("", _INNER_SPACE.sub(" ", line.strip()))


class FirstLineExactMatch(evaluate.Metric):
    """Per-example exact match of the first non-blank line."""

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
        scores = [float(first_line(p) == first_line(r)) for p, r in zip(predictions, references, strict=True)]
        return {"scores": scores}
