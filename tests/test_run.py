"""`evalkit run` end to end on the embedded demo endpoint: real server, real processes."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.cli import run_evalkit
from tests.support.prompts import FIXTURE_CHECKOUT
from tests.support.runs import folder_contents

pytestmark = pytest.mark.slow  # real runs and processes: the full suite, not the fast tier


def _run_overrides(tmp_path: Path, *extra: str) -> list[str]:
    return ["run", "dataset.limit=8", "n_samples=4", "k=[1,2,10]",
            f"hydra.run.dir={tmp_path / 'run'}", f"store.path={tmp_path / 'store.sqlite'}",
            f"executor.cache_dir={tmp_path / 'cache'}", *extra]


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("e2e")
    proc = run_evalkit(*_run_overrides(tmp_path, "report.plots=true"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    return tmp_path / "run", proc


def test_run_writes_every_file_of_a_run_directory(demo_run):
    run_dir, proc = demo_run
    for name in ("samples.jsonl", "results.json", "report.md", "report.html", "junit.xml", "metrics.txt"):
        assert (run_dir / name).is_file(), name
    assert list(run_dir.glob("*.png")), "no plot was written"
    assert (run_dir / ".hydra" / "config.yaml").is_file()
    assert f"report: {run_dir / 'report.html'}" in proc.stdout


def test_progress_in_a_log_is_plain_lines_with_the_count(demo_run):
    _, proc = demo_run  # stderr is a pipe here, as in CI
    assert "\r" not in proc.stderr and "\x1b" not in proc.stderr
    total = 3 * 8 * 4  # the demo's three arms x 8 tasks x 4 samples
    finals = [ln for ln in proc.stderr.splitlines()
              if ln.startswith((f"generate: {total}/{total}", f"execute: {total}/{total}"))]
    assert len(finals) == 2, proc.stderr[-2000:]
    assert all(" samples/s, " in line for line in finals)
    # generation ends before the last answer is executed: its line comes first, with its own time
    assert [line.split(":")[0] for line in finals] == ["generate", "execute"], finals


def test_samples_have_the_documented_fields(demo_run):
    run_dir, _ = demo_run
    rows = [json.loads(line) for line in (run_dir / "samples.jsonl").read_text().splitlines()]
    assert len(rows) == 3 * 8 * 4
    keys = {(r["arm"], r["task_id"], r["sample_index"]) for r in rows}
    assert len(keys) == len(rows), "a sample was written twice"
    for field in ("run_id", "arm", "model", "template", "task_id", "sample_index", "params", "prompt",
                  "raw_output", "completion", "finish_reason", "usage", "latency_s", "verdict", "lenient",
                  "metrics", "cached"):
        assert field in rows[0], field
    assert set(rows[0]["template"]) == {"family", "version", "sha256"}
    # the raw answer is kept beside the extracted code (demo-mimic escapes underscores the gateway unescapes)
    assert any(r["raw_output"] != r["completion"] and r["raw_output"].strip() for r in rows)


def test_oracle_passes_everything_and_the_mimic_shows_a_template_comparison(demo_run):
    run_dir, proc = demo_run
    results = json.loads((run_dir / "results.json").read_text())
    arms = {a["arm"]: a for a in results["arms"]}
    old, new = "demo-mimic@mixtral-1.0.0", "demo-mimic@mixtral-2.0.0"
    assert set(arms) == {"demo-oracle", old, new}
    assert arms["demo-oracle"]["pass_at_k"]["1"]["value"] == pytest.approx(1.0)
    # 1.0.0 sends no stop tag: the remark demo-mimic writes after its code stays in and breaks it
    assert arms[old]["pass_at_k"]["1"]["value"] < arms[new]["pass_at_k"]["1"]["value"] < 0.95
    assert (arms[old]["template"]["version"], arms[new]["template"]["version"]) == ("1.0.0", "2.0.0")
    assert all(a["synthetic"] for a in arms.values())
    # k=10 exceeds the 4 samples per task: shown as n/a with a reason, never dropped
    assert arms["demo-oracle"]["pass_at_k"]["10"]["value"] is None
    assert arms["demo-oracle"]["pass_at_k"]["10"].get("reason")
    assert results["dataset"]["n_tasks"] == 8 and len(results["dataset"]["content_sha256"]) == 64
    timings = results["timings_s"]
    assert set(timings) == {"probe", "calibration_and_canary", "generation_and_scoring"}
    started, finished = (dt.datetime.fromisoformat(results[k]) for k in ("started_at", "finished_at"))
    assert timings["generation_and_scoring"] > 0  # the stages fill the time between those stamps (1 s steps)
    assert abs(sum(timings.values()) - (finished - started).total_seconds()) <= 2.0
    assert "synthetic" in (run_dir / "report.md").read_text().lower()
    assert "demo-oracle" in proc.stdout and "pass@1" in proc.stdout


def test_a_finished_run_started_again_asks_nothing_and_exits_2(demo_run):
    # A nightly that kept its run folder asked the model nothing every night after the first, scored
    # the old answers under new times, exited 0, and its gate stayed green.
    run_dir, _ = demo_run
    before = folder_contents(run_dir)
    proc = run_evalkit(*_run_overrides(run_dir.parent))
    assert proc.returncode == 2, proc.stderr[-2000:]
    (line,) = proc.stderr.strip().splitlines()
    assert f"{run_dir} holds a finished run (run-" in line
    assert "would score its old answers as a new run" in line
    assert "in CI, a new pipeline" in line and f"`evalkit report {run_dir}`" in line
    assert folder_contents(run_dir) == before  # its reports, saved config and log as they were


@pytest.mark.parametrize(("change", "said"), [
    (["arms=[{label: demo-oracle, model: {name: demo-buggy}}]"],
     "holds samples of arm 'demo-oracle' made with another model 'demo-oracle', now 'demo-buggy'"),
    (["model.params.temperature=0.1"], "made with another params temperature 0.8, now 0.1"),
    (["n_samples=2"], "holds 4 samples per task of arm 'demo-oracle', more than this run's n_samples=2: "
                      "give n_samples=4 (or more), or a new hydra.run.dir"),
    (["prompt.version=1.0.0"], "made with another template mixtral 2.0.0"),
])
def test_a_run_resumed_with_another_configuration_is_refused_and_changes_nothing(demo_run, change, said):
    # Resumed with an arm's model, sampling or template changed, one arm's report pooled the answers
    # of both configurations under one name (demo-oracle's credited to demo-buggy), exit 0.
    run_dir, _ = demo_run
    before = folder_contents(run_dir)
    assert {".hydra/config.yaml", "evalkit.log", "samples.jsonl", "results.json"} <= before.keys()
    proc = run_evalkit(*_run_overrides(run_dir.parent, *change))
    assert proc.returncode == 2
    (line,) = proc.stderr.strip().splitlines()
    assert said in line and line.endswith(("resume with the configuration it was started with, or give a new "
                                           "hydra.run.dir", "(or more), or a new hydra.run.dir")), line
    assert folder_contents(run_dir) == before  # its saved config and its log too


def test_a_refused_resume_in_a_relative_run_directory_changes_nothing(demo_run):
    # hydra.run.dir=runs/r3 was taken for another directory than the one Hydra named (absolute): the
    # refusal left the refused config (seed: 99) in .hydra/, which no longer described the samples.
    run_dir, _ = demo_run
    before = folder_contents(run_dir)
    overrides = [o if not o.startswith("hydra.run.dir=") else f"hydra.run.dir={run_dir.name}"
                 for o in _run_overrides(run_dir.parent, "seed=99")]
    proc = run_evalkit(*overrides, cwd=run_dir.parent)
    assert proc.returncode == 2 and "holds samples drawn with seed=1234, now seed=99" in proc.stderr
    assert folder_contents(run_dir) == before


def test_a_run_stopped_while_writing_its_reports_finishes_when_started_again(demo_run, tmp_path):
    # What a Ctrl-C or a cancelled CI job leaves while the reports are written: every sample, some
    # reports, no results.json (written last). Started again, the run asks nothing and writes them.
    run_dir = tmp_path / "run"
    shutil.copytree(demo_run[0], run_dir)
    samples = (run_dir / "samples.jsonl").read_bytes()
    for name in ("results.json", "report.md", "report.html", "junit.xml", "metrics.txt"):
        (run_dir / name).unlink()
    proc = run_evalkit(*_run_overrides(tmp_path))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (run_dir / "samples.jsonl").read_bytes() == samples  # nothing asked or scored again
    assert all((run_dir / name).is_file() for name in ("results.json", "report.md", "junit.xml"))


@pytest.mark.parametrize("recorded_in", ["run.json", "results.json"])
def test_a_run_resumed_with_another_seed_is_refused_and_changes_nothing(demo_run, tmp_path, recorded_in):
    # Each sample's request seed derives from the run seed: resumed with another, the run reported
    # answers of two seed streams as one draw, exit 0. A directory whose run.json predates the
    # recorded seed is checked against results.json's.
    run_dir = tmp_path / "run"
    shutil.copytree(demo_run[0], run_dir)
    if recorded_in == "results.json":
        run_file = json.loads((run_dir / "run.json").read_text())
        assert run_file.pop("seed") == 1234
        (run_dir / "run.json").write_text(json.dumps(run_file))
    before = folder_contents(run_dir)
    proc = run_evalkit(*_run_overrides(tmp_path, "seed=99"))
    assert proc.returncode == 2, proc.stderr[-2000:]
    (line,) = proc.stderr.strip().splitlines()
    assert "holds samples drawn with seed=1234, now seed=99: resume with the seed it was started with" in line
    assert folder_contents(run_dir) == before


def test_the_default_run_works_on_a_machine_with_a_proxy_for_everything(tmp_path):
    # HTTP_PROXY set machine-wide, no NO_PROXY: the embedded demo endpoint on loopback was asked
    # through a proxy (here nothing listens), and the default `evalkit run` exited 2.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        nowhere = f"http://127.0.0.1:{sock.getsockname()[1]}"
    proc = run_evalkit(*_run_overrides(tmp_path, "dataset.limit=2", "n_samples=1", "k=[1]"),
                       env={"HTTP_PROXY": nowhere, "http_proxy": nowhere, "NO_PROXY": "", "no_proxy": ""})
    assert proc.returncode == 0, proc.stderr[-2000:]


@pytest.mark.skipif("HF_HOME" in os.environ, reason="HF_HOME is set: the default cache is not used")
def test_a_run_without_a_writable_home_caches_datasets_elsewhere(tmp_path):
    """A non-root user in a container (HOME=/nonexistent): `datasets` could not make its cache under
    ~/.cache and every default run failed, naming the HumanEval data file."""
    no_home = tmp_path / "a-file"  # a home nobody can make folders in, root included
    no_home.write_text("")
    # what a run does before it reads its dataset (the whole run costs seconds more)
    script = ("from evalkit.config import DatasetConfig, apply_air_gap\n"
              "from evalkit.benchmarks import load_tasks\n"
              "apply_air_gap(False)\nprint(len(load_tasks(DatasetConfig(limit=1))))\n")
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HOME", "HF_DATASETS_CACHE")}
    env |= {"HOME": str(no_home), "XDG_CACHE_HOME": str(no_home / ".cache")}
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                          check=False, env=env)
    assert proc.returncode == 0 and proc.stdout.strip() == "1", proc.stderr[-2000:]


def test_a_refused_run_in_a_folder_evalkit_did_not_write_leaves_it_as_it_was(tmp_path):
    # Refused (the samples.jsonl there is someone else's), it left Hydra's .hydra/ and an empty log.
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "samples.jsonl").write_text('{"task_id": "HumanEval/0", "completion": "    return 1"}\n')
    before = folder_contents(folder)
    proc = run_evalkit("run", f"hydra.run.dir={folder}", "dataset.limit=1", "n_samples=1")
    assert proc.returncode == 2 and "not a sample evalkit wrote" in proc.stderr, proc.stderr[-2000:]
    assert folder_contents(folder) == before and sorted(p.name for p in folder.iterdir()) == ["samples.jsonl"]


def test_bad_override_exits_2_with_one_line(tmp_path):
    proc = run_evalkit("run", "n_samplez=3", f"hydra.run.dir={tmp_path}")
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "n_samplez" in lines[0]
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize(("override", "named"), [
    ("n_samples=abc", "n_samples must be an integer"),
    ("+model.params.frequency_penalty=1", "model.params.frequency_penalty"),
    ("~model.family", "model.family is not set"),
])
def test_bad_value_exits_2_with_one_line(tmp_path, override, named):
    proc = run_evalkit("run", override, f"hydra.run.dir={tmp_path}")
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()] and named in proc.stderr


@pytest.mark.parametrize(("overrides", "message"), [
    # each of these ran: backstops turned correct code into timeouts, or pass@k crashed after every
    # sample was generated and executed, or an empty selection raised StopIteration
    (["executor.wall_factor=0"], "executor.wall_factor must be at least 1, not 0"),
    (["k=[0]"], "k[0] must be at least 1, not 0"),
    (["scoring.confidence=2"], "scoring.confidence must be above 0 and below 1, not 2"),
    (["dataset.task_ids=[]"], "dataset.task_ids is empty, so nothing would be measured; name at least one "
                              "(null: every task)"),
    (["n_samples=1.5"], "n_samples must be an integer, not 1.5"),
    (["dataset.task_ids=[HumanEval/0,HumanEval/0]"],
     "dataset.task_ids names 'HumanEval/0' twice; name each once"),
])
def test_a_setting_out_of_range_exits_2_before_any_work(tmp_path, overrides, message):
    proc = run_evalkit("run", "dataset.limit=2", "n_samples=2", "k=[1]", *overrides,
                       f"hydra.run.dir={tmp_path / 'run'}", f"store.path={tmp_path / 'store.sqlite'}")
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert proc.stderr.strip().splitlines() == [f"evalkit: error: {message}"]
    assert not (tmp_path / "run").exists() and not (tmp_path / "store.sqlite").exists()  # nothing generated


def test_unknown_model_exits_2_naming_the_choices(tmp_path):
    proc = run_evalkit("run", "model=gpt9", f"hydra.run.dir={tmp_path}")
    assert proc.returncode == 2
    assert "gpt9" in proc.stderr and "mixtral" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_closed_port_exits_2_naming_the_endpoint(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # the port is closed now: nothing listens on it
    proc = run_evalkit("run", "model=mixtral", f"model.base_url=http://127.0.0.1:{port}/v1",
                       "model.max_retries=0",
                       "dataset.limit=2", "n_samples=1", f"hydra.run.dir={tmp_path / 'run'}",
                       f"store.path={tmp_path / 'store.sqlite'}", f"executor.cache_dir={tmp_path / 'cache'}")
    assert proc.returncode == 2, proc.stderr[-2000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert str(port) in last and "Traceback" not in proc.stderr


@pytest.mark.parametrize(("formats", "report"), [("[md]", "report.md"), ("[html]", "report.html"),
                                                 ("[md,html]", "report.html"), ("[]", None)])
def test_run_names_the_report_it_wrote(tmp_path, formats, report):
    proc = run_evalkit("run", "dataset.limit=2", "n_samples=1", "k=[1]", "report.plots=false",
                       f"report.formats={formats}", f"hydra.run.dir={tmp_path / 'run'}",
                       f"store.path={tmp_path / 'store.sqlite'}", f"executor.cache_dir={tmp_path / 'cache'}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    last = proc.stdout.rstrip().splitlines()[-1]
    if report is None:
        assert last == "report: none written (report.formats is empty)"
        assert not list((tmp_path / "run").glob("report.*"))
    else:
        assert last == f"report: {tmp_path / 'run' / report}"
        assert (tmp_path / "run" / report).is_file()


@pytest.mark.parametrize("formats", ["[pdf]", "[md,pdf]", "pdf"])
def test_an_unknown_report_format_stops_before_the_run(demo_run, tmp_path, formats):
    proc = run_evalkit("run", "dataset.limit=2", "n_samples=1", "k=[1]", f"report.formats={formats}",
                       f"hydra.run.dir={tmp_path / 'run'}", f"store.path={tmp_path / 'store.sqlite'}")
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert proc.stderr.strip() == ("evalkit: error: report.formats: unknown format 'pdf'; "
                                  "known formats: md, html")
    assert not (tmp_path / "run").exists() and not (tmp_path / "store.sqlite").exists()
    # a run resumed in its directory with the mistake keeps every file it has
    run_dir, _ = demo_run
    before = {p.name: p.read_bytes() for p in run_dir.iterdir() if p.is_file()}
    proc = run_evalkit("run", "dataset.limit=8", "n_samples=4", "k=[1,2,10]", f"report.formats={formats}",
                       f"hydra.run.dir={run_dir}")
    assert proc.returncode == 2 and "unknown format 'pdf'" in proc.stderr
    assert {p.name: p.read_bytes() for p in run_dir.iterdir() if p.is_file()} == before


def test_a_registry_that_is_not_one_is_said_in_one_line_and_a_gateway_s_leaves_the_demo_s_arms_out(tmp_path):
    # A folder that is no registry got two lines first calling it a gateway checkout.
    (tmp_path / "empty").mkdir()
    proc = run_evalkit("run", f"prompt.registry={tmp_path / 'empty'}", "dataset.limit=1", "n_samples=1",
                       f"hydra.run.dir={tmp_path / 'run'}")
    assert proc.returncode == 2
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith(f"evalkit: error: {tmp_path / 'empty'}: not a prompt registry: ")
    gateway = run_evalkit("run", f"prompt.registry={FIXTURE_CHECKOUT}", "dataset.limit=1", "n_samples=1",
                          "k=[1]", "report.plots=false", f"hydra.run.dir={tmp_path / 'gw'}",
                          f"store.path={tmp_path / 'store.sqlite'}")
    assert gateway.returncode == 0, gateway.stderr[-2000:]
    assert gateway.stderr.count("left out: it pins a template version of evalkit's own prompts/") == 2


@pytest.mark.parametrize("made_by", ["comparison.json", "gate.json"])
def test_a_run_into_a_comparison_or_a_gate_s_folder_is_refused(tmp_path, made_by):
    # Its report.md/html and junit.xml were overwritten, a stale comparison.json left beside them.
    folder = tmp_path / "out"
    folder.mkdir()
    (folder / made_by).write_text("{}")
    (folder / "report.md").write_text("# the comparison\n")
    proc = run_evalkit("run", f"hydra.run.dir={folder}", "dataset.limit=1", "n_samples=1")
    assert proc.returncode == 2 and "holds" in proc.stderr and f"({made_by}), not a run" in proc.stderr
    assert (folder / "report.md").read_text() == "# the comparison\n"
    assert sorted(p.name for p in folder.iterdir()) == sorted([made_by, "report.md"])


def test_a_run_that_fails_before_measuring_leaves_a_user_s_folder_as_it_was(tmp_path):
    # An unreachable endpoint: the user's own run.json, dataset.json and results.json were deleted
    # with the folder, or evalkit's records were left beside them.
    folder = tmp_path / "mine"
    folder.mkdir()
    for name in ("run.json", "dataset.json", "results.json", "notes.txt"):
        (folder / name).write_text('{"foo": 1}\n')
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens there once it is closed
    proc = run_evalkit("run", "model=openai_compatible", "model.name=m", f"model.base_url=http://127.0.0.1:{port}/v1",
                       "dataset.limit=1", "n_samples=1", "k=[1]", f"hydra.run.dir={folder}")
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before


def test_log_warnings_reach_stderr_never_the_results_on_stdout(tmp_path):
    # A nightly owner's trial: a WARNING line came on stdout, among the results table a script parses
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    proc = run_evalkit("run", "dataset.limit=1", "n_samples=1", "k=[1]", f"hydra.run.dir={tmp_path / 'run'}",
                       f"executor.cache_dir={blocker / 'cache'}")
    assert proc.returncode == 2
    assert "[WARNING]" not in proc.stdout
    warned = "[evalkit.execution.workers][WARNING] - executor: cannot keep the tests' random seed"
    assert warned in proc.stderr
