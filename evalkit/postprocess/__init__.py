"""Post-processing stage: the gateway's clean-up of a model's answer, then assembly into a program.

Public API: :func:`postprocess` (faithful reading), :func:`lenient_extract`,
:func:`assemble`, :data:`STEPS` (step name -> pure function) and :data:`COMPLETION_STEPS`
(the lenient reading of a fill-in-the-middle answer).
"""

from collections.abc import Sequence

from evalkit.postprocess.assemble import assemble, lenient_extract, new_code
from evalkit.postprocess.steps import COMPLETION_STEPS, FIM_RAW_STEPS, STEPS, bind
from evalkit.records import Task


def postprocess(raw: str, steps: Sequence[str], prefix: str, suffix: str = "", language: str = "",
                stops: Sequence[str] | None = None) -> str:
    """Apply the named steps to ``raw`` in order (``raw`` already starts with any prefill);
    ``stops``: the stop sequences the request was sent with (None: not known).

    Raises KeyError for an unknown step name (loading a template rejects such names first).
    """
    text = raw
    for step in [bind(name, prefix, suffix, language, stops) for name in steps]:
        text = step(text)
    return text


def lenient_reading(task: Task, raw: str, stops: Sequence[str] | None = None) -> str:
    """The lenient reading of an answer: the first fenced block (:func:`lenient_extract`), and for a
    completion task the gateway's completion steps (:data:`COMPLETION_STEPS`; ``stops``: the
    request's, None where not known) on it. A completion template with a system turn goes to chat,
    whose models answer in prose around a fence: without the block, both readings were syntax errors
    and the gap between them hid that format breakage."""
    if task.kind == "completion":
        return postprocess(lenient_extract(raw), COMPLETION_STEPS, task.prompt, task.suffix, task.language,
                           stops)
    return lenient_extract(raw)


__all__ = ["COMPLETION_STEPS", "FIM_RAW_STEPS", "STEPS", "assemble", "bind", "lenient_extract", "new_code",
           "lenient_reading", "postprocess"]
