"""ModelClient against the fault-injecting server: each fault ends recovered, as a clear
failure, or as an infra_error generation, and the other samples complete."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import socket
import threading
import time
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest

from evalkit.config import ConfigError
from evalkit.hydra_app import compose_run_config
from evalkit.models import EndpointError, ModelClient, ResponseStore, RetryPolicy, derive_seed
from evalkit.records import Message
from tests.support.fault_server import ESCAPES, REFUSAL, FaultServer
from tests.support.models import case_prompt, closed_port_url, model_config

FAST = RetryPolicy(base_s=0.01, max_s=0.05)


@pytest.fixture()
def server():
    with FaultServer() as srv:
        yield srv


def run(coro):
    return asyncio.run(coro)


async def generate_cases(server, cases, n=1, **cfg):
    client = ModelClient(model_config(server.base_url, **cfg), None, retry=FAST)
    try:
        results = await asyncio.gather(*(client.generate(case_prompt(c, task_id=c), n, 7) for c in cases))
    finally:
        await client.aclose()
    return dict(zip(cases, results, strict=True)), client


@pytest.mark.parametrize("actions", [["429"], ["500"], ["502"], ["503"], ["reset"], ["malformed"],
                                     ["empty"], ["noparts"], ["503", "429", "500"]])
def test_transient_faults_recover_and_others_complete(server, actions):
    server.script("bad", actions)
    out, client = run(generate_cases(server, ["bad", "good1", "good2"]))
    for case in ("bad", "good1", "good2"):
        (gen,) = out[case]
        assert not gen.error and gen.raw_output.startswith(f"answer {case}")
    assert server.count("bad") == len(actions) + 1
    assert client.stats.retries == len(actions)


def test_an_answer_cut_short_is_named_so_not_an_unreachable_server(server):
    # Headers, part of the body, then the connection closed: "cannot reach the model endpoint ...;
    # start the server", of a server that had answered 200
    server.script("cut", ["reset"] * 3)
    out, _ = run(generate_cases(server, ["cut"], max_retries=1))
    (gen,) = out["cut"]
    assert "began to answer for 'm' but the connection closed before the answer was whole (" in gen.error
    assert "cut it; check their logs and idle timeouts" in gen.error and "cannot reach" not in gen.error


def test_a_compressed_answer_is_read_as_its_text(server):
    # answers are decoded as they are read (so that the 64 MiB below bounds the decoded answer)
    server.script("gzip", ["gzip"])
    out, client = run(generate_cases(server, ["gzip"]))
    (gen,) = out["gzip"]
    assert not gen.error and gen.raw_output.startswith("answer gzip seed=") and client.stats.retries == 0


def test_an_answer_in_an_encoding_evalkit_cannot_decode_says_so(server):
    # read as it came, an x-gzip body (gzip under an old name, which aiohttp leaves encoded) was
    # "not JSON: <its compressed bytes>" (an attacker's trial)
    server.script("old", ["x-gzip"] * 3)
    out, client = run(generate_cases(server, ["old"], max_retries=2, use_n=False))
    (gen,) = out["old"]
    assert ("answered for 'm', but not with an OpenAI-compatible completion (its answer came x-gzip-encoded, "
            "which evalkit cannot decode (it asked for gzip, deflate") in gen.error, gen.error
    assert server.count("old") == 1 and client.stats.retries == 0


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("action", ["endless", "bomb"])
def test_an_answer_without_end_is_read_to_16_mib_and_named_so(server, action, stream):
    # A server or proxy that sends without end ran the harness out of memory (an attacker's idea), and so
    # could a small gzip body that decodes to gigabytes. Asked again it would be as long: not retried.
    server.script("long", [action] * 3)
    cases = ["long"] if stream else ["long", "good"]  # the server's answers are not events
    out, client = run(generate_cases(server, cases, max_retries=2, stream=stream, use_n=False))
    (gen,) = out["long"]
    if stream and action == "bomb":  # a stream asks for its answer unencoded: gzip is refused, not decoded
        assert ("answered for 'm', but not with an OpenAI-compatible completion (its answer came "
                "gzip-encoded, where evalkit asked for none (Accept-Encoding: identity))") in gen.error
    else:
        said = "answered for 'm', but its answer ran past 16 MiB, where evalkit stops reading one"
        assert said in gen.error and "sends without end" in gen.error
    assert gen.finish_reason == "error"
    assert server.count("long") == 1 and client.stats.retries == 0
    if not stream:
        assert not out["good"][0].error


@pytest.mark.slow  # waits out a 2 s deadline, twice
def test_a_streamed_answer_that_trickles_ends_at_model_timeout_s(server):
    # a byte every 0.2 s: each read's own timeout never fired, and the run never ended (an attacker's trial)
    server.script("slow", ["trickle"] * 3)
    started = time.monotonic()
    out, _ = run(generate_cases(server, ["slow"], max_retries=1, stream=True, use_n=False, timeout_s=1.0))
    (gen,) = out["slow"]
    said = "did not answer for 'm': its answer, still coming, did not end within 2 s (2 x model.timeout_s)"
    assert said in gen.error
    assert server.count("slow") == 2 and time.monotonic() - started < 30


@pytest.mark.parametrize("stream", [False, True])
def test_an_answer_built_to_break_its_reader_is_malformed_not_unreachable(server, stream):
    # JSON nested 200,000 deep raised RecursionError, which read as "cannot reach the model endpoint ...;
    # start the server" (an attacker's trial)
    server.script("deep", ["deep"] * 3)
    out, _ = run(generate_cases(server, ["deep"], max_retries=0, stream=stream, use_n=False))
    (gen,) = out["deep"]
    assert "answered for 'm', but not with an OpenAI-compatible completion" in gen.error, gen.error
    assert "cannot reach" not in gen.error


@pytest.mark.parametrize("action", ["escapes", "500escapes"])
def test_what_a_server_says_reaches_the_terminal_without_its_control_characters(server, action):
    # A body's bytes were quoted into the error as they came: escape sequences a terminal acts on (an
    # attacker's trial put a body encoded twice, gzip's control bytes, on the terminal)
    server.script("esc", [action] * 3)
    out, _ = run(generate_cases(server, ["esc"], max_retries=0, use_n=False))
    (gen,) = out["esc"]
    said = "not an API" if action == "escapes" else "exploded"
    assert said in gen.error and "\ufffd[2J" in gen.error, gen.error
    assert not set(gen.error) & set(ESCAPES) - set("[2J]0;owned"), repr(gen.error)


@pytest.mark.parametrize("stream", [False, True])
def test_a_server_that_closes_the_connection_unanswered_is_named_so_not_unreachable(server, stream):
    # The connection accepted, the request read, nothing answered: "cannot reach the model endpoint ...;
    # start the server" (an attacker's trial), of a server that is up
    server.script("closed", ["close"] * 3)
    out, client = run(generate_cases(server, ["closed"], max_retries=1, stream=stream, use_n=False))
    (gen,) = out["closed"]
    assert "accepted the connection for 'm' but it closed the connection without answering (" in gen.error
    assert "write model.base_url with https://" in gen.error and "cannot reach" not in gen.error
    assert client.stats.retries == 1  # as any dropped connection


def test_a_reply_cut_mid_headers_is_a_cut_answer_not_an_unanswered_connection(server):
    # its status line came: it was "closed the connection without answering (ServerDisconnectedError:
    # <RawResponseMessage(...)>)", the parsed headers quoted (an attacker's trial)
    server.script("half", ["half_headers"] * 3)
    out, client = run(generate_cases(server, ["half"], max_retries=1, use_n=False))
    (gen,) = out["half"]
    said = ("began to answer for 'm' but the connection closed before the answer was whole "
            "(ServerDisconnectedError)")
    assert said in gen.error and "RawResponseMessage" not in gen.error, gen.error
    assert client.stats.retries == 1


@pytest.mark.parametrize("stream", [False, True])
def test_a_tls_endpoint_asked_in_plain_http_is_not_called_unreachable(stream):
    # https:// written http://: the TLS server answers a plain request with an alert, or closes
    tls = (Path(__file__).parents[1] / "fixtures" / "tls" / "cert.pem",
           Path(__file__).parents[1] / "fixtures" / "tls" / "key.pem")
    with FaultServer(tls=tls) as secure:
        plain = SimpleNamespace(base_url=secure.base_url.replace("https://", "http://"))
        out, _ = run(generate_cases(plain, ["x"], max_retries=0, stream=stream, use_n=False))
    (gen,) = out["x"]
    assert "cannot reach" not in gen.error and "began to answer" not in gen.error, gen.error
    assert ("closed the connection without answering" in gen.error
            or "its reply is not HTTP evalkit can read" in gen.error), gen.error


@pytest.mark.parametrize("stream", [False, True])
def test_a_tls_alert_where_an_answer_should_be_is_not_http(server, stream):
    server.script("alert", ["tls_alert"] * 3)
    out, client = run(generate_cases(server, ["alert"], max_retries=1, stream=stream, use_n=False))
    (gen,) = out["alert"]
    said = "answered for 'm', but not with an OpenAI-compatible completion (its reply is not HTTP"
    assert said in gen.error and client.stats.retries == 0, gen.error


def test_the_models_a_server_lists_reach_the_terminal_without_their_control_characters():
    # A 404 quoted the listed ids as sent: a screen clear, a retitled window and a bell on the terminal,
    # raw in evalkit.log and both reports (an attacker's trial)
    listing = (f"other{ESCAPES}", f"alias{ESCAPES}")
    with FaultServer(models=listing) as evil, pytest.raises(EndpointError) as err:
        check(model_config(evil.base_url, name="m", max_retries=0))
    said = str(err.value)
    assert "answered 404 for model 'm' (it lists: other\ufffd[2J" in said, said
    assert not set(said) & set(ESCAPES) - set("[2J]0;owned"), repr(said)


def test_names_an_answer_gives_are_kept_without_control_characters(server):
    # its model and finish_reason reached samples.jsonl as sent, and gate.md a proxy's deployment id
    server.script("named", ["escapedname"])
    server.script("finished", [f"finish:stop{ESCAPES}"])
    out, _ = run(generate_cases(server, ["named", "finished"], use_n=False))
    assert out["named"][0].answered_by["model"] == "m\ufffd[2J\ufffd]0;owned\ufffd\ufffd", out["named"]
    assert out["finished"][0].finish_reason == "stop\ufffd[2J\ufffd]0;owned\ufffd\ufffd", out["finished"]


def test_a_model_name_of_a_million_characters_is_kept_as_its_start_and_its_hash(server):
    # a 30 MiB name was a 30 MiB warning line and made run.json and both reports as long (an attacker's trial)
    server.script("long", ["longname"])
    out, _ = run(generate_cases(server, ["long"]))
    (gen,) = out["long"]
    named = gen.answered_by["model"]
    assert not gen.error and named.startswith("m" + "x" * 199 + "... (1,000,001 characters, sha256 ")
    assert len(named) < 300


def test_an_answer_in_content_parts_is_its_text(server):
    # Its Python repr ("[{'type': 'text', ...") was scored as the model's code.
    server.script("parts", ["parts"])
    out, _ = run(generate_cases(server, ["parts"]))
    (gen,) = out["parts"]
    assert not gen.error and gen.raw_output.startswith("answer parts seed=") and "[" not in gen.raw_output


@pytest.mark.slow
def test_retry_after_is_honoured_and_a_long_wait_is_a_warning(server, caplog, monkeypatch):
    # A nightly owner's trial: a 429 with Retry-After: 3600 kept the run silent for minutes; a wait of
    # LONG_WAIT_S or more is now a warning, which the terminal shows (here the bar is lowered to 1 s)
    monkeypatch.setattr("evalkit.models.client.LONG_WAIT_S", 0.9)
    server.script("ra", ["429:ra=1"])
    started = time.perf_counter()
    with caplog.at_level(logging.INFO, logger="evalkit.models.client"):
        out, _ = run(generate_cases(server, ["ra"]))
    assert time.perf_counter() - started >= 0.95
    assert not out["ra"][0].error
    (waited,) = [r for r in caplog.records if "retry 1 of" in r.getMessage()]
    assert waited.levelno == logging.WARNING and "429" in waited.getMessage()
    server.script("short", ["429:ra=0"])
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="evalkit.models.client"):
        run(generate_cases(server, ["short"]))
    assert [r.levelno for r in caplog.records if "retry 1 of" in r.getMessage()] == [logging.INFO]


def test_unreadable_retry_after_is_ignored_not_fatal(server):
    server.script("ra_bad", ["429:ra=soon"])  # neither seconds nor an HTTP date
    out, client = run(generate_cases(server, ["ra_bad"]))
    assert not out["ra_bad"][0].error and client.stats.retries == 1


@pytest.mark.slow  # about half a second or more on 2 cores: the full suite
def test_slow_response_times_out_then_recovers(server):
    server.script("slow", ["slow:2"])
    out, _ = run(generate_cases(server, ["slow", "fast"], timeout_s=0.5))
    assert not out["slow"][0].error and not out["fast"][0].error
    assert server.count("slow") == 2


@pytest.mark.slow  # real worker processes or whole reports: the full suite, not the fast tier
def test_persistent_failures_become_infra_errors(server):
    server.script("down", ["503"] * 10)
    server.script("slow", ["slow:1"] * 10)
    out, client = run(generate_cases(server, ["down", "slow", "ok"], max_retries=2, timeout_s=0.3))
    assert "HTTP 503" in out["down"][0].error and "3 attempts" in out["down"][0].error
    assert "model.timeout_s" in out["slow"][0].error
    assert server.count("down") == 3
    assert not out["ok"][0].error
    assert client.stats.errors == 2


def test_length_is_a_normal_answer(server):
    server.script("long", ["length"])
    out, _ = run(generate_cases(server, ["long"]))
    assert out["long"][0].finish_reason == "length" and not out["long"][0].error
    assert server.count("long") == 1


def test_roles_400_points_at_fold_system_without_retry(server):
    server.script("roles", ["roles400"])
    out, _ = run(generate_cases(server, ["roles", "fine"]))
    assert "prompt.fold_system=true" in out["roles"][0].error
    assert server.count("roles") == 1
    assert not out["fine"][0].error


def test_n_in_one_request_with_indices_usage_and_seed(server):
    out, _ = run(generate_cases(server, ["many"], n=5))
    gens = out["many"]
    assert [g.sample_index for g in gens] == [0, 1, 2, 3, 4]
    assert server.count("many") == 1
    assert server.requests[0]["body"]["n"] == 5
    assert [g.raw_output.rsplit("choice=", 1)[1] for g in gens] == ["0", "1", "2", "3", "4"]
    assert sum(g.usage.completion_tokens for g in gens) == 25
    assert sum(g.usage.prompt_tokens for g in gens) == 10


def test_fewer_choices_fall_back_to_separate_seeded_requests(server):
    server.script("few", ["fewer"])
    out, _ = run(generate_cases(server, ["few"], n=4))
    assert [g.sample_index for g in out["few"]] == [0, 1, 2, 3]
    assert server.count("few") == 4  # one n=4 request answered once, then three single requests
    seeds = sorted(r["body"]["seed"] for r in server.requests[1:])
    assert seeds == sorted(derive_seed(7, "few", i) for i in (1, 2, 3))
    assert all(r["body"]["n"] == 1 for r in server.requests[1:])


def test_separate_requests_without_use_n(server):
    out, _ = run(generate_cases(server, ["sep"], n=3, use_n=False))
    assert server.count("sep") == 3
    assert len({g.raw_output for g in out["sep"]}) == 3


def test_overload_halves_the_limit(server):
    server.script("hot", ["429"])
    _, client = run(generate_cases(server, ["hot"], concurrency=8))
    assert client.limit < 8


def test_prefill_is_prepended_and_sent_last(server):
    prompt = case_prompt("pre")
    prompt = replace(prompt, messages=(*prompt.messages, Message("assistant", "<new_code>")),
                     prefill="<new_code>")
    async def go():
        client = ModelClient(model_config(server.base_url), None, retry=FAST)
        try:
            return await client.generate(prompt, 1, 1)
        finally:
            await client.aclose()

    (gen,) = run(go())
    body = server.requests[0]["body"]
    assert body["messages"][-1] == {"role": "assistant", "content": "<new_code>"}
    assert body["continue_final_message"] is True and body["add_generation_prompt"] is False
    assert gen.raw_output.startswith("<new_code>answer pre")


def check(cfg) -> None:
    async def go():
        client = ModelClient(cfg, None, retry=FAST)
        try:
            await client.check()
        finally:
            await client.aclose()
    run(go())


def test_check_unreachable_names_the_url():
    url = closed_port_url()
    with pytest.raises(EndpointError, match="start the server or fix model.base_url") as err:
        check(model_config(url))
    assert url in str(err.value) and "\n" not in str(err.value)


@pytest.mark.slow  # real commands in processes: the full suite, not the fast tier
@pytest.mark.alone  # it times the two waits
def test_check_of_an_endpoint_that_never_answers_gives_up_after_two_waits():
    # Accepts connections, reads requests, answers none (a stuck server): the probe waited
    # model.timeout_s on every retry (about 6 minutes with the defaults) before its one line.
    requests: list[bytes] = []
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        listener.settimeout(0.1)
        stop = threading.Event()

        def accept() -> None:
            held = []
            while not stop.is_set():
                try:
                    conn, _ = listener.accept()
                except TimeoutError:
                    continue
                held.append(conn)
                conn.settimeout(5)
                requests.append(conn.recv(65536).split(b"\r\n", 1)[0])
            for conn in held:
                conn.close()

        thread = threading.Thread(target=accept, daemon=True)
        thread.start()
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/v1"
        started = time.perf_counter()
        with pytest.raises(EndpointError, match="did not answer") as err:
            check(model_config(url, timeout_s=0.5, max_retries=4))
        took = time.perf_counter() - started
        stop.set()
        thread.join()
    posts = [line for line in requests if line.startswith(b"POST")]
    assert len(posts) == 2 and took < 3, (requests, took)  # the listing, the probe, one retry
    assert "(2 attempts); check that the server is up" in str(err.value)  # the cause, then the fix
    assert str(err.value).endswith("raise model.timeout_s where its first answer is slow (a model loading)")


def test_check_unknown_model(server):
    with pytest.raises(EndpointError, match="--served-model-name") as err:
        check(model_config(server.base_url, name="mistral-7b"))
    assert "'mistral-7b'" in str(err.value) and server.base_url in str(err.value)


def test_check_missing_v1_suffix(server):
    url = server.base_url.removesuffix("/v1")
    with pytest.raises(EndpointError, match="ends in /v1"):
        check(model_config(url))


def test_check_passes(server):
    check(model_config(server.base_url))


def test_basic_auth_sends_the_variable_s_user_and_password_and_never_shows_them(server, monkeypatch):
    # A reverse proxy in front of the model server asks for basic auth: the credentials come from an
    # environment variable (in the URL they would be saved with the run's config and logs)
    server.require_authorization = "Basic " + base64.b64encode(b"bob:p@ss word").decode()
    monkeypatch.setenv("PROXY_LOGIN", "bob:p@ss word")
    cfg = model_config(server.base_url, api_key_env="PROXY_LOGIN", auth="basic")
    check(cfg)

    async def generate():
        client = ModelClient(cfg, None, retry=FAST)
        try:
            return await client.generate(case_prompt("a", task_id="a"), 1, 7)
        finally:
            await client.aclose()

    generations = run(generate())
    assert generations[0].raw_output and not generations[0].error
    monkeypatch.setenv("PROXY_LOGIN", "bob:p@ss wurd")  # refused: the server echoes the header it got
    with pytest.raises(EndpointError) as err:
        check(cfg)
    assert "refused the user and password" in str(err.value)
    assert base64.b64encode(b"bob:p@ss wurd").decode() not in str(err.value) and "wurd" not in str(err.value)


@pytest.mark.parametrize(("value", "said"), [("sk-abc123456789\r", "holds a control character"),
                                            ("sk-abc123456789\u00e9", "holds a character outside ASCII")])
def test_a_key_no_header_can_carry_is_named_by_its_variable_not_taken_for_a_dead_endpoint(
        monkeypatch, value, said):
    # A CRLF .env file: "cannot reach the model endpoint (ValueError: Forbidden control character
    # ...); start the server or fix model.base_url", after the probe's retries.
    monkeypatch.setenv("CRLF_KEY", value)
    with pytest.raises(ConfigError, match=f"the value of CRLF_KEY {said}") as raised:
        ModelClient(model_config("http://127.0.0.1:9/v1", api_key_env="CRLF_KEY"))
    assert "abc123" not in str(raised.value)


@pytest.mark.parametrize(("url", "said"), [
    ("http://bob:s3cr3tpw%40127.0.0.1:9/v1", "its port is not a number"),  # httpx: "Invalid port: 's3cr...'"
    ("http:/bob:s3cr3t@127.0.0.1:9/v1", "must start with http:// or https:// and a host"),
    ("127.0.0.1:9/v1", "must start with http:// or https:// and a host"),
])
def test_a_base_url_no_http_client_can_read_is_refused_without_quoting_it(url, said):
    with pytest.raises(ConfigError, match=said) as raised:
        compose_run_config(["model=openai_compatible", "model.name=m", f"model.base_url={url}"])
    assert "s3cr3t" not in str(raised.value)


@pytest.mark.parametrize("password", ["secret", "s3cr3t-PASS/word", "s3cr3t?PASS"])
def test_a_user_and_password_in_the_base_url_are_refused_before_they_are_saved(password):
    # A password holding "/" or "?" ends urlsplit's netloc early: it got past, and httpx's
    # "Invalid port: 's3cr3t-PASS'" reached stderr in a traceback, exit 3.
    with pytest.raises(ConfigError, match="model.base_url must not hold a user or password") as raised:
        compose_run_config(["model=openai_compatible", "model.name=m",
                            f"model.base_url=http://bob:{password}@127.0.0.1:9/v1"])
    assert "s3cr3t" not in str(raised.value) and "secret" not in str(raised.value)


@pytest.mark.parametrize("where", ["http://127.0.0.1:9/v1?api_key={key}", "http://127.0.0.1:9/{key}/v1",
                                   "http://127.0.0.1:9/v1#{key}"])
def test_a_key_in_the_base_url_is_refused_before_it_is_saved(monkeypatch, where):
    # A nightly owner's trial: the key put in the URL's query or path was saved in .hydra/, run.json,
    # results.json and the store, and shown by `evalkit gate` on the terminal and in gate.md.
    key = "sk-proj-ZZtop0123456789"
    monkeypatch.setenv("OPENAI_API_KEY", key)
    with pytest.raises(ConfigError, match="model.base_url (holds the value of OPENAI_API_KEY|must not have a "
                                          "query string)") as raised:
        compose_run_config(["model=openai_compatible", "model.name=m",  # quoted, as the shell passes it
                            f"model.base_url='{where.format(key=key)}'", "model.api_key_env=OPENAI_API_KEY"])
    assert key not in str(raised.value)
    with pytest.raises(ConfigError, match="must not have a query string"):  # requests went to /v1?x/chat/...
        compose_run_config(["model=openai_compatible", "model.name=m", "model.base_url='http://h:9/v1?x=1'"])


@pytest.mark.slow  # real worker processes or whole reports: the full suite, not the fast tier
def test_concurrency_is_bounded(server):
    cases = [f"c{i}" for i in range(12)]
    for case in cases:
        server.script(case, ["slow:0.2"])
    out, _ = run(generate_cases(server, cases, concurrency=3, max_concurrency=3))
    assert all(not gens[0].error for gens in out.values())
    assert server.max_in_flight == 3


def test_unrelated_400_on_an_n_request_keeps_n(server):
    server.script("roles", ["roles400"])
    out, client = run(generate_cases(server, ["roles", "next"], n=3))
    assert all("prompt.fold_system=true" in g.error for g in out["roles"])
    assert server.count("roles") == 1  # not split into separate requests that would fail the same way
    assert server.count("next") == 1 and server.requests[-1]["body"]["n"] == 3
    assert client.stats.refused == 3


def _probe(server, prompt) -> None:
    """The start-up probe of a client of ``server`` for ``prompt``."""
    async def go():
        client = ModelClient(model_config(server.base_url), None, retry=FAST)
        try:
            await client.check(prompt)
        finally:
            await client.aclose()
    run(go())


def test_probe_sends_the_arms_own_request_with_one_token(server):
    prompt = replace(case_prompt("shape"), messages=(*case_prompt("shape").messages,
                                                    Message("assistant", "<new_code>")), prefill="<new_code>")
    _probe(server, prompt)
    (probe,) = server.requests
    assert probe["body"]["max_tokens"] == 1 and probe["body"]["continue_final_message"] is True
    assert probe["body"]["messages"][-1] == {"role": "assistant", "content": "<new_code>"}


def test_probe_classifies_roles(server):
    server.script("roles", ["roles400"])
    with pytest.raises(EndpointError, match="set prompt.fold_system=true"):
        _probe(server, case_prompt("roles"))


@pytest.mark.slow  # about half a second or more on 2 cores: the full suite
def test_probe_refuses_max_tokens_the_listed_context_has_no_room_for(server):
    # vLLM refuses every request whose prompt and max_tokens exceed its max_model_len; the probe
    # asks for one token, so it passed and every sample became an infra_error.
    server.max_model_len = 512
    with pytest.raises(EndpointError, match="lower model.params.max_tokens") as err:
        _probe(server, case_prompt("big", max_tokens=600))
    assert "max_model_len is 512 tokens; the first prompt is 10 and max_tokens 600" in str(err.value)
    assert len(server.requests) == 1  # the probe only
    _probe(server, case_prompt("fits", max_tokens=502))  # 10 + 502 = 512 fits exactly, as at vLLM
    server.max_model_len = None  # not listed (Ollama, a LiteLLM proxy): nothing to check against
    _probe(server, case_prompt("unlisted", max_tokens=600))


@pytest.mark.parametrize("action", ["malformed", "empty", "not_http", "huge_header"])
def test_check_of_a_server_that_answers_something_else_says_it_answered(server, action):
    # A 200 that is not a completion (an HTML page, no choices) was "cannot reach the model
    # endpoint ...; start the server", about a server that is up; so was a reply that is not HTTP
    # (another protocol's greeting on the port, a header line of 64 KiB), retried besides.
    server.script("", [action] * 5)
    with pytest.raises(EndpointError) as err:
        check(model_config(server.base_url, max_retries=1))
    assert "answered for" in str(err.value) and "cannot reach" not in str(err.value), err.value


@pytest.mark.parametrize(("action", "said"), [
    ("empty_error", "litellm.BudgetExceededError: budget of key exceeded"),
    ("error_only", "backend exploded")])
def test_a_200_of_an_error_quotes_what_the_server_said_and_blames_no_address(server, action, said):
    # Nightly owners' trials: LiteLLM's 200 with `"choices": []` and an error object read only as
    # "not an OpenAI-compatible completion ... point model.base_url at the API"; a 200 of an error
    # object alone as a Python "KeyError: {..." cut mid-word, with the same advice about the address
    server.script("", [action] * 5)
    with pytest.raises(EndpointError) as err:
        check(model_config(server.base_url, max_retries=1))
    expected = f"failed its answer for 'm' (it answered 200 with an error: {said}); check the server's log"
    assert expected in str(err.value), err.value
    assert "base_url" not in str(err.value) and "KeyError" not in str(err.value)


def test_a_choice_without_its_message_is_said_in_words(server):
    server.script("", ["nullmessage"] * 5)
    with pytest.raises(EndpointError) as err:
        check(model_config(server.base_url, max_retries=1))
    assert "failed its answer for 'm' (it answered a choice it could not read (a field of the wrong type, " \
        "or null)); check the server's log" in str(err.value), err.value
    assert "AttributeError" not in str(err.value) and "base_url" not in str(err.value), err.value


def _odd_with_store(cfg, tmp_path, case="odd"):
    """The one sample of ``case``, asked through a response store in ``tmp_path`` (run r1)."""
    async def go(store):
        client = ModelClient(cfg, store, retry=FAST)
        try:
            return await client.generate(case_prompt(case, task_id=case), 1, 7)
        finally:
            await client.aclose()

    with ResponseStore(tmp_path / "store.sqlite", run_id="r1") as store:
        (gen,) = run(go(store))
    return gen


@pytest.mark.parametrize("chat", [True, False])
def test_an_answer_with_a_lone_surrogate_is_stored_and_kept_as_text(server, tmp_path, chat):
    # JSON's "\ud800" reached the response store's SQLite text and ended the run with a traceback
    # (exit 3); asked again on resume, it crashed again.
    server.script("odd", ["surrogate"])
    cfg = model_config(server.base_url, api="chat" if chat else "completions")
    gen = _odd_with_store(cfg, tmp_path)
    assert not gen.error and gen.raw_output.endswith(" # \ufffd"), gen
    again = _odd_with_store(cfg, tmp_path)  # resumed: answered from the store
    assert again.raw_output == gen.raw_output and server.count("odd") == 1


@pytest.mark.parametrize("count", ["1000000000000000000000000000000", "-3", '"x"', "2.5"])
def test_a_usage_that_is_no_count_keeps_the_answer(server, tmp_path, count):
    # 10**30 ended the run with a traceback where the store's integers stop (exit 3, every sample
    # lost); a string threw a good answer away as malformed; a negative count gave negative cost.
    server.script("odd", [f"usage:{count}"])
    gen = _odd_with_store(model_config(server.base_url, max_retries=0), tmp_path)
    assert not gen.error and gen.raw_output.startswith("answer odd")
    assert (gen.usage.prompt_tokens, gen.usage.completion_tokens) == (0, 5)
    assert server.count("odd") == 1


def test_an_error_body_with_a_lone_surrogate_is_an_infra_error_any_file_takes(server):
    # The 500's message reached samples.jsonl, the log and report.md as it was: exit 3, and the run
    # directory could not be finished (every later read of it crashed too).
    server.script("odd", ["500surrogate"])
    out, _ = run(generate_cases(server, ["odd"], max_retries=0))
    (gen,) = out["odd"]
    assert gen.finish_reason == "error" and "bad \ufffd thing" in gen.error, gen.error
    gen.error.encode("utf-8")  # what every file and log does with it


def test_an_answer_is_stored_as_it_comes_not_once_its_task_s_last_one_does(server, tmp_path):
    # Stored only when all of a task's samples were back, an answer was lost when the run was killed
    # while another sample of its task was still asked, and asked again on resume.
    server.script("kill", ["ok", "slow:2"])
    cfg = model_config(server.base_url, use_n=False)

    async def go(store):
        client = ModelClient(cfg, store, retry=FAST)
        asking = asyncio.ensure_future(client.generate(case_prompt("kill", task_id="kill"), 2, 7))
        deadline = time.monotonic() + 1.5
        while store.count() < 1 and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        killed_with = store.count()
        asking.cancel()  # the run killed while the slow sample is still asked
        with contextlib.suppress(asyncio.CancelledError):
            await asking
        await client.aclose()
        return killed_with

    with ResponseStore(tmp_path / "store.sqlite", run_id="r1") as store:
        assert run(go(store)) == 1


@pytest.mark.parametrize("reason", ["error", "abort"])
@pytest.mark.parametrize("n", [1, 3])
def test_an_answer_the_server_failed_is_asked_again_not_scored(server, reason, n):
    # finish_reason "error" (OpenRouter's mid-answer error) or "abort" (vLLM) was scored as the
    # model's own answer: an empty or cut program, a syntax_error the gate then failed the template on.
    server.script("failed", [f"finish:{reason}"])
    out, client = run(generate_cases(server, ["failed"], n=n))
    assert all(not g.error and g.finish_reason == "stop" for g in out["failed"])
    assert server.count("failed") == 2 and client.stats.retries == 1  # the whole request, once more


def test_an_answer_the_server_failed_every_time_is_infra_error_and_never_stored(server, tmp_path):
    server.script("failed", ["finish:error"] * 2)
    cfg = model_config(server.base_url, max_retries=1)
    gen = _odd_with_store(cfg, tmp_path, case="failed")
    assert "failed its answer" in gen.error and "finish_reason 'error'" in gen.error
    with ResponseStore(tmp_path / "store.sqlite", run_id="r1") as store:
        assert store.count() == 0


@pytest.mark.parametrize("shape", ["field", "blank", "empty_parts", "part", "not_text", "part_not_text"])
def test_a_model_s_refusal_is_its_answer_scored_and_kept_not_an_empty_one(server, shape):
    # OpenAI's models decline with content null and a `refusal` saying why: it was scored as an
    # empty answer, and samples.jsonl showed nothing of it; as a content part it stopped the run
    # ("not an OpenAI-compatible completion"). A refusal that is not text is no answer.
    server.script("declined", [f"refusal:{shape}"])
    out, client = run(generate_cases(server, ["declined"], n=2))
    expected = "" if shape.endswith("not_text") else REFUSAL
    assert [(g.raw_output, g.error) for g in out["declined"]] == [(expected, "")] * 2
    assert client.stats.retries == 0
    # an arm whose every answer declined, blank though the endpoint counted tokens, is the model's
    # (it exited 2: "the generation is not in the answer's content")
    assert client.stats.problem(0.0) is None


def test_an_answer_the_endpoint_s_filter_withheld_is_infra_error_not_the_model_s_empty_code(server, tmp_path):
    # finish_reason content_filter, no content: scored `empty` (exit 0), a gate blaming the template
    server.script("failed", ["finish:content_filter"] * 3)
    gen = _odd_with_store(model_config(server.base_url, max_retries=2), tmp_path, case="failed")
    assert "finish_reason 'content_filter'" in gen.error and "filter withheld" in gen.error
    assert server.count("failed") == 1  # not asked again: it would be withheld again
    with ResponseStore(tmp_path / "store.sqlite", run_id="r1") as store:
        assert store.count() == 0
