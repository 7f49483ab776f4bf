"""Cosine similarity of sentence embeddings, per example (an `evaluate` metric module).

Uses a sentence-transformers model loaded from a local directory only (no
download is attempted). sentence-transformers is imported when computing, so the
module loads without it and the error names what is missing.
"""

import datasets
import evaluate
import numpy as np

_DESCRIPTION = "Cosine similarity of prediction and reference embeddings (local sentence-transformers model)."
_KWARGS = (
    "predictions: list of str; references: list of str; model_path: local directory of a "
    "sentence-transformers model. Returns {'scores': list of float}."
)
_MODELS = {}


def _model(model_path):
    """Load (once per process) the sentence-transformers model at model_path."""
    if model_path not in _MODELS:
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError:
            raise ImportError(
                "embedding_cosine needs the sentence-transformers package, which is not installed; "
                "pip install sentence-transformers, or drop embedding_cosine from scoring.metrics"
            ) from None
        _MODELS[model_path] = SentenceTransformer(model_path, device="cpu", local_files_only=True)
    return _MODELS[model_path]


class EmbeddingCosine(evaluate.Metric):
    """Per-example embedding cosine similarity."""

    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="Reimers and Gurevych, 2019. Sentence-BERT.",
            inputs_description=_KWARGS,
            features=datasets.Features(
                {"predictions": datasets.Value("string"), "references": datasets.Value("string")}
            ),
        )

    def _compute(self, predictions, references, model_path=None):
        if not model_path:
            raise ValueError("embedding_cosine needs model_path: a local sentence-transformers model folder")
        model = _model(str(model_path))
        texts = sorted(set(predictions) | set(references))
        vectors = model.encode(texts, normalize_embeddings=True, convert_to_numpy=True)
        row = {text: i for i, text in enumerate(texts)}
        p = vectors[[row[t] for t in predictions]]
        r = vectors[[row[t] for t in references]]
        # Every similarity is in [0, 1], as samples.jsonl requires: a cosine below 0 (less alike than
        # unrelated texts) is no similarity, and rounding takes identical texts' a hair above 1.
        return {"scores": np.clip(np.einsum("ij,ij->i", p, r), 0.0, 1.0).astype(float).tolist()}
