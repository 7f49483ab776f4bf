"""The `evalkit prompts` commands and a demo run through a gateway-layout registry, as a user runs them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.prompts.test_show import bodies
from tests.support.cli import run_evalkit
from tests.support.fault_server import FaultServer
from tests.support.prompts import FIXTURE_CHECKOUT, FIXTURE_REGISTRY

pytestmark = pytest.mark.slow

FAMILIES = ["base", "codegemma", "codellama", "codestral", "deepseekcoder", "gpt", "llama3", "mistral",
            "mixtral"]


def test_lint_passes_on_a_gateway_checkout_and_names_file_and_key_or_line_when_not(tmp_path):
    ok = run_evalkit("prompts", "lint", "--registry", str(FIXTURE_CHECKOUT))
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith("lint: 26 templates (15 generations, 11 completions; 2 pre-releases, "
                                f"2 pre-versioning) under {FIXTURE_REGISTRY} are valid")
    root = tmp_path / "defs"
    shutil.copytree(FIXTURE_REGISTRY, root)
    mixtral = root / "code_suggestions/generations/mixtral/1.0.0.yml"
    mixtral.write_text(mixtral.read_text().replace("unit_primitive:", "unit_primitve:"))
    partial = root / "code_suggestions/generations/jinja_template/self_hosted/user/1.0.0.jinja"
    partial.write_text(partial.read_text().replace("{{prefix}}", "{{prefx}}"))
    bad = run_evalkit("prompts", "lint", "--registry", str(root))
    assert bad.returncode == 2
    lines = bad.stderr.strip().splitlines()
    assert f"{mixtral}: unknown key unit_primitve; known keys: api, model, name, operation_type, params, " \
           "postprocess, prompt_template, unit_primitive, unit_primitives" in lines
    assert any(line.startswith(f"{partial}:3: unknown template variable 'prefx'") for line in lines)
    assert lines[-1].startswith("evalkit: error: ") and "template problem(s)" in lines[-1]


def test_render_prints_the_gateways_own_text_around_the_task():
    out = run_evalkit("prompts", "render", "model=mixtral", f"prompt.registry={FIXTURE_CHECKOUT}",
                      "task=HumanEval/0")
    assert out.returncode == 0, out.stderr
    (body,) = bodies(out.stdout)
    system, user = (m["content"] for m in body["messages"])
    assert system.startswith("You write new Python code for the file 'solution.py'. Answer with the code "
                             "alone.")
    assert user.startswith("## The code so far:\n\nfrom typing import List\n\n\ndef has_close_elements(")
    assert user.endswith("## What to write next:\n  Complete the function `has_close_elements` so that it "
                         "does what its docstring says.")
    assert "# template mixtral 1.0.0 (generations)" in out.stdout


def test_a_model_config_names_its_family_and_render_shows_the_body_the_endpoint_receives(tmp_path):
    with FaultServer(models=("codestral-22b",)) as server:
        common = ["model=openai_compatible", f"model.base_url={server.base_url}", "model.name=codestral-22b",
                  "model.family=codestral", f"prompt.registry={FIXTURE_CHECKOUT}", "n_samples=3", "seed=11"]
        shown = run_evalkit("prompts", "render", *common, "task=HumanEval/3")
        assert shown.returncode == 0, shown.stderr
        run = run_evalkit("run", *common, "dataset.task_ids=[HumanEval/3]", "k=[1]", "store.enabled=false",
                          f"hydra.run.dir={tmp_path / 'run'}", f"executor.cache_dir={tmp_path / 'cache'}")
        assert run.returncode == 0, run.stderr[-2000:]
        probe, *received = [r["body"] for r in server.requests]
    assert bodies(shown.stdout) == received
    # the start-up probe: the first task's own request, one token long
    assert probe["max_tokens"] == 1 and probe["messages"] == received[0]["messages"]
    assert (received[0]["n"], received[0]["temperature"], received[0]["max_tokens"]) == (3, 0.3, 256)


def _arm(label: str, **prompt: str) -> str:
    """One arm in Hydra's override grammar: the demo's oracle model on a template."""
    chosen = ", ".join(f"{key}: {value}" for key, value in prompt.items())
    return f"{{label: {label}, model: {{name: demo-oracle}}, prompt: {{{chosen}}}}}"


def test_a_demo_run_through_the_gateway_layout_scores_the_oracle_1_for_every_family(tmp_path):
    arms = [_arm(f, family=f) for f in FAMILIES]
    arms += [_arm(f"{f}-first", family=f, version="mvp") for f in ("mistral", "mixtral")]
    arms += [_arm("base-dev", family="base", version="3.0.2-dev"),
             _arm("ours", family="mixtral", version="1.0.0", registry="null")]  # evalkit's own prompts/
    run_dir = tmp_path / "run"
    out = run_evalkit("run", f"prompt.registry={FIXTURE_CHECKOUT}", "dataset.limit=6", "n_samples=1", "k=[1]",
                      f"arms=[{', '.join(arms)}]", f"hydra.run.dir={run_dir}", "store.enabled=false",
                      f"executor.cache_dir={tmp_path / 'cache'}")
    assert out.returncode == 0, out.stderr[-3000:]
    results = json.loads((run_dir / "results.json").read_text())
    scores = {arm["arm"]: arm["pass_at_k"]["1"]["value"] for arm in results["arms"]}
    assert scores == dict.fromkeys([*FAMILIES, "mistral-first", "mixtral-first", "base-dev", "ours"], 1.0)
    versions = {arm["arm"]: arm["template"]["version"] for arm in results["arms"]}
    assert (versions["base"], versions["base-dev"], versions["mixtral-first"]) == ("2.0.3", "3.0.2-dev",
                                                                                   "mvp")
    # identity across registries and eras: the report diffs the gateway-layout mixtral 1.0.0 and ours
    report = (run_dir / "report.md").read_text()
    assert "## Template diff: mixtral 1.0.0 (mixtral) -> 1.0.0 (ours)" in report
    assert "## Template diff: mixtral mvp (mixtral-first) -> 1.0.0 (ours)" in report


def test_a_python_error_in_a_template_stops_render_and_run_with_one_line_exit_2(tmp_path: Path):
    path = tmp_path / "code_suggestions/generations/mistral/1.0.0.yml"
    path.parent.mkdir(parents=True)
    path.write_text("name: t\nprompt_template:\n  user: |\n    {{ prefix }}{{ 1/0 }}\n")
    expected = (f"evalkit: error: {path}:4: cannot render prompt_template.user: ZeroDivisionError: "
                "division by zero")
    render = run_evalkit("prompts", "render", "model=mistral", f"prompt.registry={tmp_path}",
                         "task=HumanEval/2")
    run = run_evalkit("run", f"prompt.registry={tmp_path}", "prompt.family=mistral", "dataset.limit=1",
                      "store.enabled=false", f"hydra.run.dir={tmp_path / 'run'}",
                      f"executor.cache_dir={tmp_path / 'cache'}")
    for out in (render, run):
        assert (out.returncode, out.stderr.strip().splitlines()[-1]) == (2, expected), out.stderr[-2000:]
        assert "Traceback" not in out.stderr


def test_a_registry_path_that_holds_no_templates_exits_2(tmp_path: Path):
    # lint said it twice, the second time as "1 template problem(s); the first: ..."
    for out in (run_evalkit("prompts", "render", f"prompt.registry={tmp_path}"),
                run_evalkit("prompts", "lint", "--registry", str(tmp_path))):
        assert out.returncode == 2
        assert out.stderr.strip() == (
            f"evalkit: error: {tmp_path}: not a prompt registry: no code_suggestions/ (a gateway's "
            "ai_gateway/prompts/definitions/) or code_generation/ or code_completion/ (evalkit's prompts/) "
            "in it")


@pytest.mark.parametrize(("preset", "dataset"), [
    ("codestral", "infilling_single_line"), ("qwen_coder", "infilling_single_line"),
    ("mistral", "humaneval")])
def test_a_gateway_template_with_a_system_turn_is_sent_as_chat_whatever_the_preset_api(tmp_path, preset,
                                                                                       dataset):
    """The presets say api=completions (right for evalkit's own raw-text templates); the gateway's files
    for these families have a system turn, and the gateway sends them as chat messages: so does evalkit."""
    with FaultServer(models=("m",)) as server:
        run = run_evalkit("run", f"model={preset}", f"model.base_url={server.base_url}", "model.name=m",
                          f"dataset={dataset}", "dataset.limit=1", "n_samples=1", "k=[1]",
                          f"prompt.registry={FIXTURE_CHECKOUT}", "store.enabled=false", "report.plots=false",
                          f"hydra.run.dir={tmp_path / 'run'}", f"executor.cache_dir={tmp_path / 'cache'}")
        received = [r["body"] for r in server.requests]
    assert run.returncode == 0, run.stderr[-2000:]
    assert len(received) == 2  # the probe and the sample
    assert all([m["role"] for m in body["messages"]] == ["system", "user"] and "prompt" not in body
               for body in received)
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["arms"][0]["template"]["version"] == "1.0.0"


def test_the_readme_demo_command_through_a_gateway_checkout_runs_the_oracle(tmp_path):
    run = run_evalkit("run", f"prompt.registry={FIXTURE_CHECKOUT}", "dataset.limit=20", "n_samples=2",
                      "k=[1]", "store.enabled=false", "report.plots=false",
                      f"hydra.run.dir={tmp_path / 'run'}", f"executor.cache_dir={tmp_path / 'cache'}")
    assert run.returncode == 0, run.stderr[-2000:]
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert [(arm["arm"], arm["pass_at_k"]["1"]["value"]) for arm in results["arms"]] == [("demo-oracle", 1.0)]
    # the run says which of its config's arms it left out, once each
    assert run.stderr.count("evalkit: arm demo-mimic@mixtral-2.0.0 left out:") == 1
