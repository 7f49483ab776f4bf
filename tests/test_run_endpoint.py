"""`evalkit run` tells the truth about its endpoint (issues 17 and 19): real runs against a
LiteLLM-shaped loopback proxy and the fault server, each as a separate process."""

from __future__ import annotations

import base64
import functools
import http.server
import json
import re
import threading
from pathlib import Path

import pytest

from evalkit.models import DemoServer
from tests.support.cli import FIXTURES, run_evalkit
from tests.support.fault_server import FaultServer
from tests.support.models import closed_port_url
from tests.support.prompts import humaneval_tasks
from tests.support.proxy import LoopbackProxy, Route
from tests.support.runs import folder_contents

pytestmark = pytest.mark.slow  # real runs and processes: the full suite, not the fast tier

KEY = "sk-master-5f1e2d3c4b5a"


@pytest.fixture(scope="module")
def demo():
    with DemoServer(humaneval_tasks()[:4]) as server:
        yield server


def run_against(url: str, tmp_path: Path, *extra: str, key: str | None = KEY):
    return run_evalkit("run", "model=mixtral", f"model.base_url={url}", "model.name=mixtral",
                       "model.api_key_env=PROXY_KEY", "model.max_retries=1", "model.concurrency=1",
                       "model.max_concurrency=1", "dataset.limit=4", "n_samples=1", "k=[1]",
                       "report.plots=false", f"hydra.run.dir={tmp_path / 'run'}",
                       f"store.path={tmp_path / 'store.sqlite'}", f"executor.cache_dir={tmp_path / 'cache'}",
                       *extra, env={"PROXY_KEY": key or ""})


def error_lines(proc) -> list[str]:
    return [line for line in proc.stderr.splitlines() if line.startswith("evalkit: error:")]


def test_key_refused_mid_run_exits_2_after_the_report_which_says_why(demo, tmp_path):
    with LoopbackProxy({"mixtral": Route(demo.base_url, "demo-oracle")}, KEY, refuse_after=1) as proxy:
        proc = run_against(proxy.base_url, tmp_path)
    assert proc.returncode == 2, proc.stderr[-2000:]
    (line,) = error_lines(proc)  # the hint once, on stderr
    assert "arm mixtral" in line and "no answer at all" in line and "PROXY_KEY" in line
    assert "No connected db" in line and "Traceback" not in proc.stderr
    # the terminal still gets the summary table (n/a, infra errors) and where the report is
    assert "pass@1" in proc.stdout and "mixtral" in proc.stdout
    assert f"report: {tmp_path / 'run' / 'report.html'}" in proc.stdout
    run_dir = tmp_path / "run"
    results = json.loads((run_dir / "results.json").read_text())
    assert results["problems"] and "refused the API key" in results["problems"][0]
    report = (run_dir / "report.md").read_text()
    assert "This run exits 2: arm mixtral: no answer at all" in report
    for path in run_dir.rglob("*"):
        if path.is_file():
            assert KEY not in path.read_text(errors="replace"), path


def test_a_key_refused_mid_run_leaves_evalkit_s_own_words_whole(demo, tmp_path):
    # The line's last masking pass masked every 6 characters of the key wherever they stood, in
    # evalkit's words too: a key holding "environment" made the hint "set the *** variable ..."
    key = "sk-environment-variable-9f8e"
    with LoopbackProxy({"mixtral": Route(demo.base_url, "demo-oracle")}, key, refuse_after=1,
                       database=True, echo_prefix=20) as proxy:
        proc = run_against(proxy.base_url, tmp_path, key=key)
    assert proc.returncode == 2, proc.stderr[-2000:]
    (line,) = error_lines(proc)
    assert "no answer at all" in line and "set the environment variable PROXY_KEY" in line, line
    assert key not in proc.stderr and "sk-environment-varia" not in proc.stderr  # the echo masked
    (problem,) = json.loads((tmp_path / "run" / "results.json").read_text())["problems"]
    assert "set the environment variable PROXY_KEY" in problem and key not in problem


@pytest.mark.parametrize(("max_error_rate", "code"), [("0", 2), ("0.6", 0)])
def test_refused_share_above_max_error_rate_exits_2(demo, tmp_path, max_error_rate, code):
    # probe + 2 samples answered, then 2 of the 4 samples refused
    with LoopbackProxy({"mixtral": Route(demo.base_url, "demo-oracle")}, KEY, refuse_after=3) as proxy:
        proc = run_against(proxy.base_url, tmp_path, f"model.max_error_rate={max_error_rate}")
    assert proc.returncode == code, proc.stderr[-2000:]
    if code == 2:
        (line,) = error_lines(proc)
        assert "2 of 4 samples were refused by the endpoint (model.max_error_rate=0)" in line
    else:
        assert "pass@1" in proc.stdout


def test_a_finished_run_that_tolerated_unanswered_samples_is_not_started_again(demo, tmp_path):
    # A nightly that kept its folder asked only the samples the night before left unanswered within
    # model.max_error_rate, scored the rest of its old answers as tonight's, and exited 0.
    with LoopbackProxy({"mixtral": Route(demo.base_url, "demo-oracle")}, KEY, refuse_after=3) as proxy:
        first = run_against(proxy.base_url, tmp_path, "model.max_error_rate=0.6")
        assert first.returncode == 0, first.stderr[-2000:]
        before = folder_contents(tmp_path / "run")
        again = run_against(proxy.base_url, tmp_path, "model.max_error_rate=0.6")
    assert again.returncode == 2, again.stderr[-2000:]
    (line,) = error_lines(again)
    assert "holds a finished run" in line and "would score its old answers as a new run" in line
    assert "the 2 sample(s) it left unanswered within model.max_error_rate stay so" in line
    assert folder_contents(tmp_path / "run") == before


def test_backend_dying_mid_run_exits_2_with_the_share_that_got_no_answer(demo, tmp_path):
    # the probe and the first 2 samples are answered; the other 2 get the proxy's 500 after every retry
    with LoopbackProxy({"mixtral": Route(demo.base_url, "demo-oracle")}, KEY, backend_dies_after=3) as proxy:
        proc = run_against(proxy.base_url, tmp_path)
    assert proc.returncode == 2, proc.stderr[-2000:]
    (line,) = error_lines(proc)
    assert ("2 of 4 samples got no answer (0 refused, 2 failed after every retry; "
            "model.max_error_rate=0)") in line
    assert "the model behind 'mixtral' is failing" in line
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["arms"][0]["verdicts"]["infra_error"] == 2 and results["problems"]
    # evalkit.log says what happened to each request (it was empty); the terminal only the summary
    log = (tmp_path / "run" / "evalkit.log").read_text()
    assert len(re.findall(r"model mixtral: HTTP 500: .*; retry 1 of 1 in", log)) == 2, log
    assert len(re.findall(r"model mixtral, HumanEval/\d+ sample 0: no answer: .*is failing", log)) == 2, log
    assert "retry 1 of 1" not in proc.stdout + proc.stderr


def test_a_run_resumed_once_its_backend_is_back_asks_what_got_no_answer(demo, tmp_path):
    # Started again in its directory, the run took the 2 unanswered samples as done: exit 0, the
    # problem gone from results.json, the infra errors left in pass@1's place.
    with LoopbackProxy({"mixtral": Route(demo.base_url, "demo-oracle")}, KEY, backend_dies_after=3) as proxy:
        assert run_against(proxy.base_url, tmp_path).returncode == 2
        proxy.backend_dies_after = None  # the backend is back, behind the same proxy
        resumed = run_against(proxy.base_url, tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    (arm,) = json.loads((tmp_path / "run" / "results.json").read_text())["arms"]
    assert arm["verdicts"].get("infra_error", 0) == 0 and arm["pass_at_k"]["1"]["value"] == 1.0
    lines = (tmp_path / "run" / "samples.jsonl").read_text().splitlines()
    assert len(lines) == 6  # the 2 answered samples kept, the 2 unanswered asked again (their new lines win)


def test_a_resumed_run_whose_backend_still_fails_counts_the_answers_it_had(demo, tmp_path):
    # It said "no answer at all" of an arm whose table showed its 2 answers: this attempt asked
    # only the 2 that had none, and both failed again.
    with LoopbackProxy({"mixtral": Route(demo.base_url, "demo-oracle")}, KEY, backend_dies_after=3) as proxy:
        assert run_against(proxy.base_url, tmp_path).returncode == 2
        proxy.backend_dies_after = proxy.forwarded + 1  # the probe is answered, nothing after it
        resumed = run_against(proxy.base_url, tmp_path)
    assert resumed.returncode == 2, resumed.stderr[-2000:]
    (line,) = error_lines(resumed)
    assert "2 of 4 samples got no answer (0 refused, 2 failed after every retry" in line, line
    assert "no answer at all" not in line


def test_answers_whose_text_a_proxy_dropped_exit_2_not_a_run_of_empty_answers(demo, tmp_path):
    # Every sample `empty`, 40 of 40, exit 0, and the nightly gate read a template regression: the
    # endpoint had spent tokens on text evalkit never saw
    with LoopbackProxy({"mixtral": Route(demo.base_url, "demo-oracle")}, KEY) as proxy:
        proxy.drop_content = True
        proc = run_against(proxy.base_url, tmp_path)
    assert proc.returncode == 2, proc.stderr[-2000:]
    (line,) = error_lines(proc)
    assert "arm mixtral: 4 of 4 answers came back with no text, though the endpoint reported" in line, line
    assert "the generation is not in the answer's content" in line
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    verdicts = results["arms"][0]["verdicts"]
    assert results["problems"] and verdicts["infra_error"] == sum(verdicts.values()) == 4


@pytest.mark.parametrize("reasoning", [False, True])
def test_empty_answers_with_no_token_counts_exit_2_not_a_night_of_empty_code(demo, tmp_path, reasoning):
    # A nightly owner's trial: a proxy that sent every answer's text empty (or in reasoning_content)
    # and no usage: scored `empty`, exit 0; the gate FAILed the template, and blessed, PASSed the next night
    with LoopbackProxy({"mixtral": Route(demo.base_url, "demo-oracle")}, KEY) as proxy:
        proxy.drop_content = proxy.drop_usage = True
        proxy.to_reasoning = reasoning
        proc = run_against(proxy.base_url, tmp_path)
    assert proc.returncode == 2, proc.stderr[-2000:]
    (line,) = error_lines(proc)
    said = ("4 of 4 answers came back with no text, their text in the message's reasoning field" if reasoning
            else "every one of its 4 answers was empty, and the endpoint reported no token counts")
    assert said in line, line


def test_some_answers_whose_text_a_proxy_dropped_exit_2_and_are_asked_again_on_resume(demo, tmp_path):
    # Half a night's answers came back with no text, the endpoint reporting their tokens: scored
    # `empty`, exit 0, and the gate FAILed the template, nothing pointing at the proxy.
    with LoopbackProxy({"mixtral": Route(demo.base_url, "demo-oracle")}, KEY) as proxy:
        proxy.drop_every = 2  # the probe's answer is the first
        proc = run_against(proxy.base_url, tmp_path)
        assert proc.returncode == 2, proc.stderr[-2000:]
        (line,) = error_lines(proc)
        assert "arm mixtral: 2 of 4 answers came back with no text, though the endpoint" in line, line
        assert "(model.max_error_rate=0)" in line and "a resumed run asks them again" in line
        rows = [json.loads(r) for r in (tmp_path / "run" / "samples.jsonl").read_text().splitlines()]
        assert {r["verdict"]["status"] for r in rows} == {"passed", "infra_error"}
        proxy.drop_every = 0
        resumed = run_against(proxy.base_url, tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["arms"][0]["verdicts"]["passed"] == 4 and not results["problems"]
    assert "came back with no text" not in run_against(proxy.base_url, tmp_path, "model.max_error_rate=0.6",
                                                        "hydra.run.dir=" + str(tmp_path / "other")).stderr


def test_backend_down_behind_the_proxy_exits_2_at_the_probe(tmp_path):
    with LoopbackProxy({"mixtral": Route(closed_port_url(), "demo-oracle")}, KEY) as proxy:
        proc = run_against(proxy.base_url, tmp_path)
        assert proxy.forwarded == 2  # the probe and its one retry: no sample was attempted
    assert proc.returncode == 2
    (line,) = error_lines(proc)
    assert "the model behind 'mixtral' is failing" in line and "litellm_params.api_base" in line
    # the probe comes first: no CPU limit was calibrated, no reference solution run
    assert not list((tmp_path / "cache").glob("cpu-*.json"))


@pytest.mark.parametrize(("server_kwargs", "named"), [
    ({"models": ("other",)}, "model.name is the server's served id"),
    ({"models": ("mixtral",), "require_key": "right-key-0000"}, "PROXY_KEY"),
])
def test_fault_server_refusals_exit_2_with_the_fix(tmp_path, server_kwargs, named):
    with FaultServer(**server_kwargs) as srv:
        proc = run_against(srv.base_url, tmp_path, key="wrong-key-1111")
        assert not srv.requests or len(srv.requests) == 1  # only the probe
    assert proc.returncode == 2
    (line,) = error_lines(proc)
    assert named in line and "wrong-key-1111" not in proc.stderr


def test_an_endpoint_behind_an_internal_ca_is_named_as_such_and_reached_with_ssl_cert_file(tmp_path):
    # A checker's air-gapped HTTPS endpoint, its certificate signed by a CA this machine does not
    # trust: "cannot reach the model endpoint ...; start the server or fix model.base_url" sent the
    # user to a server that was up, at the right URL. SSL_CERT_FILE is the fix, for both transports.
    tls = (FIXTURES / "tls" / "cert.pem", FIXTURES / "tls" / "key.pem")
    with FaultServer(models=("mixtral",), tls=tls) as srv:
        refused = run_against(srv.base_url, tmp_path / "refused")
        trusted = [run_evalkit("run", "model=mixtral", f"model.base_url={srv.base_url}",
                               "model.name=mixtral", "dataset.limit=1", "n_samples=1", "k=[1]",
                               "report.plots=false", f"model.stream={stream}",
                               f"hydra.run.dir={tmp_path / stream}",
                               f"store.path={tmp_path / stream / 's.sqlite'}",
                               f"executor.cache_dir={tmp_path / 'cache'}", env={"SSL_CERT_FILE": str(tls[0])})
                   for stream in ("false", "true")]
    assert refused.returncode == 2
    (line,) = error_lines(refused)
    assert "TLS certificate this machine does not trust" in line and "SSL_CERT_FILE" in line
    assert "start the server" not in line
    assert trusted[0].returncode == 0, trusted[0].stderr[-2000:]
    # streamed answers go through httpx, not aiohttp: its request reached the server too (which
    # does not stream, and says so: "streamed no choices")
    assert any(request["body"].get("stream") for request in srv.requests), trusted[1].stderr[-2000:]
    assert "TLS" not in trusted[1].stderr


def test_a_refused_credential_s_fix_reads_whole_and_shows_no_piece_of_it(tmp_path):
    # The credential's "user:p" is also in evalkit's own "user:password the server accepts": the last
    # pass that masks pieces of secrets printed "set MYCRED to the ***ssword the server accepts"
    credential = "builduser:pa55w0rdXYZq"
    with FaultServer(models=("mixtral",)) as srv:
        srv.require_authorization = "Basic c29tZW9uZTplbHNl"
        proc = run_evalkit("run", "model=mixtral", f"model.base_url={srv.base_url}", "model.name=mixtral",
                           "model.api_key_env=MYCRED", "model.auth=basic", "dataset.limit=1", "n_samples=1",
                           "k=[1]", f"hydra.run.dir={tmp_path / 'run'}", "store.enabled=false",
                           env={"MYCRED": credential})
    assert proc.returncode == 2
    (line,) = error_lines(proc)
    fix = ("set the environment variable MYCRED to the user:password the server accepts (sent as HTTP basic "
           "auth: model.auth=basic)")
    assert line.endswith(fix), line
    shown = (proc.stdout + proc.stderr).replace(fix, "")  # evalkit's words; what the server said is masked
    for encoded in (credential, base64.b64encode(credential.encode()).decode()):
        assert not [encoded[i:i + 6] for i in range(len(encoded) - 5) if encoded[i:i + 6] in shown]


def test_a_key_variable_that_is_not_set_is_said_to_be_unset(tmp_path):
    # A misspelt model.api_key_env sends no key; the 401 said to set that misspelt name to a key
    with FaultServer(models=("mixtral",), require_key="right-key-0000") as srv:
        proc = run_against(srv.base_url, tmp_path, key=None)
    assert proc.returncode == 2
    (line,) = error_lines(proc)
    assert "set the environment variable PROXY_KEY (not set: no key was sent; check its spelling in " \
           "model.api_key_env) to a key the server accepts" in line, line
    # and none was: the server's 401 echoes the header it got (it got "Bearer EMPTY", openai's default)
    assert "(HTTP 401: Incorrect API key provided:);" in line, line


def test_a_web_server_that_is_not_an_api_exits_2_at_once_with_its_words_not_its_html(tmp_path):
    """model.base_url pointing at a plain web server (here Python's http.server, which answers a POST
    with an HTML page and 501): one line saying so, the probe not retried as a failing model would be."""
    posts = []

    class Static(http.server.SimpleHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's naming
            posts.append(self.path)
            self.send_error(501, "Unsupported method ('POST')")  # http.server's own answer to a POST

        def log_message(self, *args):
            pass

    handler = functools.partial(Static, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        proc = run_against(f"http://127.0.0.1:{server.server_address[1]}/v1", tmp_path, "model.max_retries=4")
    finally:
        server.shutdown()
        server.server_close()
    assert proc.returncode == 2
    (line,) = error_lines(proc)
    assert "is not an OpenAI-compatible API (HTTP 501:" in line and "model.base_url" in line
    assert "<" not in line and "try again" not in line
    assert "(HTTP 501: Error response Error code: 501 Message: Unsupported method ('POST')." in line  # once
    assert posts == ["/v1/chat/completions"]  # the probe once: nothing to retry


@pytest.mark.parametrize(("value", "message"), [
    ("lots", "model.max_error_rate must be a number, not 'lots'"),
    ("1.5", "model.max_error_rate must be between 0 and 1, not 1.5"),
])
def test_max_error_rate_must_be_a_share(tmp_path, value, message):
    proc = run_evalkit("run", f"model.max_error_rate={value}", f"hydra.run.dir={tmp_path / 'run'}")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [f"evalkit: error: {message}"]


def test_a_truncated_key_echoed_by_the_endpoint_leaks_no_piece_of_it(demo, tmp_path):
    """A 401 that echoes the key's first 14 characters (issue: only whole keys were masked): no run of
    6 characters of the key reaches stderr, stdout or any file of the run, also with --verbose."""
    key = "sk-Zq9xW7Lm2Qp4Rt8vNARY3b"
    pieces = {key[i:i + 6] for i in range(len(key) - 5)}
    with LoopbackProxy({"mixtral": Route(demo.base_url, "demo-oracle")}, key, database=True, refuse_after=3,
                       echo_prefix=14) as proxy:
        proc = run_evalkit("--verbose", "run", "model=mixtral", f"model.base_url={proxy.base_url}",
                           "model.name=mixtral", "model.api_key_env=PROXY_KEY", "model.max_retries=1",
                           "model.concurrency=1", "model.max_concurrency=1", "dataset.limit=4", "n_samples=1",
                           "k=[1]", f"hydra.run.dir={tmp_path / 'run'}",
                           f"store.path={tmp_path / 'store.sqlite'}",
                           f"executor.cache_dir={tmp_path / 'cache'}", env={"PROXY_KEY": key})
    # --verbose adds the traceback; the exit code still says "the endpoint refused" (2), not "regression"
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "Traceback" in proc.stderr and "refused the API key" in error_lines(proc)[0]
    assert "Received API Key = ***" in proc.stderr  # what was echoed, masked
    texts = {"stderr": proc.stderr, "stdout": proc.stdout}
    files = [p for p in (tmp_path / "run").rglob("*") if p.is_file()]
    written = {p.name for p in files}
    assert written >= {"samples.jsonl", "results.json", "report.md", "report.html", "junit.xml"}
    texts |= {str(p): p.read_text(errors="replace") for p in files}
    leaks = {name: sorted(piece for piece in pieces if piece in text) for name, text in texts.items()}
    assert {name: found for name, found in leaks.items() if found} == {}


def test_the_demo_endpoint_reached_by_its_url_is_labelled_synthetic(demo, tmp_path):
    # `evalkit serve-demo` driven through model=openai_compatible reported its made-up answers as a
    # real model's: only the default run's demo arms said synthetic.
    proc = run_evalkit("run", "model=openai_compatible", f"model.base_url={demo.base_url}",
                       "model.name=demo-oracle", "dataset.limit=4", "n_samples=1", "k=[1]",
                       "report.plots=false", f"hydra.run.dir={tmp_path / 'run'}",
                       f"store.path={tmp_path / 'store.sqlite'}", f"executor.cache_dir={tmp_path / 'cache'}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    (arm,) = json.loads((tmp_path / "run" / "results.json").read_text())["arms"]
    assert arm["synthetic"] is True and arm["endpoint"]["served"]["owned_by"] == "evalkit-demo (synthetic)"
    assert "| demo-oracle [synthetic (demo)] |" in (tmp_path / "run" / "report.md").read_text()


def test_a_run_resumed_against_another_endpoint_is_refused_and_changes_nothing(demo, tmp_path):
    # The alias re-pointed between two attempts: the resumed run reported demo-oracle's samples and
    # demo-buggy's as one arm "mixtral", exit 0, results.json naming only the second endpoint.
    with LoopbackProxy({"mixtral": Route(demo.base_url, "demo-oracle")}, KEY) as proxy:
        first = run_against(proxy.base_url, tmp_path)
        assert first.returncode == 0, first.stderr[-2000:]
        run_dir = tmp_path / "run"
        kept = folder_contents(run_dir)
        proxy.repoint("mixtral", Route(demo.base_url, "demo-buggy"))
        resumed = run_against(proxy.base_url, tmp_path, "n_samples=2")
        assert resumed.returncode == 2, resumed.stderr[-2000:]
        (line,) = error_lines(resumed)
        assert "holds samples of arm 'mixtral' answered by another endpoint" in line and "demo-buggy" in line
        assert "; what differs: answered_by." in line  # named, where the shown parts may read alike
        assert line.endswith("resume against the endpoint it was started with, or give a new hydra.run.dir")
        assert folder_contents(run_dir) == kept  # its saved config, log, run.json and samples
        (run_dir / "run.json").unlink()  # a directory written before run.json: results.json says it
        assert run_against(proxy.base_url, tmp_path, "n_samples=2").returncode == 2
        proxy.repoint("mixtral", Route(demo.base_url, "demo-oracle"))  # back: the run goes on
        again = run_against(proxy.base_url, tmp_path, "n_samples=2")
        assert again.returncode == 0, again.stderr[-2000:]
    assert len((tmp_path / "run" / "samples.jsonl").read_text().splitlines()) == 8


def test_a_killed_run_resumed_after_its_alias_was_re_pointed_is_refused(demo, tmp_path):
    # Killed (SIGKILL, a CI timeout) after its answers were stored and before they were scored: no
    # sample said what had answered, so the resumed run replayed demo-oracle's stored answers as
    # demo-buggy's, exit 0, run.json and results.json naming demo-buggy.
    with LoopbackProxy({"mixtral": Route(demo.base_url, "demo-oracle")}, KEY) as proxy:
        assert run_against(proxy.base_url, tmp_path).returncode == 0
        (tmp_path / "run" / "samples.jsonl").write_text("")  # answered and stored, never scored
        proxy.repoint("mixtral", Route(demo.base_url, "demo-buggy"))
        resumed = run_against(proxy.base_url, tmp_path)
        assert resumed.returncode == 2, resumed.stderr[-2000:]
        (line,) = error_lines(resumed)
        assert "the response store holds answers to arm 'mixtral'" in line and "(not yet scored)" in line
        assert "answered by another endpoint" in line and "demo-buggy" in line
        proxy.repoint("mixtral", Route(demo.base_url, "demo-oracle"))  # back: the stored answers are its
        forwarded = proxy.forwarded
        again = run_against(proxy.base_url, tmp_path)
    assert again.returncode == 0, again.stderr[-2000:]
    rows = [json.loads(line) for line in (tmp_path / "run" / "samples.jsonl").read_text().splitlines()]
    assert len(rows) == 4 and all(r["cached"] for r in rows)
    assert proxy.forwarded - forwarded <= 1  # the probe


def test_a_killed_run_s_stored_answers_name_on_resume_the_deployment_that_gave_them(demo, tmp_path):
    # An alias re-pointed mid-run (here: balanced over two deployments), the run killed before those
    # answers were scored, the alias pointed back, the run resumed: the replayed answers named
    # nothing, so another model's answers counted as the run's, and report, gate and bless said nothing.
    balanced = [Route(demo.base_url, "demo-oracle"), Route(demo.base_url, "demo-buggy")]
    with LoopbackProxy({"mixtral": balanced}, KEY) as proxy:
        assert run_against(proxy.base_url, tmp_path).returncode == 0
        run_dir = tmp_path / "run"
        first = [json.loads(line) for line in (run_dir / "samples.jsonl").read_text().splitlines()]
        named = {r["answered_by"]["model"] for r in first}
        assert len(named) == 2, named  # both deployments answered
        (run_dir / "samples.jsonl").write_text("")  # killed after its answers were stored
        endpoint = json.loads((run_dir / "run.json").read_text())["endpoints"]["mixtral"]
        probed = endpoint["answered_by"]["model"]
        proxy.repoint("mixtral", next(r for r in balanced if r.model == probed))  # back on the probe's
        forwarded = proxy.forwarded
        again = run_against(proxy.base_url, tmp_path)
    assert again.returncode == 0, again.stderr[-2000:]
    assert proxy.forwarded - forwarded <= 1  # the probe: every answer replayed
    rows = [json.loads(line) for line in (run_dir / "samples.jsonl").read_text().splitlines()]
    assert all(r["cached"] for r in rows)
    assert {(r["task_id"], r["answered_by"]["model"]) for r in rows} == {
        (r["task_id"], r["answered_by"]["model"]) for r in first}
    results = json.loads((run_dir / "results.json").read_text())
    assert {a["answered_by"]["model"] for a in results["arms"][0]["answered_by"]} == named
    assert "answered by 2 different deployments or models" in (run_dir / "report.md").read_text()
    blessed = run_evalkit("baseline", "bless", str(run_dir), "-o", str(tmp_path / "baselines"))
    assert blessed.returncode == 2 and "answered by several served models" in blessed.stderr, blessed.stderr


def test_answers_that_name_another_model_than_the_one_asked_are_said_in_the_report(demo, tmp_path):
    # A nightly owner's trial: every answer named llama-3-8b where the run asked for mixtral, exit 0,
    # and only results.json and samples.jsonl said so; a baseline blessed from it measured that model.
    # Then only report.md said so: the terminal (a nightly's log) too.
    with LoopbackProxy({"mixtral": Route(demo.base_url, "demo-oracle")}, KEY) as proxy:
        proc = run_against(proxy.base_url, tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    said = "mixtral: its answers name model 'demo-oracle', not 'mixtral', the model it asked for"
    assert said in (tmp_path / "run" / "report.md").read_text()
    assert [line for line in proc.stderr.splitlines() if line.startswith(f"evalkit: warning: {said}")]


def test_a_model_name_that_echoes_part_of_the_key_is_masked_on_the_terminal(demo, tmp_path):
    # A checker's endpoint named its answers' model after 12 characters of the key: the warning that
    # names that model printed them into the (public) nightly log.
    key = "sk-proxy-demo-oracle-2f9c"
    with LoopbackProxy({"mixtral": Route(demo.base_url, "demo-oracle")}, key) as proxy:
        proc = run_against(proxy.base_url, tmp_path, key=key)
    assert proc.returncode == 0, proc.stderr[-2000:]
    (warning,) = [line for line in proc.stderr.splitlines() if "its answers name model" in line]
    assert warning.startswith("evalkit: warning: mixtral: its answers name model '***'"), warning
    assert not [key[i:i + 6] for i in range(len(key) - 5) if key[i:i + 6] in proc.stdout + proc.stderr]


def test_a_killed_run_resumed_with_its_arm_renamed_asks_again(demo, tmp_path):
    # The check of unscored answers goes by the arm's label; the store gave them to any arm of the
    # run at that address: renamed, the arm replayed demo-oracle's answers as demo-buggy's, exit 0.
    with LoopbackProxy({"mixtral": Route(demo.base_url, "demo-oracle")}, KEY) as proxy:
        assert run_against(proxy.base_url, tmp_path).returncode == 0
        (tmp_path / "run" / "samples.jsonl").write_text("")  # answered and stored, never scored
        proxy.repoint("mixtral", Route(demo.base_url, "demo-buggy"))
        renamed = run_against(proxy.base_url, tmp_path, "arms=[{label: renamed}]")
    assert renamed.returncode == 0, renamed.stderr[-2000:]
    rows = [json.loads(line) for line in (tmp_path / "run" / "samples.jsonl").read_text().splitlines()]
    assert len(rows) == 4 and not any(r["cached"] for r in rows)
    (arm,) = json.loads((tmp_path / "run" / "results.json").read_text())["arms"]
    assert arm["arm"] == "renamed" and arm["pass_at_k"]["1"]["value"] < 1.0  # demo-buggy's own


def test_two_arms_of_one_model_at_two_addresses_never_answer_each_other_on_resume(demo, tmp_path):
    # The same model name and template at two URLs send the same requests: arm b, refused after its
    # probe, was resumed with arm a's stored answers (exit 0, results.json naming b's endpoint).
    with LoopbackProxy({"mixtral": Route(demo.base_url, "demo-oracle")}, KEY) as a, \
            LoopbackProxy({"mixtral": Route(demo.base_url, "demo-buggy")}, KEY, refuse_after=1) as b:
        arms = (f"arms=[{{label: a, model: {{base_url: '{a.base_url}'}}}}, "
                f"{{label: b, model: {{base_url: '{b.base_url}'}}}}]")
        first = run_against(a.base_url, tmp_path, arms)
        assert first.returncode == 2, first.stderr[-2000:]
        b.refuse_after = None
        resumed = run_against(a.base_url, tmp_path, arms)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    rows = [json.loads(line) for line in (tmp_path / "run" / "samples.jsonl").read_text().splitlines()]
    of_b = [r for r in rows if r["arm"] == "b" and r["verdict"]["status"] != "infra_error"]
    assert len(of_b) == 4 and not any(r["cached"] for r in of_b)
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    arms_results = {arm["arm"]: arm for arm in results["arms"]}
    assert arms_results["a"]["pass_at_k"]["1"]["value"] == 1.0
    assert arms_results["b"]["pass_at_k"]["1"]["value"] < 1.0  # demo-buggy's own answers


def test_a_run_resumed_behind_an_alias_balanced_over_two_deployments_goes_on(demo, tmp_path):
    # Each answer names the deployment that gave it: the resumed run's probe reached the other one,
    # and the run was refused as if the alias had been re-pointed (half the time, in a real proxy).
    one, two = Route(demo.base_url, "demo-oracle"), Route(demo.base_url.replace("127.0.0.1", "localhost"),
                                                           "demo-oracle")
    with LoopbackProxy({"mixtral": [one, two]}, KEY) as proxy:
        assert run_against(proxy.base_url, tmp_path).returncode == 0
        first = json.loads((tmp_path / "run" / "run.json").read_text())["endpoints"]["mixtral"]
        probed = first["answered_by"]["x-litellm-model-api-base"]
        other = 1 if probed == one.api_base else 0
        proxy.turn += proxy.turn % 2 != other  # the next request goes to the deployment not probed
        # and its URL spelled another way (`HTTP://...//`: the same address, refused as another endpoint)
        resumed = run_against(proxy.base_url.replace("http://", "HTTP://") + "/", tmp_path, "n_samples=2")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    (arm,) = json.loads((tmp_path / "run" / "results.json").read_text())["arms"]
    assert arm["pass_at_k"]["1"]["value"] == 1.0 and len(
        (tmp_path / "run" / "samples.jsonl").read_text().splitlines()) == 8


@pytest.mark.parametrize("first", [True, False])
def test_a_models_listing_that_failed_once_never_blocks_a_resume(demo, tmp_path, first):
    # Failed at the first attempt, it recorded no /v1/models entry and every resume was refused as
    # another endpoint; failed at the resume, the same, without a word about the listing. The probe's
    # answer (its model, the proxy's deployment) still names what answered.
    with LoopbackProxy({"mixtral": Route(demo.base_url, "demo-oracle")}, KEY) as proxy:
        proxy.listing_fails = 1 if first else 0
        assert run_against(proxy.base_url, tmp_path).returncode == 0
        proxy.listing_fails = 0 if first else 99
        resumed = run_against(proxy.base_url, tmp_path, "n_samples=2")
        assert resumed.returncode == 0, resumed.stderr[-2000:]
        proxy.repoint("mixtral", Route(demo.base_url, "demo-buggy"))  # re-pointed: still refused
        refused = run_against(proxy.base_url, tmp_path, "n_samples=3")
    assert refused.returncode == 2 and "answered by another endpoint" in error_lines(refused)[0]


def test_of_several_arms_the_one_whose_endpoint_fails_the_probe_is_named(tmp_path):
    # "cannot reach the model endpoint at ..." with two arms left the user to guess whose URL it was.
    url = closed_port_url()
    proc = run_evalkit("run", f"arms=[{{label: here}}, {{label: gone, model: {{base_url: '{url}'}}}}]",
                       "dataset.limit=1", "n_samples=1", "k=[1]", f"hydra.run.dir={tmp_path / 'run'}",
                       "store.enabled=false")
    assert proc.returncode == 2, proc.stderr[-2000:]
    (line,) = error_lines(proc)
    assert line.startswith(f"evalkit: error: arm gone: cannot reach the model endpoint at {url}"), line


def test_answers_of_another_deployment_than_the_probes_are_credited_and_stored_as_its(demo, tmp_path):
    # Every answer was stored under the deployment the probe reached and results.json named only it:
    # a later run with store.reuse=true against that deployment replayed the other one's answers.
    probed = Route(demo.base_url, "demo-oracle")
    other = Route(demo.base_url.replace("127.0.0.1", "localhost"), "demo-buggy")
    with LoopbackProxy({"mixtral": [probed, other]}, KEY) as proxy:  # probe: probed; then other, probed, ...
        mixed = run_against(proxy.base_url, tmp_path)
        proxy.repoint("mixtral", probed)  # only the deployment the first probe reached, from now on
        replay = run_against(proxy.base_url, tmp_path / "again", "store.reuse=true",
                             f"store.path={tmp_path / 'store.sqlite'}")
    assert mixed.returncode == 0, mixed.stderr[-2000:]
    (arm,) = json.loads((tmp_path / "run" / "results.json").read_text())["arms"]
    assert sorted((a["answered_by"]["model"], a["samples"]) for a in arm["answered_by"]) == [
        ("demo-buggy", 2), ("demo-oracle", 2)]
    report = (tmp_path / "run" / "report.md").read_text()
    assert "answered by 2 different deployments or models" in report and "model 'demo-buggy'" in report
    assert replay.returncode == 0, replay.stderr[-2000:]
    (arm,) = json.loads((tmp_path / "again" / "run" / "results.json").read_text())["arms"]
    assert arm["cached_samples"] == 2  # the probed deployment's answers only; the other's asked again
    assert [a["answered_by"]["model"] for a in arm["answered_by"]] == ["demo-oracle"]
