"""The records that flow between pipeline stages, defined once.

Every record is a small frozen dataclass: a stage receives records of the stage
before it and returns new ones; nothing is filled in place later.

    Task -> RenderedPrompt -> Generation -> (extracted code) -> Verdict -> SampleResult -> ArmResult
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Mapping


class Api(str, enum.Enum):
    """Which OpenAI-compatible endpoint a prompt is sent to."""

    CHAT = "chat"
    COMPLETIONS = "completions"


class Status(str, enum.Enum):
    """The outcome of executing one program against its task's tests.

    Only PASSED counts as a pass. INFRA_ERROR means our side failed (sandbox,
    endpoint) and is reported apart from model failures.
    """

    PASSED = "passed"
    FAILED = "failed"
    ERROR = "error"
    SYNTAX_ERROR = "syntax_error"
    TIMEOUT = "timeout"
    EMPTY = "empty"
    INFRA_ERROR = "infra_error"


@dataclass(frozen=True, slots=True)
class Task:
    """One benchmark problem, as the gateway's template variables see it."""

    task_id: str
    """Stable id, e.g. ``HumanEval/0``."""
    language: str
    """Programming language of the file, e.g. ``python``."""
    prompt: str
    """The prefix: file content above the cursor (HumanEval's prompt)."""
    entry_point: str
    """Name of the function the tests call (``check(entry_point)``)."""
    tests: str
    """Test code; for Python it defines ``check(candidate)``."""
    reference: str
    """Reference solution, as a completion that continues ``prompt``."""
    suffix: str = ""
    """File content below the cursor."""
    instruction: str = ""
    """What the user asked for; empty when the prefix carries it."""
    file_name: str = "solution.py"
    """Name of the file being edited."""


@dataclass(frozen=True, slots=True)
class TemplateId:
    """Identity of a rendered template: what a gate compares."""

    family: str
    version: str
    sha256: str
    """Hash over the template file, every partial it includes, and its params."""


@dataclass(frozen=True, slots=True)
class Message:
    """One chat turn."""

    role: str
    content: str


@dataclass(frozen=True, slots=True)
class SamplingParams:
    """Sampling parameters sent with a request."""

    temperature: float = 0.2
    top_p: float = 0.95
    max_tokens: int = 512
    stop: tuple[str, ...] = ()
    seed: int | None = None

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-able form (stop as a list)."""
        return {
            "temperature": self.temperature,
            "top_p": self.top_p,
            "max_tokens": self.max_tokens,
            "stop": list(self.stop),
            "seed": self.seed,
        }


@dataclass(frozen=True, slots=True)
class RenderedPrompt:
    """The exact request body a template produced for one task."""

    task_id: str
    api: Api
    template: TemplateId
    params: SamplingParams
    messages: tuple[Message, ...] = ()
    """Chat turns (api=chat). A trailing assistant turn is the prefill."""
    text: str = ""
    """Raw prompt string (api=completions)."""
    prefill: str = ""
    """Assistant prefill; prepended to the answer before post-processing."""
    postprocess: tuple[str, ...] = ()
    """Names of the post-processing steps the template asks for, in order."""
    suffix: str = ""
    """Text below the cursor sent in the request's own ``suffix`` field (fill-in-the-middle APIs)."""

    def as_json(self) -> Any:
        """The prompt as stored in samples.jsonl: messages or text."""
        if self.api is Api.CHAT:
            return [{"role": m.role, "content": m.content} for m in self.messages]
        return self.text


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts the endpoint reported."""

    prompt_tokens: int = 0
    completion_tokens: int = 0


@dataclass(frozen=True, slots=True)
class Generation:
    """One sampled answer of a model to one rendered prompt."""

    task_id: str
    sample_index: int
    raw_output: str
    """The model's text, with any prefill already prepended."""
    finish_reason: str = "stop"
    usage: Usage = field(default_factory=Usage)
    latency_s: float = 0.0
    cached: bool = False
    """True when answered from the response store, not the endpoint."""
    error: str = ""
    """Non-empty when the endpoint gave up: the sample becomes infra_error."""


@dataclass(frozen=True, slots=True)
class Verdict:
    """Outcome of executing one program."""

    status: Status
    detail: str = ""
    """Exception type and message, or why the verdict was reached."""
    duration_s: float = 0.0
    """CPU seconds the program used (its process and, on the split path, its test process)."""
    verified: bool = True
    """False when the verdict was decided inside the program's own process (a task whose tests
    cannot be split from the program, or JavaScript), where a hostile program could forge it."""

    @property
    def passed(self) -> bool:
        """True only for PASSED."""
        return self.status is Status.PASSED

    def as_dict(self) -> dict[str, Any]:
        """The ``verdict`` object of samples.jsonl."""
        return {"status": self.status.value, "detail": self.detail, "duration_s": round(self.duration_s, 4),
                "verified": self.verified}


@dataclass(frozen=True, slots=True)
class Program:
    """A complete program to execute: code under test followed by its tests."""

    key: str
    """Caller's identifier, returned with the verdict."""
    code: str
    """The code under test: prompt + completion, or a whole program."""
    language: str = "python"
    timeout_s: float = 3.0
    """CPU-seconds limit for this program."""
    tests: str = ""
    """The task's tests and check call. They come from the dataset and are the same for all of
    a task's samples, so workers compile them once."""
    task_id: str = ""
    """The task the program answers ('' for a free-standing program)."""
    entry_point: str = ""
    """The function the tests call (split path)."""
    helpers: str = ""
    """Trusted code the tests may use besides the entry point: the task's prompt (split path)."""
    split: bool = False
    """Run the tests in a trusted process and call the entry point in the program's process
    (verified verdict); False: code and tests in one process, as one file (unverified)."""

    @property
    def source(self) -> str:
        """The whole program as one file: the code under test, then the tests."""
        return f"{self.code}\n{self.tests}" if self.tests else self.code


@dataclass(frozen=True, slots=True)
class ArmSpec:
    """One arm: a model with one template version and one set of sampling params."""

    label: str
    model_name: str
    """Served model id."""
    family: str
    template_version: str
    synthetic: bool = False
    """True for the demo endpoint's models: never a model result."""


@dataclass(frozen=True, slots=True)
class SampleResult:
    """One line of samples.jsonl: everything known about one sample."""

    run_id: str
    arm: str
    model: str
    template: TemplateId
    task_id: str
    sample_index: int
    params: Mapping[str, Any]
    prompt: Any
    raw_output: str
    completion: str
    finish_reason: str
    usage: Usage
    latency_s: float
    verdict: Verdict
    lenient_completion: str
    lenient_verdict: Verdict
    metrics: Mapping[str, float]
    cached: bool

    def as_json(self) -> dict[str, Any]:
        """The samples.jsonl object (DESIGN.md field names)."""
        return {
            "run_id": self.run_id,
            "arm": self.arm,
            "model": self.model,
            "template": {"family": self.template.family, "version": self.template.version,
                         "sha256": self.template.sha256},
            "task_id": self.task_id,
            "sample_index": self.sample_index,
            "params": dict(self.params),
            "prompt": self.prompt,
            "raw_output": self.raw_output,
            "completion": self.completion,
            "finish_reason": self.finish_reason,
            "usage": {"prompt_tokens": self.usage.prompt_tokens,
                      "completion_tokens": self.usage.completion_tokens},
            "latency_s": round(self.latency_s, 4),
            "verdict": self.verdict.as_dict(),
            "lenient": {"completion": self.lenient_completion, "verdict": self.lenient_verdict.as_dict()},
            "metrics": dict(self.metrics),
            "cached": self.cached,
        }
