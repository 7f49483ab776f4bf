"""Typed configuration: the one place that turns Hydra's DictConfig into records
and the one place that reads environment variables.

Stages receive their own sub-config (ModelConfig, ExecutorConfig, ...), never
the whole DictConfig.
"""

from __future__ import annotations

import difflib
import enum
import functools
import importlib.resources
import math
import operator
import os
import re
import tempfile
import types
import typing
import urllib.parse
from collections.abc import Callable, Iterable, Sequence
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from evalkit.records import Api, RunResults, SamplingParams
from evalkit.secrets import remember_key_env

# The project's top-level conf/, prompts/ and datasets/ ship inside the package as evalkit/_data/
# (symbolic links in a checkout, copied into a wheel), so an installed evalkit finds them from any
# folder. A file-system install is assumed: Hydra and Jinja read them as plain directories.
PACKAGE_DATA = Path(str(importlib.resources.files("evalkit"))) / "_data"
CONF_DIR = PACKAGE_DATA / "conf"
PROMPTS_DIR = PACKAGE_DATA / "prompts"
DATASETS_DIR = PACKAGE_DATA / "datasets"


class ConfigError(Exception):
    """Unusable configuration or input: evalkit exits 2 with this one-line message."""


class ReportedError(ConfigError):
    """Exit 2 found after the run's reports were written (they say why): an endpoint that refused,
    infra errors, malformed input lines. The terminal still gets the run's summary table."""

    def __init__(self, message: str, results: RunResults) -> None:
        super().__init__(message)
        self.results = results
        """What the run's results.json holds."""


class AlreadyFinished(ConfigError):
    """A run started again in a folder whose run had finished, asking for no more than it did: it
    would score the old answers as a new run (``rundir.require_unfinished``). A sweep keeps such a
    job's results as they are, as its summary's; a single run exits 2."""


class InterruptedUnmeasured(KeyboardInterrupt):
    """Ctrl-C before a run measured anything: its run directory was removed, nothing was kept."""


class InterruptedKept(KeyboardInterrupt):
    """Ctrl-C after a run or a sweep wrote samples or stored answers: they stay (``run_dir`` and the
    response store), and starting it again in ``run_dir`` finishes the run (a default run's folder is
    named by the time, which the user did not see)."""

    def __init__(self, run_dir: Path, key: str = "hydra.run.dir", finished: bool = False,
                 answers_only: bool = False) -> None:
        super().__init__(str(run_dir))
        self.run_dir = run_dir
        """The run directory that keeps what the run wrote (a sweep's: the sweep's directory)."""
        self.key = key
        """The override that names it again: ``hydra.run.dir``, or a sweep's ``hydra.sweep.dir``."""
        self.finished = finished
        """The run had written results.json, its last file, when it was interrupted: nothing to finish."""
        self.answers_only = answers_only
        """The run had stored answers but written no sample yet: what it keeps is its answers."""


def interrupted_by(exc: BaseException, kind: type[KeyboardInterrupt] = KeyboardInterrupt) -> bool:
    """Whether exc is Ctrl-C (of ``kind``) or was raised while Ctrl-C was being handled: omegaconf,
    interrupted while it builds a config, raises an AttributeError (or Hydra a composition error) in
    its place."""
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, kind):
            return True
        seen.add(id(cause))
        cause = cause.__cause__ or cause.__context__
    return False


@dataclass(frozen=True)
class Accepts:
    """What a config field accepts beyond its type (for a list, each item): `_build` refuses anything
    else in one line before any work starts (`executor.wall_factor=0` would time out correct code)."""

    at_least: float | None = None
    above: float | None = None
    at_most: float | None = None
    below: float | None = None
    distinct: bool = False
    """A list that names each item once and at least one (an empty selection measures nothing)."""
    hint: str = ""
    """Said after what is accepted, e.g. what null means."""

    def check(self, value: Any, given: Any, key: str) -> None:
        """Raise ConfigError naming ``key`` and the value as ``given`` unless ``value`` is accepted."""
        if not isinstance(value, tuple):
            self._check_number(value, given, key)
            return
        if self.distinct and not value:
            raise ConfigError(f"{key} is empty, so nothing would be measured; name at least one{self.hint}")
        twice = next((item for i, item in enumerate(value) if item in value[:i]), None)
        if self.distinct and twice is not None:
            raise ConfigError(f"{key} names {twice!r} twice; name each once")
        items = [given] if isinstance(given, str) else list(given)
        for i, (item, raw) in enumerate(zip(value, items, strict=True)):
            self._check_number(item, raw, f"{key}[{i}]")

    def _check_number(self, value: Any, given: Any, key: str) -> None:
        bounds = [(word, bound, test) for word, bound, test in (
            ("at least", self.at_least, operator.ge), ("above", self.above, operator.gt),
            ("at most", self.at_most, operator.le), ("below", self.below, operator.lt)) if bound is not None]
        if all(test(value, bound) for _, bound, test in bounds):  # nan passes none
            return
        if self.at_least is not None and self.at_most is not None:
            wanted = f"between {self.at_least:g} and {self.at_most:g}"
        else:  # an infinite bound only refuses infinity: "below inf" said nothing a user could act on
            wanted = " and ".join(f"{word} {bound:g}" for word, bound, _ in bounds if math.isfinite(bound))
            if any(not math.isfinite(bound) for _, bound, _ in bounds):
                wanted = f"a finite number{' of ' + wanted if wanted else ''}"
        raise ConfigError(f"{key} must be {wanted}{self.hint}, not {given!r}")


def accepts(default: Any = MISSING, **rule: Any) -> Any:
    """A dataclass field with ``default`` that accepts only what ``rule`` (Accepts' fields) allows."""
    return field(default=default, metadata={"accepts": Accepts(**rule)})


SHARE = {"at_least": 0, "at_most": 1}
"""A share of samples or tasks: between 0 and 1."""


SAMPLING_RANGES = {"temperature": Accepts(at_least=0, below=float("inf")),
                   "top_p": Accepts(above=0, at_most=1), "max_tokens": Accepts(at_least=1),
                   "top_k": Accepts(at_least=1)}
"""What vLLM, Ollama and OpenAI accept of ``model.params``: outside it, every request would be
refused (400) after the run started; refused here, before any work. No upper bound on temperature:
vLLM takes any (OpenAI stops at 2)."""


MAX_IN_FLIGHT = 256
"""Most programs a worker may run at once: each slot keeps a test process, a uid and three cgroups,
made as the worker starts (a billion were never refused: the cgroups filled 8 GB of the kernel's
memory, and what a stopped run left behind took the next run on the machine 12 s to remove)."""


REQUIRED_MODEL_KEYS = ("name", "base_url", "api", "family")
"""ModelConfig's keys without a default: every preset sets them, or the command line must."""


@dataclass(frozen=True)
class ModelConfig:
    """One model behind an OpenAI-compatible endpoint."""

    name: str
    """Served model id (vLLM's --served-model-name)."""
    base_url: str | None
    """Endpoint URL ending in /v1; None starts the embedded demo endpoint."""
    api: Api
    family: str
    """Template family (base for Claude, mistral, mixtral, codestral, ...), as the gateway names them."""
    api_key_env: str | None = None
    """NAME of the environment variable holding the key; never the key."""
    synthetic: bool = False
    concurrency: int = accepts(8, at_least=1)
    min_concurrency: int = accepts(1, at_least=1)
    max_concurrency: int = accepts(64, at_least=1)
    timeout_s: float = accepts(60.0, above=0)
    max_retries: int = accepts(4, at_least=0)
    use_n: bool = True
    offline: bool = False
    """Answer only from the response store (replay); the endpoint is never called."""
    max_error_rate: float = accepts(0.0, **SHARE)
    """Share of an arm's samples that may go without an answer (refused: 401, 404, 400, ...; or
    failed after every retry: 5xx, timeouts) before the run exits 2."""
    price_per_1k_prompt: float = accepts(0.0, at_least=0)
    price_per_1k_completion: float = accepts(0.0, at_least=0)
    params: dict[str, Any] = field(default_factory=dict)
    """Sampling overrides: temperature, top_p, max_tokens, stop, seed (None: template's), and top_k
    (sent only where set: vLLM and Ollama take it, a LiteLLM proxy's ``openai/`` routes refuse it)."""
    fim_family: str | None = None
    """Template family for code-completion (fill-in-the-middle) sets when it differs from ``family``."""
    stream: bool = False
    """Stream answers (server-sent events) and record each sample's time to first token."""
    auth: str = "bearer"
    """How the key is sent: ``bearer`` (an API key) or ``basic`` (the variable holds ``user:password``,
    sent as HTTP basic auth, e.g. to a reverse proxy in front of the model server)."""

    def __post_init__(self) -> None:
        # Whatever the variable is called (K2, not only *_KEY), its value is masked from now on.
        remember_key_env(self.api_key_env)

    def api_key(self) -> str:
        """The key from the environment variable the config names ('EMPTY' when none)."""
        if not self.api_key_env:
            return "EMPTY"
        value = os.environ.get(self.api_key_env)
        if not value or not value.strip():  # unset, or set empty (what CI gives for a secret it lacks)
            # Local servers (vLLM, Ollama) accept any key; a proxy that needs one answers 401.
            return "EMPTY"
        # Said here, by the variable's name: in the header, the HTTP library's refusal read as an
        # endpoint that could not be reached, retried with back-off.
        if any(c < " " or c == "\x7f" for c in value):
            raise ConfigError(f"the value of {self.api_key_env} holds a control character (a line end "
                              "from a file written on Windows, or a tab?): set it without one")
        if self.auth == "bearer" and not value.isascii():
            raise ConfigError(f"the value of {self.api_key_env} holds a character outside ASCII, which an "
                              "HTTP header cannot carry: check what was pasted into it")
        return value


@dataclass(frozen=True)
class PromptConfig:
    """Which template renders the prompts."""

    family: str
    """Template family (base, mistral, mixtral, codestral, ...); None in conf: the model's family."""
    version: str | None = None
    """A version (``2.0.3``, ``3.0.2-dev``, ``mvp``); None: the family's newest stable version."""
    registry: Path = PROMPTS_DIR
    """A registry root (evalkit's prompts/ or a gateway's ai_gateway/prompts/definitions/), a gateway
    checkout, or any folder between; None in conf: evalkit's own prompts/."""
    kind: str = "generations"
    """``generations`` or ``completions`` (fill in the middle); null in conf: the dataset's kind."""
    fold_system: bool = False
    """Fold the system turn into the first user turn (Mistral's chat template refuses a system role)."""


@dataclass(frozen=True)
class DatasetConfig:
    """Which benchmark tasks to load."""

    name: str = "humaneval"
    path: str | None = None
    limit: int | None = accepts(None, at_least=1)
    task_ids: tuple[str, ...] | None = accepts(None, distinct=True, hint=" (null: every task)")
    allow_network: bool = False
    """Whether a benchmark may be downloaded (MBPP from the Hugging Face hub)."""
    kind: str | None = None
    """``generation`` or ``completion`` (fill in the middle): picks the template kind; None: the
    benchmark's own (``generation`` for a local file)."""


@dataclass(frozen=True)
class ExecutorConfig:
    """Isolation, limits and throughput of program execution (`executor=local` or `executor=ray`).

    These defaults are the only ones: hydra_app registers them as the `executor` group's configs.
    """

    kind: str = "local"
    """``local``: isolated processes on this machine; ``ray``: one-worker local sandboxes as Ray actors
    (needs ``pip install 'evalkit[ray]'`` and evalkit on every node)."""
    workers: int | None = accepts(None, at_least=1, hint=" (null: one per core the run may use)")
    """Worker processes, each keeping two programs runnable (None: one per core this process may use,
    its CPU affinity and its container's CPU quota counted; with ray, one actor per CPU of the cluster)."""
    timeout_s: float = accepts(1.0, above=0)
    """CPU-seconds floor per program (EvalPlus uses 1 s)."""
    timeout_factor: float = accepts(10.0, above=0)
    """A task's CPU limit is max(timeout_s, timeout_factor x its reference solution's CPU time)."""
    wall_factor: float = accepts(3.0, at_least=1)
    """Wall-clock backstop = wall_factor x the CPU limit (programs that sleep)."""
    memory_mb: int = accepts(1024, at_least=1)
    """Address space of a program."""
    max_processes: int = accepts(64, at_least=1)
    """Processes a program may start."""
    max_file_mb: int = accepts(16, at_least=1)
    """Largest file a program may write."""
    max_open_files: int = accepts(64, at_least=1)
    """File descriptors a program may hold."""
    max_output_bytes: int = accepts(1 << 20, at_least=1)
    """Output kept from a program."""
    network: str = "auto"
    """``auto``: the namespaces (network first) where the OS allows them; ``none``: no namespaces at
    all (only where namespaces cannot be made; as root, programs still run as unprivileged uids
    where they can, under the seccomp filter, which refuses socket(2): without it they can reach
    the network)."""
    share_identical: bool = True
    """Identical completions of one task execute once."""
    canary: bool = True
    """Run the reference solutions first and stop if any fails."""
    address: str | None = None
    """executor=ray only: ``ray://head:10001`` or ``auto`` (an existing cluster); None starts a local Ray."""
    cache_dir: Path | None = None
    """Where calibrated per-task limits and the tests' random seed are kept (None: reports/cache)."""
    @property
    def cache_folder(self) -> Path:
        """``cache_dir``, or its default: reports/cache."""
        return Path(self.cache_dir) if self.cache_dir else Path("reports") / "cache"

    max_in_flight: int = accepts(8, at_least=1, at_most=MAX_IN_FLIGHT)
    """Programs each worker runs at once at most: another starts whenever fewer than two of its
    running programs are runnable, so programs that wait do not hold a core (bounds memory and pids)."""
    infra_retries: int = accepts(2, at_least=0)
    """How many times a program whose verdict is infra_error (evalkit's failure) is retried."""
    max_infra_errors: int = accepts(0, at_least=0)
    """infra_error samples a run tolerates after retries; above it the run exits 2 naming them."""


@dataclass(frozen=True)
class ScoringConfig:
    """Similarity metrics and statistics (`scoring.*`; `k` and `seed` are the run's top-level keys)."""

    metrics: tuple[str, ...] = ("exact_match", "edit_similarity")
    """Similarity metrics against the reference solution."""
    lenient: bool = True
    """Also score the lenient reading (the first fenced block)."""
    bootstrap_resamples: int = accepts(2000, at_least=1)
    """Bootstrap resamples of the intervals."""
    confidence: float = accepts(0.95, above=0, below=1)
    """Confidence level of the intervals."""
    embedding_model: str | None = None
    """Path to a local sentence-transformers model (for an embedding similarity)."""
    k: tuple[int, ...] = accepts((1, 10), at_least=1, distinct=True)
    """The k of pass@k (set by the top-level `k`)."""
    seed: int = accepts(1234, at_least=0)
    """Bootstrap seed (set by the top-level `seed`)."""


@dataclass(frozen=True)
class ReportConfig:
    """Which report files a run writes."""

    formats: tuple[str, ...] = ("md", "html")
    """``md`` (report.md) and ``html`` (report.html, one self-contained file): ``REPORT_FORMATS``."""
    plots: bool = True
    """Draw the plots (PNG files beside the report)."""

    def main_report(self, run_dir: Path) -> Path | None:
        """The report to point a user at in ``run_dir``: report.html if written, else report.md, else None."""
        for name in ("html", "md"):
            if name in self.formats:
                return Path(run_dir) / f"report.{name}"
        return None


REPORT_FORMATS = ("md", "html")
"""The report files a run can write (``report.formats``)."""


@dataclass(frozen=True)
class GateConfig:
    """Thresholds of the template-change gate."""

    max_drop: float = accepts(0.02, **SHARE)
    """Largest tolerated drop in pass@1."""
    alpha: float = accepts(0.05, above=0, below=1)
    """Significance level of the paired test."""
    max_infra_error: float = accepts(0.05, **SHARE)
    """Largest tolerated share of infra_error samples."""
    min_task_share: float = accepts(1.0, **SHARE)
    """Share of the baseline's tasks the candidate must have run (below it: ERROR, exit 2)."""
    metrics: tuple[str, ...] = ()
    """Similarity metrics gated like pass@1."""
    resamples: int = accepts(2000, at_least=1)
    """Bootstrap resamples of the paired intervals (as scoring.bootstrap_resamples by default)."""
    seed: int = accepts(1234, at_least=0)
    """Bootstrap seed: the same runs always give the same verdict."""
    max_latency_p95_ratio: float | None = accepts(None, above=0)
    """FAIL when the candidate's p95 request latency exceeds the baseline's by more than this factor
    (1.2: 20% slower); None turns the latency check off."""


def defaults_of(cls: type, leave_out: tuple[str, ...] = (), **values: Any) -> dict[str, Any]:
    """A config dataclass's defaults, with `values` instead of some, as a plain config node in field
    order (tuples as lists, paths as text)."""
    node: dict[str, Any] = {}
    for f in fields(cls):
        if f.name in leave_out:
            continue
        if f.name in values:
            value = values[f.name]
        else:
            value = f.default if f.default_factory is MISSING else f.default_factory()
        node[f.name] = list(value) if isinstance(value, tuple) else str(value) if isinstance(value, Path) \
            else value
    return node


@dataclass(frozen=True)
class ArmConfig:
    """One arm: a model, a template and sampling params, under a label."""

    label: str
    model: ModelConfig
    prompt: PromptConfig
    version_pinned_by: str | None = None
    """The key that pinned ``prompt.version`` (``prompt.version``, ``arms[2].prompt.version``), for errors."""


@dataclass(frozen=True)
class StoreConfig:
    """The response store that lets a rerun answer from cache instead of the endpoint."""

    path: Path | None
    enabled: bool = True
    reuse: bool = False
    """Reuse answers other runs stored (from the same endpoint identity); a run resumed in its
    own directory always reuses its own."""


@dataclass(frozen=True)
class RunConfig:
    """Everything a run needs, typed."""

    arms: tuple[ArmConfig, ...]
    dataset: DatasetConfig
    executor: ExecutorConfig
    scoring: ScoringConfig
    report: ReportConfig
    gate: GateConfig
    store: StoreConfig
    n_samples: int = accepts(at_least=1)
    seed: int = accepts(at_least=0)
    samples: Path | None = None
    strict: bool = False
    left_out: tuple[str, ...] = ()
    """Arms of the config this run leaves out, each with why (said on the terminal)."""


def _plain(node: Any) -> Any:
    if isinstance(node, DictConfig):
        out = {}
        for key in node:
            if key == "hydra":
                continue
            value = node[key]  # item access resolves a top-level interpolation such as n_samples=${k.0}
            out[key] = OmegaConf.to_container(value, resolve=True) if OmegaConf.is_config(value) else value
        return out
    return node


def _build(cls: type, data: dict[str, Any], where: str) -> Any:
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"unknown key {where}.{unknown[0]}; known keys: {', '.join(sorted(known))}")
    # a preset without a required key would otherwise stop on dataclass's TypeError traceback
    missing = [f.name for f in fields(cls)
               if f.name not in data and f.default is MISSING and f.default_factory is MISSING]
    if missing:
        name = f"{where}.{missing[0]}"
        raise ConfigError(f"{name} is not set; pass {name}=... on the command line")
    return cls(**{key: field_value(cls, key, value, f"{where}.{key}") for key, value in data.items()})


@functools.cache
def _type_hints(cls: type) -> dict[str, Any]:
    """A config dataclass's field types: read once (each reading evaluates every annotation, and
    every field of every composition read them all, 0.03 s of each command's start)."""
    return typing.get_type_hints(cls)


def field_value(cls: type, name: str, value: Any, key: str) -> Any:
    """``value`` for the field ``name`` of the config dataclass ``cls``: checked against the field's
    type (typed_value) and what it accepts (Accepts, for its range), or ConfigError naming ``key``."""
    typed = typed_value(value, _type_hints(cls)[name], key)
    rule = next(f for f in fields(cls) if f.name == name).metadata.get("accepts")
    if rule is not None and typed is not None:
        rule.check(typed, value, key)
    return typed


_TYPE_NAMES = {int: "an integer", float: "a number", bool: "true or false", str: "text", Path: "a path"}


def typed_value(value: Any, hint: Any, key: str) -> Any:
    """``value`` checked against a dataclass field's type ``hint`` (and converted where that is
    lossless: an integer as a float, text as a path, a list as a tuple), or ConfigError naming ``key``
    and the type: Hydra passes `dataset.limit=xyz` on as text, which would fail deep in a stage."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (types.UnionType, typing.Union):
        options = [a for a in args if a is not type(None)]
        if (value is None and type(None) in args) or len(options) != 1:
            return value
        return typed_value(value, options[0], key)
    if origin is tuple:
        items = [value] if isinstance(value, str) else value  # `report.formats=md`: a one-item list
        if not isinstance(items, (list, tuple)):
            raise ConfigError(f"{key} must be a list, not {value!r}")
        return tuple(typed_value(item, args[0], f"{key}[{i}]") for i, item in enumerate(items))
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key} must be a mapping of keys to values, not {value!r}")
        return value
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        try:
            return hint(value)
        except ValueError:
            known = " or ".join(str(member.value) for member in hint)
            raise ConfigError(f"{key} must be {known}, not {value!r}") from None
    return value if hint is Any else _scalar(value, hint, key)


def _scalar(value: Any, hint: type, key: str) -> Any:
    if hint is int and isinstance(value, float) and value.is_integer():
        value = int(value)  # `n_samples=2.0`; 1.5 is refused below, never rounded
    ok = {
        bool: isinstance(value, bool),
        int: isinstance(value, int) and not isinstance(value, bool),
        float: isinstance(value, (int, float)) and not isinstance(value, bool),
        str: isinstance(value, (str, int, float)) and not isinstance(value, bool),  # `model.name=7`
        Path: isinstance(value, (str, Path)),
    }.get(hint, True)
    if not ok:
        raise ConfigError(f"{key} must be {_TYPE_NAMES[hint]}, not {value!r}")
    return hint(value) if hint in (float, str, Path) else value


def model_config(data: dict[str, Any]) -> ModelConfig:
    """A ModelConfig from a plain dict, with a clear error for what is missing."""
    data = dict(data)
    unset = [f"model.{key}" for key in REQUIRED_MODEL_KEYS if data.get(key) == "???"]
    if unset:  # all at once: one at a time, a preset such as openai_compatible took two tries to show
        said = " and ".join(unset)
        raise ConfigError(f"{said} {'is' if len(unset) == 1 else 'are'} not set; pass "
                          f"{' '.join(f'{name}=...' for name in unset)} on the command line")
    try:
        data["api"] = Api(data.get("api", "chat"))
    except ValueError:
        raise ConfigError(f"model.api must be chat or completions, not {data.get('api')!r}") from None
    data["params"] = dict(data.get("params") or {})
    unknown = sorted(set(data["params"]) - {f.name for f in fields(SamplingParams)})
    if unknown:
        known = ", ".join(f.name for f in fields(SamplingParams))
        raise ConfigError(f"unknown key model.params.{unknown[0]}; known keys: {known}")
    hints = _type_hints(SamplingParams)
    # null keeps the template's value; anything else must have the type the endpoint expects
    given = data["params"]
    data["params"] = {key: None if value is None else typed_value(value, hints[key], f"model.params.{key}")
                      for key, value in given.items()}
    for key, rule in SAMPLING_RANGES.items():
        if data["params"].get(key) is not None:
            rule.check(data["params"][key], given[key], f"model.params.{key}")
    if not data.get("name"):
        raise ConfigError("model.name is empty; pass model.name=<served model id>")
    _require_variable_name(data.get("api_key_env"))
    if data.get("auth", "bearer") not in ("bearer", "basic"):
        raise ConfigError(f"model.auth must be bearer or basic, not {data['auth']!r}")
    _check_base_url(data.get("base_url"), data.get("api_key_env"))
    model = _build(ModelConfig, data, "model")
    if model.min_concurrency > model.max_concurrency:
        raise ConfigError(f"model.min_concurrency ({model.min_concurrency}) exceeds model.max_concurrency "
                          f"({model.max_concurrency}); the endpoint's concurrency adapts between the two")
    return model


def _check_base_url(given: Any, key_env: Any = None) -> None:
    """model.base_url as given: null (the embedded demo endpoint) or an http(s) URL evalkit can use,
    holding no secret (it is saved with the run, shown in reports and notes)."""
    if given is not None and not str(given).strip():
        # `model.base_url=$MIXTRAL_BASE_URL` with the variable unset started the embedded demo endpoint
        raise ConfigError("model.base_url is empty (an unset variable in model.base_url=$VAR?); give the "
                          "endpoint's URL, e.g. http://host:8000/v1")
    base_url = str(given or "")
    # said without the URL, which may hold a password
    if base_url and not re.match(r"(?i)https?://[^/?#@\s]", base_url):
        raise ConfigError("model.base_url must start with http:// or https:// and a host (e.g. "
                          "http://localhost:8000/v1)")
    # Up to the last "@" after the scheme, not urlsplit's netloc: that ends at a password's own "/",
    # "?" or "#", and such a URL went on to an HTTP library's traceback, password and all.
    if "@" in base_url.partition("://")[2]:
        # it would be saved with the run's config (.hydra/, run.json, results.json) and its logs
        raise ConfigError("model.base_url must not hold a user or password (it would be saved with the "
                          "run): put user:password in an environment variable, name it in "
                          "model.api_key_env and set model.auth=basic")
    holder = _secret_in(base_url, key_env)
    if holder:
        raise ConfigError(f"model.base_url holds the value of {holder}, which is not shown here nor saved "
                          "(the URL is saved with the run and shown in reports): give the key only in the "
                          "variable, named in model.api_key_env")
    if re.search(r"[?#]", base_url):
        raise ConfigError("model.base_url must not have a query string or fragment ('?', '#'): evalkit adds "
                          "the API's path after it (/chat/completions), and a key given there is saved with "
                          "the run; put a key in the variable named in model.api_key_env")
    try:  # a port that is not a number (an unencoded password's "%40" or ":"), said without the URL
        _ = urllib.parse.urlsplit(base_url).port
    except ValueError:
        raise ConfigError("model.base_url is not a URL evalkit can read (its port is not a number "
                          "from 0 to 65535): write http://HOST:PORT/v1") from None


_SECRET_NAME = re.compile(r"(^|_)(API_?)?KEY($|_)|TOKEN|SECRET|PASSW(OR)?D", re.IGNORECASE)
"""Names of variables that hold a secret by their own account (``OPENAI_API_KEY``, ``HF_TOKEN``)."""


def _secret_in(text: str, key_env: Any) -> str | None:
    """The name of an environment variable holding a secret whose value is in ``text``: the one
    model.api_key_env names (8 characters or more), or one whose name says it holds a secret (12 or
    more: a host name in a variable of such a name is no key)."""
    names = [(str(key_env), 8)] if key_env else []
    names += sorted((name, 12) for name in os.environ if _SECRET_NAME.search(name))
    for name, shortest in names:
        value = os.environ.get(name, "").strip()
        if len(value) >= shortest and value in text:
            return name
    return None


def _require_variable_name(name: Any) -> None:
    """``model.api_key_env`` must name an environment variable: a key given in its place (the shell
    expanded `model.api_key_env=$OPENAI_API_KEY`) would be saved in .hydra/ and the logs. Refused
    before Hydra writes anything, without showing what was given."""
    if name is None or name == "":
        return
    text = str(name)
    holder = None if text in os.environ else next(  # a name that is set is a name
        (k for k, v in os.environ.items() if v == text and len(v) >= 6), None)
    if holder is not None or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", text):
        what = f"the value of {holder}" if holder else "not a variable's name"
        raise ConfigError("model.api_key_env must be the NAME of the environment variable holding the key "
                          f"(e.g. model.api_key_env=OPENAI_API_KEY); what was given is {what} and is not "
                          "shown here, nor saved")


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """`over` on top of `base`, key by key (lists are replaced), as Hydra merges configs."""
    return OmegaConf.to_container(OmegaConf.merge(base, over), resolve=True)


ModelPreset = Callable[[str], dict[str, Any]]
"""conf/model/<name>.yaml as composed by Hydra (hydra_app.model_preset), for `arms: [{model: NAME}]`."""


def _arms(cfg: dict[str, Any], model_preset: ModelPreset,
          dataset_kind: str) -> tuple[tuple[ArmConfig, ...], tuple[str, ...]]:
    """The run's arms, and the arms left out with why."""
    base_model, base_prompt = cfg["model"], cfg["prompt"]
    entries = cfg.get("arms") or [{}]
    if not isinstance(entries, (list, tuple)):
        raise ConfigError(f"arms must be a list of arms ({ARM_KEYS}), not {entries!r}")
    arms, labels, left_out = [], set(), []
    for index, raw_entry in enumerate(entries):
        entry = dict(_mapping(raw_entry, f"arms[{index}]"))
        # `kinds: [generation]`: an arm that only means something on datasets of those kinds (the
        # demo's template comparison pins generation templates a completion set has no use for).
        kinds = entry.pop("kinds", None)
        if kinds is not None:
            if isinstance(kinds, str) or not set(kinds) <= set(TEMPLATE_KINDS):
                known = ", ".join(TEMPLATE_KINDS)
                raise ConfigError(f"arms[].kinds must be a list of {known}, not {kinds!r}")
            if dataset_kind not in kinds:
                continue
        # `own_registry: true`: an arm pinning versions only evalkit's layout has (the demo's
        # comparison), skipped when prompt.registry points at a gateway checkout. A changed copy of
        # prompts/ keeps it: comparing a template edit is what the demo arms are for.
        own_registry = typed_value(entry.pop("own_registry", False), bool, f"arms[{index}].own_registry")
        model = entry.pop("model", None)
        if isinstance(model, str):
            model_dict = model_preset(model)
        else:
            model_dict = _merge(base_model, _mapping(model, f"arms[{index}].model", "a preset's name or "))
        params = _mapping(entry.pop("params", None), f"arms[{index}].params")
        if params:
            model_dict = _merge(model_dict, {"params": params})
        arm_prompt = _mapping(entry.pop("prompt", None), f"arms[{index}].prompt")
        prompt_dict = _merge(base_prompt, arm_prompt)
        label = _label(entry.pop("label", None), f"arms[{index}].label")
        if entry:
            raise ConfigError(f"unknown key in arms: {sorted(entry)[0]}; arms take {ARM_KEYS}")
        model_cfg = model_config(model_dict)
        prompt_cfg = prompt_config(prompt_dict, model_cfg, dataset_kind)
        label = label or _default_label(model_cfg, prompt_cfg)
        if own_registry and not _evalkit_layout(prompt_cfg.registry):
            left_out.append(f"arm {label} left out: it pins a template version of evalkit's own prompts/, "
                            f"and prompt.registry is a gateway checkout (arms[{index}].own_registry)")
            continue
        if label in labels:
            raise ConfigError(f"two arms are labelled {label!r}; give each a distinct arms[i].label")
        labels.add(label)
        pinned_by = f"arms[{index}].prompt.version" if "version" in arm_prompt else "prompt.version"
        arms.append(ArmConfig(label=label, model=model_cfg, prompt=prompt_cfg,
                              version_pinned_by=pinned_by if prompt_cfg.version is not None else None))
    if not arms:
        raise ConfigError(f"no arm applies to a {dataset_kind} dataset with this prompt.registry "
                          "(see arms[].kinds and arms[].own_registry)")
    return tuple(arms), tuple(left_out)


ARM_KEYS = "label, model, prompt, params, kinds, own_registry"


def _require_demo_untouched(model: dict[str, Any], entries: Any, dataset_kind: str,
                            model_preset: ModelPreset) -> None:
    """The demo preset (model=demo, the default) given an endpoint or a model name it would not use:
    its arms name their own synthetic models, so `evalkit run model.base_url=URL model.name=ID`
    without model= asked the user's server for demo-oracle and demo-mimic, labelled the results
    synthetic, and exited 0; and an empty URL (an unset `$VAR`) started the demo endpoint instead."""
    if not model.get("synthetic") or not isinstance(entries, (list, tuple)):
        return
    # the arms of this dataset's kind (the demo's demo-buggy arm runs on completion sets only)
    entries = [entry for entry in entries
               if not isinstance(entry, dict) or dataset_kind in (entry.get("kinds") or [dataset_kind])]
    fix = ("pick your endpoint's preset: model=openai_compatible (or model=mixtral, model=mistral, ...) "
           "with model.base_url=... model.name=...")
    if model.get("base_url") is not None:
        raise ConfigError("model.base_url is set, but model is the demo preset (synthetic models; its URL "
                          f"is the embedded endpoint's, null); {fix}")
    # the names arms pin on top of `model` (an arm naming a preset, `model: claude`, replaces it whole)
    pinned = [arm_model.get("name") for entry in entries if isinstance(entry, dict)
              and isinstance(arm_model := entry.get("model"), dict)]
    if entries and len(pinned) == len(entries) and all(pinned) and model.get("name") not in pinned \
            and model.get("name") != model_preset("demo").get("name"):  # the preset's own: not the user's
        names = ", ".join(dict.fromkeys(map(str, pinned)))
        raise ConfigError(f"model.name={model.get('name')!r} would be ignored: the demo preset's arms name "
                          f"their own synthetic models ({names}); {fix}; or, for one model of the demo "
                          "endpoint, give arms=[{}]")


def _label(label: Any, where: str) -> str | None:
    """An arm's label as given (None: the default), else the ConfigError naming ``where``: a number
    reached samples.jsonl, whose records refused it after every sample had been made."""
    if label is not None and (not isinstance(label, str) or not label.strip()):
        hint = "" if isinstance(label, str) else " (quote a label that looks like a number: label: '5')"
        raise ConfigError(f"{where} must be a non-empty string, not {label!r}{hint}")
    return label


def _mapping(value: Any, where: str, or_else: str = "") -> dict[str, Any]:
    """``value`` as a mapping of keys (None: empty), else the ConfigError naming ``where``."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"{where} must be {or_else}a mapping of keys, not {value!r}")
    return value


def _evalkit_layout(registry: Path) -> bool:
    """True for a registry in evalkit's layout (prompts/ or a copy of it), False for a gateway checkout."""
    own = ("code_generation", "code_completion")
    return registry.name in own or any((registry / folder).is_dir() for folder in own)


def _default_label(model: ModelConfig, prompt: PromptConfig) -> str:
    short = model.name.rsplit("/", 1)[-1]
    return f"{short}@{prompt.family}-{prompt.version}" if prompt.version else short


TEMPLATE_KINDS = {"generation": "generations", "completion": "completions"}
"""Dataset kind -> the template kind (registry folder) that renders it."""


def prompt_config(data: dict[str, Any], model: ModelConfig, dataset_kind: str = "generation") -> PromptConfig:
    """A PromptConfig whose kind defaults to the dataset's and family to the model's (for a
    completion set, the model's ``fim_family`` when it has one); a kind that contradicts the
    dataset's is a ConfigError."""
    data = dict(data)
    data["registry"] = Path(data["registry"]).expanduser() if data.get("registry") else PROMPTS_DIR
    if data.get("kind") not in (None, "generations", "completions"):
        raise ConfigError(f"prompt.kind must be generations or completions, not {data['kind']!r}")
    wanted = TEMPLATE_KINDS.get(dataset_kind, "generations")
    if data.get("kind") and data["kind"] != wanted:
        raise ConfigError(f"the dataset is a {dataset_kind} set and needs {wanted} templates; "
                          f"prompt.kind={data['kind']} does not fit it (drop the override)")
    data["kind"] = wanted
    fim = model.fim_family if wanted == "completions" else None
    data["family"] = data.get("family") or fim or model.family
    return _build(PromptConfig, data, "prompt")


TOP_LEVEL_KEYS = ("dataset", "model", "prompt", "executor", "scoring", "report", "gate", "n_samples", "k",
                  "seed", "arms", "store", "samples", "strict")
"""The keys of conf/config.yaml a run reads (besides `hydra`)."""


def _check_top_level(keys: Iterable[str]) -> None:
    """`+modle=mixtral` adds a key nothing reads: refuse it rather than run without the model asked for."""
    for key in keys:
        if key not in TOP_LEVEL_KEYS:
            raise ConfigError(unknown_key_message(key, difflib.get_close_matches(key, TOP_LEVEL_KEYS, n=1)))


def unknown_key_message(key: str, close: Sequence[str]) -> str:
    """``unknown key 'modle'; did you mean 'model'? (...)``, with where every key is listed."""
    hint = f"; did you mean {close[0]!r}?" if close else ""
    listed = ("`evalkit run --cfg job` lists the gate's keys under gate:" if key.startswith("gate.") else
              "`evalkit run --cfg job` lists every key")
    return f"unknown key {key!r}{hint} ({listed})"


def run_config(cfg: DictConfig, model_preset: ModelPreset) -> RunConfig:
    """Turn the composed Hydra config into a typed RunConfig (raises ConfigError).

    `model_preset` composes a conf/model preset an arm names.
    """
    try:
        plain = _plain(cfg)
    except Exception as exc:  # interpolation errors name the key
        raise ConfigError(f"config cannot be resolved: {str(exc).splitlines()[0]}") from None
    _check_top_level(plain)
    # _build checks and converts each value (lists to tuples, text to paths); `metrics: null` is none
    ds = dict(plain["dataset"])
    ex = dict(plain["executor"])
    ex["cache_dir"] = ex.get("cache_dir") or None
    sc = dict(plain["scoring"])
    sc["metrics"] = sc.get("metrics") or ()
    ks = plain.get("k")
    ks = [1] if ks is None or ks == [] else ks if isinstance(ks, list) else [ks]  # `k=5`: one k
    sc["k"] = field_value(ScoringConfig, "k", ks, "k")
    seed = field_value(RunConfig, "seed", plain.get("seed", 1234), "seed")
    sc["seed"] = seed
    rep = dict(plain["report"])
    rep["formats"] = rep.get("formats") or ()
    for name in [rep["formats"]] if isinstance(rep["formats"], str) else rep["formats"]:
        if name not in REPORT_FORMATS:  # silently writing no report would be found out after the run
            raise ConfigError(f"report.formats: unknown format {name!r}; known formats: "
                              f"{', '.join(REPORT_FORMATS)}")
    gate = dict(plain["gate"])
    gate["metrics"] = gate.get("metrics") or ()
    store = plain.get("store") or {}
    n_samples = field_value(RunConfig, "n_samples", plain.get("n_samples", 1), "n_samples")
    dataset_kind = ds.get("kind") or "generation"
    if dataset_kind not in TEMPLATE_KINDS:
        raise ConfigError(f"dataset.kind must be generation or completion, not {dataset_kind!r}")
    arms, left_out = _arms(plain, model_preset, dataset_kind)
    _require_demo_untouched(plain["model"], plain.get("arms") or [{}], dataset_kind, model_preset)
    executor = _build(ExecutorConfig, ex, "executor")
    store_cfg = _build(StoreConfig, {**store, "path": store.get("path") or None}, "store")
    _require_store_for(store_cfg, arms)
    return RunConfig(
        arms=arms,
        dataset=_build(DatasetConfig, ds, "dataset"),
        executor=executor,
        scoring=_build(ScoringConfig, sc, "scoring"),
        report=_build(ReportConfig, rep, "report"),
        gate=_build(GateConfig, gate, "gate"),
        store=store_cfg,
        n_samples=n_samples,
        seed=seed,
        samples=typed_value(plain.get("samples") or None, Path | None, "samples"),
        strict=typed_value(plain.get("strict", False), bool, "strict"),
        left_out=left_out,
    )


def _require_store_for(store: StoreConfig, arms: tuple[ArmConfig, ...]) -> None:
    """Settings that read the response store need one: with `store.enabled=false` (or no
    `store.path`), `model.offline=true` said the store had no answer, and `store.reuse=true` was
    silently ignored."""
    if store.enabled and store.path:
        return
    off = "store.enabled=false" if not store.enabled else "store.path=null"
    offline = next((arm.label for arm in arms if arm.model.offline), None)
    if offline is not None:
        raise ConfigError(f"arm {offline}: model.offline=true answers from the response store, which "
                          f"{off} turns off; drop one of the two")
    if store.reuse:
        raise ConfigError(f"store.reuse=true reuses answers from the response store, which {off} turns "
                          "off; drop one of the two")


def check_k_is_measurable(cfg: RunConfig) -> None:
    """`evalkit run` stops before any request when no k of pass@k can be estimated from n_samples."""
    if all(k > cfg.n_samples for k in cfg.scoring.k):
        ks = ", ".join(str(k) for k in cfg.scoring.k)
        raise ConfigError(f"every k of pass@k ({ks}) exceeds n_samples={cfg.n_samples}, so the run could "
                          f"measure nothing; pass n_samples={min(cfg.scoring.k)} or a k of at most "
                          f"{cfg.n_samples}")


def sampling_params(template_params: SamplingParams, model: ModelConfig) -> SamplingParams:
    """The template's params with the model config's non-null overrides on top."""
    over = {k: v for k, v in model.params.items() if v is not None}
    if "stop" in over:
        over["stop"] = tuple(over["stop"])
    values = template_params.as_dict() | over
    values["stop"] = tuple(values["stop"] or ())
    return SamplingParams(**values)


def apply_air_gap(allow_network: bool) -> None:
    """Keep the Hugging Face libraries off the network unless a dataset config asks for the hub.

    Must run before `datasets` or `evaluate` is imported: both read these at import.
    """
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    if not allow_network:
        for name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "HF_EVALUATE_OFFLINE"):
            os.environ.setdefault(name, "1")
    _use_a_writable_hf_cache()


HF_CACHE_FALLBACK = Path(tempfile.gettempdir()) / f"evalkit-huggingface-{os.getuid()}"
"""The Hugging Face cache evalkit uses when the default one (``~/.cache/huggingface``) cannot be
written and ``HF_HOME`` is not set."""


def _use_a_writable_hf_cache() -> None:
    """Set ``HF_HOME`` to ``HF_CACHE_FALLBACK`` when the default cache folder cannot be made or written.

    `datasets` caches even a local data file (the HumanEval file a default run reads) under
    ``HF_HOME``: with no writable home directory (a non-root user in a container,
    ``HOME=/nonexistent``) every run failed, naming the data file rather than the cache.
    """
    for name in ("HF_HOME", "HF_DATASETS_CACHE", "HF_HUB_CACHE"):
        if name in os.environ and not os.environ[name].strip():
            # set empty (an unset `$VAR` in CI) is unset: `datasets` took it for the current folder
            # and left its caches there
            del os.environ[name]
    if "HF_HOME" in os.environ:
        return  # the user's choice, and its errors theirs to see
    default = Path(os.environ.get("XDG_CACHE_HOME") or Path("~/.cache").expanduser()) / "huggingface"
    try:
        default.mkdir(parents=True, exist_ok=True)
        if os.access(default, os.W_OK | os.X_OK):
            return
    except OSError:
        pass
    os.environ["HF_HOME"] = str(HF_CACHE_FALLBACK)
