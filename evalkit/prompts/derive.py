"""What a gateway prompt file leaves unsaid, derived the way the gateway behaves.

The gateway's files name no API and no post-processing: the gateway sends a
template's turns as chat messages, cleans a self-hosted model's generation up
with a fixed list of steps (Claude's answer only needs its prefilled tag), applies
no post-processing to a self-hosted completion but its completion steps to a hosted
provider's, sends ``completion_fim``'s suffix in the FIM API's own field, and stopped
the first releases' answers at ``</new_code>``. Each derivation returns the value and
a reason that ``evalkit prompts render`` shows.
"""

from __future__ import annotations

from typing import Any

from evalkit.postprocess import COMPLETION_STEPS, FIM_RAW_STEPS
from evalkit.prompts.schema import Spec
from evalkit.records import Api

GATEWAY_SAMPLING_DEFAULTS = {"temperature": 0.2, "top_p": 0.95, "max_tokens": 2048}
"""The gateway's generic chat defaults, for sampling parameters a file does not set."""
GATEWAY_TOP_K = 40
"""The gateway's generic default top_k, for a file that sets none: evalkit does not send top_k (LiteLLM's
``openai/`` routes refuse it), and says so (``Template.unsent``)."""

SELF_HOSTED_STEPS = ("strip_fences", "prepend_newline", "drop_reflection", "empty_if_blank")
"""The gateway's clean-up of a self-hosted model's generation."""
MIXTRAL_STEPS = ("strip_fences", "unescape_underscores", "prepend_newline", "drop_reflection",
                 "empty_if_blank")
"""Mixtral also escapes underscores in code (``\\_``); undone before reflection is compared."""
PREFILL_STEPS = ("cut_at_stop", "empty_if_blank")
"""A generation that continues a prefilled ``<new_code>`` turn and stops at ``</new_code>`` (Claude's)."""
HOSTED_COMPLETION_FAMILIES = frozenset({"base", "gpt", "completion_fim"})
"""Completion families the gateway sends to hosted providers (Claude, OpenAI, Mistral's FIM API): it
cleans their answers with its completion steps, where it applies none to a self-hosted model's."""
FIM_API_FAMILY = "completion_fim"
"""The completion family whose prompt is the prefix alone: the suffix travels in the FIM API's field."""
FIRST_RELEASE_FAMILIES = ("mistral", "mixtral")
"""The first releases' families (``code_suggestions/generations/<family>.yml``)."""
FIRST_RELEASE_STOP = ("</new_code>",)
"""The first releases' stop for mistral and mixtral, set by the gateway's code, not in their files."""
FIRST_RELEASE_STOP_WHY = "the first releases' stop for mistral and mixtral, set by the gateway's code"

CHAT_TOKENS = ("<s>", "[INST]")
"""How a text that is already a whole Mistral-format conversation starts: sent as a chat message, the
server's chat template would wrap it in a second [INST] (and a base model has no chat template)."""


def api(spec: Spec, kind: str) -> tuple[Api, str]:
    """The API a file is sent on, and why."""
    if spec.api is not None:
        return spec.api, "the file's api key"
    roles = [role for role, _, _ in spec.turns]
    if roles == ["user"] and kind == "completions":
        return Api.COMPLETIONS, "a fill-in-the-middle text with no system turn: a raw prompt on /completions"
    if roles == ["user"] and spec.turns[0][1].lstrip().startswith(CHAT_TOKENS):
        return Api.COMPLETIONS, ("a user-only text that writes its own [INST] chat tokens (the first "
                                 "releases' way): a raw prompt on /completions")
    return Api.CHAT, "the gateway sends a template's turns as chat messages"


def postprocess(spec: Spec, kind: str, family: str,
                first_release: bool = False) -> tuple[tuple[str, ...], str]:
    """The post-processing steps of a file, and why; ``first_release``: the file is a first
    release's (version ``mvp``)."""
    if spec.postprocess is not None:
        return spec.postprocess, "the file's postprocess key"
    if kind == "completions":
        return _completion_steps(family)
    if _stopped_at_new_code(spec, kind, family, first_release):
        steps = MIXTRAL_STEPS if family == "mixtral" else SELF_HOSTED_STEPS
        return ("cut_at_stop", *steps), ("the first releases' answer ends at </new_code>: its opening tag "
                                         "and anything after the stop go, then the self-hosted clean-up")
    if spec.turns[-1][0] == "assistant":
        return PREFILL_STEPS, "the answer continues the prefilled assistant turn to its stop (Claude's way)"
    if family == "mixtral":
        return MIXTRAL_STEPS, "the gateway's clean-up of self-hosted generations, with Mixtral's underscores"
    return SELF_HOSTED_STEPS, "the gateway's clean-up of self-hosted generations"


def _completion_steps(family: str) -> tuple[tuple[str, ...], str]:
    if family in HOSTED_COMPLETION_FAMILIES:
        return COMPLETION_STEPS, ("the gateway's completion steps, which it applies to a hosted "
                                  "provider's answer (Claude, GPT, Mistral's FIM API)")
    return FIM_RAW_STEPS, ("the gateway post-processes no self-hosted completion: "
                           "the raw answer cut at its stops")


def sampling(spec: Spec) -> tuple[dict[str, Any], list[str]]:
    """The sampling parameters sent, with the gateway's defaults for those the file does not set."""
    missing = [key for key in GATEWAY_SAMPLING_DEFAULTS if key not in spec.sampling]
    return GATEWAY_SAMPLING_DEFAULTS | spec.sampling, missing


def stop(spec: Spec, kind: str, family: str, first_release: bool) -> tuple[tuple[str, ...], str | None]:
    """The stop sequences sent, and why when the file does not give them."""
    if _stopped_at_new_code(spec, kind, family, first_release):
        return FIRST_RELEASE_STOP, FIRST_RELEASE_STOP_WHY
    return spec.stop, None


def _stopped_at_new_code(spec: Spec, kind: str, family: str, first_release: bool) -> bool:
    """Whether the gateway's code, not the file, stopped the answers at ``</new_code>``: a first
    release's generation file of mistral or mixtral that names no stop of its own."""
    return first_release and kind == "generations" and family in FIRST_RELEASE_FAMILIES and not spec.stop


def sends_suffix(spec: Spec, kind: str, family: str) -> bool:
    """True when the suffix travels in the body's ``suffix`` (a fill-in-the-middle API): the file asks
    for it (``completion_type: fim``), or it is the gateway's ``completion_fim`` family."""
    return spec.settings.get("model.params.completion_type") == "fim" or (
        kind == "completions" and family == FIM_API_FAMILY)
