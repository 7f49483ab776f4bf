"""The records that flow between pipeline stages and into files, defined once.

Every record is a small frozen dataclass: a stage receives records of the stage
before it and returns new ones; nothing is filled in place later.

    Task -> RenderedPrompt -> Generation -> (extracted code) -> Verdict -> SampleResult -> ArmResult

The artefact records are also the schema of the files a run writes: one ``SampleResult``
per line of samples.jsonl and one ``RunResults`` in results.json, read and written only
through their ``to_json``/``from_json`` methods (validated with pydantic). Their field
docstrings are the schema's documentation; docs/schema.md is generated from them.
"""

from __future__ import annotations

import enum
import functools
import json
import math
import re
from dataclasses import dataclass, field
from typing import Annotated, Any, Mapping, TypeVar

from pydantic import Field, Strict

# -- artefact records: the files a run writes ---------------------------------------------------

SCHEMA_VERSION = 3
"""Version of the samples.jsonl and results.json schema this evalkit writes. Version 1 (evalkit
0.1.0, no ``schema_version`` key) still loads: ``RunResults.from_json`` upgrades it; version 2 (no
``differences``) loads with none."""

_Record = TypeVar("_Record")

# Strict types for the numbers of samples.jsonl: pydantic's default would take "3" or true for an
# index and "yes" for a flag, so a hand-edited or corrupted line loaded as another sample. JSON
# writes 1.0 as 1, so a whole number is still a valid float.
Count = Annotated[int, Strict(), Field(ge=0, le=2**53)]
"""A whole number >= 0 (an index, a token count), at most 2**53 (``10**30`` overflowed the frames a
report builds: a traceback); never a string or a boolean."""
Seconds = Annotated[float, Strict(), Field(ge=0, allow_inf_nan=False)]
"""A finite duration >= 0; never a string or a boolean."""
Share = Annotated[float, Strict(), Field(ge=-1, le=1 + 1e-9, allow_inf_nan=False)]
"""A similarity: in [0, 1] as evalkit writes it, read in [-1, 1] (and a rounding hair above), since
``embedding_cosine`` was written unclipped (a cosine, negative or 1.0000000000000002) before, and
such runs and baselines must still load; never a string or a boolean."""
Flag = Annotated[bool, Strict()]
"""true or false; never a string or a number."""
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def valid_text(text: str) -> str:
    r"""``text`` with each lone surrogate replaced by U+FFFD. JSON carries them (``"\ud800"``, from a
    broken or hostile endpoint or samples file) and no UTF-8 file, SQLite text, digest or program
    file takes one: the first write of such an answer ended the run with a traceback (exit 3).
    Every text evalkit reads from outside passes through here."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return _LONE_SURROGATE.sub("\ufffd", text)
    return text


_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
"""Control characters: a terminal acts on them (ESC starts a sequence that clears the screen or
retitles the window, BEL rings) rather than showing them; and the bidirectional embeddings,
overrides and isolates, which make a terminal show the rest of the line in another order."""


def printable(text: object) -> str:
    """Text from a config, a file or an endpoint (an arm label, a model's name, what a server said) as
    one line a terminal shows as it is: each control character as U+FFFD."""
    return _CONTROL.sub("\ufffd", str(text))


def joined_text(text: str) -> str | None:
    r"""``text`` with each surrogate pair joined into the one character it encodes (YAML and Jinja
    leave ``"\ud83d\ude00"``, the escape json.dumps writes for an emoji, as two halves, which no
    request can carry); None when it holds a lone surrogate, which is no text at all."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        pass
    try:
        return text.encode("utf-16", "surrogatepass").decode("utf-16")
    except UnicodeDecodeError:
        return None


def valid_strings(value: Any) -> Any:
    """A decoded JSON value with ``valid_text`` applied to every string in it, keys included."""
    if isinstance(value, str):
        return valid_text(value)
    if isinstance(value, list):
        return [valid_strings(item) for item in value]
    if isinstance(value, dict):
        return {valid_text(str(key)): valid_strings(item) for key, item in value.items()}
    return value


def non_finite_field(value: Any, where: str = "") -> str | None:
    """The dotted path of the first NaN or infinite number in a decoded JSON value (``"value"``
    itself when it is one), or None. Python's json reads ``NaN``, ``-Infinity`` and an overflowing
    ``1e400`` as floats no report can write (``json.dumps(allow_nan=False)``), so files are checked
    for them where they are read."""
    if isinstance(value, float) and not math.isfinite(value):
        return where or "value"
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        found = non_finite_field(item, f"{where}.{key}" if where else str(key))
        if found is not None:
            return found
    return None


@functools.cache
def _adapter(cls: type) -> Any:
    """The pydantic TypeAdapter that validates and serialises one record type (built once)."""
    from pydantic import TypeAdapter  # here: only validating needs pydantic's core

    return TypeAdapter(cls)


def _described_adapter(cls: type) -> Any:
    """A TypeAdapter of ``cls`` whose JSON Schema describes each field by its docstring. Reading
    the docstrings parses each record's source: 0.14 s of every command that writes records (a
    sixteenth of `evalkit score` on one sample) when the adapters that only validate and
    serialise read them too, so only the schema's adapter does (pydantic reads a dataclass's
    ``__pydantic_config__`` as it builds one, and keeps nothing on the class)."""
    from pydantic import TypeAdapter

    JsonRecord.__pydantic_config__ = JsonRecord.__pydantic_config__ | {"use_attribute_docstrings": True}
    try:
        return TypeAdapter(cls)
    finally:
        JsonRecord.__pydantic_config__ = {key: value for key, value in JsonRecord.__pydantic_config__.items()
                                          if key != "use_attribute_docstrings"}


def _validate(cls: type[_Record], obj: Any) -> _Record:
    from pydantic import ValidationError

    try:
        return _adapter(cls).validate_python(obj)
    except ValidationError as exc:
        raise RecordError(_first_error(exc)) from None


class JsonRecord:
    """Mixin of the artefact records: ``to_json`` and ``from_json`` through pydantic."""

    __slots__ = ()
    # Unknown keys are ignored so that a newer evalkit's files still load in an older one; field
    # docstrings become the JSON Schema's descriptions (``_described_adapter``).
    __pydantic_config__ = {"extra": "ignore"}

    def to_json(self) -> dict[str, Any]:
        """The record as the JSON object the file holds."""
        return _adapter(type(self)).dump_python(self, mode="json")

    @classmethod
    def from_json(cls: type[_Record], obj: Any) -> _Record:
        """The record from a decoded JSON object; raises ``RecordError`` naming the first bad field."""
        return _validate(cls, obj)

    @classmethod
    def json_schema(cls) -> dict[str, Any]:
        """The JSON Schema of the record (field docstrings as descriptions)."""
        return _described_adapter(cls).json_schema()


class RecordError(ValueError):
    """A JSON object that is not a valid record; the message names the field and the problem."""


class NewerSchemaError(RecordError):
    """A file (results.json, comparison.json, gate.json) of a newer schema than this evalkit knows: a
    results.json read as its own lost its new fields, and `evalkit report` rewrote it as the older one."""


NOT_JSON = (ValueError, RecursionError)
"""What decoding JSON text can raise: ValueError, and RecursionError for nesting deeper than the decoder
goes (a samples line of 1,000 ``[`` ended `evalkit score` with exit 3 and no report: an attacker's trial)."""


def json_line_problem(exc: ValueError | RecursionError) -> str:
    """What is wrong with one line of a JSON Lines file, in the line's own terms: json counts the
    line's newline as a line of its own, and a line cut short read "Expecting value: line 2 column 1"."""
    if isinstance(exc, RecursionError):
        return "nested deeper than a JSON decoder goes"
    if isinstance(exc, json.JSONDecodeError):
        cut = not exc.doc[exc.pos:].strip()
        where = "at its end: is it cut short?" if cut else f"at character {exc.pos + 1}"
        # "Invalid control character at", "Unterminated string starting at": json's own "at" ends them
        return f"{exc.msg.removesuffix(' at')} {where}"
    return str(exc)


def _first_error(exc: Any) -> str:
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error["loc"]) or "record"
    return f"{where}: {error['msg']}" + (f" ({exc.error_count()} problems)" if exc.error_count() > 1 else "")



class Api(enum.StrEnum):
    """Which OpenAI-compatible endpoint a prompt is sent to."""

    CHAT = "chat"
    COMPLETIONS = "completions"


class Status(enum.StrEnum):
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


HOLE_DATASETS = frozenset({"SingleLineInfilling", "MultiLineInfilling", "RandomSpanInfilling",
                           "RandomSpanInfillingLight", "ide_completion_python", "ide_completion_javascript"})
"""The first part of the task ids of the shipped datasets whose tasks are holes of fewer problems."""
_HOLE = re.compile(r"L\d+(?:_L\d+)?|\d+")
"""The last part of a hole's task id: its lines (``L3``, ``L2_L5``) or its number (random spans)."""


def problem_of(task_id: str) -> str:
    """The problem a task is part of: a hole's of a shipped completion dataset
    (``SingleLineInfilling/HumanEval/0/L3`` is problem ``SingleLineInfilling/HumanEval/0``'s,
    ``ide_completion_python/slugify/L2`` of ``ide_completion_python/slugify``), else the task itself
    (``HumanEval/0``; any id of a dataset of one's own: ``team/v2/10`` made 30 tasks one problem). The
    holes of one problem share its code and its tests: statistics resample problems, not holes."""
    head, _, last = task_id.rpartition("/")
    if task_id.partition("/")[0] in HOLE_DATASETS and "/" in head and _HOLE.fullmatch(last):
        return head
    return task_id


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
    kind: str = "generation"
    """``generation`` (an instruction; the answer continues the prefix) or ``completion`` (fill in
    the middle; the code under test is prefix + answer + suffix, see :meth:`program_text`)."""

    def program_text(self, answer: str) -> str:
        """The code under test for ``answer`` placed as the task's kind places it (before any
        generation-specific assembly): prefix + middle + suffix for a completion task."""
        if self.kind == "completion":
            return self.prompt + answer + self.suffix
        return self.prompt + answer


@dataclass(frozen=True, slots=True)
class TemplateId(JsonRecord):
    """Identity of a rendered template: what a gate compares."""

    family: str
    """The template family (a folder of the registry, e.g. ``mixtral``)."""
    version: str
    """The template's version (a file of the family, e.g. ``2.0.0``)."""
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
    top_k: int | None = None
    """Sent only where set (``model.params.top_k``): vLLM and Ollama take it, a LiteLLM proxy's
    ``openai/`` routes refuse it; a template's own top_k is a client setting evalkit does not send."""

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-able form (stop as a list; top_k only where set, so that a template's identity,
        which hashes these, is what it was for every template that sets none)."""
        return {
            "temperature": self.temperature,
            "top_p": self.top_p,
            "max_tokens": self.max_tokens,
            "stop": list(self.stop),
            "seed": self.seed,
        } | ({"top_k": self.top_k} if self.top_k is not None else {})


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
class Usage(JsonRecord):
    """Token counts the endpoint reported."""

    prompt_tokens: Count = 0
    """Tokens of the prompt (0 when the endpoint does not say)."""
    completion_tokens: Count = 0
    """Tokens of the answer (0 when the endpoint does not say)."""


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
    ttft_s: float | None = None
    """Seconds from sending the request to the answer's first token (streamed answers only)."""
    answered_by: Mapping[str, Any] | None = None
    """What the answer says answered it (``retry.answered_by``: its ``model``, a LiteLLM proxy's
    deployment headers); None when unknown (an error, an offline replay)."""


@dataclass(frozen=True, slots=True)
class Verdict(JsonRecord):
    """Outcome of executing one program."""

    status: Status
    """What happened: only ``passed`` counts as a pass."""
    detail: str = ""
    """Exception type and message, or why the verdict was reached."""
    duration_s: Seconds = 0.0
    """CPU seconds the program used (its process and, on the split path, its test process)."""
    verified: Flag = True
    """False when the verdict was decided inside the program's own process (a task whose tests
    cannot be split from the program, or JavaScript), where a hostile program could forge it."""

    @property
    def passed(self) -> bool:
        """True only for PASSED."""
        return self.status is Status.PASSED


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
    alike: tuple[str, ...] = ()
    """Names this program and the task's reference program define alike (``program.alike_names``):
    of the classes the program's values name, only these may be the reference's own class in the
    tests' process (a class the program writes its own way never is: the reference's code ran
    there in its stead)."""
    split: bool = False
    """Run the tests in a trusted process and call the entry point in the program's process
    (verified verdict); False: code and tests in one process, as one file (unverified)."""
    live: bool = False
    """With ``split``: objects that are no plain data stay in the process that made them and cross
    as live references (the tests use the program's ``LRUCache``, the program calls the tests'
    clock), each use a message to that process. Set by the canary for tasks whose reference needs
    it, and only for them: elsewhere an object that is no plain data fails the call (an object
    whose ``==`` is always True cannot cross)."""

    @property
    def source(self) -> str:
        """The whole program as one file: the code under test, then the tests."""
        return f"{self.code}\n{self.tests}" if self.tests else self.code




@dataclass(frozen=True, slots=True)
class Reading(JsonRecord):
    """One reading of an answer: the code extracted from it and the verdict of executing it."""

    completion: str
    """The extracted code (the new code; the task's prefix is joined to it before execution)."""
    verdict: Verdict
    """The outcome of executing the extracted code against the task's tests."""


DRAW_PARAMS = ("temperature", "top_p", "seed", "top_k")
"""The sampling parameters that say how answers were drawn: reports compare one model's template versions
where these agree, and the gate notes them where they differ from the baseline's. A template's other
parameters (its stop sequences, max_tokens) are part of what changes with it (the demo's mixtral 2.0.0
adds a stop sequence 1.0.0 lacks)."""


@dataclass(frozen=True, slots=True)
class SampleResult(JsonRecord):
    """One line of samples.jsonl: everything known about one sample, keyed by (arm, task_id, sample_index)."""

    run_id: str
    """The run that produced the sample."""
    arm: str
    """The arm's label (a model with one template version and one set of sampling parameters)."""
    model: str
    """The served model id the request named."""
    template: TemplateId | None
    """The template that rendered the prompt; None for answers made elsewhere (`evalkit score`)."""
    task_id: str
    """The benchmark's task id."""
    sample_index: Count
    """Index of the sample among the task's samples in this arm (0-based)."""
    params: Mapping[str, Any]
    """The arm's sampling parameters (temperature, top_p, max_tokens, stop, seed). ``seed`` null: each
    request's seed derives from the run's (the config's ``seed``, kept in the run directory's run.json;
    not results.json's ``statistics.seed``, the bootstrap's), the task and the sample index
    (``models.request.derive_seed``; a request with the API's ``n`` is sent its first sample's);
    set, it is the base those seeds derive from instead."""
    prompt: Any
    """The prompt sent: chat messages (list of {role, content}) or the completions text;
    None for `evalkit score`."""
    raw_output: str
    """The model's text as received (with any assistant prefill prepended)."""
    completion: str
    """The faithful reading's code: the gateway's post-processing of ``raw_output``."""
    finish_reason: str
    """Why the model stopped (stop, length, error, ...)."""
    usage: Usage
    """Token counts the endpoint reported for this sample."""
    latency_s: Seconds
    """Seconds from sending the request to receiving the whole answer."""
    verdict: Verdict
    """The faithful reading's verdict: what a gateway user would get; the primary pass@k."""
    lenient: Reading
    """The lenient reading: the first fenced block of the raw answer (model ability apart from format);
    for a completion task, the raw middle after the gateway's completion steps."""
    metrics: Mapping[str, Share] = field(default_factory=dict)
    """Similarity of the faithful code to the reference solution, by metric name (each in [0, 1])."""
    cached: Flag = False
    """True when the answer came from the response store, not from the endpoint."""
    ttft_s: Seconds | None = None
    """Seconds from sending the request to the first token (``model.stream=true``); None otherwise."""
    answered_by: Mapping[str, Any] | None = None
    """What the answer says answered it: the response's ``model`` and a LiteLLM proxy's
    ``x-litellm-model-id`` / ``x-litellm-model-api-base`` headers (a stored answer: what answered it
    then); None when unknown (no answer, an offline replay, `evalkit score`, older files)."""

    @classmethod
    def from_json(cls, obj: Any) -> SampleResult:
        """The record from a decoded samples.jsonl line. Schema 1 lines have no ``verified``:
        their verdicts were decided inside the program's process, so they load as unverified."""
        verdict = obj.get("verdict") if isinstance(obj, dict) else None
        if isinstance(verdict, dict) and "verified" not in verdict:
            obj = {**obj, "verdict": {**verdict, "verified": False}}
            lenient = obj.get("lenient")
            if isinstance(lenient, dict) and isinstance(lenient.get("verdict"), dict):
                obj["lenient"] = {**lenient, "verdict": {**lenient["verdict"], "verified": False}}
        return _validate(cls, obj)

    @property
    def key(self) -> tuple[str, str, int]:
        """(arm, task_id, sample_index): what identifies the sample in its run."""
        return self.arm, self.task_id, self.sample_index


@dataclass(frozen=True, slots=True)
class Interval(JsonRecord):
    """An estimate with its 95% bootstrap interval over tasks, or why there is none."""

    value: float | None
    """The estimate; None when it is undefined (e.g. pass@k with fewer than k samples per task)."""
    ci_low: float | None = None
    """Lower end of the interval."""
    ci_high: float | None = None
    """Upper end of the interval."""
    reason: str = ""
    """Why ``value`` is None."""


@dataclass(frozen=True, slots=True)
class Prices(JsonRecord):
    """What an endpoint charges, per 1,000 tokens."""

    prompt: float = 0.0
    """Price per 1,000 prompt tokens."""
    completion: float = 0.0
    """Price per 1,000 completion tokens."""


@dataclass(frozen=True, slots=True)
class Latency(JsonRecord):
    """Latency percentiles of an arm's answered samples, in seconds (request latency, or time to first
    token)."""

    p50: float | None = None
    """Median latency."""
    p95: float | None = None
    """95th percentile latency."""
    p90: float | None = None
    """90th percentile latency."""
    p99: float | None = None
    """99th percentile latency."""


@dataclass(frozen=True, slots=True)
class Tokens(JsonRecord):
    """Token totals of an arm."""

    prompt: int = 0
    """Prompt tokens over all samples."""
    completion: int = 0
    """Completion tokens over all samples."""


@dataclass(frozen=True, slots=True)
class AnsweredBy(JsonRecord):
    """What answered some of an arm's samples, and how many of them."""

    answered_by: Mapping[str, Any]
    """What the answers named (samples.jsonl's ``answered_by``): the response's ``model`` and a
    LiteLLM proxy's deployment headers."""
    samples: int
    """The arm's samples it answered."""


@dataclass(frozen=True, slots=True)
class ArmSpec(JsonRecord):
    """What an arm is, known before any sample is scored: its label, model, template and parameters."""

    arm: str
    """The arm's label."""
    model: str
    """The served model id."""
    synthetic: bool = False
    """True for the demo endpoint's models: never a model result."""
    template: TemplateId | None = None
    """The template the arm renders with; None for answers scored with `evalkit score`."""
    params: Mapping[str, Any] = field(default_factory=dict)
    """The sampling parameters the arm sends."""
    prices: Prices | None = None
    """What the endpoint charges, when configured."""
    cached_from: tuple[str, ...] = ()
    """Earlier runs whose stored answers the arm reused: ``<run id> (<UTC date>)`` each."""
    endpoint: Mapping[str, Any] = field(default_factory=dict)
    """What answered (see ``ArmResult.endpoint``); empty for `evalkit score`."""


@dataclass(frozen=True, slots=True)
class ArmResult(JsonRecord):
    """One arm of results.json: its identity and its aggregates over the run's tasks."""

    arm: str
    """The arm's label."""
    model: str
    """The served model id."""
    synthetic: bool
    """True for the demo endpoint's models: never a model result."""
    template: TemplateId | None
    """The template the arm rendered with; None for `evalkit score` runs."""
    params: Mapping[str, Any]
    """The sampling parameters the arm sent."""
    n_samples: int
    """Samples generated per task (the most any task has)."""
    n_tasks: int
    """Tasks with at least one sample."""
    pass_at_k: Mapping[int, Interval]
    """pass@k of the faithful reading by k: Chen et al.'s unbiased estimator, mean over tasks.
    infra_error samples are left out of every denominator."""
    pass_at_k_lenient: Mapping[int, Interval]
    """pass@k of the lenient reading by k (empty when the lenient reading was not scored)."""
    metrics: Mapping[str, Interval]
    """Similarity to the reference by metric name: mean over tasks of the per-task mean."""
    verdicts: Mapping[Status, int]
    """Number of samples with each verdict of the faithful reading."""
    latency_s: Latency
    """Request latency percentiles of the answered samples."""
    tokens: Tokens
    """Token totals."""
    ttft_s: Latency | None = None
    """Time-to-first-token percentiles of the streamed samples; None when no answer was streamed."""
    cost: float | None = None
    """Cost of the arm's tokens at ``prices``; None when no prices are configured."""
    prices: Prices | None = None
    """What the endpoint charges, when configured."""
    unverified: int = 0
    """Samples whose faithful verdict was decided inside the program's own process (JavaScript,
    or a task whose tests cannot be split from the program), where a hostile program could forge
    it; every other verdict was decided by a trusted test process."""
    truncated: int = 0
    """Answers the endpoint cut at ``max_tokens`` (finish_reason ``length``): each is scored as the
    model's, and a template whose answers run long loses them to the limit, not to the model."""
    cached_samples: int = 0
    """Samples answered from the response store instead of the endpoint."""
    cached_from: tuple[str, ...] = ()
    """Where those stored answers came from: ``<run id> (<UTC date>)`` per earlier run."""
    endpoint: Mapping[str, Any] = field(default_factory=dict)
    """What answered: the base URL, the server's /v1/models entry for the model (id, root, created,
    owned_by; Ollama's ``digest`` of the weights) and what the start-up probe's answer named (its
    model, a LiteLLM proxy's deployment headers). Stored answers are reused only for the same endpoint. Its
    ``answered_by`` is what answered the probe; ``answered_by`` below is what answered the samples."""
    answered_by: tuple[AnsweredBy, ...] = ()
    """Every distinct ``answered_by`` of the arm's answered samples with how many it answered, most
    first: more than one when a proxy alias was re-pointed mid-run or balances over several
    deployments (the probe's names only one). Empty when no sample says (older runs, `evalkit score`)."""
    n_tasks_scored: int | None = None
    """Tasks with at least one sample that is not ``infra_error``: the tasks pass@k and the metrics
    average over (fewer than ``n_tasks`` when every sample of a task failed on our side). None in
    results written before evalkit recorded it."""
    fewest_samples: int | None = None
    """Samples of the task that has the fewest: below ``n_samples`` when tasks have different
    counts (a samples file scored as it is, a run cut short). None in results written before
    evalkit recorded it."""
    tasks_sha256: str | None = None
    """sha256 of the task ids the arm has samples of, sorted and joined by newlines: which tasks an arm
    of fewer than the dataset's measured (two files of 6 different tasks are two task sets, not one
    trend). None in results written before evalkit recorded it."""
    verdicts_sha256: str | None = None
    """sha256 of every sample's verdicts (task id, sample index, faithful and lenient status; one line a
    sample, in task and sample order): bless and gate refuse an arm whose samples.jsonl gives another,
    since a hand edit that swaps a pass and a failure between tasks keeps every count. None in results
    written before evalkit recorded it."""

    @property
    def spec(self) -> ArmSpec:
        """The arm's identity."""
        return ArmSpec(arm=self.arm, model=self.model, synthetic=self.synthetic, template=self.template,
                       params=self.params, prices=self.prices, cached_from=self.cached_from,
                       endpoint=self.endpoint)


@dataclass(frozen=True, slots=True)
class Host(JsonRecord):
    """The machine a run executed on."""

    cpu: str
    """CPU model name."""
    cores: int | None
    """Logical cores."""
    isolation: str
    """The sandbox layers that held, joined by + (e.g. netns+pidns+ro-fs+no-caps+pids-cgroup+rlimits)."""
    workers: int | None = None
    """Execution workers of the attempt that wrote this file (``executor.workers``, by default one per
    core it could use; with ``executor=ray``, actors; a resumed run's earlier attempts may have had
    others); None in files written before evalkit recorded it."""


@dataclass(frozen=True, slots=True)
class DatasetInfo(JsonRecord):
    """Which benchmark a run used."""

    name: str
    """The dataset's name (humaneval, instruct_python, ...)."""
    content_sha256: str
    """Hash of every task of the set: the gate refuses to compare runs on different hashes."""
    n_tasks: Count
    """Tasks selected for the run."""
    kind: str = "generation"
    """``generation`` (write a function from an instruction) or ``completion`` (fill in the middle):
    what the lenient reading is (the first fenced block, or the gateway's completion steps)."""


@dataclass(frozen=True, slots=True)
class TemplateSource(JsonRecord):
    """A template's text as a run used it, so that diffs can be re-rendered later."""

    family: str
    """Template family."""
    version: str
    """Template version."""
    source_text: str
    """The template file followed by every partial it includes."""


@dataclass(frozen=True, slots=True)
class Statistics(JsonRecord):
    """How a run's intervals were drawn (compare and `evalkit report` reuse them)."""

    resamples: int = 2000
    """Bootstrap resamples."""
    confidence: float = 0.95
    """Confidence level of the intervals."""
    seed: int = 1234
    """Bootstrap seed."""


@dataclass(frozen=True, slots=True)
class SamplesFileInfo(JsonRecord):
    """The samples file an `evalkit score` run read."""

    path: str
    """Where it was."""
    malformed_lines: int = 0
    """Lines that were skipped as malformed (each named on stderr and in the report)."""
    skipped: tuple[str, ...] = ()
    """The first skipped lines (up to 20), each as ``PATH:LINE: reason``, as the report lists them."""
    left_out_tasks: int = 0
    """Tasks the file has samples of outside the run's dataset selection (``dataset.task_ids``,
    ``dataset.limit``): their lines were left out, not scored and not counted as malformed."""
    unanswered: int = 0
    """Samples of an evalkit samples.jsonl the endpoint never answered (``finish_reason`` error, no
    code, no later line of the same sample): not scored as the model's empty answer, and the reason
    the command exited 2, as the run that wrote them did. A line a resumed run asked again has its
    answer in a later line, which is scored."""


@dataclass(frozen=True, slots=True)
class RunResults(JsonRecord):
    """results.json: a run's metadata and one entry per arm."""

    run_id: str
    """The run's id: its directory's name (with the sweep's for a sweep job) and a random suffix,
    kept by every attempt in the directory (run.json)."""
    started_at: str
    """UTC start time, ISO 8601."""
    finished_at: str | None
    """UTC end time, ISO 8601 (None while the run is going on)."""
    evalkit_version: str
    """The evalkit version that wrote the run."""
    prompts_commit: str | None
    """Last git commit of the template registry, when it is a git checkout."""
    host: Host
    """The machine."""
    dataset: DatasetInfo
    """The benchmark."""
    arms: tuple[ArmResult, ...]
    """One entry per arm, in configured order."""
    templates: Mapping[str, TemplateSource] = field(default_factory=dict)
    """Template sources by sha256, for diffs."""
    statistics: Statistics = field(default_factory=Statistics)
    """How the intervals were drawn."""
    timings_s: Mapping[str, float] = field(default_factory=dict)
    """Seconds spent per stage (probe, calibration_and_canary, generation_and_scoring; or scoring)."""
    samples_file: SamplesFileInfo | None = None
    """For `evalkit score`: the samples file read."""
    problems: tuple[str, ...] = ()
    """Why the run exited 2 although its reports were written (an arm without any answer, too
    many requests refused by the endpoint), one line each with the cause and the fix."""
    differences: tuple[PairedDiff, ...] = ()
    """The report's paired differences: each arm against the baseline arm (the first) on pass@1, the
    lenient reading's pass@1 and each similarity metric, over the tasks both scored, with the paired
    interval and Holm-adjusted p-value. Empty for a run of one arm (and in a file of schema 2)."""
    schema_version: int = SCHEMA_VERSION
    """Version of this schema."""

    @classmethod
    def from_json(cls, obj: Any) -> RunResults:
        """The record from a decoded results.json, upgrading schema 1 (no ``schema_version``);
        NewerSchemaError for a schema newer than SCHEMA_VERSION."""
        if isinstance(obj, dict) and "schema_version" not in obj:
            obj = _upgrade_v1(obj)
        return _validate(cls, _not_newer(obj, SCHEMA_VERSION))

    def arm(self, label: str) -> ArmResult:
        """The arm labelled ``label`` (KeyError when there is none)."""
        for arm in self.arms:
            if arm.arm == label:
                return arm
        raise KeyError(label)


def _not_newer(obj: Any, known: int) -> Any:
    """``obj``, unless its ``schema_version`` is above ``known``: NewerSchemaError then."""
    version = obj.get("schema_version") if isinstance(obj, dict) else None
    if isinstance(version, int) and not isinstance(version, bool) and version > known:
        raise NewerSchemaError(f"written by a newer evalkit (schema_version {version}; this one reads up "
                               f"to {known}): read it with that evalkit or a newer one")
    return obj


def _upgrade_v1(obj: dict[str, Any]) -> dict[str, Any]:
    """Schema 1 kept prices in a top-level map by arm label; schema 2 keeps them in each arm."""
    prices = obj.get("prices") or {}
    arms = [dict(arm, prices=prices.get(arm.get("arm"))) if isinstance(arm, dict) else arm
            for arm in obj.get("arms") or []]
    return {**obj, "arms": arms, "schema_version": 1}


@dataclass(frozen=True, slots=True)
class TaskOutcome(JsonRecord):
    """How one task's samples came out in one arm of a blessed baseline."""

    n: Count
    """Samples of the task, infra errors included."""
    passed: Count
    """Samples whose faithful verdict is ``passed``."""
    infra_error: Count = 0
    """Samples whose faithful verdict is ``infra_error``: left out of the task's pass rate."""
    metrics: Mapping[str, Share | None] = field(default_factory=dict)
    """Mean similarity to the reference by metric name over the samples that are not infra errors
    (None when every sample was one)."""

    def __post_init__(self) -> None:
        # A hand edit or a merge conflict (passed 15 of n 10) made the gate's statistics fail with
        # a math domain error: the counts are parts of ``n``.
        if self.passed + self.infra_error > self.n:
            raise ValueError(f"passed ({self.passed}) + infra_error ({self.infra_error}) is more than "
                             f"n ({self.n})")


@dataclass(frozen=True, slots=True)
class BaselineArm(JsonRecord):
    """One arm of a blessed baseline: its identity, aggregates and per-task outcomes."""

    arm: str
    """The arm's label: the gate gates a candidate arm against the baseline arm of the same label."""
    model: str
    """The served model id."""
    template: Mapping[str, str]
    """``family``, ``version`` and ``sha256`` of the template the arm used (empty strings for
    `evalkit score` runs)."""
    aggregates: Mapping[str, Any]
    """The arm's aggregates as results.json has them (``ArmResult``: pass_at_k, metrics, verdicts,
    latency_s, cached_samples, ...); a pooled baseline has ``pooled_runs``, ``params``, ``latency_s``
    and ``unverified``."""
    tasks: Mapping[str, TaskOutcome]
    """Per-task outcomes by task id, one line per task."""
    endpoint: Mapping[str, Any] | None = None
    """What answered the arm: results.json's arm ``endpoint`` without its base URL, with every
    distinct ``answered_by`` of its samples (``{}`` for `evalkit score` runs); None in a file
    blessed before evalkit recorded it (the gate then says it cannot tell)."""

    def __post_init__(self) -> None:
        # A hand edit that changed its shape (one mapping where the list goes) made the gate read
        # it as naming no served model: a candidate another model answered went unflagged.
        endpoint = self.endpoint or {}
        answered, served = endpoint.get("answered_by", []), endpoint.get("served")
        if not isinstance(answered, (list, tuple)) or not all(isinstance(a, Mapping) for a in answered):
            raise ValueError("endpoint.answered_by must be a list of objects (what answered the arm)")
        if served is not None and not isinstance(served, Mapping):
            raise ValueError("endpoint.served must be an object (the /v1/models entry) or null")
        # Half the tasks deleted by hand were gated on the other half, task_coverage PASS, no note:
        # the per-task lines must add up to the aggregates bless copied beside them, where those are
        # recorded (a pooled baseline has no n_tasks; a file without either is taken as it is).
        n_tasks = self.aggregates.get("n_tasks")
        if isinstance(n_tasks, int) and not isinstance(n_tasks, bool) and n_tasks != len(self.tasks):
            raise ValueError(f"arm {self.arm} has {len(self.tasks)} tasks, its aggregates.n_tasks {n_tasks}: "
                             "tasks were removed or added by hand; bless the run again")
        verdicts = self.aggregates.get("verdicts")
        if isinstance(verdicts, Mapping) and all(type(n) is int for n in verdicts.values()):
            tasks = self.tasks.values()
            for what, held, said in (
                    ("samples", sum(t.n for t in tasks), sum(verdicts.values())),
                    ("passed", sum(t.passed for t in tasks), verdicts.get(Status.PASSED, 0)),
                    ("infra_error", sum(t.infra_error for t in tasks), verdicts.get(Status.INFRA_ERROR, 0))):
                if held != said:
                    raise ValueError(f"arm {self.arm}'s tasks hold {held} {what}, its aggregates.verdicts "
                                     f"{said}: tasks were edited by hand; bless the run again")


@dataclass(frozen=True, slots=True)
class BlessedBaseline(JsonRecord):
    """A baseline file `evalkit baseline bless` writes, to commit and pass to `evalkit gate --baseline`."""

    format: str
    """``evalkit-baseline/1``."""
    dataset: DatasetInfo
    """The benchmark the run(s) used; the gate refuses a candidate on other dataset content."""
    arms: tuple[BaselineArm, ...]
    """One entry per arm, in the run's order."""
    run_id: str = ""
    """The run's id (pooled runs: their ids joined by ``+``)."""
    blessed_at: str = ""
    """UTC time of blessing, ISO 8601."""
    source_run: str | tuple[str, ...] = ""
    """The run directory's name the baseline was blessed from (pooled runs: a list of them)."""


@dataclass(frozen=True, slots=True)
class PairedDiff(JsonRecord):
    """One arm against the baseline arm on one measure, task by task over the tasks both scored."""

    arm: str
    """The compared arm."""
    baseline: str
    """The baseline arm."""
    measure: str
    """What is compared: ``pass@1``, ``lenient pass@1`` or a similarity metric's name."""
    n_tasks: int
    """Tasks both arms scored."""
    diff: float
    """Mean over tasks of (arm - baseline)."""
    ci_low: float
    """Lower end of the paired bootstrap interval of ``diff``."""
    ci_high: float
    """Upper end of the paired bootstrap interval of ``diff``."""
    p_value: float
    """Two-sided p-value of the paired test (``test``)."""
    p_adjusted: float
    """``p_value`` after Holm's correction over every comparison of the same call."""
    test: str
    """``sign-flip`` (paired randomisation test over tasks) or ``mcnemar`` (exact, one sample per task)."""
    significant: bool
    """``p_adjusted`` below the comparison's alpha."""
    confidence: float = 0.95
    """Confidence level of ``ci_low``/``ci_high`` (Bonferroni-adjusted when the intervals of a call
    are family-wise, as the gate's are)."""
    std_error: float = 0.0
    """Standard error of ``diff``: the per-task differences' standard deviation / sqrt(n_tasks)."""
    baseline_mean: float | None = None
    """The baseline arm's mean over the paired tasks (``diff`` = ``arm_mean`` - ``baseline_mean``)."""
    arm_mean: float | None = None
    """The compared arm's mean over the paired tasks."""


@dataclass(frozen=True, slots=True)
class Flip(JsonRecord):
    """A task whose pass rate changed between the baseline arm and another arm."""

    task_id: str
    """The task."""
    baseline_passed: int
    """Passing samples of the baseline arm (infra errors left out)."""
    baseline_n: int
    """Scored samples of the baseline arm."""
    arm_passed: int
    """Passing samples of the compared arm."""
    arm_n: int
    """Scored samples of the compared arm."""
    p_value: float
    """Two-sided Fisher exact test of the two pass rates."""
    arm: str = ""
    """The compared arm."""
    baseline: str = ""
    """The baseline arm."""
    p_adjusted: float = 1.0
    """``p_value`` after Benjamini-Hochberg's adjustment over the tasks of the arm pair (false
    discovery rate)."""
    significant: bool = False
    """``p_adjusted`` below the comparison's alpha: the task's pass rate changed beyond chance."""

    @property
    def baseline_rate(self) -> float:
        """The baseline arm's pass rate on the task."""
        return self.baseline_passed / self.baseline_n

    @property
    def arm_rate(self) -> float:
        """The compared arm's pass rate on the task."""
        return self.arm_passed / self.arm_n

    @property
    def change(self) -> float:
        """Arm rate - baseline rate: negative for a regression."""
        return self.arm_rate - self.baseline_rate


COMPARISON_SCHEMA_VERSION = 1
"""The version of comparison.json's schema (``ComparisonResults``)."""


@dataclass(frozen=True, slots=True)
class ComparedRun(JsonRecord):
    """One run `evalkit compare` was given."""

    name: str
    """The run directory's name, which the report prefixes arms of several runs with."""
    dir: str
    """The run directory, as given."""
    run_id: str
    """Its results.json ``run_id``."""


@dataclass(frozen=True, slots=True)
class ComparisonResults(JsonRecord):
    """comparison.json, which `evalkit compare` writes beside its report: the report's numbers."""

    runs: tuple[ComparedRun, ...]
    """The runs compared, in the order given (oldest first)."""
    shared_tasks: Count
    """Tasks every run scored: the arms are compared on these alone."""
    baseline: str
    """The label of the arm every other is set against (``--baseline-arm``, else the first)."""
    arms: tuple[ArmResult, ...]
    """Each arm's results over the shared tasks."""
    differences: tuple[PairedDiff, ...]
    """Every compared pair on every measure: the report's paired differences."""
    flips: tuple[Flip, ...]
    """Every task whose pass rate changed in a compared pair (the report lists the largest)."""
    schema_version: int = COMPARISON_SCHEMA_VERSION
    """Version of this schema."""

    @classmethod
    def from_json(cls, obj: Any) -> ComparisonResults:
        """The record from a decoded comparison.json (NewerSchemaError for a newer schema)."""
        return _validate(cls, _not_newer(obj, COMPARISON_SCHEMA_VERSION))


class GateVerdict(enum.StrEnum):
    """Outcome of one check, one model, or the whole gate."""

    PASS = "PASS"
    FAIL = "FAIL"
    INCONCLUSIVE = "INCONCLUSIVE"
    ERROR = "ERROR"
    """The candidate's numbers do not measure the baseline's model and template (exit 2): its
    endpoint failed too often, it measured too few tasks, or another model answered it."""


GATE_SCHEMA_VERSION = 1
"""The version of gate.json's schema (``GateResults``)."""


@dataclass(frozen=True, slots=True)
class GateCheckResult(JsonRecord):
    """One gated quantity of one model."""

    name: str
    """``pass@1``, a similarity metric's name, ``infra_error``, ``arm_coverage``, ..."""
    verdict: GateVerdict
    """What the check decided."""
    diff: float | None
    """Candidate - baseline (a drop check: the mean of the per-task differences); None where not measured."""
    ci_low: float | None
    """Lower end of the family-wise interval of ``diff`` (None for a threshold check)."""
    ci_high: float | None
    """Upper end of that interval."""
    reason: str
    """Why, in a sentence (gate.md's)."""


@dataclass(frozen=True, slots=True)
class GateModelResult(JsonRecord):
    """One baseline arm's gate."""

    model: str
    """The baseline arm's model."""
    arm: str
    """The candidate arm gated against it (``(none)`` where no candidate arm measured it)."""
    verdict: GateVerdict
    """The worst of its checks."""
    checks: tuple[GateCheckResult, ...]
    """Its checks, pass@1 first."""


@dataclass(frozen=True, slots=True)
class GateResults(JsonRecord):
    """gate.json, which `evalkit gate` writes beside gate.md: what `evalkit history` marks on the
    candidate run's points."""

    verdict: GateVerdict
    """The whole gate's: the worst of its models'."""
    exit_code: int
    """What `evalkit gate` exited with: 0 PASS or INCONCLUSIVE, 1 FAIL, 2 ERROR."""
    candidate_run_id: str
    """The candidate run's ``run_id``."""
    baseline: str
    """The baseline (run directory or blessed file) and its run id."""
    candidate: str
    """The candidate run directory."""
    models: tuple[GateModelResult, ...]
    """One entry per baseline arm."""
    schema_version: int = GATE_SCHEMA_VERSION
    """Version of this schema."""

    @classmethod
    def from_json(cls, obj: Any) -> GateResults:
        """The record from a decoded gate.json (NewerSchemaError for a newer schema)."""
        return _validate(cls, _not_newer(obj, GATE_SCHEMA_VERSION))
