"""What a failed request means: real error texts of vLLM, LiteLLM and OpenAI-compatible servers,
each classified and explained with the fix (and an unrelated 400 never blamed on `n`)."""

from __future__ import annotations

import pytest

from evalkit.models.diagnose import explain, kind, names_n
from evalkit.models.retry import ClosedUnanswered, Failure
from tests.support.models import model_config

CASES = [
    (401, "Authentication Error, Invalid proxy server token passed. Received API Key = sk-...abcd", True,
     "key"),
    (400, "No connected db.", True, "key"),
    (403, "Forbidden", False, "key"),
    (400, "Invalid model name passed in model=mixtral-8x7b. Call `/v1/models` to view available models", True,
     "alias"),
    (404, "The model `mixtral` does not exist.", False, "alias"),
    (400, "Conversation roles must alternate user/assistant/user/assistant/...", False, "roles"),
    (400, "This model's maximum context length is 32768 tokens. However, you requested 34000 tokens", False,
     "context"),
    (400, "litellm.UnsupportedParamsError: openai does not support parameters: ['n'], for model=m", True,
     "n"),
    (400, "n must be 1 when using greedy sampling, got 10.", False, "n"),
    (400, "'messages' must contain at least one message", False, "rejected"),
    (400, "Budget has been exceeded! Current cost: 10.2, Max budget: 10.0", True, "rejected"),
    (500, "litellm.APIConnectionError: APIConnectionError: OpenAIException - Connection error.", True,
     "backend_down"),
    (502, "Bad Gateway", False, "backend_down"),
    (500, "CUDA out of memory", False, "server_error"),
    (501, "Error response Error code: 501 Message: Unsupported method ('POST').", False, "not_an_api"),
    (405, "Method Not Allowed", False, "not_an_api"),
    (429, "Rate limit exceeded", False, "rate_limited"),
    (307, "Temporary Redirect", False, "redirect"),
]


@pytest.mark.parametrize(("status", "message", "proxy", "cause"), CASES)
def test_each_error_text_gets_its_cause(status, message, proxy, cause):
    fail = Failure(f"HTTP {status}: {message}", retryable=status >= 500, status=status, proxy=proxy)
    assert kind(fail) == cause
    assert names_n(fail) == (cause == "n")
    line = explain(fail, model_config("http://proxy:4000/v1", name="mixtral", api_key_env="PROXY_KEY"),
                   served=("mixtral", "claude"))
    assert "\n" not in line and "http://proxy:4000/v1" in line


def test_the_fix_fits_the_cause():
    cfg = model_config("http://proxy:4000/v1", name="mixtral-8x7b", api_key_env="PROXY_KEY")
    proxied = Failure("HTTP 400: Invalid model name passed in model=mixtral-8x7b", False, status=400,
                      proxy=True)
    assert "model_name alias" in explain(proxied, cfg, ("mixtral",)) and "(it lists: mixtral)" in explain(
        proxied, cfg, ("mixtral",))
    direct = Failure("HTTP 404: The model `mixtral-8x7b` does not exist.", False, status=404)
    assert "--served-model-name" in explain(direct, cfg)
    # listed, yet 404: the alias is there and its backend is not (a nightly owner's trial was told to
    # check model.name, the one setting that was right)
    listed = explain(direct, cfg, ("claude", "mixtral-8x7b"))
    assert "lists model 'mixtral-8x7b' but answered 404" in listed and "litellm_params" in listed
    assert "--served-model-name" not in listed
    # an id of a million characters was quoted whole: a 1 MB error line (an attacker's trial)
    huge = explain(direct, cfg, ("y" * 1_000_000, "claude"))
    assert "(it lists: yyy" in huge and "(1,000,000 characters, sha256 " in huge and len(huge) < 1000
    key = Failure("HTTP 401: Incorrect API key", False, status=401)
    assert "set the environment variable PROXY_KEY" in explain(key, cfg)
    down = Failure("connection failed: ConnectError: refused", True)
    assert "start the server or fix model.base_url" in explain(down, cfg)
    # TLS: the server is up, at the right URL (aiohttp's and httpx's own texts)
    untrusted = Failure("connection failed: ConnectError: Cannot connect to host gpu:443 ssl:True "
                        "[SSLCertVerificationError: (1, '[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify "
                        "failed: unable to get local issuer certificate (_ssl.c:1006)')]", True)
    assert "SSL_CERT_FILE" in explain(untrusted, cfg) and "start the server" not in explain(untrusted, cfg)
    # a path with a typo in it: said, not "set SSL_CERT_FILE" again
    with pytest.MonkeyPatch.context() as env:
        env.setenv("SSL_CERT_FILE", "/etc/pki/no-such-ca.pem")
        assert explain(untrusted, cfg).endswith("(SSL_CERT_FILE=/etc/pki/no-such-ca.pem does not exist)")
        env.setenv("SSL_CERT_FILE", __file__)
        assert "is set, and its certificates do not include the one that signed" in explain(untrusted, cfg)
    plain = Failure("connection failed: ConnectError: [SSL: WRONG_VERSION_NUMBER] wrong version number "
                    "(_ssl.c:1006)", True)
    assert kind(plain) == "plain_http" and "write model.base_url with http://" in explain(plain, cfg)
    # accepted and closed unanswered: an HTTPS port asked in plain HTTP, or a proxy in between refusing it
    closed = ClosedUnanswered("ConnectionResetError: [Errno 104] Connection reset by peer")
    assert "write model.base_url with https://" in explain(closed, cfg) and "start the server" not in explain(
        closed, cfg)
    with pytest.MonkeyPatch.context() as env:  # an origin not asked before: each is looked up once
        env.setenv("HTTP_PROXY", "http://user:secret@corp-proxy:3128")
        env.delenv("NO_PROXY", raising=False)
        env.delenv("no_proxy", raising=False)
        said = explain(closed, model_config("http://gpu-behind-a-proxy:8000/v1", name="m"))
        assert "go through the proxy the environment names, http://corp-proxy:3128" in said
        assert "secret" not in said
    backend = Failure("HTTP 500: Connection error.", True, status=500, proxy=True)
    assert "litellm_params.api_base" in explain(backend, cfg)
    # "rejected the request" read as final, and named no fix (a nightly owner's trial)
    limited = Failure("HTTP 429: Rate limit exceeded", True, status=429)
    said = explain(limited, cfg)
    assert "limiting the rate of requests" in said and "model.max_concurrency" in said
    moved = Failure("HTTP 307: Temporary Redirect", False, status=307)
    assert "set model.base_url to the address it redirects to" in explain(moved, cfg)
