"""Post-processing stage: the gateway's clean-up of a model's answer, then assembly into a program.

Public API: :func:`postprocess` (faithful reading), :func:`lenient_extract`,
:func:`assemble`, and :data:`STEPS` (step name -> pure function).
"""

from collections.abc import Sequence

from evalkit.postprocess.assemble import assemble, lenient_extract
from evalkit.postprocess.steps import STEPS, bind


def postprocess(raw: str, steps: Sequence[str], prefix: str) -> str:
    """Apply the named steps to ``raw`` in order (``raw`` already starts with any prefill).

    Raises KeyError for an unknown step name (loading a template rejects such names first).
    """
    text = raw
    for step in [bind(name, prefix) for name in steps]:
        text = step(text)
    return text


__all__ = ["STEPS", "assemble", "bind", "lenient_extract", "postprocess"]
