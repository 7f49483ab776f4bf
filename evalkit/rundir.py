"""What a run directory records about itself, shared by `evalkit run` and `evalkit score`:
its id, results.json's metadata, stage timings, and the per-task limits the canary vouches for.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import datetime as dt
import json
import os
import platform
import secrets
import subprocess
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

import evalkit
from evalkit.benchmarks import Benchmark
from evalkit.config import AlreadyFinished, ConfigError, RunConfig
from evalkit.execution import LocalExecutor, canary
from evalkit.execution.calibrate import Calibration, calibration
from evalkit.models.store import source_key
from evalkit.records import DatasetInfo, Host, RunResults, TemplateSource
from evalkit.results import RUN_FILE, run_name_of
from evalkit.samples import SamplesFile

DATASET_FILE = "dataset.json"
"""In a run directory: the dataset version (DatasetInfo) its samples were scored against, written
before the first sample, so that a run resumed there on a changed file is refused."""




def run_id_of(run_dir: Path, samples: SamplesFile) -> str:
    """A run's id, recorded in RUN_FILE before any request: the one an earlier attempt in the directory
    used (its samples', or RUN_FILE's when it was stopped before its first sample: the answers it
    stored are its own), else the directory's name (``run_name_of``) and a random suffix. The name
    alone repeats: a CI job that runs every night in `runs/mixtral` made every night's run
    `mixtral`, so that one night's stored answers counted as an earlier attempt of the next and
    `history` marked each night with the verdict of whichever gate it read last."""
    path = run_dir / RUN_FILE
    recorded = _read_json(path)
    known = samples.run_id or recorded.get("run_id")
    run_id = known if isinstance(known, str) and known else f"{run_name_of(run_dir)}-{secrets.token_hex(3)}"
    if recorded.get("run_id") != run_id:
        _replace_json(path, recorded | {"run_id": run_id})
    return run_id


def run_header(run_id: str, bench: Benchmark, executor: LocalExecutor, registry: Path | None = None,
               templates: Mapping[str, TemplateSource] | None = None) -> RunResults:
    """results.json's metadata as known before the first sample (no arms, not finished)."""
    return RunResults(
        run_id=run_id, started_at=utc_now(), finished_at=None, evalkit_version=evalkit.__version__,
        prompts_commit=_git_commit(registry) if registry is not None else None,
        host=Host(cpu=_cpu_name(), cores=os.cpu_count(), isolation=executor.isolation,
                  workers=executor.workers),
        dataset=DatasetInfo(name=bench.name, content_sha256=bench.content_sha256, n_tasks=len(bench.tasks),
                            kind=bench.kind),
        arms=(), templates=dict(templates or {}))


@contextlib.contextmanager
def timed(timings: dict[str, float], stage: str) -> Iterator[None]:
    """Record the stage's wall time in seconds under timings[stage] (results.json's timings_s)."""
    start = time.perf_counter()
    try:
        yield
    finally:
        timings[stage] = round(time.perf_counter() - start, 3)


def require_resumable(samples: SamplesFile, bench: Benchmark, arms: Mapping[str, Mapping[str, Any]],
                      n_samples: int | None = None) -> None:
    """Refuse a run directory whose samples.jsonl holds samples of tasks outside this run's dataset
    selection: resumed there (another dataset, a smaller limit, other task_ids), the run would report
    samples whose reference solutions its canary never ran, beside a header that counts other tasks.
    Refuse one whose samples were scored against another version of the dataset (the file changed
    since: DATASET_FILE, or results.json, says which version); then record this one.

    Refuse one holding samples of an arm this run does not have, or made for an arm of the same
    label by another model, template or sampling parameters (``arms``: label -> the ``model``,
    ``template`` and ``params`` its samples record, those given), or more samples per task than
    ``n_samples``: one arm's report would pool answers of two configurations under one name."""
    _require_same_arms(samples, arms, n_samples)
    for name, what in (("comparison.json", "`evalkit compare`'s report"), ("gate.json", "a gate's outputs")):
        if os.path.lexists(samples.path.parent / name):  # a run's reports would replace them
            raise ConfigError(f"{samples.path.parent} holds {what} ({name}), not a run; give a new "
                              "hydra.run.dir")
    outside = sorted(samples.done.task_ids() - {task.task_id for task in bench.tasks})
    if outside:
        shown = ", ".join(outside[:3]) + (f" and {len(outside) - 3} more" if len(outside) > 3 else "")
        raise ConfigError(f"{samples.path} holds samples of {len(outside)} task(s) outside this run's "
                          f"{bench.name} selection ({shown}): resume with the dataset and selection it "
                          "was started with, or give a new hydra.run.dir")
    earlier = _recorded_dataset(samples.path.parent) if len(samples.done) else None
    if earlier is not None and (earlier.name, earlier.content_sha256) != (bench.name, bench.content_sha256):
        raise ConfigError(f"{samples.path} holds samples scored against another version of the "
                          f"{earlier.name} dataset (sha256 {earlier.content_sha256[:12]}, now "
                          f"{bench.name} {bench.content_sha256[:12]}: the file changed since, a task "
                          "edited, added, removed or reordered): give a new hydra.run.dir, or resume "
                          "with the file it was started with")
    info = DatasetInfo(name=bench.name, content_sha256=bench.content_sha256, n_tasks=len(bench.tasks),
                       kind=bench.kind)
    _replace_json(samples.path.parent / DATASET_FILE, info.to_json())


def require_unfinished(samples: SamplesFile, bench: Benchmark, labels: Sequence[str], n_samples: int) -> None:
    """Refuse to start again a run that finished: its results.json names no problem and this run asks
    for no more than it did (no other arm, no more samples per task, no more tasks). Started again, it
    asked the model nothing, or only the few samples it had left unanswered within
    model.max_error_rate, scored the old answers under new times and exited 0: a nightly that kept its
    folder measured nothing every night after the first, and its gate stayed green. A run that exited 2
    is finished by starting it again; a run asked for more asks what is missing."""
    results = _finished_results(samples)
    if results is None:
        return
    arms = {arm.get("arm"): arm for arm in results.get("arms") or () if isinstance(arm, dict)}
    dataset = results.get("dataset") if isinstance(results.get("dataset"), dict) else {}
    grows = any(label not in arms or n_samples > int(arms[label].get("n_samples") or 0) for label in labels) \
        or len(bench.tasks) > int(dataset.get("n_tasks") or 0)
    if grows:
        return
    missing = sum((label, task.task_id, index) not in samples.done for label in labels
                  for task in bench.tasks for index in range(n_samples))
    left = (f"; the {missing} sample(s) it left unanswered within model.max_error_rate stay so (delete its "
            "results.json to ask them)") if missing else ""
    raise _already_finished(samples, results, f"score its old answers as a new run{left}")


def require_unscored(samples: SamplesFile) -> None:
    """`evalkit score` of a file every sample of which the directory's finished run (no problem in its
    results.json) has scored: refused as ``require_unfinished`` refuses a run. It executed nothing,
    wrote the same reports under new times and exited 0."""
    results = _finished_results(samples)
    if results is not None:
        raise _already_finished(samples, results, "execute nothing and report the same verdicts as a new "
                                "run (the file gives no sample it has not scored)")


def _finished_results(samples: SamplesFile) -> dict[str, Any] | None:
    """The results.json of the run that wrote ``samples``' directory, where it finished without a
    problem (a run that exited 2 is finished by starting it again)."""
    run_dir = samples.path.parent
    if not len(samples.done) or not (run_dir / "results.json").is_file():
        return None
    results = _read_json(run_dir / "results.json")
    return None if results.get("problems") else results


def _already_finished(samples: SamplesFile, results: Mapping[str, Any], would: str) -> AlreadyFinished:
    run_dir = samples.path.parent
    when = f", finished {results['finished_at']}" if isinstance(results.get("finished_at"), str) else ""
    return AlreadyFinished(f"{run_dir} holds a finished run ({samples.run_id}{when}): started again it "
                           f"would {would}; give each run a folder of its own (move this one aside, or a new "
                           f"hydra.run.dir; in CI, a new pipeline), or re-render its reports with "
                           f"`evalkit report {run_dir}`")


def recorded_endpoint(samples: SamplesFile, label: str, stored: bool = False) -> dict[str, Any] | None:
    """The identity of the endpoint that answered what the directory's run holds of arm ``label``
    (RUN_FILE's ``endpoints``, or results.json's for a directory an evalkit before run.json wrote);
    None when it holds nothing of it. ``stored``: the response store holds answers this run asked of
    the arm's address, which a run killed before it scored them (SIGKILL, a CI timeout) left without
    a sample: resumed, they would be reused, so they count as much as samples."""
    if label not in samples.arms and not stored:
        return None
    endpoints = _read_json(samples.path.parent / RUN_FILE).get("endpoints")
    before = endpoints.get(label) if isinstance(endpoints, dict) else None
    if before is None:
        before = _results_endpoint(samples.path.parent, label)
    return before if isinstance(before, dict) else None


def require_same_endpoint(samples: SamplesFile, label: str, identity: Mapping[str, Any],
                          stored: bool = False) -> None:
    """Refuse to resume arm ``label`` against another endpoint than the one that answered the samples
    the directory holds of it, or the answers the store holds of its run (``recorded_endpoint``;
    ``identity``: ModelClient.identity after its probe): the arm would pool two backends' answers
    under one name, a proxy alias re-pointed between two attempts among them (``same_endpoint``).
    Then record the identity, for an arm that has neither yet."""
    before = recorded_endpoint(samples, label, stored)
    if before is not None:
        if not same_endpoint(before, identity):
            name = identity.get("model") or before.get("model")
            unread = (f"; its /v1/models listing named no model {name!r} (or could not be read) when those "
                      "samples were answered, so the weights served then cannot be compared"
                      if before.get("served") is None else
                      f"; its /v1/models listing names no model {name!r} now (or cannot be read), so the "
                      "weights served cannot be compared" if identity.get("served") is None else "")
            differ = ", ".join(_differences(before, identity)) or "?"
            held = (f"{samples.path} holds samples of arm {label!r}" if label in samples.arms else
                    f"the response store holds answers to arm {label!r} of the run in {samples.path.parent} "
                    "(not yet scored)")
            raise ConfigError(f"{held} answered by another endpoint "
                              f"({_endpoint_shown(before)}; now {_endpoint_shown(identity)}{unread}; what "
                              f"differs: {differ}): resume against the endpoint it was started with, or give "
                              "a new hydra.run.dir")
        return
    def with_endpoint(recorded: dict[str, Any]) -> dict[str, Any]:
        endpoints = recorded.get("endpoints") if isinstance(recorded.get("endpoints"), dict) else {}
        return {"endpoints": endpoints | {label: dict(identity)}}

    _update_run_file(samples.path.parent / RUN_FILE, with_endpoint)


def note_answers_stored(run_dir: Path) -> None:
    """Record in RUN_FILE that the run has stored answers (the response store's first commit): an
    attempt stopped before its first sample then keeps its directory, whose run id names them, and
    starting it again scores them without asking again. Stopped between the answers and the first
    sample, a run took its directory away as one that measured nothing, and the next attempt, a new
    run id, asked the endpoint for every answer again (a nightly owner's trial)."""
    _update_run_file(run_dir / RUN_FILE, lambda recorded: {"answers_stored": True})


def answers_stored(record: bytes | None) -> bool:
    """Whether a RUN_FILE's text (None: no file) says its run stored answers."""
    try:
        return json.loads(record or b"{}").get("answers_stored") is True
    except (ValueError, AttributeError):
        return False


_RUN_FILE_LOCK = threading.Lock()
"""RUN_FILE is changed from the run's threads (an arm's probe, another arm's first stored answer):
each change reads and replaces it whole under this lock, so none is lost."""


def _update_run_file(path: Path, change: Callable[[dict[str, Any]], Mapping[str, Any]]) -> None:
    """Merge ``change(recorded)`` into the RUN_FILE at ``path``."""
    with _RUN_FILE_LOCK:
        recorded = _read_json(path)
        _replace_json(path, recorded | change(recorded))


def same_endpoint(before: Mapping[str, Any], now: Mapping[str, Any]) -> bool:
    """Whether two endpoint identities (ModelClient.identity) name the same endpoint: equal; the
    /v1/models entry is left out when one attempt could not read it (its listing failed) only where
    both probes' answers name a LiteLLM deployment, which says what answered without it (a run whose
    first listing failed once was refused on every resume). Elsewhere (vLLM itself) that entry's
    ``root`` is the only name of the weights: other weights behind a listing that failed were taken."""
    unread = before.get("served") is None or now.get("served") is None
    if unread and _deployment(before) and _deployment(now):
        before, now = ({k: v for k, v in side.items() if k != "served"} for side in (before, now))
    if "server_version" not in before or "server_version" not in now:
        # the release is information only: one probe that could not read it (a timeout, a 5xx), or a
        # run an evalkit before it started, is no other endpoint (every such resume was refused);
        # two releases read that differ are
        before, now = ({k: v for k, v in side.items() if k != "server_version"} for side in (before, now))
    return source_key(before) == source_key(now)


def _deployment(identity: Mapping[str, Any]) -> Any:
    answered = identity.get("answered_by")
    return answered.get("x-litellm-model-id") if isinstance(answered, Mapping) else None


def require_same_seed(samples: SamplesFile, seed: int) -> None:
    """Refuse to resume `evalkit run` with another run ``seed`` than the one its samples were drawn
    with (RUN_FILE's ``seed``, or results.json's bootstrap seed for a directory an evalkit before
    run.json's seed wrote): each sample's request seed derives from it, so the run would report
    answers of two seed streams as one draw. Then record the seed, for a directory without samples."""
    path = samples.path.parent / RUN_FILE
    recorded = _read_json(path)
    before = recorded.get("seed")
    if before is None and len(samples.done) and (samples.path.parent / "results.json").is_file():
        statistics = _read_json(samples.path.parent / "results.json").get("statistics")
        before = statistics.get("seed") if isinstance(statistics, dict) else None
    if len(samples.done) and isinstance(before, int) and before != seed:
        raise ConfigError(f"{samples.path} holds samples drawn with seed={before}, now seed={seed}: "
                          "resume with the seed it was started with, or give a new hydra.run.dir")
    if before != seed:
        _replace_json(path, recorded | {"seed": seed})


def _results_endpoint(run_dir: Path, label: str) -> dict[str, Any] | None:
    """The endpoint identity results.json records for arm ``label`` (None where it records none)."""
    if not (run_dir / "results.json").is_file():
        return None
    arms = _read_json(run_dir / "results.json").get("arms") or ()
    found = next((a.get("endpoint") for a in arms if isinstance(a, dict) and a.get("arm") == label), None)
    return found if isinstance(found, dict) and found else None


def _endpoint_shown(identity: Mapping[str, Any]) -> str:
    served = identity.get("served") if isinstance(identity.get("served"), dict) else {}
    answered = identity.get("answered_by") if isinstance(identity.get("answered_by"), dict) else {}
    parts = [f"{identity.get('base_url')}", f"model {identity.get('model')!r}"]
    parts += [f"{name} {served[key]!r}" for key, name in (("root", "weights"), ("owned_by", "owned by"))
              if served.get(key)]
    parts += [f"server release {identity['server_version']!r}"] if identity.get("server_version") else []
    parts += [f"answered by {value!r}" for value in answered.values() if value]
    return ", ".join(parts)


def _differences(before: Any, now: Any, where: str = "") -> list[str]:
    """The dotted keys at which two endpoint identities differ (the shown text may not name them)."""
    if isinstance(before, Mapping) and isinstance(now, Mapping):
        return [d for key in sorted({*before, *now}, key=str)
                for d in _differences(before.get(key), now.get(key), f"{where}.{key}" if where else str(key))]
    return [] if before == now else [where or "value"]


def _read_json(path: Path) -> dict[str, Any]:
    """A JSON object evalkit wrote in a run directory ({} when there is none)."""
    if not os.path.lexists(path):
        return {}
    try:
        if not path.is_file():
            raise ValueError("not a file")
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path} is not what evalkit wrote ({exc}); give a new hydra.run.dir") from None
    return data


def _replace_json(path: Path, data: Mapping[str, Any]) -> None:
    """Write ``data`` to ``path`` by replacing it, never writing through: a symbolic link in its
    place is not followed."""
    written = path.with_name(f".{path.name}.new")
    try:
        written.write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")
        os.replace(written, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            written.unlink(missing_ok=True)
        raise ConfigError(f"cannot write {path} ({exc.strerror}): the run directory must be "
                          "writable, or give a new hydra.run.dir") from None


def _require_same_arms(samples: SamplesFile, arms: Mapping[str, Mapping[str, Any]],
                       n_samples: int | None) -> None:
    fix = "resume with the configuration it was started with, or give a new hydra.run.dir"
    # In the run's arm order, an arm of the same label first, then the others (sorted): the file's
    # order is the order answers arrived, which named a different arm from one attempt to the next.
    order = {label: i for i, label in enumerate(arms)}
    for label in sorted(samples.arms, key=lambda label: (order.get(label, len(order)), label)):
        made, wanted = samples.arms[label], arms.get(label)
        if wanted is None:
            raise ConfigError(f"{samples.path} holds samples of arm {label!r}, which this run does not have "
                              f"(its arms: {', '.join(map(repr, arms)) or 'none'}): {fix}")
        changed = [change for key, value in wanted.items() for change in _changes(key, made.get(key), value)]
        if changed:
            raise ConfigError(f"{samples.path} holds samples of arm {label!r} made with another "
                              f"{'; another '.join(changed)}: {fix}")
    per_task = sorted(samples.done.most_per_task().items(),
                      key=lambda item: (order.get(item[0], len(order)), item[0]))
    reached = [(arm, n) for arm, n in per_task if n_samples is not None and n > n_samples]
    if reached:
        arm, n = reached[0]
        # it may have been started with fewer and grown since: the count it holds is what to give
        raise ConfigError(f"{samples.path} holds {n} samples per task of arm {arm!r}, more than this run's "
                          f"n_samples={n_samples}: give n_samples={n} (or more), or a new hydra.run.dir")


def _plain(value: Any) -> Any:
    """A value as its JSON line holds it (tuples are lists, dataclasses dicts), for comparing."""
    return json.loads(json.dumps(value, default=lambda v: v.to_json(), sort_keys=True))


def _changes(key: str, before: Any, now: Any) -> list[str]:
    """What differs, as 'model 'a', now 'b'', 'params temperature 0.8, now 0.1' or a template's
    family, version and hash."""
    before, now = _plain(before), _plain(now)
    if before == now:
        return []
    if key == "template" and isinstance(before, dict) and isinstance(now, dict):
        def shown(t: dict) -> str:
            return f"{t.get('family')} {t.get('version')} (sha256 {str(t.get('sha256'))[:12]})"
        return [f"template {shown(before)}, now {shown(now)}"]
    if isinstance(before, dict) and isinstance(now, dict):
        return [f"{key} {name} {before.get(name)!r}, now {now.get(name)!r}"
                for name in sorted(before.keys() | now.keys()) if before.get(name) != now.get(name)]
    return [f"{key} {before!r}, now {now!r}"]


def _recorded_dataset(run_dir: Path) -> DatasetInfo | None:
    """The dataset version a run directory's samples were scored against: its DATASET_FILE, or
    for a directory an evalkit before it wrote, its results.json's; None where neither says."""
    for name, field in ((DATASET_FILE, None), ("results.json", "dataset")):
        path = run_dir / name
        if not os.path.lexists(path):
            continue
        if not path.is_file():  # a FIFO would block the read until someone wrote to it
            raise ConfigError(f"{path} is not what evalkit wrote (not a file); give a new hydra.run.dir")
        try:
            obj = json.loads(path.read_text(encoding="utf-8"))
            return DatasetInfo.from_json(obj.get(field) if field and isinstance(obj, dict) else obj)
        except OSError as exc:
            raise ConfigError(f"{path} cannot be read ({exc.strerror}); give a new hydra.run.dir") from None
        except ValueError as exc:  # not JSON, or a RecordError naming the field
            raise ConfigError(f"{path} is not what evalkit wrote ({str(exc).splitlines()[0]}); "
                              "give a new hydra.run.dir") from None
    return None


def start_canary(bench: Benchmark, executor: LocalExecutor, cfg: RunConfig) -> cf.Future[Calibration]:
    """Per-task CPU limits of bench's tasks, and with executor.canary their reference solutions
    run here, in a thread of their own: the Future's result is the calibration, or the ConfigError
    (exit 2) naming the reference solutions that fail (a sandbox that breaks correct code would
    otherwise report a silent all-fail run).

    The caller loads the metric modules meanwhile (a second of imports the canary's waiting on
    the workers would otherwise not overlap). The thread is a daemon, never joined: Ctrl-C (while
    `evalkit score` waits on the Future, or `evalkit run` awaits it) or a bad metric name stops
    the run without waiting for the canary; closing the executor drops the programs it had queued.
    """
    checked: cf.Future[Calibration] = cf.Future()

    def check() -> None:
        try:
            limits = _checked_limits(bench, executor, cfg)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
            outcome, value = checked.set_exception, exc
        else:
            outcome, value = checked.set_result, limits
        # Ctrl-C cancels the Future the caller awaits: then nobody wants the outcome (setting it
        # raised InvalidStateError with a traceback beside the one-line "interrupted").
        with contextlib.suppress(cf.InvalidStateError):
            outcome(value)

    threading.Thread(target=check, name="evalkit-canary", daemon=True).start()
    return checked


def _checked_limits(bench: Benchmark, executor: LocalExecutor, cfg: RunConfig) -> Calibration:
    calibrated = calibration(list(bench.tasks), executor)
    if cfg.executor.canary:
        failing = canary(list(bench.tasks), executor, calibrated.limits)
        if failing:
            names = ", ".join(f"{tid} ({v.status.value}: {v.detail[:60]})" for tid, v in failing[:3])
            by_id = {task.task_id: task for task in bench.tasks}
            if bench.kind == "generation" and any(by_id[tid].suffix for tid, _ in failing):
                # a fill-in-the-middle row read as generation: its reference, the middle, runs without
                # the code below it
                raise ConfigError(f"canary: {len(failing)} reference solution(s) fail: {names}; their rows "
                                  "have a suffix (code below the cursor): if the reference is the middle, "
                                  "this is a completion set: set dataset.kind=completion")
            raise ConfigError(
                f"canary: {len(failing)} reference solution(s) fail in this sandbox: {names}; "
                "correct code does not run here (a missing runtime such as node, or limits: try "
                "executor.memory_mb=2048 or executor.network=none), or the dataset's tests are wrong"
            )
    return calibrated


def utc_now() -> str:
    """The current time as results.json records it."""
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def _cpu_name() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def _git_commit(path: Path) -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(path), "log", "-1", "--format=%H", "--", "."],
                             capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None
