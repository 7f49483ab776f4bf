"""The demo endpoint's fill-in-the-middle answers: which task a FIM prompt is about (any family's
layout, or a FIM API's suffix field), the oracle's middle, and the buggy model's breakages."""

from __future__ import annotations

from collections import Counter

import pytest

from evalkit.benchmarks import load_benchmark, shipped_tasks
from evalkit.config import DatasetConfig
from evalkit.models import demo_fim
from evalkit.models.demo import DemoApp


@pytest.fixture(scope="module")
def tasks():
    return load_benchmark(DatasetConfig(name="infilling_multi_line", limit=200)).tasks


def test_finds_the_task_in_each_fim_layout_and_by_the_suffix_field(tasks):
    index = demo_fim.FimIndex(tasks)
    task = tasks[17]  # one of several holes of the same problem: same prompt, different suffixes
    assert sum(t.prompt == task.prompt for t in tasks) > 1
    assert index.find(f"<|fim_prefix|>{task.prompt}<|fim_suffix|>{task.suffix}<|fim_middle|>") is task
    assert index.find(f"<s>[SUFFIX]{task.suffix}[PREFIX]{task.prompt}") is task
    assert index.find(task.prompt, suffix=task.suffix) is task
    assert index.find("def unrelated():\n    pass\n") is None


def test_a_prefix_only_prompt_is_the_task_whose_prefix_it_ends_with():
    # completion_text sends the code above the cursor alone: the oracle scored 0.05 under it on
    # infilling_single_line, as low as the buggy model, since no task was found.
    tasks = load_benchmark(DatasetConfig(name="infilling_single_line", limit=200)).tasks
    index = demo_fim.FimIndex(tasks)
    unique = [t for t in tasks if sum(o.prompt == t.prompt for o in tasks) == 1]
    assert len(unique) > 100
    assert all(index.find(t.prompt) is t for t in unique)
    assert all(index.find("# file header\n" + t.prompt) is t for t in unique[:20])


def test_oracle_answers_the_reference_middle_and_buggy_breaks_a_share_every_way(tasks):
    assert all(demo_fim.answer("demo-oracle", t, 1, 0) == t.reference for t in tasks)
    kinds = Counter(demo_fim.breakage(1, t.task_id, i) for t in tasks for i in range(5))
    assert 0.3 < 1 - kinds[None] / sum(kinds.values()) < 0.5
    assert set(kinds) - {None} == set(demo_fim.BREAKAGE_WEIGHTS)
    for kind in demo_fim.BREAKAGE_WEIGHTS:
        broken = demo_fim.break_middle(kind, tasks[0])
        assert broken != tasks[0].reference, kind
    repeated = demo_fim.break_middle("repeated_suffix_line", tasks[0])
    first_suffix_line = next(line for line in tasks[0].suffix.split("\n") if line.strip())
    assert repeated.rstrip("\n").endswith(first_suffix_line)


def test_the_demo_app_answers_a_completions_body_with_the_middle_cut_at_its_stop(tasks):
    task = tasks[3]
    prompt = f"<fim_prefix>{task.prompt}<fim_suffix>{task.suffix}<fim_middle>"
    body = {"model": "demo-oracle", "prompt": prompt, "n": 2, "seed": 1, "stop": ["<file_sep>"]}
    answer = DemoApp(tasks).complete(body, chat=False)
    assert [c["text"] for c in answer["choices"]] == [task.reference, task.reference]


@pytest.mark.parametrize(("user", "marked"), [
    ("<s>[SUFFIX]{suffix}[PREFIX]{prefix}", True),  # the gateway's codestral completion, after its system
    ("<|fim_prefix|>{prefix}<|fim_suffix|>{suffix}<|fim_middle|>", True),  # qwen2p5-coder-7b's
    # Claude's: an instruction around the prefix and the suffix, which goes on after the suffix; no FIM
    # token marks where the suffix goes, so a hole with nothing below it is not told from generation
    ("The file has a gap.\n<prefix>\n{prefix}\n</prefix>\n<suffix>\n{suffix}\n</suffix>\n"
     "Write only the code that fills the gap, with no markdown, no explanation and nothing repeated.", False),
])
def test_the_demo_app_answers_a_chat_body_whose_last_turn_holds_the_hole_with_the_middle(tasks, user, marked):
    # The gateway's completion templates with a system turn go to the chat API: the demo answered them
    # as generation prompts, a fenced program, and the oracle scored 0 under them.
    below = next(t for t in tasks if t.suffix.strip())
    end = next(t for t in tasks if not t.suffix.strip())  # a hole at the file's end
    for task in (below, end) if marked else (below,):
        messages = [{"role": "system", "content": "You fill in missing code between a prefix and a suffix."},
                    {"role": "user", "content": user.format(prefix=task.prompt, suffix=task.suffix)}]
        answer = DemoApp(tasks).complete({"model": "demo-oracle", "messages": messages}, chat=True)
        assert answer["choices"][0]["message"]["content"] == task.reference


def test_a_chat_generation_request_is_no_hole_with_nothing_below_it():
    # serve-demo holds both kinds: 157 of 164 HumanEval generation requests were answered with the
    # middle of a multi-line hole whose prefix is the prompt and a blank line, and whose suffix is empty
    shipped = shipped_tasks()
    app = DemoApp(shipped)
    generation = next(t for t in shipped if t.task_id == "HumanEval/0")
    messages = [{"role": "user", "content": f"Complete this function:\n```python\n{generation.prompt}\n```"}]
    content = app.complete({"model": "demo-oracle", "messages": messages}, chat=True)["choices"][0]["message"]
    assert content["content"].startswith("```python\n" + generation.prompt)


def test_a_chat_generation_prompt_that_holds_a_hole_whole_is_answered_as_a_generation():
    # a random span inside HumanEval/34's docstring, with nothing below it: serve-demo, which holds both
    # kinds, answered a generation request for HumanEval/34 with that span's middle
    shipped = {t.task_id: t for t in shipped_tasks()}
    generation, hole = shipped["HumanEval/34"], shipped["RandomSpanInfilling/HumanEval/34/2"]
    assert hole.prompt in generation.prompt and not hole.suffix.strip()
    app = DemoApp([generation, hole])
    messages = [{"role": "user", "content": f"Complete this function:\n{generation.prompt}"}]
    content = app.complete({"model": "demo-oracle", "messages": messages}, chat=True)["choices"][0]["message"]
    assert content["content"].startswith("```python\n" + generation.prompt)


@pytest.mark.parametrize("name", ["ide_completion_python", "ide_completion_javascript"])
def test_finds_each_hole_of_a_file_among_the_other_holes_of_the_same_file(name):
    # Our IDE-style sets cut a line and a block out of the same file: the prompts and suffixes of
    # the two holes overlap, and the index must still answer each prompt with its own hole.
    holes = load_benchmark(DatasetConfig(name=name)).tasks
    index = demo_fim.FimIndex(holes)
    assert len({t.entry_point for t in holes}) < len(holes)
    for task in holes:
        assert index.find(f"<|fim_prefix|>{task.prompt}<|fim_suffix|>{task.suffix}<|fim_middle|>") is task
        assert index.find(f"<s>[SUFFIX]{task.suffix}[PREFIX]{task.prompt}") is task
        assert index.find(task.prompt, suffix=task.suffix) is task


def test_every_random_span_hole_is_found_as_itself_in_each_layout():
    # HumanEval/50's second function repeats its first: a hole's suffix was found inside another
    # hole's prefix, and the oracle answered that hole's middle (0.997 pass@1 on random spans).
    tasks = load_benchmark(DatasetConfig(name="infilling_random_span")).tasks
    index = demo_fim.FimIndex(tasks)
    for task in tasks:
        assert index.find(f"<|fim_prefix|>{task.prompt}<|fim_suffix|>{task.suffix}<|fim_middle|>") is task
        assert index.find(f"<s>[SUFFIX]{task.suffix}[PREFIX]{task.prompt}") is task
