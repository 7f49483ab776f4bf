"""`evalkit run -m`: one job directory per combination, a summary comparing every job, one shared store.

Real sweeps through the `evalkit` command on the embedded demo endpoint, with
Hydra's basic launcher and with the joblib launcher (jobs in parallel processes).
"""

from __future__ import annotations

import json
import re
import shutil
import socket
from pathlib import Path

import pytest
import yaml

from evalkit.sweep import ATTEMPT_FILE, ERROR_FILE, mark_job, summarize_sweep
from tests.support.cli import run_evalkit

pytestmark = pytest.mark.slow  # real runs and processes: the full suite, not the fast tier

SWEEP = ["model.params.temperature=0.2,0.8", "prompt.version=1.0.0,2.0.0"]
COMBINATIONS = {("model.params.temperature=0.2", "prompt.version=1.0.0"),
                ("model.params.temperature=0.2", "prompt.version=2.0.0"),
                ("model.params.temperature=0.8", "prompt.version=1.0.0"),
                ("model.params.temperature=0.8", "prompt.version=2.0.0")}
N_TASKS, N_SAMPLES = 2, 2
ARMS = ("arms=[{label: demo-oracle, model: {name: demo-oracle}},"
        " {label: demo-buggy, model: {name: demo-buggy}}]")
"""Two arms that follow the swept prompt.version (the default demo arms pin theirs)."""


def _sweep(tmp: Path, name: str, *overrides: str):
    # store.reuse=true: sharing answers between runs is what this test is about, and it is opt-in
    return run_evalkit("run", "-m", *overrides, ARMS, f"dataset.limit={N_TASKS}", f"n_samples={N_SAMPLES}",
                       "store.reuse=true", f"hydra.sweep.dir={tmp / name}",
                       f"store.path={tmp / 'store.sqlite'}",
                       f"executor.cache_dir={tmp / 'cache'}", "report.plots=false", timeout=120)


def _small_sweep(tmp: Path, name: str, *overrides: str):
    """A sweep of these overrides alone (``_sweep`` adds the module's arms and sizes), one sample a task."""
    return run_evalkit("run", "-m", *overrides, "n_samples=1", "k=[1]", f"hydra.sweep.dir={tmp / name}",
                       f"store.path={tmp / 'store.sqlite'}", f"executor.cache_dir={tmp / 'cache'}",
                       "report.plots=false", timeout=120)


def _samples(job_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (job_dir / "samples.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def sweeps(tmp_path_factory):
    """The basic launcher's sweep first (it fills the store), then the same sweep with joblib."""
    tmp = tmp_path_factory.mktemp("sweeps")
    basic = _sweep(tmp, "basic", *SWEEP)
    joblib = _sweep(tmp, "joblib", "hydra/launcher=joblib", *SWEEP)
    return tmp, {"basic": basic, "joblib": joblib}


@pytest.mark.parametrize("launcher", ["basic", "joblib"])
def test_each_combination_is_a_job_and_the_summary_compares_them(sweeps, launcher):
    tmp, procs = sweeps
    proc, sweep_dir = procs[launcher], tmp / launcher
    assert proc.returncode == 0, proc.stderr[-3000:]
    jobs = sorted(p for p in sweep_dir.iterdir() if p.name.isdigit())
    assert [p.name for p in jobs] == ["0", "1", "2", "3"]
    seen = set()
    for job in jobs:
        overrides = yaml.safe_load((job / ".hydra" / "overrides.yaml").read_text())
        seen.add(tuple(o for o in overrides if o.startswith(("model.", "prompt."))))
        results = json.loads((job / "results.json").read_text())
        assert {a["arm"] for a in results["arms"]} == {"demo-oracle", "demo-buggy"}
        assert len(_samples(job)) == 2 * N_TASKS * N_SAMPLES
        version = next(o for o in overrides if o.startswith("prompt.version=")).split("=")[1]
        assert {a["template"]["version"] for a in results["arms"]} == {version}
    assert seen == COMBINATIONS

    summary_dir = sweep_dir / "summary"
    assert f"report: {summary_dir / 'report.html'}" in proc.stdout
    comparison = json.loads((summary_dir / "comparison.json").read_text())
    # the same labels in every job: the report tells them apart by job
    assert {a["arm"] for a in comparison["arms"]} == {f"{j}/{label}" for j in "0123"
                                                      for label in ("demo-oracle", "demo-buggy")}
    summary = (summary_dir / "summary.md").read_text()
    assert "4 job(s) finished, 0 failed." in summary
    assert "| 3 | `model.params.temperature=0.8 prompt.version=2.0.0` | 3/demo-buggy |" in summary
    assert (summary_dir / "report.html").stat().st_size > 1000


def test_jobs_share_one_store_so_a_repeated_request_asks_the_model_once(sweeps):
    tmp, procs = sweeps
    assert procs["basic"].returncode == 0 and procs["joblib"].returncode == 0
    first = [s for job in sorted((tmp / "basic").glob("[0-9]")) for s in _samples(job)]
    again = [s for job in sorted((tmp / "joblib").glob("[0-9]")) for s in _samples(job)]
    assert not any(s["cached"] for s in first)  # four distinct requests per task: each asked once
    assert all(s["cached"] for s in again)       # the parallel jobs found every answer in the shared store
    assert sorted(s["raw_output"] for s in first) == sorted(s["raw_output"] for s in again)


def test_a_failed_job_is_listed_and_the_others_still_report(sweeps):
    tmp, _ = sweeps
    proc = _sweep(tmp, "failing", "prompt.version=2.0.0,9.9.9")
    assert proc.returncode == 2, proc.stderr[-3000:]
    sweep_dir = tmp / "failing"
    assert (sweep_dir / "0" / "results.json").is_file()
    assert not (sweep_dir / "1" / "results.json").exists()
    summary = (sweep_dir / "summary" / "summary.md").read_text()
    assert "1 job(s) finished, 1 failed." in summary
    assert "- job `1` (`prompt.version=9.9.9`):" in summary and "no such template version" in summary
    assert "| 0 | `prompt.version=2.0.0` | demo-oracle |" in summary
    assert f"report: {sweep_dir / 'summary' / 'report.html'}" in proc.stdout


def test_the_summary_names_the_tasks_its_figures_are_over(sweeps):
    # A researcher's sweep of dataset.limit=3,20: the summary showed job 1's pass@1 over the 3 tasks
    # both jobs measured (the comparison's) beside "20", its own count: a figure of 0.667 its
    # results.json (0.700 over 20) does not have.
    tmp, _ = sweeps
    proc = _small_sweep(tmp, "limits", "dataset.limit=3,20", "arms=[{}]", "model.name=demo-buggy")
    assert proc.returncode == 0, proc.stderr[-3000:]
    comparison = json.loads((tmp / "limits" / "summary" / "comparison.json").read_text())
    shared = {a["arm"]: a for a in comparison["arms"]}["1/demo-buggy"]
    summary = (tmp / "limits" / "summary" / "summary.md").read_text()
    assert shared["n_tasks"] == 3
    pass1 = shared["pass_at_k"]["1"]["value"]
    assert f"| 1 | `dataset.limit=20` | 1/demo-buggy | 3 of 20 | {pass1:.3f} |" in summary


def test_jobs_in_nested_folders_are_named_by_their_path_in_the_summary_and_the_report(tmp_path):
    # hydra.sweep.subdir=${hydra.job.num}/run: every row's job read "run", and the report named the arms
    # run#1/... and run#2/..., one off the job numbers (a researcher's trial).
    proc = _small_sweep(tmp_path, "nested", "seed=1,2", "arms=[{}]", "model.name=demo-buggy",
                        "dataset.limit=2", "hydra.sweep.subdir=${hydra.job.num}/run")
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = (tmp_path / "nested" / "summary" / "summary.md").read_text()
    assert "| 0/run | `seed=1` | 0/run/demo-buggy |" in summary
    assert "| 1/run | `seed=2` | 1/run/demo-buggy |" in summary
    comparison = json.loads((tmp_path / "nested" / "summary" / "comparison.json").read_text())
    assert {a["arm"] for a in comparison["arms"]} == {"0/run/demo-buggy", "1/run/demo-buggy"}


def test_a_glob_sweep_runs_each_option_it_matches_and_an_interval_is_refused_in_one_line(tmp_path):
    # Hydra's glob() over a group's options ended in "ConfigLoader is not set", exit 3, and
    # interval(), which only an optimizing sweeper samples, in a traceback too (a researcher's trial).
    proc = _small_sweep(tmp_path, "glob", "dataset=glob(infilling_random_span*)", "dataset.limit=2")
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = (tmp_path / "glob" / "summary" / "summary.md").read_text()
    assert "| 0 | `dataset=infilling_random_span` |" in summary
    assert "| 1 | `dataset=infilling_random_span_light` |" in summary
    for sweep, said in (("model.params.temperature=interval(0,1)", "interval() needs a sweeper that"),
                        ("dataset=glob(nomatch*)", "sweeps over no value")):
        refused = run_evalkit("run", "-m", sweep, f"hydra.sweep.dir={tmp_path / 'refused'}", timeout=60)
        assert refused.returncode == 2 and said in refused.stderr, refused.stderr[-2000:]
        assert "Traceback" not in refused.stderr and not (tmp_path / "refused").exists()


def test_a_sweep_with_a_job_that_cannot_compose_stops_before_any_job(tmp_path):
    proc = _sweep(tmp_path, "bad", "model=demo,nosuch")
    assert proc.returncode == 2
    assert "sweep job 1 (model=nosuch" in proc.stderr and "unknown model 'nosuch'" in proc.stderr
    assert not (tmp_path / "bad").exists()


def test_a_sweep_with_a_job_out_of_range_stops_before_any_job(tmp_path):
    # Job 0 ran (its requests, its reports) before job 1 was found to be nonsense, exit 2 after it.
    proc = _sweep(tmp_path, "bad", "model.params.temperature=0.2,-1")
    assert proc.returncode == 2
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith("evalkit: error: sweep job 1 (model.params.temperature=-1 "), line
    assert line.endswith("): model.params.temperature must be a finite number of at least 0, not -1"), line
    assert not (tmp_path / "bad").exists()


def test_a_sweep_job_given_a_key_as_api_key_env_does_not_show_it(tmp_path):
    key = "sk-abcdefghijklmnop1234"  # in no environment variable: nothing would mask it
    proc = _sweep(tmp_path, "keyed", f"model.api_key_env=OPENAI_API_KEY,{key}")
    assert proc.returncode == 2 and "sweep job 1 (model.api_key_env=<not shown>" in proc.stderr, proc.stderr
    assert key not in proc.stderr + proc.stdout and not (tmp_path / "keyed").exists()


def _ran(job: Path, state: str, token: str = "attempt") -> None:
    """Mark ``job`` as the sweep attempt ``token`` ran it and how it ended (what each job writes)."""
    (job.parent / ATTEMPT_FILE).write_text(token + "\n")
    mark_job(job, job.parent, state)


def test_a_failed_job_with_an_empty_error_file_is_still_listed(tmp_path):
    job = tmp_path / "0"
    (job / ".hydra").mkdir(parents=True)
    (job / ERROR_FILE).write_text("\n")
    _ran(job, "failed")
    report, failed, n_failed = summarize_sweep(tmp_path, "attempt")
    assert (report, failed, n_failed) == (None, [job], 1)
    assert f"- job `0` (`(none)`): {ERROR_FILE} is empty" in (tmp_path / "summary" / "summary.md").read_text()


def test_a_job_that_exited_2_after_its_reports_makes_the_sweep_exit_2(tmp_path):
    # A job whose endpoint refused its requests wrote its reports and exited 2; the summary said
    # "2 job(s) finished, 0 failed" and the sweep exited 0.
    sweep = tmp_path / "sweep"
    proc = run_evalkit("run", ARMS, "dataset.limit=2", "n_samples=1", "k=[1]", "report.plots=false",
                       f"hydra.run.dir={sweep / '0'}", "store.enabled=false",
                       f"executor.cache_dir={tmp_path / 'cache'}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    shutil.copytree(sweep / "0", sweep / "1")
    results = json.loads((sweep / "1" / "results.json").read_text())
    problem = "arm demo-buggy: 2 of 2 samples were refused | by the endpoint"
    # another job's run (its own id), whose endpoint refused its requests
    (sweep / "1" / "results.json").write_text(json.dumps(results | {"problems": [problem],
                                                                    "run_id": results["run_id"] + "-1"}))
    for job in ("0", "1"):
        _ran(sweep / job, "finished")
    report, _, n_failed = summarize_sweep(sweep, "attempt")
    assert report is not None and n_failed == 1
    summary = (sweep / "summary" / "summary.md").read_text()
    assert "2 job(s) finished, 0 failed; 1 of the finished exited 2 (below)." in summary
    assert "- job `1` (`(none)`): arm demo-buggy: 2 of 2 samples were refused \\| by the endpoint" in summary


def test_a_job_refused_at_its_endpoint_keeps_its_failure_and_no_run_records(tmp_path):
    # Each job's folder kept run.json, dataset.json and an empty samples.jsonl beside error.txt: the
    # folder of a run that had started, where a refused single run leaves nothing.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    proc = run_evalkit("run", "-m", "model=mixtral", f"model.base_url=http://127.0.0.1:{closed}/v1",
                       "seed=1,2", "dataset.limit=1", "n_samples=1", f"hydra.sweep.dir={tmp_path / 'sweep'}",
                       f"store.path={tmp_path / 'store.sqlite'}", "model.max_retries=0", timeout=120)
    assert proc.returncode == 2, proc.stderr[-2000:]
    for job in ("0", "1"):
        folder = tmp_path / "sweep" / job
        assert "cannot reach the model endpoint" in (folder / ERROR_FILE).read_text()
        assert "seed: " in (folder / ".hydra" / "config.yaml").read_text()
        assert not {"run.json", "dataset.json", "samples.jsonl"} & {p.name for p in folder.iterdir()}
    summary = (tmp_path / "sweep" / "summary" / "summary.md").read_text()
    assert "0 job(s) finished, 2 failed." in summary
    # the URL as typed, not as Hydra escaped it in overrides.yaml (http\://127.0.0.1\:...)
    assert f"model.base_url=http://127.0.0.1:{closed}/v1" in summary


def test_jobs_that_exit_2_after_their_reports_are_compared_and_listed_with_why(tmp_path):
    # Such a job (an endpoint refusing some requests, a malformed line) was marked failed: "0 job(s)
    # finished, 2 failed", its arm left out of the comparison though its results were written.
    samples = tmp_path / "answers.jsonl"
    samples.write_text('{"task_id": "HumanEval/0", "completion": "    return False\\n"}\n{"task_id": "Hu\n')
    proc = run_evalkit("score", "-m", f"samples={samples}", "k=[1]", "dataset.limit=1", "seed=1,2",
                       "report.plots=false", f"hydra.sweep.dir={tmp_path / 'sweep'}",
                       f"executor.cache_dir={tmp_path / 'cache'}", timeout=120)
    assert proc.returncode == 2, proc.stderr[-2000:]
    summary = (tmp_path / "sweep" / "summary" / "summary.md").read_text()
    assert "2 job(s) finished, 0 failed; 2 of the finished exited 2 (below)." in summary
    assert "| 0 | `seed=1` | 0/samples | 1 | 0.000 | 0 |" in summary
    assert f"- job `1` (`seed=2`): 1 malformed line(s) of {samples} skipped" in summary
    assert (tmp_path / "sweep" / "summary" / "report.html").is_file()
    assert "evalkit: job 0 exits 2: 1 malformed line(s)" in proc.stderr


def test_a_sweep_started_again_in_its_directory_reports_only_what_it_ran(tmp_path):
    # Started again with another temperature, both jobs were refused ("holds samples ... made with
    # another params"), yet the summary showed the first attempt's pass@1 under the new settings,
    # "2 job(s) finished, 0 failed", exit 0, and each job's saved config said 0.5 beside results of 0.8.
    first = _sweep(tmp_path, "again", "prompt.version=1.0.0,2.0.0")
    assert first.returncode == 0, first.stderr[-2000:]
    saved = (tmp_path / "again" / "0" / ".hydra" / "config.yaml").read_text()
    refused = _sweep(tmp_path, "again", "prompt.version=1.0.0,2.0.0", "model.params.temperature=0.5")
    assert refused.returncode == 2, refused.stderr[-2000:]
    summary = (tmp_path / "again" / "summary" / "summary.md").read_text()
    assert "0 job(s) finished, 2 failed." in summary and "made with another" in summary
    assert "give a new hydra.sweep.dir" in summary and "hydra.run.dir" not in summary
    assert not (tmp_path / "again" / "summary" / "report.html").exists()  # the first attempt's, gone
    assert (tmp_path / "again" / "0" / ".hydra" / "config.yaml").read_text() == saved  # as it was
    # One of them again as it was made: kept as it finished (nothing to ask: exit 2); the other's
    # folder is no job of this attempt.
    again = _sweep(tmp_path, "again", "prompt.version=1.0.0")
    assert again.returncode == 2, again.stderr[-2000:]
    summary = (tmp_path / "again" / "summary" / "summary.md").read_text()
    assert ("1 job(s) finished, 0 failed; 1 of the finished had finished before this attempt and are kept "
            "as they were; 1 job folder(s) of an earlier attempt in this directory, which this one did not "
            "run, are left out.") in summary
    assert not (tmp_path / "again" / "0" / ERROR_FILE).exists()  # the refusal's, gone: the job stands


def test_a_sweep_started_again_keeps_its_finished_jobs_and_runs_the_rest(tmp_path):
    # A finished job started again asked the model nothing, scored its old answers as new and exited
    # 0; refused as a single run is, it would fail every sweep resumed after an interruption.
    first = _sweep(tmp_path, "resumed", "prompt.version=1.0.0")
    assert first.returncode == 0, first.stderr[-2000:]
    results = (tmp_path / "resumed" / "0" / "results.json").read_bytes()
    saved = (tmp_path / "resumed" / "0" / ".hydra" / "config.yaml").read_text()
    again = _sweep(tmp_path, "resumed", "prompt.version=1.0.0,2.0.0", "report.formats=[md]")
    assert again.returncode == 0, again.stderr[-2000:]
    assert "evalkit: job 0 had finished: its results are kept as they were" in again.stderr
    assert (tmp_path / "resumed" / "0" / "results.json").read_bytes() == results
    # its saved config is the one its results were made with, not this attempt's report.formats
    assert (tmp_path / "resumed" / "0" / ".hydra" / "config.yaml").read_text() == saved
    summary = (tmp_path / "resumed" / "summary" / "summary.md").read_text()
    assert ("2 job(s) finished, 0 failed; 1 of the finished had finished before this attempt and are kept "
            "as they were.") in summary
    assert "| 1 | `prompt.version=2.0.0` |" in summary
    # every job had finished: nothing was asked, which never exits 0
    idle = _sweep(tmp_path, "resumed", "prompt.version=1.0.0,2.0.0")
    assert idle.returncode == 2 and "it asked the model nothing" in idle.stderr, idle.stderr[-2000:]


def test_jobs_in_their_own_folders_nested_and_on_other_tasks_are_all_summarized(tmp_path):
    # With hydra.job.chdir=true each job looked for the attempt relative to its own folder, marked
    # nothing, and the sweep said "0 finished, 0 failed", exit 0; jobs nested one level down
    # (hydra.sweep.subdir) were not found; jobs sharing no task made the comparison raise, and Hydra
    # turned that into a warning: no summary, exit 0, a failed job unsaid.
    proc = run_evalkit("run", "-m", ARMS, "dataset.task_ids=[HumanEval/0],[HumanEval/1],[Nope/9]",
                       "n_samples=2", "k=[2]", "report.plots=false", "store.enabled=false",
                       "hydra.sweep.dir=sweep", "hydra.job.chdir=true",
                       "hydra.sweep.subdir=${hydra.job.num}/run", cwd=tmp_path, timeout=120)
    assert proc.returncode == 2, proc.stderr[-2000:]
    # the calibration cache where the command was typed, as the store is (a researcher's trial: each
    # job wrote its own under its folder, and calibrated again)
    assert list((tmp_path / "reports" / "cache").glob("cpu-*.json"))
    assert not list((tmp_path / "sweep").glob("**/reports/cache"))
    summary = (tmp_path / "sweep" / "summary" / "summary.md").read_text()
    assert summary.count("2 job(s) finished, 1 failed.") == 1, summary
    assert "No comparison report: the runs share no task ids" in summary
    assert "Nope/9" in summary
    # the k each job measured, without a comparison to take it from: it showed `pass@1 | n/a`
    assert "| job | swept overrides | arm in the report | tasks | pass@2 | infra errors |" in summary
    # the tasks each row's figures are over (a job that measured 3 of 5 tasks showed its pass@1 alone)
    assert len(re.findall(r"\| `[^`]*` \| \S+ \| 1 \| ", summary)) == 4, summary
    assert "n/a" not in summary.split("| infra errors |", 1)[1]
