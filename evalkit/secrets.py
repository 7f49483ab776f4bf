"""Secrets: which values are secret, and the one function that masks them in any text evalkit
writes (error messages, sample verdicts, probe hints, what an endpoint says about itself,
tracebacks on stderr)."""

from __future__ import annotations

import base64
import json
import os
import re
import urllib.parse
from collections.abc import Iterable
from functools import lru_cache

_CONFIGURED: set[str] = set()
"""Names of the variables model configs read a key from (``model.api_key_env``), whatever they end in."""


def remember_key_env(name: str | None) -> None:
    """Treat the value of environment variable ``name`` as a secret from now on (every model config
    registers its ``api_key_env``: K2 holds a key as surely as OPENAI_API_KEY)."""
    if name:
        _CONFIGURED.add(name)


def key_values() -> tuple[str, ...]:
    """Values of the variables model configs read a key from: the keys sent to some endpoint of the
    run (what an endpoint, or a proxy several arms share, may echo into an answer)."""
    return tuple(v for k in _CONFIGURED if (v := os.environ.get(k)) and len(v) >= 4 and v != "EMPTY")


PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")


def proxy_credentials() -> tuple[str, ...]:
    """The user-and-password part of each proxy URL the environment names, and its password: an
    HTTP library quotes the URL in its errors, and a password holding ``#``, ``/`` or ``?``
    unencoded is not where a URL's credentials are looked for."""
    out = []
    for name in PROXY_VARIABLES:
        value = os.environ.get(name, "")
        userinfo = value.partition("://")[2].rpartition("@")[0] if "@" in value else ""
        out += [part for part in (userinfo, userinfo.partition(":")[2]) if len(part) >= 4]
    return tuple(out)


def secret_values() -> tuple[str, ...]:
    """Values of every environment variable a model config may name, the password of a configured
    ``user:password``, and proxy credentials, for redaction. A configured key counts from 4
    characters, as the client masks it; another variable's value from 6 (a shorter one is a word,
    not a secret)."""
    names = {"OPENAI_API_KEY", "ANTHROPIC_API_KEY", "MISTRAL_API_KEY", "MIXTRAL_API_KEY"}
    # any *_KEY, not only *_API_KEY: api_key_env may name e.g. OPENROUTER_KEY
    names |= {k for k in os.environ if k.endswith(("_KEY", "_TOKEN", "_SECRET"))}
    others = (v for k in names if (v := os.environ.get(k)) and len(v) >= 6 and v != "EMPTY")
    # a basic-auth credential's password alone (`model.auth=basic`): a server may echo it decoded
    passwords = (p for v in key_values() if len(p := v.partition(":")[2]) >= 4)
    return tuple({*others, *key_values(), *passwords, *proxy_credentials()})


SECRET_PIECE = 6
"""Characters of a secret that are masked wherever they appear (an endpoint may echo a truncated key)."""
PIECES_FROM = 12
"""Secrets at least this long have their pieces masked too; a shorter one only as a whole (its
pieces would be words: a 6-letter piece of ``changeme`` is ``change``)."""


_URL_CREDENTIALS = re.compile(r"\b([a-zA-Z][a-zA-Z0-9+.-]*://)[^\s'\"<>]*@")
"""The user and password part of a URL (``http://user:pass@proxy:3128``), to its last ``@`` (a
password may hold ``#``, ``/`` or ``?`` unencoded): a proxy the environment names carries its
credentials so, and an HTTP library quotes the URL in its errors."""


def redact(text: str, secrets: Iterable[str] | None = None, *, pieces: bool = True,
           url_credentials: bool = True) -> str:
    """``text`` with every secret (default: secret_values()) masked as ***: the whole value, and for a
    secret of PIECES_FROM+ characters any run of SECRET_PIECE or more of its characters
    (``key 'sk-abc123...'``, ``partial Zx9+Qw7/``). The same for the forms a server may echo it
    in: URL-encoded, JSON-escaped, base64. With ``url_credentials`` (not for a model's answer, whose
    code is scored), a URL's user and password too (``http://***@proxy:3128``).

    ``pieces=False`` for what an endpoint said that evalkit keeps as data (a model's answer; its
    listing and headers, which identify what answered): only whole forms are masked, for a key's
    pieces are words there (the key ``sk-xreturn-numbers-Q9w8`` turned every ``return`` of every
    answer into ``***``, each scored ``failed``, and ``x-litellm-model-id`` into ``x***model-id``
    under a key holding ``litellm``)."""
    given = secret_values() if secrets is None else secrets
    wholes, parts = _forms(frozenset(s for s in given if s))
    if url_credentials:
        text = _URL_CREDENTIALS.sub(r"\1***@", text)
    for form in wholes:
        text = text.replace(form, "***")
    if not pieces or not parts or len(text) < SECRET_PIECE:
        return text
    return _mask_pieces(text, parts)


@lru_cache(maxsize=64)
def _forms(secrets: frozenset[str]) -> tuple[tuple[str, ...], tuple[tuple[str, ...], frozenset[str]]]:
    """(every form of every secret, longest first; (the forms whose pieces are masked, their
    SECRET_PIECE-long pieces))."""
    wholes: set[str] = set()
    long_forms: set[str] = set()
    for secret in secrets:
        forms = _encodings(secret)
        wholes |= forms
        if len(secret) >= PIECES_FROM:
            long_forms |= {f for f in forms if len(f) >= SECRET_PIECE}
    grams = frozenset(f[i:i + SECRET_PIECE] for f in long_forms for i in range(len(f) - SECRET_PIECE + 1))
    return tuple(sorted(wholes, key=len, reverse=True)), (tuple(long_forms), grams)


def _encodings(secret: str) -> set[str]:
    """``secret`` as it is and as a server may quote it: URL-encoded (either case of hex digits,
    + for space), JSON-escaped (a slash as backslash-slash too), base64 (standard and URL-safe: on
    its own, as a basic-auth header holds a ``user:password`` credential, whatever its length; and,
    for a secret of PIECES_FROM+ characters, at each of the three alignments it can have inside a
    longer encoded text, such as a header holding it after a user name)."""
    # A variable's bytes that are not UTF-8 come as lone surrogates: encoded back to those bytes
    raw = secret.encode("utf-8", "surrogateescape")
    # Whole, at any length: a basic-auth header is exactly the base64 of the credential it holds.
    whole = base64.b64encode(raw).decode()
    encoded = {whole, whole.rstrip("="), base64.urlsafe_b64encode(raw).decode().rstrip("=")}
    forms = {secret, urllib.parse.quote(raw, safe=""), urllib.parse.quote(raw), urllib.parse.quote_plus(raw),
             json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1], *encoded,
             # a header quoted URL-encoded: `Basic%20Ym8%2FOmh1...`
             *(urllib.parse.quote(form, safe="") for form in encoded)}
    forms |= {re.sub(r"%[0-9A-F]{2}", lambda m: m.group().lower(), f) for f in forms}
    forms |= {f.replace("/", "\\/") for f in forms}
    if len(secret) < PIECES_FROM:
        return {f for f in forms if f}  # a short secret's shifted base64 would match other text
    for shift in range(3):
        encoded = base64.b64encode(b"\0" * shift + raw).decode().rstrip("=")
        if shift:
            encoded = encoded[4:]  # the first group holds the padding bytes
        if len(raw) % 3 or shift:
            encoded = encoded[:-3]  # the last group depends on what follows the key
        forms |= {encoded, encoded.replace("+", "-").replace("/", "_")}
    return {f for f in forms if f}


def _mask_pieces(text: str, pieces: tuple[tuple[str, ...], frozenset[str]]) -> str:
    """``text`` with each run of SECRET_PIECE+ characters found in a secret's form replaced by ***."""
    forms, grams = pieces
    masked_to = -1  # text[:masked_to] up to here is masked already
    spans: list[tuple[int, int]] = []
    for start in range(len(text) - SECRET_PIECE + 1):
        if text[start:start + SECRET_PIECE] not in grams:
            continue
        end = start + SECRET_PIECE
        while end < len(text) and any(text[start:end + 1] in f for f in forms):
            end += 1
        if spans and start <= masked_to:
            spans[-1] = (spans[-1][0], max(masked_to, end))
        else:
            spans.append((start, end))
        masked_to = max(masked_to, end)
    if not spans:
        return text
    out, last = [], 0
    for start, end in spans:
        out.append(text[last:start])
        out.append("***")
        last = end
    out.append(text[last:])
    return "".join(out)
