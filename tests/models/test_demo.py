"""The embedded demo endpoint: real HTTP on loopback, real HumanEval tasks, the openai client."""

from __future__ import annotations

import asyncio
import collections
import threading
import urllib.request

import openai
import pytest

from evalkit.benchmarks import load_tasks
from evalkit.config import DatasetConfig
from evalkit.models import DemoServer, ModelClient, serve_demo
from evalkit.models import demo_answers as da
from evalkit.records import Api
from tests.support.models import chat_prompt, humaneval_tasks, model_config, text_prompt


@pytest.fixture(scope="module")
def demo():
    with DemoServer(humaneval_tasks()) as server:
        yield server


@pytest.fixture()
def oa(demo):
    return openai.OpenAI(base_url=demo.base_url, api_key="EMPTY", max_retries=0)


def user(task) -> list[dict]:
    return [{"role": "system", "content": "Be brief."},
            {"role": "user", "content": f"Complete:\n```python\n{task.prompt}```"}]


def test_models_listing(oa):
    assert sorted(m.id for m in oa.models.list()) == ["demo-buggy", "demo-mimic", "demo-oracle"]


def test_oracle_answers_reference_in_a_fence_with_usage(oa):
    for task in humaneval_tasks()[:20]:
        resp = oa.chat.completions.create(model="demo-oracle", messages=user(task), max_tokens=512)
        choice = resp.choices[0]
        assert choice.message.content == "```python\n" + task.prompt + task.reference.rstrip() + "\n```"
        assert choice.finish_reason == "stop"
        assert resp.usage.completion_tokens == len(choice.message.content.split())
        assert resp.usage.prompt_tokens > 0


def test_completions_api_and_n(oa):
    task = humaneval_tasks()[7]
    resp = oa.completions.create(model="demo-oracle", prompt=f"[INST] {task.prompt} [/INST]", n=3, seed=1)
    assert [c.index for c in resp.choices] == [0, 1, 2]
    assert all(c.text.startswith("```python\n" + task.prompt) for c in resp.choices)
    assert resp.object == "text_completion"


def test_longest_prompt_wins():
    tasks = humaneval_tasks()
    index = da.TaskIndex(tasks)
    for task in tasks:
        assert index.find(f"header\n{task.prompt}\nfooter") is task
    assert index.find("no task here") is None


def test_a_prompt_that_never_names_its_function_is_found_too():
    # instruct_python/camel_to_snake describes the function without naming it: the demo oracle
    # answered "I found no task I know" (a syntax_error) on the one task of the shipped set.
    tasks = load_tasks(DatasetConfig(name="instruct_python"))
    index = da.TaskIndex(tasks)
    for task in tasks:
        assert index.find(f"Complete the file below.\n\n{task.prompt}\n") is task, task.task_id
    assert index.find("a prompt about nothing at all") is None


def test_prefill_is_continued(oa):
    task = humaneval_tasks()[3]
    messages = [*user(task), {"role": "assistant", "content": "```python\n"}]
    resp = oa.chat.completions.create(model="demo-oracle", messages=messages,
                                      extra_body={"continue_final_message": True,
                                                  "add_generation_prompt": False})
    assert resp.choices[0].message.content == task.prompt + task.reference.rstrip() + "\n```"


def test_a_new_code_prefill_is_answered_as_tagged_code_up_to_the_stop(oa):
    task = humaneval_tasks()[3]
    messages = [*user(task), {"role": "assistant", "content": "<new_code>"}]
    resp = oa.chat.completions.create(model="demo-oracle", messages=messages, stop=["</new_code>"],
                                      extra_body={"continue_final_message": True,
                                                  "add_generation_prompt": False})
    # only the new code, bare (the prefill opened the tag), up to the closing tag the stop cuts
    assert resp.choices[0].message.content == "\n" + task.reference.rstrip() + "\n"
    assert resp.choices[0].finish_reason == "stop"


def test_stop_and_max_tokens(oa):
    task = humaneval_tasks()[0]
    resp = oa.chat.completions.create(model="demo-oracle", messages=user(task), stop=["def "])
    assert resp.choices[0].message.content == "```python\nfrom typing import List\n\n\n"
    assert resp.choices[0].finish_reason == "stop"
    resp = oa.chat.completions.create(model="demo-oracle", messages=user(task), max_tokens=5)
    assert resp.choices[0].finish_reason == "length"
    assert len(resp.choices[0].message.content.split()) == 5


def test_unknown_model_is_404_with_openai_error(oa):
    with pytest.raises(openai.NotFoundError) as err:
        oa.chat.completions.create(model="gpt-nope", messages=[{"role": "user", "content": "x"}])
    assert "gpt-nope" in str(err.value)


def test_buggy_is_deterministic_and_breaks_about_40_percent(oa):
    tasks = humaneval_tasks()
    kinds = collections.Counter(da.breakage(1234, t.task_id, i) for t in tasks for i in range(10))
    broken = sum(v for k, v in kinds.items() if k is not None) / (len(tasks) * 10)
    assert 0.33 < broken < 0.47
    assert set(kinds) == {None, *da.BREAKAGES}
    task = tasks[11]
    first = oa.chat.completions.create(model="demo-buggy", messages=user(task), n=10, seed=99)
    again = oa.chat.completions.create(model="demo-buggy", messages=user(task), n=10, seed=99)
    assert [c.message.content for c in first.choices] == [c.message.content for c in again.choices]
    assert [c.message.content for c in first.choices] == [
        da.answer("demo-buggy", task, 99, i) for i in range(10)]


@pytest.mark.parametrize("kind", da.BREAKAGES)
def test_every_breakage_changes_every_task(kind):
    for task in humaneval_tasks():
        text = da.break_answer(kind, task)
        assert text != da.fence(task.prompt + task.reference.rstrip())
        if kind in ("empty", "prose"):
            continue
        code = text.removeprefix("```python\n").removesuffix("\n```")
        if kind == "syntax_error":
            with pytest.raises(SyntaxError):
                compile(code, task.task_id, "exec")
        else:
            compile(code, task.task_id, "exec")


def test_demo_through_model_client():
    tasks = humaneval_tasks()[:6]

    async def go(name, api):
        with DemoServer(tasks) as server:
            client = ModelClient(model_config(server.base_url, name=name, api=api), None)
            try:
                await client.check()
                make = chat_prompt if api is Api.CHAT else text_prompt
                return await asyncio.gather(*(client.generate(make(t), 10, 5) for t in tasks))
            finally:
                await client.aclose()

    oracle = asyncio.run(go("demo-oracle", Api.CHAT))
    for task, gens in zip(tasks, oracle, strict=True):
        assert [g.sample_index for g in gens] == list(range(10))
        assert {g.raw_output for g in gens} == {da.fence(task.prompt + task.reference.rstrip())}
    buggy = asyncio.run(go("demo-buggy", Api.COMPLETIONS))
    again = asyncio.run(go("demo-buggy", Api.COMPLETIONS))
    assert [[g.raw_output for g in r] for r in buggy] == [[g.raw_output for g in r] for r in again]
    assert any(g.raw_output != da.fence(t.prompt + t.reference.rstrip())
               for t, gens in zip(tasks, buggy, strict=True) for g in gens)


def test_serve_demo_blocks_until_stopped():
    ready, stop, urls = threading.Event(), threading.Event(), []
    thread = threading.Thread(target=serve_demo, args=(humaneval_tasks()[:2], 0),
                              kwargs={"on_ready": lambda url: (urls.append(url), ready.set()), "stop": stop})
    thread.start()
    assert ready.wait(10)
    with urllib.request.urlopen(urls[0] + "/models", timeout=5) as resp:
        assert b"demo-oracle" in resp.read()
    stop.set()
    thread.join(5)
    assert not thread.is_alive()
