"""What a failed request means for the user: the cause and the fix, on one line.

The same words for the start-up probe and for every sample's infra_error, and
aware of a LiteLLM proxy in between (known from its ``x-litellm-*`` headers or
its error text): there, the fix is the proxy's ``model_name`` alias, the key it
accepts, or the backend behind it, not the model server's flags.
"""

from __future__ import annotations

import os
import re
import urllib.parse

from evalkit.config import ModelConfig
from evalkit.models.retry import (
    NOT_AN_API_STATUS,
    AnswerFailed,
    AnswerTooLong,
    BodyCut,
    ClosedUnanswered,
    Failure,
    StreamCut,
    named,
)
from evalkit.models.transport import environment_proxy
from evalkit.records import printable

_KEY_TEXT = re.compile(r"no connected db|authentication error|invalid proxy server token|api key|"
                       r"unauthori[sz]ed", re.I)
_ALIAS_TEXT = re.compile(r"invalid model name|model[^.;]{0,80}(does not exist|not found)|"
                         r"no deployments? (available|found)", re.I)
_CONTEXT_TEXT = re.compile(r"context length|context window|maximum context|max_model_len|"
                           r"prompt is too long|too many tokens", re.I)
_N_TEXT = re.compile(r"(['\"`]n['\"`]|\bparam(eter)?:? ?n\b|\bn\b (must|should|is not|not supported|"
                     r"> ?1|greater than|only supports)|\bn=\d+ (is )?not)", re.I)
_ROLES_TEXT = re.compile(r"alternat", re.I)
_UNTRUSTED_TEXT = re.compile(r"certificate verify failed|CERTIFICATE_VERIFY_FAILED", re.I)
_PLAIN_HTTP_TEXT = re.compile(r"wrong version number|WRONG_VERSION_NUMBER|record layer failure", re.I)
_DOWN_TEXT = re.compile(r"connection (error|refused)|apiconnectionerror|cannot connect|"
                        r"service unavailable|upstream|bad gateway", re.I)


_RULES: tuple[tuple[str, frozenset[int], re.Pattern[str] | None], ...] = (
    ("not_an_api", NOT_AN_API_STATUS, None),
    ("key", frozenset({401, 403}), None),
    ("key", frozenset({400}), _KEY_TEXT),
    ("alias", frozenset({404}), None),
    ("alias", frozenset({400, 422}), _ALIAS_TEXT),
    ("roles", frozenset({400, 422}), _ROLES_TEXT),
    ("context", frozenset({400, 413, 422}), _CONTEXT_TEXT),
    ("n", frozenset({400, 422}), _N_TEXT),
    ("rate_limited", frozenset({429}), None),
    ("redirect", frozenset({301, 302, 303, 307, 308}), None),
)
"""(cause, statuses, text the message must contain), first match wins."""


_ANSWER_FAILURES = ((ClosedUnanswered, "closed"), (StreamCut, "cut"), (BodyCut, "body_cut"),
                    (AnswerFailed, "failed_answer"), (AnswerTooLong, "too_long"))
"""Failures of a connection the server accepted, closed unanswered or with an answer that began and did
not end as one: (their Failure class, their cause)."""


def kind(fail: Failure) -> str:
    """The failure's cause: unreachable, untrusted_certificate, plain_http, timeout, closed, cut, body_cut,
    failed_answer, too_long, malformed, not_an_api, key, alias, roles, context, n, rate_limited, redirect,
    backend_down, server_error or rejected."""
    text, status = fail.message, fail.status
    if status is None:
        if fail.timed_out:
            return "timeout"
        answer = next((cause for cls, cause in _ANSWER_FAILURES if isinstance(fail, cls)), None)
        if answer or fail.answered:
            return answer or "malformed"
        # TLS failures are failures to connect: "start the server" sent a user whose server was up,
        # behind an internal CA, looking for a fault that was not there (a checker's trial)
        return ("untrusted_certificate" if _UNTRUSTED_TEXT.search(text)
                else "plain_http" if _PLAIN_HTTP_TEXT.search(text) else "unreachable")
    for cause, statuses, pattern in _RULES:
        if status in statuses and (pattern is None or pattern.search(text)):
            return cause
    if status >= 500:
        return "backend_down" if fail.proxy or _DOWN_TEXT.search(text) else "server_error"
    return "rejected"


def names_n(fail: Failure) -> bool:
    """True when the error is about the ``n`` parameter (so separate requests may succeed)."""
    return kind(fail) == "n"


def _key(fail: Failure, cfg: ModelConfig, where: str) -> str:
    var = (f"the environment variable {cfg.api_key_env}" if cfg.api_key_env
           else "model.api_key_env (the NAME of the variable holding the key)")
    if cfg.api_key_env and not os.environ.get(cfg.api_key_env):  # no key was sent at all: a misspelt name?
        var += " (not set: no key was sent; check its spelling in model.api_key_env)"
    if cfg.auth == "basic":
        return (f"{where} refused the user and password ({fail.message}); set {var} to the "
                "user:password the server accepts (sent as HTTP basic auth: model.auth=basic)")
    no_db = "no connected db" in fail.message.lower()
    extra = " (a LiteLLM proxy without a database accepts only its master key)" if no_db else ""
    who = "the proxy" if fail.proxy or no_db else "the server"
    return f"{where} refused the API key ({fail.message}); set {var} to a key {who} accepts{extra}"


def _alias(fail: Failure, cfg: ModelConfig, where: str, served: tuple[str, ...] | None) -> str:
    # each id as evalkit keeps a name (retry.named): one of a million characters made a 1 MB line
    shown = ", ".join(map(named, (served or ())[:5])) + (", ..." if served and len(served) > 5 else "")
    listed = f" (it lists: {shown})" if served else ""
    if served and cfg.name in served:  # the name is right: what it routes to is not there (a LiteLLM
        # alias whose backend answers 404); "check model.name" sent the user to the one setting that was right
        return (f"{where} lists model {cfg.name!r} but answered {fail.status} for it ({fail.message}): the "
                "name is served, what it leads to is missing; check the proxy's litellm_params for it (its "
                "backend's model and api_base) or the server's log")
    if fail.proxy:
        return (f"{where} does not route model {cfg.name!r}{listed} ({fail.message}); set model.name to a "
                "model_name alias of the proxy's config (model_list[].model_name)")
    return (f"{cfg.base_url} answered {fail.status} for model {cfg.name!r}{listed} ({fail.message}): check "
            "that model.base_url ends in /v1 and that model.name is the server's served id "
            "(vLLM --served-model-name, or a LiteLLM proxy's model_name alias)")


def _backend(fail: Failure, cfg: ModelConfig, where: str) -> str:
    if fail.proxy:
        return (f"{where} is up but the model behind {cfg.name!r} is failing ({fail.message}); start or "
                "fix the backend its litellm_params.api_base points to")
    return f"the model endpoint at {cfg.base_url} is failing ({fail.message}); start or fix the model server"


_FIXES = {
    "unreachable": "cannot reach the model endpoint at {url} ({msg}); start the server or fix model.base_url",
    "untrusted_certificate": ("the model endpoint at {url} answered with a TLS certificate this machine does "
                              "not trust ({msg}): give the certificate of the CA that signed it (PEM) in the "
                              "environment variable SSL_CERT_FILE, or a folder of them in SSL_CERT_DIR, or "
                              "use the host name the certificate names in model.base_url"),
    "plain_http": ("the model endpoint at {url} does not speak TLS there ({msg}): write model.base_url with "
                   "http://, or give the port that serves HTTPS"),
    "timeout": ("{where} did not answer for {name!r}: {msg}; check that the server is up and not stuck "
                "(its log, a firewall that drops packets), or raise model.timeout_s where its first answer "
                "is slow (a model loading)"),
    "closed": ("{where} accepted the connection for {name!r} but {msg}: if it serves HTTPS, write "
               "model.base_url with https://; else check the server's log (it may fail on the request) and "
               "any proxy in between"),
    "cut": ("{where} began to answer for {name!r} but {msg}; check the streaming timeouts of the server "
            "and of any proxy in between, or set model.stream=false"),
    "body_cut": ("{where} began to answer for {name!r} but {msg}: the server, or a proxy or load balancer "
                 "in between, cut it; check their logs and idle timeouts"),
    "failed_answer": ("{where} failed its answer for {name!r} ({msg}); check the server's log (an "
                      "aborted request, a backend error mid-answer)"),
    "too_long": ("{where} answered for {name!r}, but {msg}: the server, or a proxy in between, sends "
                 "without end; check their logs, and model.params.max_tokens"),
    "malformed": ("{where} answered for {name!r}, but not with an OpenAI-compatible completion ({msg}): "
                  "point model.base_url at the API, with its /v1, and check model.api (chat or completions)"),
    "not_an_api": ("{url} is not an OpenAI-compatible API ({msg}): point model.base_url at one, with its "
                   "/v1 (vLLM, Ollama, a LiteLLM proxy)"),
    "roles": ("{where} rejected the conversation ({msg}); this model's chat template needs alternating "
              "user/assistant turns: set prompt.fold_system=true"),
    "context": ("{where}: the prompt does not fit the context of {name!r} ({msg}); lower "
                "model.params.max_tokens or pick a template or model with room for it"),
    "server_error": "the model endpoint at {url} is failing ({msg}); try again later",
    "n": "{where} rejected the request for {name!r} ({msg}); set model.use_n=false",
    "rate_limited": ("{where} is limiting the rate of requests for {name!r} ({msg}), still after the "
                     "retries; run again later, or lower model.max_concurrency"),
    "redirect": ("{where} redirected the request for {name!r} ({msg}); set model.base_url to the address "
                 "it redirects to (its /v1), which requests are not sent on to"),
    "rejected": "{where} rejected the request for {name!r} ({msg})",
}


def explain(fail: Failure, cfg: ModelConfig, served: tuple[str, ...] | None = None) -> str:
    """One line: what failed, at which endpoint, and what to change (never a key's value), a terminal
    shows as it is: the names a server lists came as it sent them (an attacker's trial listed ids
    holding escape sequences, and a 404 put them on the terminal, in evalkit.log and the reports)."""
    return printable(_explained(fail, cfg, served))


def _explained(fail: Failure, cfg: ModelConfig, served: tuple[str, ...] | None) -> str:
    where = f"the LiteLLM proxy at {cfg.base_url}" if fail.proxy else str(cfg.base_url)
    cause = kind(fail)
    if cause == "key":
        return _key(fail, cfg, where)
    if cause == "alias":
        return _alias(fail, cfg, where, served)
    if cause == "backend_down":
        return _backend(fail, cfg, where)
    via = _proxy_for(str(cfg.base_url)) if cause in THROUGH_A_PROXY else None
    if via and fail.status == 407:
        return (f"the proxy the environment names, {via}, refused the request to {cfg.base_url} ("
                f"{fail.message}): give its user and password in HTTP_PROXY or HTTPS_PROXY "
                "(http://user:password@host:port), or list the endpoint's host in NO_PROXY")
    said = _FIXES[cause].format(url=cfg.base_url, where=where, name=cfg.name, msg=fail.message)
    if cause == "untrusted_certificate":
        said += _ca_given()
    if via:  # behind a corporate proxy, "start the server" sends the user to a server that is up
        said += (f" (requests to it go through the proxy the environment names, {via}, which may have "
                 "answered this itself: list the endpoint's host in NO_PROXY to reach it directly)")
    return said


def _ca_given() -> str:
    """What the CA variables hold already: told to set SSL_CERT_FILE, a user whose path had a typo
    set it again (an outsider's trial)."""
    given = [(name, path) for name in ("SSL_CERT_FILE", "SSL_CERT_DIR") if (path := os.environ.get(name))]
    missing = [f"{name}={path} does not exist" for name, path in given if not os.path.exists(path)]
    if missing:
        return f" ({'; '.join(missing)})"
    return (f" ({', '.join(f'{name}={path}' for name, path in given)} is set, and its certificates do not "
            "include the one that signed this server's)") if given else ""


THROUGH_A_PROXY = frozenset({"unreachable", "untrusted_certificate", "plain_http", "timeout", "closed",
                             "malformed", "not_an_api", "server_error", "rejected"})
"""Causes a proxy between evalkit and the endpoint may be the source of (its own 503 when it cannot
reach the host, 407 for its credentials, an HTML page, a connection it closes): every one that does not
prove the API answered."""


def _proxy_for(url: str) -> str | None:
    """The proxy the environment names for ``url``, as scheme://host:port: never its credentials,
    which are cut at their last ``@`` (a password may hold ``#``, ``/`` or ``?`` unencoded, where a
    URL parser takes the password for the host or a port, and raised)."""
    parts = urllib.parse.urlsplit(url)
    try:
        proxy = environment_proxy(parts.scheme, parts.hostname or "", parts.port)
    except ValueError:  # a port that is not a number
        return None
    if proxy is None:
        return None
    scheme, _, rest = proxy.partition("://")
    return f"{scheme}://{rest.rpartition('@')[2].split('/')[0]}"
