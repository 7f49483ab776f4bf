"""The API key never appears in what evalkit's model stage says, even when a server echoes it."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import traceback
import urllib.parse

import pytest

from evalkit.models import EndpointError, ModelClient, ResponseStore, RetryPolicy
from evalkit.secrets import redact, remember_key_env, secret_values
from tests.support.fault_server import FaultServer
from tests.support.leaky_server import LeakyServer
from tests.support.models import case_prompt, model_config

SENTINEL = "sk-SENTINEL-d6f1c0ffee-never-print-me"


@pytest.fixture()
def sentinel_env(monkeypatch):
    monkeypatch.setenv("EVALKIT_TEST_API_KEY", SENTINEL)
    return "EVALKIT_TEST_API_KEY"


def test_401_and_errors_never_show_the_key(sentinel_env, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    with FaultServer(require_key="the-right-key") as srv:
        cfg = model_config(srv.base_url, api_key_env=sentinel_env)
        store = ResponseStore(tmp_path / "s.sqlite")
        client = ModelClient(cfg, store, retry=RetryPolicy(0.01, 0.02))

        async def go():
            with pytest.raises(EndpointError) as err:
                await client.check()
            gens = await client.generate(case_prompt("x"), 2, 1)
            await client.aclose()
            return err.value, gens

        error, gens = asyncio.run(go())
        store.close()
    text = "".join(traceback.format_exception(error))
    assert sentinel_env in str(error) and "401" in str(error)
    assert SENTINEL not in text and SENTINEL not in repr(error)
    assert all(g.error and SENTINEL not in g.error for g in gens)
    assert "401" in gens[0].error
    assert SENTINEL not in caplog.text
    assert SENTINEL.encode() not in (tmp_path / "s.sqlite").read_bytes()


def test_echoed_key_in_a_generation_error_is_redacted(sentinel_env):
    with FaultServer() as srv:
        srv.script("auth", ["401"])
        async def go():
            client = ModelClient(model_config(srv.base_url, api_key_env=sentinel_env), None,
                                 retry=RetryPolicy(0.01, 0.02))
            try:
                return await client.generate(case_prompt("auth"), 1, 1)
            finally:
                await client.aclose()

        (gen,) = asyncio.run(go())
        assert "Incorrect API key provided" in gen.error and "***" in gen.error
        assert SENTINEL not in gen.error and srv.count("auth") == 1


def test_redact_masks_pieces_of_a_secret_not_words_that_share_a_few_letters():
    key = "sk-Zq9xW7Lm2Qp4Rt8vNARY3b"
    text = f"key '{key[:14]}...{key[-4:]}' refused; Bearer {key}; token xx{key[5:12]}yy; sk-Zq is short"
    assert redact(text, [key]) == "key '***...RY3b' refused; Bearer ***; token xx***yy; sk-Zq is short"
    masked = redact("HTTP 401: Zq9xW7 and chat/completions", ["EMPTY", key])
    assert masked == "HTTP 401: *** and chat/completions"


B64_KEY = "Zx9+Qw7/Lm3=Rt5+Yu8/Io1=Pa2"
"""A key of base64-like characters (+ / =), in a variable whose name says nothing of a key."""


@pytest.fixture()
def k2_env(monkeypatch):
    monkeypatch.setenv("EVALKIT_TEST_K2", B64_KEY)
    return "EVALKIT_TEST_K2"


def test_redact_masks_pieces_of_a_key_with_base64_characters():
    text = f"partial {B64_KEY[:8]}...; tail x{B64_KEY[-9:]}; middle '{B64_KEY[6:14]}'; Zx9+Qw is a piece"
    assert redact(text, [B64_KEY]) == "partial ***...; tail x***; middle '***'; *** is a piece"
    # pieces only of keys long enough to have no words in them; a short one only as a whole
    assert redact("changes, changeme", ["changeme"]) == "changes, ***"


def test_redact_masks_the_key_url_encoded_json_escaped_and_in_base64():
    quoted = urllib.parse.quote(B64_KEY, safe="")
    lower_hex = quoted.replace("%2B", "%2b").replace("%2F", "%2f").replace("%3D", "%3d")
    basic = base64.b64encode(f"user:{B64_KEY}".encode()).decode()
    for echoed in (quoted, lower_hex, quoted[:14], urllib.parse.quote_plus(B64_KEY),
                   json.dumps({"key": B64_KEY}), base64.b64encode(B64_KEY.encode()).decode(), basic):
        masked = redact(f"Invalid key {echoed} given", [B64_KEY])
        assert masked.startswith("Invalid key ") and "***" in masked, masked
        assert not any(form in masked for form in (B64_KEY[:6], quoted[:6], lower_hex[:6])), masked
    assert base64.b64decode(redact(basic, [B64_KEY]).split("***")[0] + "==")[:5] == b"user:"


def test_a_short_basic_auth_credential_is_masked_in_the_header_that_carries_it():
    # model.auth=basic sends base64("user:password"); under 12 characters only the plain form was
    # masked, and a server echoing its Authorization header put `Basic Ym9iOnMzY3IzdCE=` in every file.
    header = "Basic " + base64.b64encode(b"bob:s3cr3t!").decode()
    masked = redact(f"401: bad credentials in {header!r}", ["bob:s3cr3t!"])
    assert masked == "401: bad credentials in 'Basic ***'"
    unpadded = base64.urlsafe_b64encode(b"bob:s3cr3t!").decode().rstrip("=")
    assert redact(f"token {unpadded}.", ["bob:s3cr3t!"]) == "token ***."


def test_a_basic_auth_password_echoed_alone_or_its_header_url_encoded_is_masked(monkeypatch):
    # A server echoing the decoded password, or the header URL-encoded, put `hunter2` or
    # `Basic%20Ym8%2FOmh1PnRlcjI%3D` on stderr: only the whole credential was a secret.
    monkeypatch.setenv("EVALKIT_TEST_LOGIN", "bo?:hu>ter2")
    model_config("http://127.0.0.1:9/v1", api_key_env="EVALKIT_TEST_LOGIN", auth="basic")
    assert redact("401: wrong password 'hu>ter2'") == "401: wrong password '***'"
    header = urllib.parse.quote("Basic " + base64.b64encode(b"bo?:hu>ter2").decode(), safe="")
    assert "Ym8" not in redact(f"refused {header}")


def test_a_secret_whose_bytes_are_not_utf8_is_masked_not_a_crash():
    # A *_TOKEN variable holding a byte that is not UTF-8 (os.environ gives it as a lone surrogate)
    # crashed every run with a UnicodeEncodeError while its URL-encoded form was built.
    token = "abc\udcffdefgh"
    assert redact(f"echo {token} and %FF", [token]) == "echo *** and %FF"


def test_a_key_variable_set_empty_is_no_key(monkeypatch):
    # CI sets a secret it does not have to "": the openai client's "Missing credentials", exit 3.
    monkeypatch.setenv("EVALKIT_TEST_EMPTY", "")
    assert model_config("http://127.0.0.1:9/v1", api_key_env="EVALKIT_TEST_EMPTY").api_key() == "EMPTY"
    monkeypatch.setenv("EVALKIT_TEST_EMPTY", "  ")  # blanks: no key either (it sent "Bearer   ")
    assert model_config("http://127.0.0.1:9/v1", api_key_env="EVALKIT_TEST_EMPTY").api_key() == "EMPTY"


def test_the_configured_key_variable_is_secret_whatever_its_name(k2_env):
    model_config("http://127.0.0.1:9/v1", api_key_env=k2_env)
    assert B64_KEY in secret_values()
    assert redact(f"Traceback ... key={B64_KEY[:8]}") == "Traceback ... key=***"


def test_a_400_echoing_part_of_a_base64_like_key_is_masked(k2_env):
    with LeakyServer("partial400") as srv:
        async def go():
            client = ModelClient(model_config(srv.base_url, api_key_env=k2_env), None,
                                 retry=RetryPolicy(0.01, 0.02))
            try:
                await client.check()
                return await client.generate(case_prompt("x"), 2, 1)
            finally:
                await client.aclose()

        gens = asyncio.run(go())
    assert all("HTTP 400" in g.error and "partial ***" in g.error for g in gens)
    assert not any(B64_KEY[:6] in g.error for g in gens)


def test_a_401_quoting_the_key_url_encoded_is_masked(k2_env):
    with LeakyServer("urlencoded401") as srv:
        async def go():
            client = ModelClient(model_config(srv.base_url, api_key_env=k2_env), None,
                                 retry=RetryPolicy(0.01, 0.02))
            try:
                with pytest.raises(EndpointError) as err:
                    await client.check()
                return err.value
            finally:
                await client.aclose()

        error = asyncio.run(go())
    text = "".join(traceback.format_exception(error))
    assert "401" in str(error) and "Invalid key ***" in str(error)
    assert "Zx9%2B" not in text and B64_KEY[:6] not in text


def _identity_and_answers(key_env: str, store: ResponseStore | None = None):
    """A client's identity and answers from the leaky server's ``identity`` mode, probed and asked
    once with the key in ``key_env``."""
    with LeakyServer("identity") as srv:
        async def go():
            client = ModelClient(model_config(srv.base_url, api_key_env=key_env), store,
                                 retry=RetryPolicy(0.01, 0.02))
            try:
                await client.check()
                return client, await client.generate(case_prompt("x"), 1, 1)
            finally:
                await client.aclose()

        return asyncio.run(go())


def test_what_the_endpoint_says_about_itself_is_masked(k2_env, tmp_path):
    store = ResponseStore(tmp_path / "s.sqlite")
    client, gens = _identity_and_answers(k2_env, store)
    store.close()
    identity = json.dumps(client.identity)
    assert client.identity["served"] == {"id": "m", "root": "/weights/***", "owned_by": "***"}
    assert client.identity["answered_by"]["model"] == "***"
    assert client.identity["answered_by"]["x-litellm-model-id"] == "***"
    assert client.identity["answered_by"]["x-litellm-model-api-base"] == "http://backend:8000/v1?key=***"
    assert B64_KEY[:6] not in identity and "Zx9%2B" not in identity
    assert gens[0].raw_output and not gens[0].error


def test_a_key_s_pieces_never_change_an_answer_or_the_names_of_what_answered(monkeypatch):
    # The key sk-xreturn-numbers-Q9w8 turned every `return` of every answer into `***` (each scored
    # failed, exit 0), and a key holding "litellm" recorded the header x-litellm-model-id as x***model-id
    # (the baseline lost its deployment, and rotating the key read as another deployment).
    key = "sk-xreturn-litellm-Q9w8Zx"
    monkeypatch.setenv("EVALKIT_TEST_API_KEY", key)
    client, (gen,) = _identity_and_answers("EVALKIT_TEST_API_KEY")
    assert gen.raw_output == "    return None\n" and not gen.error
    assert client.identity["answered_by"]["x-litellm-model-id"] == "***"  # the echoed key, whole
    assert client.identity["answered_by"]["x-litellm-model-api-base"] == "http://backend:8000/v1?key=***"
    assert client.identity["served"]["owned_by"] == "***"
    # messages still mask its pieces: an error may quote it cut short
    assert redact(f"bad key {key[:12]}...") == "bad key ***..."
    # what answered keeps no URL's credentials (a proxy's api_base header may hold its backend's)
    assert redact("http://svc:pw@backend:8000/v1", [key], pieces=False) == "http://***@backend:8000/v1"


def _answer_of(case: str, key_env: str):
    """The one sample the fault server gives ``case``, asked with the key in ``key_env``."""
    with FaultServer() as srv:
        async def go():
            client = ModelClient(model_config(srv.base_url, api_key_env=key_env), None,
                                 retry=RetryPolicy(0.01, 0.02))
            try:
                return await client.generate(case_prompt(case), 1, 1)
            finally:
                await client.aclose()

        (gen,) = asyncio.run(go())
    return gen


def test_a_variable_that_only_looks_like_a_secret_never_changes_an_answer(monkeypatch):
    # MY_TOKEN=threshold turned `if distance < threshold:` into `if distance < ***:` before scoring: a
    # correct answer failed. An endpoint can only echo the key it was sent; that one is still masked.
    monkeypatch.setenv("MY_TOKEN", "answer")
    monkeypatch.setenv("EVALKIT_TEST_API_KEY", "odd seed")  # the key sent: what an echo would hold
    gen = _answer_of("odd", "EVALKIT_TEST_API_KEY")
    assert "answer" in secret_values()  # still masked in messages, logs and tracebacks
    assert not gen.error and gen.raw_output.startswith("answer ***="), gen.raw_output


def test_another_arm_s_key_echoed_into_an_answer_is_masked(monkeypatch):
    # Two arms behind one proxy: the endpoint was sent both keys, and echoed the other arm's into
    # this arm's answers (samples.jsonl and the store held it in plain text).
    monkeypatch.setenv("ARM_B_KEY", "odd seed")
    remember_key_env("ARM_B_KEY")  # what arm b's model config does
    monkeypatch.setenv("EVALKIT_TEST_API_KEY", "sk-arm-a-0123456789")
    gen = _answer_of("odd", "EVALKIT_TEST_API_KEY")
    assert not gen.error and gen.raw_output.startswith("answer ***="), gen.raw_output


def test_a_url_s_credentials_are_masked_in_messages_never_in_an_answer_s_code():
    # aiohttp quotes the proxy's URL, password and all, in its errors; a program's own connection
    # string is code, and scored as written.
    error = "ClientHttpProxyError: 503, url='http://alice:hunter2pass@proxy.corp:3128'"
    assert redact(error, []) == "ClientHttpProxyError: 503, url='http://***@proxy.corp:3128'"
    code = "engine = connect('postgresql://app:pw@db/main')"
    assert redact(code, [], url_credentials=False) == code


def test_a_placeholder_key_is_not_masked_in_an_answer_s_code(monkeypatch):
    # A local server's key is often a word (test, dummy, ollama): with the key "test", HumanEval/111's
    # `list1=test.split(" ")` was scored as `list1=***.split(" ")`, a syntax error.
    monkeypatch.setenv("EVALKIT_TEST_API_KEY", "answer")
    gen = _answer_of("odd", "EVALKIT_TEST_API_KEY")
    assert not gen.error and gen.raw_output.startswith("answer odd seed="), gen.raw_output
    assert redact("refused key answer") == "refused key ***"  # messages still mask it


def test_a_configured_key_of_4_characters_is_masked_in_tracebacks_too(monkeypatch):
    # The client masked it from 4 characters; a traceback (plain redact) only from 6.
    monkeypatch.setenv("ARM_C_KEY", "ab12c")
    remember_key_env("ARM_C_KEY")
    assert redact("Traceback ... key='ab12c'") == "Traceback ... key='***'"
