"""Secrets: which values are secret, and the one function that masks them in any text evalkit
writes (error messages, sample verdicts, probe hints, tracebacks on stderr)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable


def secret_values() -> tuple[str, ...]:
    """Values of every environment variable a model config may name, for redaction."""
    names = {"OPENAI_API_KEY", "ANTHROPIC_API_KEY", "MISTRAL_API_KEY", "MIXTRAL_API_KEY"}
    # any *_KEY, not only *_API_KEY: api_key_env may name e.g. OPENROUTER_KEY
    names |= {k for k in os.environ if k.endswith(("_KEY", "_TOKEN", "_SECRET"))}
    return tuple(v for k in names if (v := os.environ.get(k)) and len(v) >= 6)


SECRET_PIECE = 6
"""Characters of a secret that are masked wherever they appear (an endpoint may echo a truncated key)."""
_TOKEN = re.compile(r"[A-Za-z0-9_-]+")


def redact(text: str, secrets: Iterable[str] | None = None) -> str:
    """``text`` with every secret (default: secret_values()) masked as ***: the whole value, and any
    run of SECRET_PIECE or more of its characters inside a word (``key 'sk-abc123...'``)."""
    given = secret_values() if secrets is None else secrets
    secrets = sorted({s for s in given if s}, key=len, reverse=True)
    for secret in secrets:
        text = text.replace(secret, "***")
    if not secrets:
        return text
    return _TOKEN.sub(lambda match: _mask_pieces(match.group(), secrets), text)


def _mask_pieces(token: str, secrets: list[str]) -> str:
    """``token`` with each run of SECRET_PIECE+ characters found in a secret replaced by ***."""
    if len(token) < SECRET_PIECE:
        return token
    masked = [False] * len(token)
    for start in range(len(token) - SECRET_PIECE + 1):
        end = start + SECRET_PIECE
        if not any(token[start:end] in s for s in secrets):
            continue
        while end < len(token) and any(token[start:end + 1] in s for s in secrets):
            end += 1
        masked[start:end] = [True] * (end - start)
    if not any(masked):
        return token
    marked = "".join("\0" if hidden else char for char, hidden in zip(token, masked, strict=True))
    return re.sub("\0+", "***", marked)
