"""Which tasks a bigcode generations file's lists answer, read from the functions their programs define."""

from __future__ import annotations

from pathlib import Path

import pytest

from evalkit.bigcode_order import defined_names, file_order, misplaced_lists

PATH = Path("generations.json")


@pytest.fixture(scope="module")
def every(humaneval_tasks):
    return [(t.task_id, t.entry_point) for t in humaneval_tasks]


def _refusal(lists, order, every, dataset="humaneval", others=()):
    return misplaced_lists(PATH, lists, order, dataset, every, lambda: others)


def test_the_names_a_few_programs_of_a_list_define():
    assert defined_names(["def f(x):\n    def g():\n        pass\n", "async def h ():\n  pass",
                          "function toKebabCase(s) { return s; }", "def not_read(): pass"]) == {
        "f", "g", "h", "toKebabCase"}
    assert defined_names("def f(): pass") == set() and defined_names([3, None]) == set()


def test_a_selection_of_consecutive_tasks_as_long_as_the_file_is_its_order():
    every = [f"T/{i}" for i in range(5)]
    assert file_order(every, ["T/2", "T/3"], 2) == ["T/2", "T/3"]  # bigcode's --limit_start 2 --limit 2
    assert file_order(every, ["T/3", "T/2"], 2) == every  # not in the dataset's order
    assert file_order(every, ["T/2", "T/4"], 2) == every  # not consecutive
    assert file_order(every, ["T/2", "T/3"], 4) == every  # tasks picked out of a longer file
    assert file_order(every, every, 5) == every


def test_lists_shifted_by_bigcode_s_limit_start_name_the_task_ids_that_map_them(humaneval_tasks, every):
    order = [task_id for task_id, _ in every]
    lists = [[t.prompt + t.reference, ""] for t in humaneval_tasks[1:]]  # --limit_start 1: 163 lists
    ids = ",".join(order[1:])
    assert _refusal(lists, order, every) == (
        f"{PATH}: its 163 generation lists define the entry points of HumanEval/1 to HumanEval/163, not of "
        f"HumanEval/0 to HumanEval/162 (bigcode's --limit_start 1?): give dataset.task_ids=[{ids}]")
    assert _refusal(lists, order[1:], every) is None  # the order that override gives


def test_lists_out_of_the_dataset_s_order_are_refused_without_a_shift_to_give(humaneval_tasks, every):
    order = [task_id for task_id, _ in every]
    picked = [humaneval_tasks[i] for i in (5, 0, 9, 2)]
    lists = [[t.prompt + t.reference] for t in picked]
    assert _refusal(lists, order, every) == (
        f"{PATH}: its 4 generation lists define the entry points of other tasks of humaneval than the ones "
        "at their positions (list 1, read as HumanEval/0, defines HumanEval/5's): bigcode's generations must "
        "be in humaneval's task order, one list per task")


def test_a_few_lists_defining_other_tasks_entry_points_among_their_own_are_a_model_s_answers(
        humaneval_tasks, every):
    order = [task_id for task_id, _ in every]
    lists = [[t.prompt + "    return None\n"] for t in humaneval_tasks[:4]]
    lists[1] = [f"def {humaneval_tasks[7].entry_point}(x):\n    return x\n"]
    lists[2] = ["The answer is 42.", ""]
    assert _refusal(lists, order, every) is None
    assert _refusal([["def helper():\n    pass\n"]] * 4, order, every) is None


def test_lists_of_another_dataset_name_it_and_only_where_few_lists_define_their_own(humaneval_tasks, every):
    instruct = [("instruct/slugify", "slugify"), ("instruct/mask_email", "mask_email")]
    lists = [[t.prompt + t.reference] for t in humaneval_tasks[:2]]
    others = [("humaneval", every)]
    assert _refusal(lists, [t for t, _ in instruct], instruct, "instruct_python", others) == (
        f"{PATH}: its 2 generation lists define the entry points of dataset humaneval's tasks, not of "
        "instruct_python's (list 1 defines has_close_elements, HumanEval/0's): add dataset=humaneval")
    lists[1] = ["def slugify(text):\n    return text\n", "def mask_email(e):\n    return e\n"]
    lists.append(["def mask_email(email):\n    return ''\n"])
    assert _refusal(lists, [t for t, _ in instruct], instruct, "instruct_python", others) is None
