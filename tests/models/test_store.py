"""The response store: cache hits make no request, errors are never stored, offline mode,
and several processes writing one file at once."""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from evalkit.models import DemoServer, EndpointError, ModelClient, ResponseStore, RetryPolicy, request_key
from evalkit.models import store as store_module
from evalkit.models.store import StoredResponse, source_key
from tests.support.cli import REPO, run_evalkit
from tests.support.fault_server import FaultServer
from tests.support.models import case_prompt, chat_prompt, humaneval_tasks, model_config

FAST = RetryPolicy(base_s=0.01, max_s=0.05)


async def generate(cfg, store, prompts, n):
    client = ModelClient(cfg, store, retry=FAST)
    try:
        return await asyncio.gather(*(client.generate(p, n, 3) for p in prompts)), client
    finally:
        await client.aclose()


def test_rerun_is_answered_from_the_store(tmp_path):
    tasks = humaneval_tasks()[:8]
    prompts = [chat_prompt(t) for t in tasks]
    with FaultServer(models=("demo",)) as srv, ResponseStore(tmp_path / "s.sqlite") as store:
        cfg = model_config(srv.base_url, name="demo")
        first, _ = asyncio.run(generate(cfg, store, prompts, 3))
        sent = len(srv.requests)
        again, client = asyncio.run(generate(cfg, store, prompts, 3))
        assert len(srv.requests) == sent  # no request at all
        assert client.stats.cached == 24 and store.count() == 24
    for a, b in zip(first, again, strict=True):
        assert [g.raw_output for g in a] == [g.raw_output for g in b]
        assert all(g.cached for g in b) and not any(g.cached for g in a)
        assert [g.usage for g in a] == [g.usage for g in b]


def test_only_missing_samples_are_requested(tmp_path):
    with FaultServer() as srv, ResponseStore(tmp_path / "s.sqlite") as store:
        cfg = model_config(srv.base_url)
        asyncio.run(generate(cfg, store, [case_prompt("grow")], 3))
        (gens,), _ = asyncio.run(generate(cfg, store, [case_prompt("grow")], 5))
        assert [g.cached for g in gens] == [True, True, True, False, False]
        assert srv.count("grow") == 2 and srv.requests[-1]["body"]["n"] == 2


def test_errors_are_never_stored(tmp_path):
    with FaultServer() as srv, ResponseStore(tmp_path / "s.sqlite") as store:
        srv.script("down", ["503"] * 5)
        ((gen,),), _ = asyncio.run(generate(model_config(srv.base_url, max_retries=1), store,
                                            [case_prompt("down")], 1))
        assert gen.error and store.count() == 0


def test_key_covers_every_parameter():
    body = {"messages": [{"role": "user", "content": "x"}], "temperature": 0.2, "seed": 1}
    key = request_key("m", "chat", body, 0)
    assert key == request_key("m", "chat", dict(reversed(body.items())), 0)
    assert len({key, request_key("m2", "chat", body, 0), request_key("m", "completions", body, 0),
                request_key("m", "chat", body | {"temperature": 0.3}, 0),
                request_key("m", "chat", body, 1)}) == 5


def test_offline_answers_from_store_and_names_the_first_missing(tmp_path):
    tasks = humaneval_tasks()[:3]
    with DemoServer(tasks) as demo, ResponseStore(tmp_path / "s.sqlite") as store:
        url = demo.base_url
        online = model_config(url, name="demo-buggy")
        asyncio.run(generate(online, store, [chat_prompt(t) for t in tasks[:2]], 2))
    # The endpoint is gone now: offline mode must not try it.
    with ResponseStore(tmp_path / "s.sqlite") as store:
        offline = model_config(url, name="demo-buggy", offline=True)
        results, _ = asyncio.run(generate(offline, store, [chat_prompt(t) for t in tasks[:2]], 2))
        assert all(g.cached for gens in results for g in gens)
        with pytest.raises(EndpointError, match="HumanEval/1 sample 2"):
            asyncio.run(generate(offline, store, [chat_prompt(tasks[1])], 3))
        with pytest.raises(EndpointError, match="HumanEval/2 sample 0"):
            asyncio.run(generate(offline, store, [chat_prompt(tasks[2])], 1))


WRITER = textwrap.dedent("""
    import sys
    from pathlib import Path
    from evalkit.models.store import ResponseStore, StoredResponse
    path, who = Path(sys.argv[1]), int(sys.argv[2])
    store = ResponseStore(path)
    print("ready", flush=True)
    sys.stdin.readline()  # every writer starts at the same moment
    for i in range(300):
        key = f"shared-{i}" if i % 3 == 0 else f"w{who}-{i}"
        store.put_many([StoredResponse(key, "m", f"T/{i}", who, f"text {who} {i}", "stop", 1, 2, 0.1)])
        store.get_many([key], source="", asked_by="")
    store.close()
""")


@pytest.mark.slow
def test_concurrent_writers_from_several_processes(tmp_path):
    path = tmp_path / "shared.sqlite"
    ResponseStore(path).close()
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(path), str(w)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for w in range(4)]
    for proc in procs:
        assert proc.stdout.readline().strip() == "ready"
    for proc in procs:
        proc.stdin.write("go\n")
        proc.stdin.flush()
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    with ResponseStore(path) as store:
        assert store.count() == 4 * 200 + 100
        shared = store.get_many([f"shared-{i}" for i in range(0, 300, 3)], source="", asked_by="")
        assert len(shared) == 100
        assert isinstance(next(iter(shared.values())), StoredResponse)


KILLED = textwrap.dedent("""
    import asyncio, sys
    from pathlib import Path
    sys.path.insert(0, sys.argv[3])
    from tests.support.models import case_prompt, model_config
    from evalkit.models import ModelClient, ResponseStore

    async def main():
        store = ResponseStore(Path(sys.argv[2]))
        client = ModelClient(model_config(sys.argv[1], concurrency=2, max_concurrency=2), store)
        print("started", flush=True)
        await asyncio.gather(*(client.generate(case_prompt(f"k{i}", task_id=f"K/{i}"), 2, 3)
                               for i in range(30)))

    asyncio.run(main())
""")


@pytest.mark.slow
def test_sigkilled_run_resumes_without_asking_twice(tmp_path):
    path = tmp_path / "s.sqlite"
    prompts = [case_prompt(f"k{i}", task_id=f"K/{i}") for i in range(30)]
    with FaultServer() as srv:
        for i in range(30):
            srv.script(f"k{i}", ["slow:0.1"])
        proc = subprocess.Popen([sys.executable, "-c", KILLED, srv.base_url, str(path),
                                 str(REPO)], stdout=subprocess.PIPE, text=True)
        assert proc.stdout.readline().strip() == "started"
        deadline = time.time() + 60
        while len(srv.requests) < 8 and time.time() < deadline:
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
        asked_before = {r["case"] for r in srv.requests}
        with ResponseStore(path) as store:
            stored_before = store.count()
            results, _ = asyncio.run(generate(model_config(srv.base_url, concurrency=2, max_concurrency=2),
                                              store, prompts, 2))
            assert store.count() == 60
        asked_twice = [c for c in asked_before if srv.count(c) > 1]
    assert 0 < stored_before < 60
    assert len(asked_twice) <= 2  # only what was in flight when the process died
    assert all(len(gens) == 2 and not any(g.error for g in gens) for gens in results)


def test_who_may_reuse_an_answer(tmp_path):
    path = tmp_path / "s.sqlite"
    gpu1 = store_module.asked_by("mixtral", "http://gpu1:8000/v1")
    answer = StoredResponse("k", "m", "T/0", 0, "old", "stop", 1, 2, 0.1, source="vllm-0.6", asked_by=gpu1)
    with ResponseStore(path, run_id="monday") as store:
        store.put_many([answer])
        assert set(store.get_many(["k"], "vllm-0.6", asked_by=gpu1)) == {"k"}  # the same run, resumed
        # another deployment behind the same address (a balanced proxy alias): the run's own answer
        assert set(store.get_many(["k"], "vllm-0.6-b", asked_by=gpu1)) == {"k"}
        # the same model and template asked by another arm, at another address, or at the same one
        # (two keys a proxy routes apart), or by the arm renamed: never the first's answer
        for other in (store_module.asked_by("mixtral", "http://gpu2:8000/v1"),
                      store_module.asked_by("team-b", "http://gpu1:8000/v1"),
                      store_module.asked_by("renamed", "HTTP://GPU1:8000/v1/")):
            assert store.get_many(["k"], "vllm-0.6", asked_by=other) == {}, other
        # one arm's address spelled another way is the same address
        assert set(store.get_many(["k"], "vllm-0.6", asked_by=store_module.asked_by(
            "mixtral", "HTTP://GPU1:8000/v1/"))) == {"k"}
    gpu2 = store_module.asked_by("mixtral", "http://gpu2:8000/v1")
    with ResponseStore(path, run_id="tuesday") as store:
        assert store.get_many(["k"], "vllm-0.6", asked_by=gpu1) == {}  # another run: not without reuse
        store.put_many([StoredResponse("k", "m", "T/0", 0, "new", "stop", 1, 2, 0.1, source="vllm-0.7",
                                       asked_by=gpu1)])
    with ResponseStore(path, run_id="wednesday", reuse=True) as store:
        assert store.get_many(["k"], "vllm-0.6", asked_by=gpu1)["k"].run_id == "monday"
        assert store.get_many(["k"], "vllm-0.7", asked_by=gpu2)["k"].text == "new"  # by what answered
        assert store.get_many(["k"], "vllm-0.8", asked_by=gpu1) == {}  # a new server never gets old answers
        store.put_many([StoredResponse("k", "m", "T/0", 0, "gpu2's", "stop", 1, 2, 0.1,
                                       source="vllm-0.6-gpu2", asked_by=gpu2)])
    with ResponseStore(path, run_id="replay") as store:
        # offline: the newest from any source, those the arm asked at its address first
        assert store.get_many(["k"], None, asked_by=gpu1)["k"].text == "new"
        assert store.get_many(["k"], None, asked_by="gpu3")["k"].text == "gpu2's"


def test_a_store_written_before_answers_recorded_their_arm_is_read_and_its_rows_kept(tmp_path):
    # The column came later: a store an earlier evalkit wrote gets it, and its rows, which cannot say
    # which arm asked, are reused across runs by what answered them but by no resumed run.
    path = tmp_path / "old.sqlite"
    old = sqlite3.connect(path)
    old.execute(store_module.SCHEMA.replace("    asked_by TEXT NOT NULL DEFAULT '',\n", "")
                .replace("    answered_by TEXT NOT NULL DEFAULT '',\n", "")
                .replace("run_id, asked_by)", "run_id)"))  # the table as evalkit wrote it before
    old.execute("INSERT INTO answers VALUES ('k', 'vllm-0.6', 'monday', 'm', 'T/0', 0, 'old', 'stop', 1, 2, "
                "0.1, 0.0)")
    old.commit()
    old.close()
    with ResponseStore(path, run_id="monday") as store:
        assert store.get_many(["k"], "vllm-0.6", asked_by="http://gpu1:8000/v1") == {}
        assert not store.holds_run_answers("http://gpu1:8000/v1", "m")
    with ResponseStore(path, run_id="tuesday", reuse=True) as store:
        old_row = store.get_many(["k"], "vllm-0.6", asked_by="http://gpu1:8000/v1")["k"]
        assert (old_row.text, old_row.answered_by) == ("old", None)  # what answered it is unsaid
        assert store.count() == 1
        # and the columns added since hold what a new row says
        store.put_many([StoredResponse("k2", "m", "T/1", 0, "new", "stop", 1, 2, 0.1, source="vllm-0.6",
                                       asked_by="gpu1", answered_by={"model": "mixtral", "x": "gpu1"})])
        assert store.get_many(["k2"], "vllm-0.6", asked_by="gpu1")["k2"].answered_by == {
            "model": "mixtral", "x": "gpu1"}


def test_two_arms_asking_one_request_of_one_deployment_each_keep_their_answer(tmp_path):
    # Two keys a proxy routes alike: the same request, the same source. The second arm's answer was
    # dropped (the key held no arm), then replayed offline as the first's, or asked again on resume.
    good, bad = (store_module.asked_by(arm, "http://proxy:4000/v1") for arm in ("good", "bad"))
    with ResponseStore(tmp_path / "s.sqlite", run_id="night") as store:
        store.put_many([StoredResponse("k", "m", "T/0", 0, text, "stop", 1, 2, 0.1, source="dep",
                                       asked_by=arm) for text, arm in (("right", good), ("wrong", bad))])
        assert store.get_many(["k"], "dep", asked_by=bad)["k"].text == "wrong"  # resumed
    with ResponseStore(tmp_path / "s.sqlite", run_id="replay") as store:
        assert {arm: store.get_many(["k"], None, asked_by=arm)["k"].text for arm in (good, bad)} == {
            good: "right", bad: "wrong"}


@pytest.mark.slow  # about a second on 2 cores: the full suite
def test_an_ollama_model_pulled_just_before_the_run_is_told_from_the_one_before_it(tmp_path):
    # Ollama's `created` is the model's modified time: one within 10 minutes of now was dropped as a
    # listing's time stamp, so a nightly job that pulls, then evaluates, replayed the old weights'
    # answers under store.reuse=true. A time stamp is the listing's own (its Date header); this is not.
    prompt = case_prompt("ollama")

    with FaultServer() as srv:
        srv.created = int(time.time()) - 60  # pulled a minute ago
        with ResponseStore(tmp_path / "s.sqlite", run_id="a", reuse=True) as store:
            first = _asked_twice(srv.base_url, store, prompt)
        with ResponseStore(tmp_path / "s.sqlite", run_id="b", reuse=True) as store:
            same = _asked_twice(srv.base_url, store, prompt)
        srv.created = int(time.time()) - 5  # pulled again: new weights under the same name
        with ResponseStore(tmp_path / "s.sqlite", run_id="c", reuse=True) as store:
            pulled = _asked_twice(srv.base_url, store, prompt)
    assert first.identity["served"]["created"] == same.identity["served"]["created"]
    assert same.stats.cached == 2
    assert pulled.stats.cached == 0 and pulled.stats.answered == 2


@pytest.mark.slow  # about a second on 2 cores: the full suite
def test_an_ollama_model_pulled_again_under_its_tag_never_gets_the_old_weights_answers(tmp_path):
    # A namespaced model (`owned_by` its namespace, not `library`) pulled minutes before a run: its
    # `created` was dropped as a listing's time stamp, and after a pull of other weights under the
    # same tag, store.reuse=true answered from the old weights (a checker's night scored 1.000 for
    # a model that scores 0.60). Ollama's /api/tags digest names the weights.
    prompt = case_prompt("ollama-digest")
    with FaultServer(models=("m:latest",)) as srv:
        srv.created, srv.owned_by = int(time.time()) - 120, "bartowski"
        srv.digests = {"m:latest": "a" * 64}
        with ResponseStore(tmp_path / "s.sqlite", run_id="a", reuse=True) as store:
            first = _asked_twice(srv.base_url, store, prompt)
        with ResponseStore(tmp_path / "s.sqlite", run_id="b", reuse=True) as store:
            same = _asked_twice(srv.base_url, store, prompt)
        srv.digests = {"m:latest": "b" * 64}  # pulled again: other weights, the same tag and a time
        with ResponseStore(tmp_path / "s.sqlite", run_id="c", reuse=True) as store:
            pulled = _asked_twice(srv.base_url, store, prompt)
    assert first.identity["served"]["id"] == "m:latest"  # model.name m, as Ollama lists it
    assert first.identity["served"]["digest"] == "a" * 64 and "created" not in first.identity["served"]
    assert same.stats.cached == 2
    assert pulled.stats.cached == 0 and pulled.stats.answered == 2
    assert pulled.identity["served"]["digest"] == "b" * 64


@pytest.mark.parametrize(("created", "owned_by", "kept"), [
    (300, "llama-server", False),  # stamped by a server 5 minutes ahead; a proxy's own Date in front
    (-60, "library", True),  # Ollama's model pulled a minute ago
    (10 ** 400, "library", True),  # no time at all: it crashed the run (OverflowError, exit 3)
])
def test_which_listing_created_names_the_weights(created, owned_by, kept):
    with FaultServer() as srv:
        srv.created = created if created > 10 ** 9 else int(time.time()) + created
        srv.owned_by = owned_by
        identity = _probed_identity(srv.base_url)
    assert ("created" in identity["served"]) == kept


def _asked_twice(base_url: str, store: ResponseStore, prompt) -> ModelClient:
    """A client's probe of ``base_url`` and two samples of ``prompt``, through ``store``."""
    async def run_once():
        client = ModelClient(model_config(base_url), store, retry=FAST)
        try:
            await client.check(prompt)
            await client.generate(prompt, 2, 3)
            return client
        finally:
            await client.aclose()

    return asyncio.run(run_once())


def _probed_identity(base_url: str) -> dict:
    """What a client's probe of ``base_url`` records of the endpoint."""
    async def probe():
        client = ModelClient(model_config(base_url), None, retry=FAST)
        try:
            await client.check(case_prompt("x"))
            return client.identity
        finally:
            await client.aclose()

    return asyncio.run(probe())


def test_a_listing_with_a_number_json_cannot_hold_is_recorded_as_strict_json():
    # `"created": Infinity` (Python's parser takes it) went into run.json as it came: jq refused it.
    with FaultServer() as srv:
        srv.created = float("inf")
        identity = _probed_identity(srv.base_url)
    assert identity["served"]["created"] == "inf"
    json.dumps(identity, allow_nan=False)  # raises on NaN or Infinity


@pytest.mark.slow  # about half a second or more on 2 cores: the full suite
def test_vllm_listing_time_stamp_does_not_defeat_reuse_but_new_weights_do(tmp_path):
    prompt = case_prompt("vllm")

    with FaultServer() as srv:
        srv.root = "/models/mixtral-8x7b-v0.1"
        with ResponseStore(tmp_path / "s.sqlite", run_id="a", reuse=True) as store:
            _asked_twice(srv.base_url, store, prompt)
        with ResponseStore(tmp_path / "s.sqlite", run_id="b", reuse=True) as store:
            again = _asked_twice(srv.base_url, store, prompt)
        srv.root = "/models/mixtral-8x7b-v0.2"  # new weights behind the same served id
        with ResponseStore(tmp_path / "s.sqlite", run_id="c", reuse=True) as store:
            upgraded = _asked_twice(srv.base_url, store, prompt)
    assert again.stats.cached == 2 and again.identity["served"]["root"] == "/models/mixtral-8x7b-v0.1"
    assert "created" not in again.identity["served"]
    assert upgraded.stats.cached == 0 and upgraded.stats.answered == 2


@pytest.mark.slow  # about a second on 2 cores: the full suite
@pytest.mark.parametrize("path", ["/version", "/api/version"], ids=["vllm", "ollama"])
def test_a_server_upgraded_under_the_same_weights_never_answers_from_the_old_one_s_store(tmp_path, path):
    # "a new server version never reuses old answers": keyed by the weights alone, answers of the
    # server before its upgrade were reused as its own (a checker's trial). vLLM says its release at
    # GET /version, Ollama at GET /api/version; a server that says none keeps the identity it had.
    prompt = case_prompt("upgrade")

    with FaultServer() as srv:
        srv.root = "/models/mixtral-8x7b-v0.1"
        srv.versions = {path: "0.6.3"}
        with ResponseStore(tmp_path / "s.sqlite", run_id="a", reuse=True) as store:
            first = _asked_twice(srv.base_url, store, prompt)
        with ResponseStore(tmp_path / "s.sqlite", run_id="b", reuse=True) as store:
            again = _asked_twice(srv.base_url, store, prompt)
        srv.versions = {path: "0.7.2"}
        with ResponseStore(tmp_path / "s.sqlite", run_id="c", reuse=True) as store:
            upgraded = _asked_twice(srv.base_url, store, prompt)
        srv.versions = {}
        silent = _probed_identity(srv.base_url)
    assert first.identity["server_version"] == "0.6.3" and again.stats.cached == 2
    assert upgraded.identity["server_version"] == "0.7.2"
    assert upgraded.stats.cached == 0 and upgraded.stats.answered == 2
    assert "server_version" not in silent


def test_a_vllm_clock_off_ours_or_a_new_context_length_is_the_same_endpoint(tmp_path):
    # vLLM's listing is stamped by its own clock: 20 minutes off ours (no NTP in an air gap), every
    # resume was refused and nothing was reused; so was a restart with another --max-model-len.
    async def probe():
        client = ModelClient(model_config(srv.base_url), None, retry=FAST)
        try:
            await client.check(case_prompt("vllm"))
            return client
        finally:
            await client.aclose()

    with FaultServer() as srv:
        srv.root, srv.clock_skew_s, srv.max_model_len = "/models/mixtral-8x7b-v0.1", 1200, 4096
        first = asyncio.run(probe())
        srv.max_model_len = 8192
        second = asyncio.run(probe())
    assert first.identity == second.identity and "created" not in first.identity["served"]
    assert (first.max_model_len, second.max_model_len) == (4096, 8192)


@pytest.mark.parametrize(("kind", "reason"), [
    ("not_sqlite", "file is not a database"),
    ("directory", "Is a directory"),
    ("unopenable", "unable to open database file"),  # /proc takes no new file, even as root
])
@pytest.mark.slow  # real commands in processes: the full suite, not the fast tier
def test_a_store_path_sqlite_cannot_use_is_one_line_exit_2(tmp_path, kind, reason):
    store = {"not_sqlite": tmp_path / "notes.txt", "directory": tmp_path / "folder",
             "unopenable": Path("/proc/evalkit-store.sqlite")}[kind]
    (tmp_path / "notes.txt").write_text("not a database, " * 20)
    (tmp_path / "folder").mkdir()
    proc = run_evalkit("run", "arms=[{label: demo-oracle, model: {name: demo-oracle}}]", "dataset.limit=2",
                       "n_samples=1", "k=[1]", "report.plots=false", f"hydra.run.dir={tmp_path / 'run'}",
                       f"store.path={store}", f"executor.cache_dir={tmp_path / 'cache'}")
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()] and "Traceback" not in proc.stderr
    assert proc.stderr.startswith(f"evalkit: error: cannot use {store}: {reason}")
    assert (tmp_path / "notes.txt").read_text() == "not a database, " * 20  # the user's file is untouched
    assert not (tmp_path / "run").exists()  # stopped before anything was measured


@pytest.mark.parametrize("spelled", ["http://gpu1/v1", "http://GPU1:80/v1/", "HTTP://gpu1/v1//"])
def test_one_address_spelled_several_ways_is_one_endpoint(spelled):
    identity = {"base_url": "http://gpu1/v1", "model": "m"}
    assert source_key(identity | {"base_url": spelled}) == source_key(identity)


@pytest.mark.parametrize("other", ["http://gpu1:8000/v1", "https://gpu1/v1", "http://gpu2/v1", "http://gpu1/v2",
                                   "http://localhost/v1"])
def test_another_address_is_another_endpoint(other):
    identity = {"base_url": "http://gpu1/v1", "model": "m"}
    assert source_key(identity | {"base_url": other}) != source_key(identity)


@pytest.mark.parametrize("reuse", [False, True])
def test_a_run_s_own_answers_are_its_own_whatever_deployment_gave_them(tmp_path, reuse):
    # A proxy balanced over two deployments answered half a killed run from each; the resumed probe
    # reached one of them, and the other's answers of the same run were asked again.
    path = tmp_path / "s.sqlite"
    alias = "http://proxy:4000/v1"
    with ResponseStore(path, run_id="night", reuse=reuse) as store:
        store.put_many([StoredResponse("a", "m", "T/0", 0, "from a", "stop", 1, 2, 0.1, source="dep-a",
                                       asked_by=alias),
                        StoredResponse("b", "m", "T/0", 1, "from b", "stop", 1, 2, 0.1, source="dep-b",
                                       asked_by=alias)])
        assert set(store.get_many(["a", "b"], "dep-a", asked_by=alias)) == {"a", "b"}
    with ResponseStore(path, run_id="next-night", reuse=True) as store:
        # another run: only what dep-a answered
        assert set(store.get_many(["a", "b"], "dep-a", asked_by=alias)) == {"a"}
