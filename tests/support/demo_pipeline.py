"""Every shipped template through the demo endpoint and the gateway's post-processing, fast:
real HTTP and the real client, the answers checked in one interpreter (no sandbox)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from evalkit import postprocess, prompts
from evalkit.config import PROMPTS_DIR
from evalkit.models import DemoServer, ModelClient
from evalkit.prompts import Template
from evalkit.records import Api, RenderedPrompt
from tests.support.models import model_config
from tests.support.prompts import humaneval_tasks, with_tests


def shipped_templates() -> list[Template]:
    """Every version of every generations family in the shipped registry, each on its own API."""
    out = []
    for family in prompts.families(PROMPTS_DIR):
        for version in prompts.versions(PROMPTS_DIR, family):
            out.append(prompts.load_template(PROMPTS_DIR, family, version))
    return out


def rendered(template: Template, tasks=None) -> list[RenderedPrompt]:
    """``template`` rendered for every task (all 164 by default)."""
    return [prompts.render(template, task) for task in (tasks or humaneval_tasks())]


async def _answers(url: str, model: str, api: Api, batch: list[RenderedPrompt], seed: int):
    client = ModelClient(dataclasses.replace(model_config(url, name=model, api=api), concurrency=16,
                                             max_concurrency=16), None)
    try:
        return await asyncio.gather(*(client.generate(p, 1, seed) for p in batch))
    finally:
        await client.aclose()


def outcomes(template: Template, model: str, seed: int = 1234, tasks=None,
             lenient: bool = False) -> dict[str, str]:
    """task_id -> "passed" or why not, for ``model``'s answers post-processed the template's way
    (the faithful reading) or read leniently (the first fenced block)."""
    tasks = tasks or humaneval_tasks()
    batch = rendered(template, tasks)
    with DemoServer(humaneval_tasks()) as demo:
        answers = asyncio.run(_answers(demo.base_url, model, template.api, batch, seed))
    programs = {}
    for task, prompt, (gen,) in zip(tasks, batch, answers, strict=True):
        assert not gen.error, gen.error
        extracted = (postprocess.lenient_extract(gen.raw_output) if lenient
                     else postprocess.postprocess(gen.raw_output, prompt.postprocess, task.prompt))
        code = postprocess.assemble(task, extracted)
        programs[task.task_id] = with_tests(task, code) if code else "raise SystemExit('empty answer')"
    return run_checks(programs)


_DRIVER = """
import contextlib, io, json, signal, sys
def alarm(*_):
    raise TimeoutError("over 2 s")
signal.signal(signal.SIGALRM, alarm)
out = {}
for key, src in json.load(open(sys.argv[1])).items():
    signal.setitimer(signal.ITIMER_REAL, 2.0)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            exec(compile(src, key, "exec"), {"__name__": "__main__"})
        out[key] = "passed"
    except BaseException as exc:
        out[key] = f"{type(exc).__name__}: {exc}"[:200]
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
print(json.dumps(out))
"""


def run_checks(programs: dict[str, str]) -> dict[str, str]:
    """Run each program in one fresh interpreter, each in its own namespace and under a 2 s alarm
    (demo-mimic's off-by-one answers can loop): task_id -> "passed" or why not."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "programs.json"
        path.write_text(json.dumps(programs), encoding="utf-8")
        proc = subprocess.run([sys.executable, "-c", _DRIVER, str(path)], capture_output=True, text=True,
                              timeout=300, cwd=tmp, check=False)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-2000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def pass_rate(outcomes: dict[str, str]) -> float:
    """Share of tasks whose answer passed."""
    return sum(v == "passed" for v in outcomes.values()) / len(outcomes)
