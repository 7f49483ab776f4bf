"""The demo endpoint against every shipped template: demo-oracle passes all 164 HumanEval tasks
under each (issue 19), and demo-mimic's scores depend on what the template asks (issue 17)."""

from __future__ import annotations

import shutil

import pytest

from evalkit import prompts
from evalkit.config import PROMPTS_DIR
from evalkit.models import demo_answers as da
from evalkit.records import Api
from tests.support.demo_pipeline import outcomes, pass_rate, rendered, shipped_templates
from tests.support.prompts import humaneval_tasks

TEMPLATES = shipped_templates()
IDS = [f"{t.family}-{t.version}" for t in TEMPLATES]


def prompt_text(prompt) -> str:
    return "\n".join(m.content for m in prompt.messages) if prompt.api is Api.CHAT else prompt.text


def test_every_shipped_family_is_covered():
    assert {t.family for t in TEMPLATES} >= {"base", "mistral", "mixtral"}
    assert {t.api for t in TEMPLATES} == {Api.CHAT, Api.COMPLETIONS}


@pytest.mark.parametrize("template", TEMPLATES, ids=IDS)
def test_every_task_is_recognised_in_every_template(template):
    index = da.TaskIndex(humaneval_tasks())
    for task, prompt in zip(humaneval_tasks(), rendered(template), strict=True):
        assert index.find(prompt_text(prompt)) is task, (template.family, template.version, task.task_id)


@pytest.mark.slow
@pytest.mark.parametrize("template", TEMPLATES, ids=IDS)
def test_oracle_passes_every_task_under_every_template(template):
    failed = {k: v for k, v in outcomes(template, da.ORACLE).items() if v != "passed"}
    assert not failed, list(failed.items())[:3]


def test_oracle_answers_in_the_form_the_prompt_asks():
    task = humaneval_tasks()[2]
    ref = task.reference.rstrip()
    claude = da.read_prompt("Write only the code inside <new_code></new_code> tags.", "<new_code>")
    assert da.answer(da.ORACLE, task, 1, 0, claude) == "\n" + ref + "\n</new_code>"
    mvp = da.read_prompt("Put only the new code between <new_code> and </new_code>.")
    assert da.answer(da.ORACLE, task, 1, 0, mvp) == "<new_code>\n" + ref + "\n</new_code>"
    strict = da.read_prompt("- Do not wrap the code in markdown fences.\n- Do not repeat code that exists")
    assert da.answer(da.ORACLE, task, 1, 0, strict) == ref
    chat = da.read_prompt("Complete this file")
    assert da.answer(da.ORACLE, task, 1, 0, chat) == da.fence(task.prompt + ref)


def test_mimic_is_deterministic_per_seed():
    asks = da.read_prompt("Complete this file")
    tasks = humaneval_tasks()[:40]
    first = [da.answer(da.MIMIC, t, 7, i, asks) for t in tasks for i in range(3)]
    assert first == [da.answer(da.MIMIC, t, 7, i, asks) for t in tasks for i in range(3)]
    assert first != [da.answer(da.MIMIC, t, 8, i, asks) for t in tasks for i in range(3)]


def template(family: str, version: str, registry=PROMPTS_DIR):
    return prompts.load_template(registry, family, version)


@pytest.mark.slow
def test_mimic_scores_differ_between_mixtral_versions():
    tasks = humaneval_tasks()[:80]
    old = pass_rate(outcomes(template("mixtral", "1.0.0"), da.MIMIC, tasks=tasks))
    new = pass_rate(outcomes(template("mixtral", "2.0.0"), da.MIMIC, tasks=tasks))
    # 2.0.0 stops at </new_code>: the remark demo-mimic writes after its closing tag is cut
    assert new - old > 0.1, (old, new)
    assert pass_rate(outcomes(template("mixtral", "2.0.0"), da.ORACLE, tasks=tasks)) == 1.0


@pytest.mark.slow
def test_dropping_the_no_fence_rule_regresses_under_the_faithful_reading(tmp_path):
    registry = tmp_path / "prompts"
    shutil.copytree(PROMPTS_DIR, registry)
    partial = registry / "code_generation" / "partials" / "system" / "2.0.0.jinja"
    rule = "- Do not wrap the code in markdown fences and do not escape any character.\n"
    assert rule in partial.read_text()
    partial.write_text(partial.read_text().replace(rule, ""))
    tasks = humaneval_tasks()[:80]
    kept = pass_rate(outcomes(template("mixtral", "2.0.0"), da.MIMIC, tasks=tasks))
    dropped_tpl = template("mixtral", "2.0.0", registry)
    dropped = pass_rate(outcomes(dropped_tpl, da.MIMIC, tasks=tasks))
    lenient = pass_rate(outcomes(dropped_tpl, da.MIMIC, tasks=tasks, lenient=True))
    # without the rule it chats around a fence: the gateway's post-processing keeps the prose
    assert kept - dropped > 0.2, (kept, dropped)
    assert lenient - dropped > 0.2, (lenient, dropped)
