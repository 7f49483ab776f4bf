""".gitlab-ci.yml: its jobs exist as the gate issue asks, and every evalkit command they run exists."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.cli import REPO

CI_FILE = REPO / ".gitlab-ci.yml"
ALLOWED = {"run", "gate", "baseline", "compare", "report", "history"}
KEYWORDS = {"stages", "variables", "workflow", "default", "include", "image", "services", "cache",
            "before_script", "after_script"}
# A command line in a job script: `evalkit SUBCOMMAND ...`, at a line start or after a shell separator.
COMMAND = re.compile(r"(?:^|[;&|(]\s*|\bthen\s+|\bdo\s+)evalkit\s+(.*)$")
DUMMY = {"MIXTRAL_BASE_URL": "http://127.0.0.1:8000/v1", "MISTRAL_BASE_URL": "http://127.0.0.1:8001/v1",
         "url": "http://127.0.0.1:8000/v1", "N_SAMPLES": "10", "family": "mixtral", "model": "mixtral",
         "name": "mixtral"}


@pytest.fixture(scope="module")
def ci() -> dict[str, Any]:
    return yaml.safe_load(CI_FILE.read_text(encoding="utf-8"))


def _jobs(ci: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Runnable jobs with their `extends` templates merged in (shallowly, as GitLab does per key)."""
    jobs = {}
    for name, body in ci.items():
        if name in KEYWORDS or name.startswith(".") or not isinstance(body, dict):
            continue
        merged: dict[str, Any] = {}
        parents = body.get("extends", [])
        for parent in [parents] if isinstance(parents, str) else parents:
            merged |= ci[parent]
        jobs[name] = merged | body
    return jobs


def _commands(job: dict[str, Any]) -> list[list[str]]:
    """Argument lists of every evalkit command in the job's scripts (shell-split)."""
    lines = []
    for key in ("before_script", "script", "after_script"):
        for entry in job.get(key, []):
            lines += str(entry).splitlines()
    out = []
    for line in lines:
        match = COMMAND.search(line.strip())
        if match:
            rest = re.split(r"\s+(?:\|\||&&)\s+", match.group(1))[0]
            out.append(shlex.split(rest))
    return out


def _expand(arg: str) -> str:
    """``arg`` with the CI file's variables, and DUMMY's for those set in GitLab's settings."""
    defined = yaml.safe_load(CI_FILE.read_text(encoding="utf-8"))["variables"]
    return re.sub(r"\$\{?(\w+)\}?", lambda m: DUMMY.get(m.group(1), defined.get(m.group(1), m.group(0))), arg)


def test_jobs_the_issue_asks_for(ci):
    jobs = _jobs(ci)
    assert jobs["test"]["script"] == ["bash .ci/run"]
    nightly = [j for j in jobs.values() if {"if": '$CI_PIPELINE_SOURCE == "schedule"'} in j.get("rules", [])]
    assert len(nightly) >= 1
    for job in nightly:
        subs = [c[0] for c in _commands(job)]
        assert subs == ["run", "gate"]
        assert job["artifacts"]["when"] == "always"
        assert job["artifacts"]["reports"] == {"junit": "gate/junit.xml", "metrics": "gate/metrics.txt"}
        assert "runs/" in job["artifacts"]["paths"]  # the run's report.html
        assert any("base_url=$" in arg for arg in _commands(job)[0])
    mr = jobs["gate:templates"]
    (rule,) = mr["rules"]
    assert rule["if"] == '$CI_PIPELINE_SOURCE == "merge_request_event"'
    assert rule["changes"] == ["prompts/**/*"]
    assert [c[0] for c in _commands(mr)] == ["run", "gate"]


def test_every_evalkit_command_exists(ci):
    commands = [c for job in _jobs(ci).values() for c in _commands(job)]
    assert commands, "no evalkit command found in .gitlab-ci.yml"
    try:
        from evalkit.cli import SUBCOMMANDS
    except ImportError:  # the CLI may not exist yet in a partial checkout
        SUBCOMMANDS = None
    for args in commands:
        assert args[0] in ALLOWED, args
        if SUBCOMMANDS is not None:
            assert args[0] in SUBCOMMANDS, args
        if args[0] == "baseline":
            assert args[1] == "bless", args
        if args[0] == "gate":
            assert "--baseline" in args and "--candidate" in args and "-o" in args, args


def test_run_overrides_compose_into_a_valid_config(ci):
    hydra_app = pytest.importorskip("evalkit.hydra_app")
    runs = [c for job in _jobs(ci).values() for c in _commands(job) if c[0] == "run"]
    assert runs
    for args in runs:
        overrides = [_expand(a) for a in args[1:]]
        assert not any("$" in o for o in overrides), overrides
        typed = hydra_app.compose_run_config(overrides)
        assert typed.arms[0].model.base_url.startswith("http://127.0.0.1")


def test_baseline_variables_point_under_reports_baselines(ci):
    for name, value in ci["variables"].items():
        if name.endswith("_BASELINE"):
            assert Path(value).parent == Path("reports/baselines"), (name, value)


def test_nightly_runs_bless_to_the_baseline_path_they_gate_against(ci):
    # `evalkit baseline bless runs/<model>` writes reports/baselines/<dataset>_<run id>.json,
    # and the run id is the run directory's name: blessing a nightly run replaces its baseline.
    for name, job in _jobs(ci).items():
        if not name.startswith("nightly:"):
            continue
        run, gate = _commands(job)
        run_dir = next(a.split("=", 1)[1] for a in run if a.startswith("hydra.run.dir="))
        baseline = gate[gate.index("--baseline") + 1]
        assert baseline.startswith("$") and gate[gate.index("--candidate") + 1] == run_dir
        expected = f"reports/baselines/humaneval_{Path(run_dir).name}.json"
        assert ci["variables"][baseline.lstrip("$")] == expected


def test_nightly_never_answers_from_stored_answers(ci):
    hydra_app = pytest.importorskip("evalkit.hydra_app")
    nightly = {name: job for name, job in _jobs(ci).items() if name.startswith("nightly")}
    assert nightly
    for name, job in nightly.items():
        for args in (c for c in _commands(job) if c[0] == "run"):
            typed = hydra_app.compose_run_config([_expand(a) for a in args[1:]])
            assert not typed.store.reuse and not any(arm.model.offline for arm in typed.arms), name


def test_a_retried_nightly_job_finds_its_run_and_answers_to_finish_them(ci):
    # Resuming needs the run folder and the response store the run wrote (README, Where reports go).
    hydra_app = pytest.importorskip("evalkit.hydra_app")
    nightly = {name: job for name, job in _jobs(ci).items() if name.startswith("nightly")}
    for name, job in nightly.items():
        caches = job["cache"] if isinstance(job["cache"], list) else [job["cache"]]
        (run,) = (c for c in _commands(job) if c[0] == "run")
        typed = hydra_app.compose_run_config([_expand(a) for a in run[1:]])
        run_dir = next(a.split("=", 1)[1] for a in run if a.startswith("hydra.run.dir="))
        kept = [c for c in caches if "$CI_PIPELINE_ID" in c["key"] and "$CI_JOB_NAME" in c["key"]]
        assert kept, f"{name}: no cache of its own in this pipeline"
        (cache,) = kept
        assert cache["when"] == "always", name  # the job that failed is the one to finish
        paths = [Path(p) for p in cache["paths"]]
        assert any(Path(run_dir).is_relative_to(p) for p in paths), name
        store = typed.store.path.relative_to(REPO) if typed.store.path.is_absolute() else typed.store.path
        assert any(store.is_relative_to(p) for p in paths), name  # the job runs in the checkout
        # a retry of a finished run stops at once: the night's gate must come back with the run
        (gate,) = (c for c in _commands(job) if c[0] == "gate")
        out = Path(gate[gate.index("-o") + 1])
        assert any(out.is_relative_to(p) for p in paths), name
        assert {"key": "pip", "paths": [".cache/pip"]} in caches, name  # the default cache stays


def test_pages_publishes_the_history_of_every_nightly(ci):
    jobs = _jobs(ci)
    pages = jobs["pages"]
    nightly = [name for name in jobs if name.startswith("nightly:")]
    assert sorted(need["job"] for need in pages["needs"]) == sorted(nightly)
    assert [c for c in _commands(pages)] == [["history", "reports/history"]]
    assert pages["artifacts"]["paths"] == ["public"] and pages["rules"][0]["when"] == "always"
    assert "reports/history/" in pages["cache"]["paths"]
    for name in nightly:  # each night's run and gate are kept apart, failed or not
        assert "history/" in jobs[name]["artifacts"]["paths"]
        assert any("cp -r runs gate" in line for line in jobs[name]["after_script"])


def test_the_template_gate_asks_each_model_by_the_name_its_nightly_asks(ci, tmp_path):
    # The gate pairs arms by label, which a run takes from model.name: the template gate sent the
    # preset's name, so behind `--served-model-name mixtral` or a LiteLLM alias every merge request
    # failed at its run (404), and its arm could not be paired with the nightly's baseline (a
    # checker's trial). The job's script runs here as GitLab runs it, with `evalkit` a stub that
    # writes down what it was asked.
    repo = tmp_path / "repo"
    families = ("mixtral", "mistral", "base", "partials")
    for family in families:
        (repo / "prompts" / "code_generation" / family).mkdir(parents=True)
        (repo / "prompts" / "code_generation" / family / "1.0.0.yml").write_text("v: 1\n")

    def git(*args: str) -> str:
        return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=repo,
                              capture_output=True, text=True, check=True).stdout.strip()

    git("init", "-q")
    git("add", "-A")
    git("commit", "-qm", "base")
    base = git("rev-parse", "HEAD")
    (repo / "prompts" / "code_generation" / "partials" / "1.0.0.yml").write_text("v: 2\n")  # gates all
    git("commit", "-qam", "change")
    stub = tmp_path / "bin" / "evalkit"
    stub.parent.mkdir()
    stub.write_text('#!/bin/sh\necho "$*" >> "$EVALKIT_ASKED"\n')
    stub.chmod(0o755)
    asked = tmp_path / "asked.txt"
    served = {"MIXTRAL_MODEL_NAME": "mixtral", "MISTRAL_MODEL_NAME": "mistral-7b",
              "CLAUDE_MODEL_NAME": "sonnet"}
    env = {**os.environ, **{k: str(v) for k, v in ci["variables"].items()}, **served,
           "MIXTRAL_BASE_URL": "http://127.0.0.1:8000/v1", "MISTRAL_BASE_URL": "http://127.0.0.1:8001/v1",
           "CLAUDE_BASE_URL": "http://127.0.0.1:4000/v1", "CI_MERGE_REQUEST_DIFF_BASE_SHA": base,
           "PATH": f"{stub.parent}{os.pathsep}{os.environ['PATH']}", "EVALKIT_ASKED": str(asked)}
    script = "\n".join(_jobs(ci)["gate:templates"]["script"])
    proc = subprocess.run(["bash", "-e", "-c", script], cwd=repo, env=env, capture_output=True, text=True,
                          check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr

    def settings(args: list[str]) -> dict[str, str]:
        return dict(arg.split("=", 1) for arg in args if "=" in arg)

    gated = {s["model"]: s for s in (settings(shlex.split(line)[1:])
                                     for line in asked.read_text().splitlines() if line.startswith("run "))}
    assert sorted(gated) == ["claude", "mistral", "mixtral"]
    assert gated["claude"]["model.name"] == "sonnet"
    expand = lambda arg: re.sub(r"\$\{?(\w+)\}?", lambda m: env.get(m.group(1), m.group(0)), arg)  # noqa: E731
    for name, job in _jobs(ci).items():
        if name.startswith("nightly:"):
            (run,) = (c for c in _commands(job) if c[0] == "run")
            nightly = settings([expand(arg) for arg in run[1:]])
            assert gated[nightly["model"]]["model.name"] == nightly["model.name"] == served[
                f"{nightly['model'].upper()}_MODEL_NAME"], name
