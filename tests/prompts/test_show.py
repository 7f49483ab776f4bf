"""`prompts render` prints exactly the bodies the client sends: compared with what a loopback server got."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from typing import Any

import pytest

from evalkit.config import ArmConfig, PromptConfig
from evalkit.models import ModelClient
from evalkit.prompts import render_requests
from evalkit.records import Api
from evalkit.run import prepare_arm
from tests.support.cli import run_evalkit
from tests.support.fault_server import FaultServer
from tests.support.models import model_config
from tests.support.prompts import FIXTURE_CHECKOUT, FIXTURE_REGISTRY, humaneval_tasks


def bodies(text: str) -> list[dict[str, Any]]:
    """The JSON bodies of `prompts render` output (comments start with #, a body ends with a "}" line)."""
    out, chunk = [], []
    for line in text.splitlines():
        if not line.startswith("#"):
            chunk.append(line)
        if line == "}":
            out.append(json.loads("\n".join(chunk)))
            chunk = []
    return out


def _send(arm: ArmConfig, n_samples: int, seed: int) -> None:
    """What ModelClient posts for the first task of a fresh run of ``arm``."""
    tasks = humaneval_tasks()[:1]
    prompt = prepare_arm(arm, tasks).prompts[tasks[0].task_id]  # exactly as `evalkit run` renders it

    async def go() -> None:
        client = ModelClient(arm.model)
        try:
            await client.generate(prompt, n_samples, seed)
        finally:
            await client.aclose()

    asyncio.run(go())


@pytest.mark.parametrize(("family", "use_n", "n_samples"), [("base", True, 3), ("mixtral", False, 2),
                                                            ("mistral", True, 1)])
def test_rendered_bodies_equal_what_the_server_received(family, use_n, n_samples):
    with FaultServer(models=("served-model",)) as server:
        model = dataclasses.replace(model_config(server.base_url, name="served-model"), use_n=use_n)
        prompt = PromptConfig(family=family, registry=FIXTURE_CHECKOUT)
        arm = ArmConfig(label="arm", model=model, prompt=prompt)
        text = render_requests([arm], humaneval_tasks(), ["HumanEval/0"], n_samples=n_samples, run_seed=41)
        _send(arm, n_samples, 41)
        received = sorted((r["body"] for r in server.requests), key=lambda b: b["seed"])
    shown = sorted(bodies(text), key=lambda b: b["seed"])
    assert shown == received
    assert len(shown) == (1 if use_n and n_samples > 1 else n_samples)
    assert {b["n"] for b in shown} == {n_samples if use_n else 1}
    assert len({b["seed"] for b in shown}) == len(shown)


def test_the_header_names_template_file_identity_and_what_was_derived():
    model = model_config("http://gpu-host:8000/v1", name="codestral-22b", family="codestral")
    arm = ArmConfig(label="cs", model=model,
                    prompt=PromptConfig(family="codestral", registry=FIXTURE_REGISTRY))
    text = render_requests([arm], humaneval_tasks(), ["HumanEval/2"], n_samples=10, run_seed=1)
    lines = [line for line in text.splitlines() if line.startswith("#")]
    path = FIXTURE_REGISTRY / "code_suggestions/generations/codestral/1.0.0.yml"
    assert lines[0] == "# task HumanEval/2, arm cs"
    assert lines[1] == f"# template codestral 1.0.0 (generations): {path}"
    assert lines[2].startswith("# sha256 ")
    assert "# derived api=chat: the gateway sends a template's turns as chat messages" in lines
    assert any(line.startswith("# derived postprocess=[strip_fences, prepend_newline, drop_reflection, "
                               "empty_if_blank]") for line in lines)
    assert ("# gateway client settings not sent: model.params.max_retries=1, "
            "model.params.model_class_provider=litellm, params.timeout=60, "
            "top_k=40 (the gateway's default)") in lines
    assert "# top_k is sent only where model.params.top_k asks for it" in lines
    assert lines[-1] == "# POST http://gpu-host:8000/v1/chat/completions: 1 request(s) for 10 sample(s)"


def test_model_params_that_override_the_template_are_named():
    model = model_config("http://h/v1", params={"temperature": 0.8})
    arm = ArmConfig(label="a", model=model, prompt=PromptConfig(family="mistral", registry=FIXTURE_REGISTRY))
    text = render_requests([arm], humaneval_tasks(), [], n_samples=1, run_seed=1)
    assert "# model.params over the template: temperature=0.8 (template: 0.95)" in text.splitlines()
    assert bodies(text)[0]["temperature"] == 0.8


def test_a_model_api_the_gateway_file_overrules_is_named():
    model = dataclasses.replace(model_config("http://h/v1"), api=Api.COMPLETIONS)  # the mistral preset's
    arm = ArmConfig(label="a", model=model, prompt=PromptConfig(family="mistral", registry=FIXTURE_REGISTRY))
    text = render_requests([arm], humaneval_tasks(), [], n_samples=1, run_seed=1)
    assert ("# model.api=completions not used: the file names no api, its turns decide (chat), as in the "
            "gateway") in text.splitlines()
    assert "# POST http://h/v1/chat/completions: 1 request(s) for 1 sample(s)" in text.splitlines()
    assert [m["role"] for m in bodies(text)[0]["messages"]] == ["system", "user"]


def test_top_k_is_sent_only_where_model_params_ask_for_it():
    # A template's top_k is a gateway client setting evalkit does not send (a LiteLLM proxy's openai/
    # routes refuse it); there was no way to send it to a vLLM server at all (a checker's trial).
    plain = ArmConfig(label="a", model=model_config("http://h/v1"),
                      prompt=PromptConfig(family="mistral", registry=FIXTURE_REGISTRY))
    asked = dataclasses.replace(plain, model=model_config("http://h/v1", params={"top_k": 40}))
    texts = [render_requests([arm], humaneval_tasks(), [], n_samples=1, run_seed=1) for arm in (plain, asked)]
    bodies = [json.loads(text[text.index("\n{") + 1:]) for text in texts]
    assert "top_k" not in bodies[0] and bodies[1]["top_k"] == 40
    assert {k: v for k, v in bodies[1].items() if k != "top_k"} == bodies[0]
    assert "# model.params over the template: top_k=40 (template: not sent)" in texts[1].splitlines()


@pytest.mark.slow  # a whole evalkit process: the full suite, not the fast tier
def test_list_names_every_family_and_version_and_the_one_a_run_picks():
    # There was no way to list a registry's families and versions but the error a pin of a
    # missing version gives (a checker's trial).
    proc = run_evalkit("prompts", "list", "--registry", str(FIXTURE_CHECKOUT))
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == f"registry {FIXTURE_REGISTRY}"
    assert lines[1] == "generations (code_suggestions/generations):"
    kinds = lines.index("completions (code_suggestions/completions):")
    generations, completions = ({row.split()[0]: row.split(None, 1)[1] for row in part if row[:2] == "  "}
                                for part in (lines[2:kinds], lines[kinds:]))
    assert generations["base"] == ("1.0.0 (chat)  1.1.0-dev pre-release (chat)  1.1.0 (chat)  2.0.3 (chat)*  "
                                   "3.0.2-dev pre-release (chat)")
    # the first release's file (a raw [INST] text), then the versioned one; a run picks by its API
    assert generations["mistral"] == "mvp (completions)  1.0.0 (chat)*"
    assert completions["qwen2p5-coder-7b"] == "1.0.0 (chat)*"  # a system partial and a user turn
    assert lines[-1].startswith("* what a run picks where prompt.version is not set, for a model served on")
    # evalkit's own: `model=mistral` (completions) runs 1.0.0, a chat model 2.0.0 (one star marked 2.0.0)
    own = run_evalkit("prompts", "list").stdout.splitlines()
    assert "  mistral  1.0.0 (completions)*  2.0.0 (chat)*" in own
