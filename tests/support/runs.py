"""A finished run with known outcomes, written as evalkit writes one, for the reporting tests.

Real HumanEval tasks (reference solutions as the passing code) and two arms with known verdicts:
  A (mistral 1.0.0): tasks 0-7 pass both samples, task 8 fails, task 9 is all infra_error.
  B (mistral 1.1.0, synthetic): tasks 0-3 and 8 pass; 4 failed, 5 error, 6 timeout,
    7 syntax_error (passes in the lenient reading), 9 empty.
"""

from __future__ import annotations

import json
from pathlib import Path

from evalkit.config import ReportConfig, ScoringConfig
from evalkit.records import (
    ArmSpec,
    DatasetInfo,
    Host,
    Prices,
    Reading,
    RunResults,
    SampleResult,
    Status,
    TemplateId,
    TemplateSource,
    Usage,
    Verdict,
)
from evalkit.reporting import write_reports

SCORING = ScoringConfig(k=(1, 2, 10), bootstrap_resamples=200, seed=7)
SOURCES = {
    "1.0.0": "system: You are a coding assistant.\nuser: Complete {{ prefix }}\n",
    "1.1.0": "system: You are a careful coding assistant.\nuser: Complete {{ prefix }}\nReturn only code.\n",
}


def template(version: str) -> TemplateId:
    return TemplateId(family="mistral", version=version, sha256=f"sha-{version}-" + "0" * 40)


def sample(run_id: str, arm: str, task, index: int, status: Status, lenient: Status | None = None,
           latency: float = 0.5, version: str = "1.0.0") -> SampleResult:
    """One sample; passing ones carry the task's reference solution as their code."""
    passed = status is Status.PASSED
    code = task.reference if passed else "    return None  # wrong\n"
    detail = "" if passed else f"{status.value}: AssertionError in check()"
    return SampleResult(
        run_id=run_id, arm=arm, model=f"model-{arm}", template=template(version), task_id=task.task_id,
        sample_index=index, params={"temperature": 0.2}, prompt=[{"role": "user", "content": task.prompt}],
        raw_output=f"```python\n{code}```", completion=code, finish_reason="stop",
        usage=Usage(prompt_tokens=100, completion_tokens=40), latency_s=latency + index * 0.1,
        verdict=Verdict(status, detail, 0.05),
        lenient=Reading(code, Verdict(lenient or status, detail, 0.05)),
        metrics={"exact_match": 1.0 if passed else 0.0, "edit_similarity": 0.9 if passed else 0.3},
        cached=False)


def arm_spec(arm: str, version: str, synthetic: bool) -> ArmSpec:
    return ArmSpec(arm=arm, model=f"model-{arm}", synthetic=synthetic, template=template(version),
                   params={"temperature": 0.2, "max_tokens": 512}, prices=Prices(prompt=0.5, completion=1.5))


def run_header(run_id: str, n_tasks: int, started_at: str = "2026-11-26T20:00:00Z") -> RunResults:
    """results.json's metadata of a fixture run, with both template versions' sources."""
    return RunResults(
        run_id=run_id, started_at=started_at, finished_at="2026-11-26T20:05:00Z", evalkit_version="0.1.0",
        prompts_commit="abc123", host=Host(cpu="test cpu", cores=2, isolation="process"),
        dataset=DatasetInfo(name="humaneval", content_sha256="d" * 64, n_tasks=n_tasks), arms=(),
        templates={template(v).sha256: TemplateSource("mistral", v, text) for v, text in SOURCES.items()})


TWO_ARMS = (arm_spec("A", "1.0.0", False), arm_spec("B", "1.1.0", True))


A_OUTCOME = [Status.PASSED] * 8 + [Status.FAILED, Status.INFRA_ERROR]
B_OUTCOME = [Status.PASSED] * 4 + [Status.FAILED, Status.ERROR, Status.TIMEOUT, Status.SYNTAX_ERROR,
                                   Status.PASSED, Status.EMPTY]


def two_arm_samples(tasks, run_id: str = "run1") -> list[SampleResult]:
    """The fixture run's samples (two per task and arm)."""
    out = []
    for task, status_a, status_b in zip(tasks, A_OUTCOME, B_OUTCOME, strict=True):
        for i in range(2):
            out.append(sample(run_id, "A", task, i, status_a, latency=0.4))
            lenient_b = Status.PASSED if status_b is Status.SYNTAX_ERROR else None
            out.append(sample(run_id, "B", task, i, status_b, lenient=lenient_b, latency=1.0,
                              version="1.1.0"))
    return out


def write_samples(run_dir: Path, samples: list[SampleResult]) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    with (run_dir / "samples.jsonl").open("w", encoding="utf-8") as handle:
        for s in samples:
            handle.write(json.dumps(s.to_json()) + "\n")


def make_two_arm_run(run_dir: Path, tasks) -> RunResults:
    """Writes the fixture run's samples.jsonl and its reports; returns what results.json holds."""
    write_samples(run_dir, two_arm_samples(tasks[:10]))
    return write_reports(run_dir, run_header("run1", 10), TWO_ARMS, SCORING, ReportConfig())


def folder_contents(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` by relative path: what a refused or failed run must leave as it was."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}
