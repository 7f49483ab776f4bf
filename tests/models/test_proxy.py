"""Behind a LiteLLM-shaped proxy (tests/support/proxy.py) in front of the real demo endpoint:
the start-up probe names the cause and the fix, n is dropped only when it is the problem, and
the response store never answers a re-pointed alias from yesterday's answers."""

from __future__ import annotations

import asyncio
import logging

import pytest

from evalkit.models import EndpointError, ModelClient, ResponseStore, RetryPolicy
from tests.support.models import chat_prompt, closed_port_url, humaneval_tasks, model_config
from tests.support.proxy import LoopbackProxy, Route

FAST = RetryPolicy(base_s=0.01, max_s=0.02)
TASKS = humaneval_tasks()[:4]
KEY = "sk-master-0123456789"


@pytest.fixture(scope="module")
def demo():
    from evalkit.models import DemoServer

    with DemoServer(TASKS) as server:
        yield server


async def probe_then_generate(cfg, store=None, n=2, prompts=None):
    client = ModelClient(cfg, store, retry=FAST)
    try:
        await client.check(chat_prompt(TASKS[0]))
        prompts = prompts or [chat_prompt(t) for t in TASKS]
        gens = await asyncio.gather(*(client.generate(p, n, 5) for p in prompts))
        return gens, client
    finally:
        await client.aclose()


def probe_error(cfg) -> str:
    with pytest.raises(EndpointError) as err:
        asyncio.run(probe_then_generate(cfg))
    message = str(err.value)
    assert "\n" not in message
    return message


def test_backend_down_behind_a_live_proxy(monkeypatch):
    with LoopbackProxy({"mixtral": Route(closed_port_url(), "demo-oracle")}) as proxy:
        message = probe_error(model_config(proxy.base_url, name="mixtral", max_retries=1))
    assert "LiteLLM proxy" in message and "the model behind 'mixtral' is failing" in message
    assert "litellm_params.api_base" in message and "Connection error" in message


@pytest.mark.parametrize("database", [False, True])
def test_wrong_key_names_the_variable_never_the_key(demo, monkeypatch, database):
    monkeypatch.setenv("PROXY_KEY", "sk-wrong-key-987654321")
    with LoopbackProxy({"mixtral": Route(demo.base_url, "demo-oracle")}, KEY, database=database) as proxy:
        message = probe_error(model_config(proxy.base_url, name="mixtral", api_key_env="PROXY_KEY"))
    assert "refused the API key" in message and "PROXY_KEY" in message
    assert "sk-wrong-key-987654321" not in message
    if not database:
        assert "No connected db" in message and "master key" in message


def test_unknown_alias_points_at_model_name(demo):
    with LoopbackProxy({"mixtral": Route(demo.base_url, "demo-oracle")}) as proxy:
        message = probe_error(model_config(proxy.base_url, name="mixtral-8x7b"))
    assert "does not route model 'mixtral-8x7b'" in message and "(it lists: mixtral)" in message
    assert "model_name" in message and "--served-model-name" not in message


def test_probe_passes_and_records_what_answered(demo):
    with LoopbackProxy({"mixtral": Route(demo.base_url, "demo-oracle")}) as proxy:
        gens, client = asyncio.run(probe_then_generate(model_config(proxy.base_url, name="mixtral")))
    assert all(not g.error for task_gens in gens for g in task_gens)
    assert client.identity["answered_by"]["model"] == "demo-oracle"
    assert client.identity["answered_by"]["x-litellm-model-api-base"] == demo.base_url
    assert client.identity["served"]["owned_by"] == "openai"


@pytest.mark.slow  # about a second on 2 cores: the full suite
@pytest.mark.parametrize("stream", [False, True])  # streamed, what answered was once not recorded at all
def test_repointed_alias_never_gets_stored_answers(demo, tmp_path, stream):
    path = tmp_path / "store.sqlite"
    with LoopbackProxy({"mixtral": Route(demo.base_url, "demo-oracle")}) as proxy:
        cfg = model_config(proxy.base_url, name="mixtral", stream=stream)
        with ResponseStore(path, run_id="monday", reuse=True) as store:
            monday, _ = asyncio.run(probe_then_generate(cfg, store))
        with ResponseStore(path, run_id="tuesday", reuse=True) as store:
            forwarded = proxy.forwarded
            _, same = asyncio.run(probe_then_generate(cfg, store))
            assert same.stats.cached == 8 and proxy.forwarded == forwarded + 1  # the probe only
            assert list(same.stats.cached_from) == ["monday"]
        proxy.repoint("mixtral", Route(demo.base_url, "demo-buggy"))
        with ResponseStore(path, run_id="wednesday", reuse=True) as store:
            after, client = asyncio.run(probe_then_generate(cfg, store))
    assert client.stats.cached == 0 and client.stats.answered == 8
    assert client.identity["answered_by"]["model"] == "demo-buggy"
    assert client.identity["answered_by"]["x-litellm-model-api-base"] == demo.base_url
    assert [g.raw_output for gens in after for g in gens] != [g.raw_output for gens in monday for g in gens]


@pytest.mark.slow  # about a second on 2 cores: the full suite
def test_other_runs_answers_need_store_reuse(demo, tmp_path):
    path = tmp_path / "store.sqlite"
    with LoopbackProxy({"mixtral": Route(demo.base_url, "demo-oracle")}) as proxy:
        cfg = model_config(proxy.base_url, name="mixtral")
        with ResponseStore(path, run_id="first") as store:
            asyncio.run(probe_then_generate(cfg, store))
        with ResponseStore(path, run_id="second") as store:
            _, fresh = asyncio.run(probe_then_generate(cfg, store))
        with ResponseStore(path, run_id="first") as store:  # the same run, resumed
            _, resumed = asyncio.run(probe_then_generate(cfg, store))
    assert fresh.stats.cached == 0 and fresh.stats.answered == 8
    assert resumed.stats.cached == 8 and resumed.stats.answered == 0


def test_offline_replay_answers_from_the_store_with_the_proxy_gone(demo, tmp_path):
    path = tmp_path / "store.sqlite"
    with LoopbackProxy({"mixtral": Route(demo.base_url, "demo-oracle")}) as proxy:
        url = proxy.base_url
        with ResponseStore(path, run_id="recorded") as store:
            recorded, _ = asyncio.run(probe_then_generate(model_config(url, name="mixtral"), store))
    with ResponseStore(path, run_id="replay") as store:
        offline = model_config(url, name="mixtral", offline=True)
        replay, client = asyncio.run(probe_then_generate(offline, store))
    assert client.stats.cached == 8 and client.stats.requests == 0
    texts = [[g.raw_output for g in gens] for gens in recorded]
    assert [[g.raw_output for g in gens] for gens in replay] == texts


def test_n_rejected_switches_to_separate_requests_and_says_so(demo, caplog):
    caplog.set_level(logging.WARNING, logger="evalkit.models.client")
    with LoopbackProxy({"mistral": Route(demo.base_url, "demo-oracle")}, reject_n=True) as proxy:
        gens, client = asyncio.run(probe_then_generate(model_config(proxy.base_url, name="mistral"), n=3))
    assert all(len(g) == 3 and not any(x.error for x in g) for g in gens)
    assert client.stats.refused == 0 and client.stats.answered == 12
    switches = [r for r in caplog.records if "one request per sample" in r.getMessage()]
    assert len(switches) == 1 and "'n'" in switches[0].getMessage()


def test_unrelated_400_keeps_n_and_fails_the_samples(demo, monkeypatch, caplog):
    caplog.set_level(logging.WARNING, logger="evalkit.models.client")
    monkeypatch.setenv("PROXY_KEY", KEY)
    # The key works for the probe, then the proxy refuses it ("No connected db.", a 400).
    with LoopbackProxy({"mixtral": Route(demo.base_url, "demo-oracle")}, KEY, refuse_after=1) as proxy:
        gens, client = asyncio.run(probe_then_generate(
            model_config(proxy.base_url, name="mixtral", api_key_env="PROXY_KEY"), n=3))
    assert proxy.forwarded == 1
    assert all(x.error and "refused the API key" in x.error for g in gens for x in g)
    assert client.stats.requests == 1 + 4  # one n=3 request per task, never split
    assert not [r for r in caplog.records if "one request per sample" in r.getMessage()]
    assert client.stats.problem(0.0).startswith("no answer at all (12 samples failed): the LiteLLM proxy")


@pytest.mark.slow  # about half a second or more on 2 cores: the full suite
def test_a_models_listing_that_fails_once_is_asked_again(demo):
    # At a vLLM server the listing's root is the only name of the weights: a run that recorded none
    # (one failed listing) could not be resumed there.
    with LoopbackProxy({"mixtral": Route(demo.base_url, "demo-oracle")}) as proxy:
        proxy.listing_fails = 1
        _, client = asyncio.run(probe_then_generate(model_config(proxy.base_url, name="mixtral"), n=1))
    assert client.identity["served"] == {"id": "mixtral", "created": 1677610602, "owned_by": "openai"}
