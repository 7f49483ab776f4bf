"""Blessed baselines: a compact, committable record of a run's per-task outcomes.

A full run directory holds every sample (prompts, raw answers, code): too big
and too noisy to commit. ``bless`` keeps what the gate needs: the dataset's
identity, each arm's model, template and aggregates, and for every task the
number of samples, passes, infra errors and the mean of each similarity metric.
``load_baseline`` reads either that record or a run directory and returns the
same ``Baseline`` shape, so the gate never cares which one it was given.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping, Sequence

import pandas as pd

from evalkit.config import ConfigError
from evalkit.metrics.compare import task_table
from evalkit.metrics.passk import per_task_pass_at_k
from evalkit.records import BaselineArm, BlessedBaseline, RecordError, RunResults, Status, non_finite_field
from evalkit.reporting.aggregate import verdicts_sha256
from evalkit.results import load_results, load_samples, natural_key, run_identity, run_name_of, run_seed

FORMAT = "evalkit-baseline/1"
"""Value of the ``format`` key that marks a blessed baseline file."""

TASK_COLUMNS = ("task_id", "n", "passed", "infra_error")
"""Leading columns of ``ArmOutcome.tasks``; ``metric_<name>`` columns follow."""

_ARM_KEYS = ("synthetic", "params", "n_samples", "n_tasks", "pass_at_k", "pass_at_k_lenient",
             "metrics", "verdicts", "unverified", "latency_s", "tokens", "cost", "cached_samples",
             "cached_from", "truncated")
_DIGITS = 6
FINISH_IT = " (an `evalkit run` that exited 2 is finished by starting it again in its hydra.run.dir)"
"""What bless and gate add when they refuse a run that exited 2: how to make it usable."""


@dataclass(frozen=True, eq=False)
class ArmOutcome:
    """One arm's identity, aggregates and per-task outcomes."""

    arm: str
    """The arm label."""
    model: str
    """Served model id: what the gate matches arms on."""
    template: Mapping[str, str]
    """``{family, version, sha256}`` of the template the arm used."""
    aggregates: Mapping[str, Any]
    """results.json's aggregates for the arm (pass_at_k, metrics, verdicts, ...)."""
    tasks: pd.DataFrame
    """One row per task: TASK_COLUMNS then ``metric_<name>`` (mean over non-infra samples)."""
    endpoint: Mapping[str, Any] | None = None
    """What answered the arm (``endpoint_identity``); ``{}`` when its run records none (`evalkit
    score`), None when it was not recorded (a baseline blessed before evalkit recorded it)."""
    base_url: str = ""
    """The URL the arm asked, where a run folder records it ('' for a blessed baseline, which leaves
    it out: a proxy moved or reached by another name serves the same model)."""

    @property
    def metric_names(self) -> tuple[str, ...]:
        """Similarity metrics with per-task means in ``tasks``."""
        return tuple(c.removeprefix("metric_") for c in self.tasks.columns if c.startswith("metric_"))


@dataclass(frozen=True, eq=False)
class Baseline:
    """Per-task outcomes of every arm of one run, from a run dir or a blessed file."""

    source: str
    """Where it was read from (run directory or baseline file)."""
    run_id: str
    dataset: Mapping[str, Any]
    """``{name, content_sha256, n_tasks}`` of the tasks the run used."""
    arms: tuple[ArmOutcome, ...]
    problems: tuple[str, ...] = ()
    """Why the run exited 2 (results.json's ``problems``; a blessed file has none: bless refuses such
    a run)."""
    answers_sha256: str = ""
    """Hash of every answer of a run read from its directory (arm, task, sample, raw answer): two runs
    with one hash are one draw ('' for a blessed file)."""
    samples_file: str = ""
    """The samples file of a run `evalkit score` made (results.json's ``samples_file``), whose arms
    are its lines' ``arm`` fields; '' for `evalkit run`'s and a blessed file."""

    @property
    def content_sha256(self) -> str:
        """The dataset content hash ('' when the record has none)."""
        return str(self.dataset.get("content_sha256") or "")


def endpoint_identity(arm: Mapping[str, Any]) -> dict[str, Any]:
    """What answered an arm, as bless and the gate compare it: results.json's arm ``endpoint``
    without its base URL (the same proxy reached by another name, or moved, serves the same model)
    and with every distinct ``answered_by`` of its samples and of its start-up probe, in a fixed
    order (an alias re-pointed between the probe and the first sample named one model in the
    endpoint and another in every sample, and was blessed as one model's). ``{}`` for an arm that
    records no endpoint (`evalkit score`)."""
    endpoint = arm.get("endpoint")
    if not isinstance(endpoint, Mapping) or not endpoint:
        return {}
    answered = [a.get("answered_by") for a in arm.get("answered_by") or () if isinstance(a, Mapping)]
    if isinstance(endpoint.get("answered_by"), Mapping) and endpoint["answered_by"]:
        answered.append(endpoint["answered_by"])
    out = {k: v for k, v in endpoint.items() if k not in ("base_url", "answered_by")}
    return out | {"answered_by": sorted({_plain(a): a for a in answered}.values(), key=_plain)}


def _base_url(arm: Mapping[str, Any]) -> str:
    """results.json's arm ``endpoint.base_url`` ('' where it has none)."""
    endpoint = arm.get("endpoint")
    url = endpoint.get("base_url") if isinstance(endpoint, Mapping) else None
    return url if isinstance(url, str) else ""


def other_served_models(before: Mapping[str, Any], now: Mapping[str, Any]) -> bool:
    """Whether two endpoint identities name other served models: other answers' ``model`` names,
    or other weights (vLLM's ``root``, Ollama's ``digest``) where both were read. A listing that
    failed names no weights (it is information only), and the answers' models still say which
    model answered: a night whose listing got a 500 was ERRORed as "another model"."""
    def models(endpoint: Mapping[str, Any]) -> set[Any]:
        return {a.get("model") for a in endpoint.get("answered_by") or () if isinstance(a, Mapping)}

    def weights(endpoint: Mapping[str, Any]) -> Any:
        served = endpoint.get("served")
        return served.get("root") or served.get("digest") if isinstance(served, Mapping) else None

    return models(before) != models(now) or None not in (weights(before), weights(now)) and \
        weights(before) != weights(now)


def served_models(endpoint: Mapping[str, Any]) -> tuple[str, ...]:
    """The served models an endpoint identity names: each answer's ``model`` and /v1/models'
    weights (vLLM's ``root``, Ollama's ``digest``). Another deployment of them (a proxy's other
    ``x-litellm-model-id``)
    serves the same model; other names here are another model."""
    names = {f"model {a.get('model')!r}" for a in endpoint.get("answered_by") or () if isinstance(a, Mapping)}
    served = endpoint.get("served")
    if isinstance(served, Mapping) and (weights := served.get("root") or served.get("digest")):
        names.add(f"weights {weights!r}")
    return tuple(sorted(names))


def per_task(samples: pd.DataFrame) -> pd.DataFrame:
    """Per-task outcomes of one arm's samples (a ``load_samples`` frame): ``metrics.task_table``
    with ``task_id`` as a column, in natural task order.

    Metric means leave out infra_error samples: the model never answered them.
    """
    out = task_table(samples).reset_index()
    return _tidy(out.assign(**{c: out[c].round(_DIGITS) for c in out.columns if c.startswith("metric_")}))


def _tidy(tasks: pd.DataFrame) -> pd.DataFrame:
    """Same column order, dtypes and task order whatever the source."""
    metric_cols = sorted(c for c in tasks.columns if c.startswith("metric_"))
    tasks = tasks[list(TASK_COLUMNS) + metric_cols].astype(
        {"task_id": str, "n": int, "passed": int, "infra_error": int})
    tasks = tasks.astype({c: float for c in metric_cols})
    order = sorted(range(len(tasks)), key=lambda i: natural_key(tasks["task_id"].iloc[i]))
    return tasks.iloc[order].reset_index(drop=True)


def _arm_meta(results: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    return {str(a.get("arm")): a for a in results["arms"] if isinstance(a, Mapping)}


def _from_run_dir(run_dir: Path) -> Baseline:
    results = load_results(run_dir).to_json()
    samples = load_samples(run_dir)
    if samples.empty:
        raise ConfigError(f"{run_dir / 'samples.jsonl'} holds no samples")
    meta = _arm_meta(results)
    arms = []
    # in results.json's order (the config's), not the order answers happened to reach samples.jsonl
    order = {label: i for i, label in enumerate(meta)}
    groups = sorted(samples.groupby("arm", sort=False, observed=True),
                    key=lambda group: order.get(str(group[0]), len(order)))
    for label, group in groups:
        entry = meta.get(str(label), {})
        require_results_of(run_dir, str(label), group, entry)
        first = group.iloc[0]
        template = dict(entry.get("template") or {
            "family": first["template_family"], "version": first["template_version"],
            "sha256": first["template_sha256"]})
        template.pop("source_text", None)
        arms.append(ArmOutcome(
            arm=str(label), model=str(entry.get("model") or first["model"]),
            template={k: str(v) for k, v in template.items()},
            aggregates={k: entry[k] for k in _ARM_KEYS if k in entry},
            tasks=per_task(group), endpoint=endpoint_identity(entry), base_url=_base_url(entry)))
    answers = samples.sort_values(["arm", "task_id", "sample_index"])[["arm", "task_id", "sample_index",
                                                                        "raw_output"]]
    digest = hashlib.sha256(answers.to_json(orient="values").encode()).hexdigest()
    return Baseline(source=str(run_dir), run_id=str(results.get("run_id") or run_dir.name),
                    dataset=dict(results.get("dataset") or {}), arms=tuple(arms), answers_sha256=digest,
                    problems=tuple(map(str, results.get("problems") or ())),
                    samples_file=str((results.get("samples_file") or {}).get("path") or ""))


def require_results_of(run_dir: Path, label: str, samples: pd.DataFrame, entry: Mapping[str, Any]) -> None:
    """Refuse an arm whose samples are not the ones its results.json counted: an attempt that went
    on with more samples (n_samples=2, then 20) and was stopped before it wrote its results left
    the first attempt's results.json, and bless and gate took the half-made run for a finished one.
    `evalkit report` refuses it too: its new results.json made an edited run one gate accepted."""
    n_samples = len(samples)
    counted = sum(int(n) for n in (entry.get("verdicts") or {}).values()) if entry else None
    if counted is not None and n_samples > counted:
        raise ConfigError(f"{run_dir} did not finish: its samples.jsonl holds {n_samples} samples of arm "
                          f"{label!r}, its results.json {counted} (an attempt that added samples stopped "
                          "before it wrote its results): start it again with the same hydra.run.dir to "
                          "finish it")
    if counted is not None and n_samples < counted:
        raise ConfigError(f"{run_dir}: its samples.jsonl holds {n_samples} samples of arm {label!r}, its "
                          f"results.json {counted}: the samples were changed after the run; re-run it")
    if counted is not None:
        _require_verdicts_of(run_dir, label, samples, entry)


def _require_verdicts_of(run_dir: Path, label: str, samples: pd.DataFrame, entry: Mapping[str, Any]) -> None:
    """Refuse an arm whose samples' verdicts are not the ones its results.json counted, in either
    reading it records: every failing verdict of samples.jsonl edited to "passed", results.json
    untouched, was gated as pass@1 1.000, PASS. Fewer infra errors and nothing else changed is an
    attempt that asked them again and stopped before it wrote its results: unfinished, not edited."""
    held = {str(status): int(n) for status, n in samples["status"].value_counts().items()}
    said = {str(status): int(n) for status, n in (entry.get("verdicts") or {}).items()}
    differ = [s.value for s in Status if held.get(s.value, 0) != said.get(s.value, 0)]
    infra = Status.INFRA_ERROR.value
    if differ and held.get(infra, 0) < said.get(infra, 0) and \
            all(held.get(s, 0) >= said.get(s, 0) for s in differ if s != infra):
        raise ConfigError(f"{run_dir} did not finish: its samples.jsonl holds {held.get(infra, 0)} "
                          f"infra_error samples of arm {label!r}, its results.json {said[infra]} (an attempt "
                          "that asked them again stopped before it wrote its results): start it again with "
                          "the same hydra.run.dir to finish it")
    if differ:
        raise ConfigError(f"{run_dir}: its samples.jsonl holds {_counts(held, differ)} samples of arm "
                          f"{label!r}, its results.json {_counts(said, differ)}: the samples were changed "
                          "after the run; re-run it")
    lenient = (entry.get("pass_at_k_lenient") or {}).get("1")
    recorded = lenient.get("value") if isinstance(lenient, Mapping) else None
    scored = samples.loc[samples["lenient_status"] != Status.INFRA_ERROR, ["task_id", "lenient_passed"]]
    if recorded is not None and not scored.empty:
        rate = float(per_task_pass_at_k(scored.rename(columns={"lenient_passed": "passed"}), 1).mean())
        if not math.isclose(rate, float(recorded), abs_tol=1e-9):
            raise ConfigError(f"{run_dir}: its samples.jsonl gives arm {label!r} a lenient pass@1 of "
                              f"{rate:.6g}, its results.json {float(recorded):.6g}: the samples were changed "
                              "after the run; re-run it")
    recorded = entry.get("verdicts_sha256")
    if recorded is not None and recorded != verdicts_sha256(samples):
        # every count holds: a pass and a failure swapped between tasks gated the edited tasks' flips
        raise ConfigError(f"{run_dir}: its samples.jsonl gives the samples of arm {label!r} other verdicts "
                          "than its results.json recorded (the same counts, on other tasks or samples): the "
                          "samples were changed after the run; re-run it")


def _counts(verdicts: Mapping[str, int], statuses: Sequence[str]) -> str:
    """``800 passed, 0 failed``: the counts of ``statuses`` in ``verdicts``."""
    return ", ".join(f"{verdicts.get(s, 0)} {s}" for s in statuses)


def _task_rows(arm: BaselineArm, where: str) -> pd.DataFrame:
    rows = []
    for task_id, cell in arm.tasks.items():
        row = {"task_id": task_id, "n": cell.n, "passed": cell.passed, "infra_error": cell.infra_error}
        row |= {f"metric_{k}": (float("nan") if v is None else v) for k, v in cell.metrics.items()}
        rows.append(row)
    if not rows:
        raise ConfigError(f"{where}: arm {arm.arm!r} has no per-task outcomes")
    return _tidy(pd.DataFrame(rows))


def _from_file(path: Path) -> Baseline:
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))  # a Windows editor's byte order mark too
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: not a readable baseline ({exc})") from None
    said = data.get("format") if isinstance(data, dict) else None
    if isinstance(said, str) and said.startswith(FORMAT.rpartition("/")[0] + "/") and said != FORMAT:
        raise ConfigError(f"{path}: a baseline of format {said!r}, which this evalkit does not read (it "
                          f"reads {FORMAT!r}): gate with the evalkit that blessed it, or a newer one")
    if said != FORMAT:
        raise ConfigError(f"{path}: not a blessed baseline (expected format {FORMAT!r}); "
                          "pass a run directory or a file written by `evalkit baseline bless`")
    try:
        if (field := non_finite_field(data)) is not None:
            raise RecordError(f"{field}: not a finite number")
        record = BlessedBaseline.from_json(data)
    except RecordError as exc:  # a hand edit or a merge conflict: named here, not deep in the statistics
        raise ConfigError(f"{path}: malformed baseline ({exc})") from None
    arms = tuple(ArmOutcome(arm=a.arm, model=a.model, template=dict(a.template),
                            aggregates=dict(a.aggregates), tasks=_task_rows(a, str(path)),
                            endpoint=dict(a.endpoint) if a.endpoint is not None else None)
                 for a in record.arms)
    return Baseline(source=str(path), run_id=record.run_id, dataset=record.dataset.to_json(), arms=arms)


def _is_blessed(path: Path) -> bool:
    """Whether ``path`` says it is a blessed baseline (its ``format``), of any version: a folder of a
    run's run.json and dataset.json was named "a folder of 2 baseline files" (a reviewer's trial)."""
    try:
        with path.open(encoding="utf-8-sig") as fh:
            head = fh.read(4096)
    except (OSError, UnicodeDecodeError):
        return False
    return f'"format": "{FORMAT.rpartition("/")[0]}/' in head


def load_baseline(path_or_run_dir: Path | str) -> Baseline:
    """Per-task outcomes from a run directory or a blessed baseline JSON (same shape for both).

    Raises ConfigError (exit 2) for a missing or malformed input.
    """
    path = Path(path_or_run_dir)
    if path.is_dir() and not any((path / name).is_file() for name in ("results.json", "samples.jsonl")):
        # the folder `baseline bless -o DIR` wrote into: read "no results.json at DIR/results.json"
        blessed = [p for p in sorted(path.glob("*.json")) if _is_blessed(p)]
        if len(blessed) == 1:
            return _from_file(blessed[0])
        if blessed:
            names = ", ".join(p.name for p in blessed[:4]) + (", ..." if len(blessed) > 4 else "")
            raise ConfigError(f"{path} is no run directory but a folder of {len(blessed)} baseline files: "
                              f"name one ({names})")
    if path.is_dir():
        return _from_run_dir(path)
    if path.is_file():
        return _from_file(path)
    raise ConfigError(f"no run directory or baseline file at {path}")


def _record(baseline: Baseline, blessed_at: str) -> dict[str, Any]:
    arms = []
    for arm in baseline.arms:
        tasks = {}
        for row in arm.tasks.to_dict("records"):
            means = {name: row[f"metric_{name}"] for name in arm.metric_names}
            metrics = {name: None if pd.isna(v) else round(float(v), _DIGITS) for name, v in means.items()}
            tasks[row["task_id"]] = {"n": int(row["n"]), "passed": int(row["passed"]),
                                     "infra_error": int(row["infra_error"]), "metrics": metrics}
        arms.append({"arm": arm.arm, "model": arm.model, "template": dict(arm.template),
                     "endpoint": dict(arm.endpoint or {}), "aggregates": dict(arm.aggregates),
                     "tasks": tasks})
    return {"format": FORMAT, "blessed_at": blessed_at, "source_run": run_name_of(baseline.source),
            "run_id": baseline.run_id, "dataset": dict(baseline.dataset), "arms": arms}


def _dumps(record: dict[str, Any]) -> str:
    """Indented JSON with one line per task, so a re-bless diffs task by task."""
    holders: dict[str, str] = {}
    shallow = dict(record)
    shallow["arms"] = []
    for i, arm in enumerate(record["arms"]):
        tasks = {}
        for j, (task_id, cell) in enumerate(arm["tasks"].items()):
            token = f"@@task-{i}-{j}@@"
            holders[json.dumps(token)] = json.dumps(cell)
            tasks[task_id] = token
        shallow["arms"].append(arm | {"tasks": tasks})
    text = json.dumps(shallow, indent=2, sort_keys=False)
    for token, cell in holders.items():
        text = text.replace(token, cell, 1)
    return text + "\n"


def _file_name(baseline: Baseline, dirs: Sequence[Path]) -> str:
    """``<dataset>_<run name>.json`` (pooled: the names joined by ``-``, as every character but
    letters, digits, ``.``, ``_`` and ``-`` is): the run directories' names, not the runs' ids, so
    that blessing tonight's `runs/mixtral` replaces the baseline blessed from last month's (the id
    differs from run to run)."""
    dataset = str(baseline.dataset.get("name") or "dataset")
    stem = f"{dataset}_{'+'.join(run_name_of(d) for d in dirs)}"
    return re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip("-") + ".json"


def _plain(value: Any) -> str:
    """A JSON value as sortable text (sampling parameters, to compare them)."""
    return json.dumps(value, sort_keys=True, default=str)


def _require_one_configuration(baselines: list[Baseline]) -> None:
    """Refuse to pool runs of other dataset content, arms (label, model, template, sampling
    parameters, served models) or task selections. Checked before the runs' seeds: two runs of two
    templates and one seed were refused as one draw, and the advice to change the seed led only to
    this refusal."""
    first = baselines[0]
    for other in baselines[1:]:
        if other.content_sha256 != first.content_sha256:
            raise ConfigError(f"cannot pool {other.source} with {first.source}: different dataset "
                              f"content ({other.content_sha256[:12]} vs {first.content_sha256[:12]})")
        difference = _configuration_difference(first, other)
        if difference:
            raise ConfigError(f"cannot pool {other.source} with {first.source}: {difference}; pool runs "
                              "of one configuration")
        for arm in first.arms:  # one task selection (the dataset's hash is taken before dataset.limit)
            theirs = next((a for a in other.arms if a.arm == arm.arm), None)
            mine, other_tasks = set(arm.tasks["task_id"]), set(theirs.tasks["task_id"]) if theirs else set()
            if theirs is not None and mine != other_tasks:
                only = sorted(mine ^ other_tasks)
                raise ConfigError(f"cannot pool {other.source} with {first.source}: arm {arm.arm} scored "
                                  f"other tasks ({len(other_tasks)} against {len(mine)}; {only[0]} in one "
                                  "only); pool runs of one task selection (dataset.limit, dataset.task_ids)")


def _pool(baselines: list[Baseline]) -> Baseline:
    """Several runs of one configuration (``_require_one_configuration``) as one baseline: per task,
    samples, passes and infra errors add up and metric means are weighted by scored samples."""
    first = baselines[0]
    arms = []
    for arm in first.arms:
        same = [next(a for a in b.arms if a.arm == arm.arm) for b in baselines]  # by label, in any order
        frames = [a.tasks.set_index("task_id") for a in same]
        counts = sum(f[list(TASK_COLUMNS[1:])] for f in frames).dropna()
        metric_cols = [c for c in frames[0].columns if c.startswith("metric_")]
        weights = [f["n"] - f["infra_error"] for f in frames]
        for col in metric_cols:
            total = sum((f[col] * w).fillna(0.0) for f, w in zip(frames, weights, strict=True))
            counts[col] = (total / sum(weights)).reindex(counts.index)
        aggregates = {"pooled_runs": [b.run_id for b in baselines], "params": arm.aggregates.get("params"),
                      "latency_s": _pooled_latency(same),
                      "unverified": sum(int(a.aggregates.get("unverified") or 0) for a in same),
                      "verdicts": _summed([a.aggregates.get("verdicts") for a in same]),
                      # not recorded where a run blessed before evalkit kept it: None, not 0
                      "truncated": None if any(a.aggregates.get("truncated") is None for a in same)
                      else sum(int(a.aggregates["truncated"]) for a in same)}
        arms.append(ArmOutcome(arm.arm, arm.model, arm.template, aggregates, _tidy(counts.reset_index()),
                               _pooled_endpoint(same)))
    return Baseline(source=" + ".join(b.source for b in baselines),
                    run_id="+".join(b.run_id for b in baselines), dataset=first.dataset, arms=tuple(arms))


def _configuration_difference(first: Baseline, other: Baseline) -> str:
    """What makes ``other`` another configuration than ``first`` ('' when nothing): its arms'
    labels, and per arm its model, template, sampling parameters and served models (runs whose
    alias answered from other weights measured another model)."""
    labels = sorted(a.arm for a in first.arms), sorted(a.arm for a in other.arms)
    if labels[0] != labels[1]:
        return f"different arms ({', '.join(labels[1])} vs {', '.join(labels[0])})"
    for arm in first.arms:
        then = next(a for a in other.arms if a.arm == arm.arm)
        if then.model != arm.model:
            return f"arm {arm.arm}: other model ({then.model} vs {arm.model})"
        if then.template.get("sha256") != arm.template.get("sha256"):
            return (f"arm {arm.arm}: other template ({template_name(then.template)} vs "
                    f"{template_name(arm.template)})")
        before, now = _plain(arm.aggregates.get("params")), _plain(then.aggregates.get("params"))
        if before != now:
            return f"arm {arm.arm}: other sampling parameters ({now} vs {before})"
        before, now = arm.endpoint or {}, then.endpoint or {}
        if other_served_models(before, now):
            return (f"arm {arm.arm}: other served models answered ({', '.join(served_models(now))} vs "
                    f"{', '.join(served_models(before))})")
    return ""


def template_name(template: Mapping[str, str]) -> str:
    """``mixtral-2.0.0 (ee3228e1)``: a template as gate.md and refusals name it (its 64-character hash
    alone said nothing of which template it was)."""
    family, version = template.get("family", "?"), template.get("version", "?")
    return f"{family}-{version} ({str(template.get('sha256', ''))[:8]})"


def _pooled_endpoint(arms: list[ArmOutcome]) -> dict[str, Any]:
    """The first run's endpoint identity, with what answered every pooled run (the same served
    models, ``_pool`` made sure; a proxy may have balanced them over other deployments)."""
    first = dict(arms[0].endpoint or {})
    answered = [a for arm in arms for a in (arm.endpoint or {}).get("answered_by") or ()]
    if first:
        first["answered_by"] = sorted({_plain(a): a for a in answered}.values(), key=_plain)
    return first


def _summed(counts: list[object]) -> dict[str, int] | None:
    """Verdict counts of several runs added up (None where one run has none)."""
    if not all(isinstance(c, Mapping) for c in counts):
        return None
    total: dict[str, int] = {}
    for c in counts:
        for status, n in c.items():
            total[status] = total.get(status, 0) + int(n)
    return total


def _pooled_latency(arms: list[ArmOutcome]) -> dict[str, float]:
    """Each latency percentile as the median over one arm's pooled runs (what the latency gate reads)."""
    out = {}
    for key in ("p50", "p90", "p95", "p99"):
        values = [a.aggregates.get("latency_s", {}).get(key) for a in arms]
        values = [float(v) for v in values if v]
        if values:
            out[key] = float(pd.Series(values).median())
    return out


def _require_separate_draws(loaded: Mapping[Path, RunResults]) -> None:
    """Refuse to pool runs that are one draw: each sample's request seed derives from the run's
    seed, so runs of one configuration and one seed asked the same requests (a deterministic
    server answers them alike: 4 such runs made a baseline of 4 times the samples it measured,
    whose narrower interval PASSed candidates a single run's left INCONCLUSIVE); and a run whose
    answers the response store replayed from another pooled run counts that run's answers twice."""
    seeds: dict[tuple[str, int], Path] = {}
    for run_dir, results in loaded.items():
        for arm in results.arms:
            # a seed the arm's parameters set (model.params.seed, a template's) is the base instead
            seed = arm.params.get("seed") if isinstance(arm.params.get("seed"), int) else run_seed(run_dir)
            if seed is None:
                continue
            first = seeds.setdefault((arm.arm, seed), run_dir)
            if first is not run_dir:
                raise ConfigError(f"cannot pool {run_dir} with {first}: arm {arm.arm} drew its samples "
                                  f"with seed={seed} in both, so they asked the same requests (one draw, not "
                                  "two); pool runs of different seeds (seed=N, no model.params.seed)")
    ids = {results.run_id: run_dir for run_dir, results in loaded.items()}
    for run_dir, results in loaded.items():
        for arm in results.arms:
            replayed = [source for source in arm.cached_from  # another pooled run's, not its own
                        if ids.get(source.split(" ", 1)[0], run_dir) != run_dir]
            if arm.cached_samples and replayed:
                raise ConfigError(f"cannot pool {run_dir} with {ids[replayed[0].split(' ', 1)[0]]}: arm "
                                  f"{arm.arm}'s answers were replayed from it by the response store "
                                  f"({arm.cached_samples} samples), which would count them twice; pool runs "
                                  "that asked the endpoint themselves (store.reuse=false)")


def _require_one_served_model(run_dir: Path, baseline: Baseline) -> None:
    """Refuse a run an arm of which several served models answered (an alias re-pointed mid-run):
    blessed, every later night of either model would be an ``endpoint`` ERROR of the gate."""
    for arm in baseline.arms:
        models = sorted({str(a.get("model")) for a in (arm.endpoint or {}).get("answered_by") or ()
                         if isinstance(a, Mapping) and a.get("model")})
        if len(models) > 1:
            raise ConfigError(f"{run_dir}: arm {arm.arm}'s samples were answered by several served models "
                              f"({', '.join(models)}): a proxy alias re-pointed mid-run; bless a run one "
                              "model answered")


def _require_other_answers(dirs: list[Path], baselines: list[Baseline]) -> None:
    """Refuse to pool runs that hold the same answers (`evalkit score` of one file twice, a server
    that ignores seeds at temperature 0): one draw, whose samples would count twice."""
    answers: dict[str, Path] = {}
    for run_dir, one in zip(dirs, baselines, strict=True):
        first = answers.setdefault(one.answers_sha256, run_dir)
        if first is not run_dir:
            raise ConfigError(f"cannot pool {run_dir} with {first}: they hold the same answers (one draw, "
                              "not two: their samples would count twice); pool runs that drew their own")


def bless(run_dirs: Path | str | Sequence[Path | str],
          out_dir: Path | str = Path("reports/baselines")) -> Path:
    """Write the blessed baseline of one finished run, or of several pooled, and return its path.

    The file (``<dataset>_<run name>.json`` under ``out_dir``, the run directory's name, see
    ``_file_name``; pooled: the names joined by ``-``, ``humaneval_seed1-seed2.json``) holds the
    dataset's name and content hash, the run id(s) (pooled: joined by ``+``), and per arm its
    model, template, aggregates and per-task outcomes (n samples, passes, infra errors,
    mean of each similarity metric); no samples. It is meant to be committed and passed
    to ``evalkit gate --baseline``. Pooling runs of the same configuration with different
    seeds gives a baseline that is not one lucky (or unlucky) draw, and the gate's
    interval narrows with its samples. Blessing the same runs again overwrites the same
    file. Raises ConfigError when a run directory is unusable or given twice, has no dataset content
    hash (the gate could not check it later), or the runs differ in dataset or arms.
    """
    dirs = [Path(run_dirs)] if isinstance(run_dirs, (str, Path)) else [Path(d) for d in run_dirs]
    if not dirs:
        raise ConfigError("bless needs at least one run directory")
    seen: dict[Path, Path] = {}
    for run_dir in dirs:
        if not run_dir.is_dir():
            raise ConfigError(f"no run directory at {run_dir}")
        first = seen.setdefault(run_dir.resolve(), run_dir)
        if first is not run_dir:  # its samples would count twice: a narrower interval than measured
            same = "" if str(first) == str(run_dir) else f" (as {first})"
            raise ConfigError(f"run directory {run_dir} is given more than once{same}; "
                              "pool each run once")
    runs: dict[tuple[str, bytes], Path] = {}
    loaded = {run_dir: load_results(run_dir) for run_dir in dirs}
    for run_dir in dirs:  # a copy of a run's folder elsewhere (a CI artifact, a backup) is that run
        results = loaded[run_dir]
        run_id = results.run_id
        if results.problems:  # the run exited 2: its numbers measure the endpoint's failures
            raise ConfigError(f"{run_dir} is a run that exited 2 ({results.problems[0]}); bless a run "
                              f"without problems{FINISH_IT}")
        first = runs.setdefault(run_identity(run_dir, run_id), run_dir)
        if first is not run_dir:
            raise ConfigError(f"run directories {first} and {run_dir} hold the same run ({run_id}, the same "
                              "first sample): one is a copy; pool each run once")
    baselines = [_from_run_dir(run_dir) for run_dir in dirs]
    for run_dir, one in zip(dirs, baselines, strict=True):
        if not one.content_sha256:
            raise ConfigError(f"{run_dir / 'results.json'} has no dataset.content_sha256; cannot bless it")
        _require_one_served_model(run_dir, one)
    if len(dirs) > 1:
        _require_one_configuration(baselines)
        _require_separate_draws(loaded)
        _require_other_answers(dirs, baselines)
    baseline = baselines[0] if len(baselines) == 1 else _pool(baselines)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / _file_name(baseline, dirs)
    blessed_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    record = _record(baseline, blessed_at)
    if len(dirs) > 1:
        record["source_run"] = [run_name_of(d) for d in dirs]
    path.write_text(_dumps(record), encoding="utf-8")
    return path
