"""The API key never appears in what evalkit's model stage says, even when a server echoes it."""

from __future__ import annotations

import asyncio
import logging
import traceback

import pytest

from evalkit.models import EndpointError, ModelClient, ResponseStore, RetryPolicy
from evalkit.secrets import redact
from tests.support.fault_server import FaultServer
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
