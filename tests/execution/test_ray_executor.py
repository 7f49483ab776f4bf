"""executor=ray gives the local executor's verdicts, through Ray actors on a local Ray instance."""

from __future__ import annotations

import concurrent.futures as cf
import dataclasses

import pytest

from evalkit.config import ConfigError, ExecutorConfig
from evalkit.execution import LocalExecutor, make_executor, program_for
from evalkit.records import Status

pytestmark = pytest.mark.slow  # real runs and processes: the full suite, not the fast tier

N_TASKS = 7
ANSWERS = {
    "reference": None,  # the task's canonical solution: passes
    "wrong": "    return None\n",
    "raises": "    raise RuntimeError('boom')\n",
    "syntax": "    return (\n",
    "exits": "    import sys\n    sys.exit(0)\n",  # a program that leaves early never passes
}


@pytest.fixture(scope="module")
def local_ray():
    """A local Ray instance, as a notebook or a driver script would start it."""
    ray = pytest.importorskip("ray", reason="Ray is optional (pip install 'evalkit[ray]'); "
                                            "executor=ray cannot be tested without it")
    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=128 * 1024 * 1024)
    yield ray
    ray.shutdown()


def _programs(tasks):
    programs = []
    for task in tasks[:N_TASKS]:
        for kind, body in ANSWERS.items():
            code = task.prompt + (task.reference if body is None else body)
            programs.append(program_for(task, code, f"{task.task_id}/{kind}", 3.0))
    loop = tasks[0].prompt + "    while True:\n        pass\n"
    programs.append(program_for(tasks[0], loop, "HumanEval/0/timeout", 1.0))
    return programs


def test_ray_verdicts_match_local(local_ray, humaneval_tasks):
    programs = _programs(humaneval_tasks)
    cfg = ExecutorConfig(kind="ray", workers=2, share_identical=False)
    with LocalExecutor(dataclasses.replace(cfg, kind="local")) as local:
        expected = dict(local.run(programs))
        local_isolation = local.isolation
    with make_executor(cfg) as remote:
        assert type(remote).__name__ == "RayExecutor"
        assert remote.isolation == local_isolation  # the same sandbox inside each actor
        streamed = list(remote.run(programs))
        future = remote.submit(programs[0])
        assert isinstance(future, cf.Future)
        assert future.result(timeout=60).status is Status.PASSED
    assert local_ray.is_initialized(), "an executor must not stop a Ray instance it did not start"

    got = dict(streamed)
    assert len(streamed) == len(programs) == len(got)
    assert {k: (v.status, v.detail) for k, v in got.items()} == \
        {k: (v.status, v.detail) for k, v in expected.items()}
    statuses = {v.status for v in got.values()}
    assert {Status.PASSED, Status.FAILED, Status.ERROR, Status.SYNTAX_ERROR, Status.TIMEOUT} <= statuses
    assert got["HumanEval/0/timeout"].status is Status.TIMEOUT
    assert all(got[f"{t.task_id}/reference"].passed for t in humaneval_tasks[:N_TASKS])
    assert not any(got[f"{t.task_id}/exits"].passed for t in humaneval_tasks[:N_TASKS])


def test_identical_programs_execute_once(local_ray, humaneval_tasks):
    task = humaneval_tasks[1]
    program = program_for(task, task.prompt + task.reference, "same", 3.0)
    with make_executor(ExecutorConfig(kind="ray", workers=1)) as remote:
        first, second = remote.submit(program), remote.submit(dataclasses.replace(program, key="again"))
        assert first is second
        assert first.result(timeout=60).passed


def test_unknown_executor_kind_is_a_config_error():
    with pytest.raises(ConfigError, match="unknown executor.kind 'dask'"):
        make_executor(ExecutorConfig(kind="dask"))
