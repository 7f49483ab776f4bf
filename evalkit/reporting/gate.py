"""The template-change gate: may a candidate run ship against a baseline?

Each candidate arm is paired with the baseline's arm of its label, else of its model
(``_pair_arms``), and compared with it on the tasks they share, task by task, by
``metrics.compare_arms`` (the engine behind reports and ``compare`` too):

- pass@1: per-task pass rate (passes / scored samples, infra errors left out);
- each similarity metric the gate config lists: per-task mean;
- the candidate's infra_error rate on the baseline's tasks against ``max_infra_error``;
- the share of the baseline's tasks the candidate measured (one answered sample at least),
  against ``min_task_share``.

A drop check decides on its paired bootstrap interval, widened to at least what binomial
sampling alone gives for pass@1 (``metrics.sampling_std_error``), against the tolerated drop:
FAIL when the whole interval lies below ``-max_drop`` (confidently worse than
tolerated) and, for pass@1, the exact stratified test of the drop agrees (the normal interval
is too narrow on a few samples: ``metrics.sampling_drop_p_value``), PASS when it lies at or
above ``-max_drop``, INCONCLUSIVE otherwise.
The intervals are family-wise: each is drawn at the Bonferroni-adjusted level
``1 - alpha / m`` over the m drop checks of the call (every model and metric), so
the chance that any FAIL of a call is a false alarm stays below ``alpha / 2``.
Each check reports the smallest drop it would catch with 80% power at its own
noise, and an INCONCLUSIVE one the samples per task that would decide it.
A candidate whose infra_error share exceeds ``max_infra_error``, or that measured fewer
than ``min_task_share`` of the baseline's tasks, is an ERROR (exit 2): its numbers
measure the endpoint or a subset, not the template. With
``max_latency_p95_ratio`` set, a candidate whose p95 request latency exceeds the
baseline's by more than that factor FAILs (code completion answers must stay fast).
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, Mapping

import pandas as pd

from evalkit import metrics
from evalkit.config import ConfigError, GateConfig
from evalkit.metrics.compare import (
    PASS_AT_1,
    ArmTasks,
    compare_arms,
    sampling_drop_p_value,
    sampling_std_error,
)
from evalkit.records import DRAW_PARAMS, PairedDiff, printable
from evalkit.reporting.baseline import (
    FINISH_IT,
    ArmOutcome,
    Baseline,
    load_baseline,
    other_served_models,
    served_models,
    template_name,
)
from evalkit.reporting.gate_outcome import (
    POWER,
    UNMEASURED,
    Check,
    GateOutcome,
    GateVerdict,
    ModelGate,
    worst,
)
from evalkit.reporting.gate_outputs import (
    interval_text,
    render_junit,
    render_markdown,
    render_openmetrics,
    summary,
    terminal_lines,
)
from evalkit.reporting.paired import problems_note
from evalkit.results import refuse_run_dir_as_output
from evalkit.samples import UNKNOWN_MODEL

__all__ = ["Check", "GateOutcome", "GateVerdict", "ModelGate", "gate", "render_junit", "render_markdown",
           "render_openmetrics", "terminal_lines"]


def _check_dataset(base: Baseline, cand: Baseline) -> None:
    b, c = base.content_sha256, cand.content_sha256
    if not b or not c:
        missing = base.source if not b else cand.source
        raise ConfigError(f"{missing} records no dataset.content_sha256; cannot check it is the same dataset")
    if b != c:
        raise ConfigError(f"baseline and candidate used different datasets: baseline {base.source} has "
                          f"{_dataset_shown(base)} (content_sha256 {b}), candidate {cand.source} has "
                          f"{_dataset_shown(cand)} ({c}); bless a baseline on this dataset")


def _dataset_shown(side: Baseline) -> str:
    """``humaneval, 164 tasks``: what a user recognises before a hash."""
    name, count = side.dataset.get("name") or "a dataset", side.dataset.get("n_tasks")
    return f"{name}, {count} task{'s' if count != 1 else ''}" if isinstance(count, int) else str(name)


def _pair_arms(base: Baseline, cand: Baseline) -> tuple[list[tuple[ArmOutcome, ArmOutcome]], list[str]]:
    """(baseline, candidate) arm pairs and notes on arms left out.

    Every candidate arm whose label the baseline has is paired with that arm, whatever its model (a
    model upgraded under one label is gated against what it replaces; a run comparing two templates
    of one model gates both). For a model none of whose candidate arms shares a label, its first
    candidate arm pairs with the baseline's first arm of that model (arms in results.json's order,
    the config's, so that the same runs always pair alike). A candidate arm left unpaired is named in
    the notes; a baseline arm left unpaired is an ERROR (``_unmeasured_arms``).
    """
    labels = {a.arm: a for a in base.arms}
    pairs = [(labels[c.arm], c) for c in cand.arms if c.arm in labels]
    paired = {c.arm for _, c in pairs}
    taken = {b.arm for b, _ in pairs}
    for model in dict.fromkeys(c.model for c in cand.arms):
        if any(c.model == model for _, c in pairs):
            continue
        b_arm = next((b for b in base.arms if b.model == model and b.arm not in taken), None)
        c_arm = next(c for c in cand.arms if c.model == model)
        if b_arm is not None:
            pairs.append((b_arm, c_arm))
            paired.add(c_arm.arm)
            taken.add(b_arm.arm)
    notes = [f"arm {c.arm} ({c.model}) is not gated: the baseline has no arm with that label"
             for c in cand.arms if c.arm not in paired]
    if not pairs:
        raise ConfigError(f"no model in common: baseline has {sorted({a.model for a in base.arms})}, "
                          f"candidate has {sorted({a.model for a in cand.arms})}, and no arm label in "
                          "common; to gate one model against another, give their arms the same label "
                          f"({_how_to_label(base, cand, base.arms[0].arm if base.arms else '...')})")
    return pairs, notes


def _how_to_label(base: Baseline, cand: Baseline, label: str) -> str:
    """How the candidate's arm gets the baseline arm's ``label``: a run's arms are named in its config;
    `evalkit score` takes them from its samples lines and refuses ``arms=``, which the hint named for
    a scored run too (a new user's trial)."""
    if cand.samples_file:
        return (f'"arm": {json.dumps(label, ensure_ascii=False)} in each line of the candidate\'s samples '
                f"file {cand.samples_file}: evalkit score takes its arms from its lines, not arms=")
    if base.samples_file:
        return (f"arms=[{{label: ...}}] for the candidate, or for the baseline an \"arm\" field in each "
                f"line of its samples file {base.samples_file}, as evalkit score takes no arms=")
    return "arms=[{label: ...}]"


def _unmeasured_arms(base: Baseline, cand: Baseline,
                    pairs: list[tuple[ArmOutcome, ArmOutcome]]) -> list[ModelGate]:
    """An ERROR for each baseline arm no candidate arm pairs with: the candidate did not measure it.
    Named in a note alone, a nightly whose config lost two of its three arms (the two templates the
    gate was there to compare) PASSed on the third, exit 0 (a nightly owner's trial)."""
    taken = {b.arm for b, _ in pairs}
    models = [b.model for b in base.arms]
    return [ModelGate(b.model if models.count(b.model) == 1 else b.arm, b.arm, UNMEASURED,
                      template_name(b.template),
                      "not measured", 0, (Check(
        b.arm, "arm_coverage", None, None, None, test="threshold", verdict=GateVerdict.ERROR,
        reason=f"baseline arm {b.arm} ({b.model}) has no candidate arm (none has its label, nor its model "
               "unpaired): the candidate did not measure it; where a candidate arm replaces it under "
               "another label (a new template version), give both one label "
               f"({_how_to_label(base, cand, b.arm)}); else run the baseline's arms, or bless a baseline "
               "of the arms to gate"),))
            for b in base.arms if b.arm not in taken]


def _gate_names(pairs: list[tuple[ArmOutcome, ArmOutcome]]) -> list[str]:
    """What each pair is called in the gate's outputs: the model, or the candidate's arm label where
    one model has several gated arms, the model is not known (answers scored with `evalkit score`), or
    the pair is one label over two models (an upgrade)."""
    models = [c.model for _, c in pairs]
    return [c.model if models.count(c.model) == 1 and c.model != UNKNOWN_MODEL and b.model == c.model
            else c.arm for b, c in pairs]


def _coverage_check(name: str, b_arm: ArmOutcome, c_arm: ArmOutcome, cfg: GateConfig) -> Check:
    """The share of the baseline's tasks the candidate measured: a run of 2 tasks proves nothing of
    164. A task all of whose samples are infra errors was not measured (no answer to score)."""
    base_tasks = set(b_arm.tasks["task_id"])
    base_measured = set(_measured(b_arm.tasks))
    base_share = len(base_measured) / len(base_tasks) if base_tasks else 0.0
    if base_share < cfg.min_task_share:  # its own coverage: a row of "10 / 10" over 5 paired tasks
        return Check(name, "task_coverage", float(len(base_tasks)), float(len(base_measured)),
                     base_share - 1.0, test="threshold", verdict=GateVerdict.ERROR,
                     reason=f"the baseline measured {len(base_measured)} of its {len(base_tasks)} tasks "
                            f"({base_share:.1%}; the others' every sample infra_error), below min_task_share "
                            f"{cfg.min_task_share:.0%}; bless a baseline that measured them")
    shared = len(base_measured & set(_measured(c_arm.tasks)))
    share = shared / len(base_tasks) if base_tasks else 0.0
    bad = share < cfg.min_task_share
    reason = (f"the candidate measured {shared} of the baseline's {len(base_tasks)} tasks ({share:.1%}), "
              f"{'below' if bad else 'within'} min_task_share {cfg.min_task_share:.0%}"
              + ("; run the baseline's tasks (its dataset.limit or task_ids) or bless a matching baseline"
                 if bad else ""))
    return Check(name, "task_coverage", float(len(base_tasks)), float(shared), share - 1.0, test="threshold",
                 verdict=GateVerdict.ERROR if bad else GateVerdict.PASS, reason=reason)


def _measured(tasks: pd.DataFrame) -> pd.Series:
    """The ids of the tasks with a sample that is not infra_error."""
    return tasks.loc[tasks["n"] > tasks["infra_error"], "task_id"]


def _infra_rate(tasks: pd.DataFrame) -> float:
    total = int(tasks["n"].sum())
    return float(tasks["infra_error"].sum()) / total if total else 0.0


def _infra_check(model: str, base: pd.DataFrame, cand: pd.DataFrame, cfg: GateConfig) -> Check:
    """The candidate's share of infra_error samples on the baseline's tasks against the threshold (the
    baseline's for context): tasks the baseline lacks, answered, diluted the errors of those it has."""
    rate, base_rate = _infra_rate(cand[cand["task_id"].isin(base["task_id"])]), _infra_rate(base)
    bad = rate > cfg.max_infra_error
    reason = (f"infra_error rate {rate:.1%} {'exceeds' if bad else 'within'} "
              f"max_infra_error {cfg.max_infra_error:.1%}" + ("; the endpoint, not the template, "
                                                               "decides these numbers" if bad else ""))
    if not bad and base_rate > cfg.max_infra_error:  # the baseline's numbers are the endpoint's too
        bad, reason = True, (f"the baseline's infra_error rate {base_rate:.1%} exceeds max_infra_error "
                             f"{cfg.max_infra_error:.1%}; bless a baseline whose endpoint answered")
    return Check(model, "infra_error", base_rate, rate, rate - base_rate, test="threshold",
                 verdict=GateVerdict.ERROR if bad else GateVerdict.PASS, reason=reason)


def _p95(arm: ArmOutcome) -> float | None:
    latency = arm.aggregates.get("latency_s") or {}
    value = latency.get("p95") if isinstance(latency, dict) else None
    return float(value) if value else None


def _latency_check(model: str, b_arm: ArmOutcome, c_arm: ArmOutcome, ratio: float) -> Check:
    """The candidate's p95 request latency against ``ratio`` times the baseline's."""
    base, cand = _p95(b_arm), _p95(c_arm)
    if base is None or cand is None:
        side = "baseline" if base is None else "candidate"
        return Check(model, "latency_p95", base, cand, None, test="threshold",
                     verdict=GateVerdict.INCONCLUSIVE, reason=f"the {side} records no request latency")
    slower = cand / base
    bad = slower > ratio
    reason = (f"p95 latency {cand:.3f} s is {slower:.2f}x the baseline's {base:.3f} s, "
              f"{'above' if bad else 'within'} max_latency_p95_ratio {ratio}")
    return Check(model, "latency_p95", base, cand, cand - base, test="threshold",
                 verdict=GateVerdict.FAIL if bad else GateVerdict.PASS, reason=reason)


def _mean_scored(tasks: pd.DataFrame) -> float:
    scored = tasks["n"] - tasks["infra_error"]
    return float(scored[scored > 0].mean()) if (scored > 0).any() else 0.0


def _drop_check(model: str, diff: PairedDiff | None, samples: tuple[float, float], noise: float,
                cfg: GateConfig, drop_p_value: Callable[[], float] | None = None) -> Check:
    """The verdict of one drop check: its family-wise interval against ``-max_drop``.

    ``samples``: the mean scored samples per task of the baseline and of the candidate.
    ``noise``: the standard error sampling alone would give (pass@1), so that two runs that
    happened to agree on every task do not claim a power they do not have. ``drop_p_value``
    (pass@1): the exact one-sided p-value of the drop; a FAIL needs it below the interval's
    own one-sided level, as the normal interval is too narrow on a few samples (computed only
    for an interval that would FAIL).
    """
    name = diff.measure if diff is not None else PASS_AT_1
    if diff is None:
        return Check(model, name, None, None, None, test="none", verdict=GateVerdict.INCONCLUSIVE,
                     reason="no shared task with scored samples")
    # pass@1's interval is at least as wide as sampling alone makes it (compare_arms' floor): two runs
    # that agreed on every task have a bootstrap interval of width 0, and PASSed on it whatever their
    # size; its power claim is the floor's too
    std_error = max(diff.std_error, noise)
    check = Check(model, diff.measure, None, None, diff.diff, diff.ci_low, diff.ci_high, diff.p_value,
                  diff.p_adjusted, diff.test, confidence=diff.confidence,
                  detectable_drop=metrics.detectable_drop(std_error, cfg.max_drop, diff.confidence, POWER))
    interval, floor = interval_text(check), -cfg.max_drop
    exact_level = (1.0 - diff.confidence) / 2.0  # the interval's upper bound is a one-sided test at this
    exact_p = drop_p_value() if diff.ci_high < floor and drop_p_value is not None else None
    if diff.ci_high < floor and (exact_p is None or exact_p < exact_level):
        return replace(check, verdict=GateVerdict.FAIL, reason=(
            f"the whole {diff.confidence:.1%} interval {interval} lies below -max_drop {floor}"))
    if diff.ci_high < floor:  # 2 tasks x 1 sample, all passing then all failing: chance once in 4
        return replace(check, verdict=GateVerdict.INCONCLUSIVE, reason=(
            f"interval {interval} lies below -max_drop {floor}, but on so few samples the drop could be "
            f"chance: exact test p={exact_p:.3g}, not below {exact_level:.3g}; more tasks or "
            f"samples per task would decide it"))
    if diff.ci_low >= floor:
        return replace(check, verdict=GateVerdict.PASS,
                       reason=f"change {diff.diff:+.3f}, interval {interval} above -max_drop {floor}")
    base_samples, cand_samples = samples
    needed = metrics.decisive_samples(diff.diff, std_error, cfg.max_drop, diff.confidence, cand_samples)
    # the standard error is both runs': more samples in the candidate alone leave the baseline's noise,
    # so both grow by one factor; a pooled baseline already has more than the candidate
    base_needed = math.ceil(base_samples * needed / cand_samples - 1e-9) if needed else None
    more = ("" if not needed else
            f"; about {needed} samples per task in both baseline and candidate would decide it"
            if base_needed == needed else
            f"; about {needed} samples per task in the candidate and {base_needed} in the baseline "
            f"(each {needed / cand_samples:.1f}x its {cand_samples:g} and {base_samples:g}) would decide it")
    return replace(check, verdict=GateVerdict.INCONCLUSIVE, samples_needed=needed,
                   reason=f"interval {interval} contains -max_drop {floor}{more}")


def pass1_check(baseline: pd.DataFrame, candidate: pd.DataFrame, cfg: GateConfig) -> Check:
    """The pass@1 drop check of one pair of per-task tables (``metrics.task_tables``), decided as
    `evalkit gate` decides it: the interval widened to what sampling alone gives, the exact test
    before a FAIL, the drop it would catch. What the compare_templates notebook shows: on its own
    rule, two arms that agreed on 2 tasks read "no drop of 2 points or more" from an interval of
    width 0, and it planned a detectable change of 140 points."""
    comparison = compare_arms([(ArmTasks("baseline", baseline), ArmTasks("candidate", candidate))],
                              (PASS_AT_1,), confidence=1.0 - cfg.alpha, resamples=cfg.resamples,
                              seed=cfg.seed, alpha=cfg.alpha, familywise_intervals=True)
    return _drop_check("candidate", comparison.diff("candidate", PASS_AT_1),
                       (_mean_scored(baseline), _mean_scored(candidate)),
                       sampling_std_error(baseline, candidate), cfg,
                       functools.partial(sampling_drop_p_value, baseline, candidate))


def _model_gates(pairs: list[tuple[ArmOutcome, ArmOutcome]], cfg: GateConfig,
                 baseline_runs: frozenset[str] = frozenset()) -> list[ModelGate]:
    """Every pair's checks from one ``compare_arms`` call (one family for Holm and the intervals)."""
    names = _gate_names(pairs)
    sides = [(ArmTasks(f"baseline:{name}", b.tasks), ArmTasks(name, c.tasks))
             for name, (b, c) in zip(names, pairs, strict=True)]
    comparison = compare_arms(sides, (PASS_AT_1, *cfg.metrics), confidence=1.0 - cfg.alpha,
                              resamples=cfg.resamples, seed=cfg.seed, alpha=cfg.alpha,
                              familywise_intervals=True)
    out = []
    for model, (b_arm, c_arm) in zip(names, pairs, strict=True):
        checks = []
        for measure in (PASS_AT_1, *cfg.metrics):
            diff = comparison.diff(model, measure)
            noise, drop_p = (sampling_std_error(b_arm.tasks, c_arm.tasks),
                             functools.partial(sampling_drop_p_value, b_arm.tasks, c_arm.tasks)) \
                if measure == PASS_AT_1 else (0.0, None)
            samples = (_mean_scored(b_arm.tasks), _mean_scored(c_arm.tasks))
            check = _drop_check(model, diff, samples, noise, cfg, drop_p)
            checks.append(replace(check, name=measure, baseline=diff.baseline_mean if diff else None,
                                  candidate=diff.arm_mean if diff else None))
        checks.append(_infra_check(model, b_arm.tasks, c_arm.tasks, cfg))
        checks.append(_coverage_check(model, b_arm, c_arm, cfg))
        if cfg.max_latency_p95_ratio is not None:
            checks.append(_latency_check(model, b_arm, c_arm, cfg.max_latency_p95_ratio))
        changed, note = _endpoint_change(model, b_arm, c_arm)
        checks += [changed] if changed else []
        replayed = _replayed_check(model, b_arm, c_arm, baseline_runs)
        checks += [replayed] if replayed else []
        pass1 = comparison.diff(model, PASS_AT_1)
        out.append(ModelGate(model, b_arm.arm, c_arm.arm, template_name(b_arm.template),
                             template_name(c_arm.template),
                             pass1.n_tasks if pass1 else 0, tuple(checks), comparison.flips_of(model),
                             endpoint_note=note))
    return out


def _replayed_check(model: str, b_arm: ArmOutcome, c_arm: ArmOutcome,
                    baseline_runs: frozenset[str]) -> Check | None:
    """An ERROR ``replayed`` check when the response store answered every candidate sample from
    earlier runs and the candidate's template is the baseline's: the candidate measured nothing (a
    nightly with store.reuse=true and yesterday's store PASSed as a new measurement; replayed from
    the night before rather than from the baseline's own run, it was only noted). With another
    template (a post-processing change reviewed offline on the same requests) the new
    post-processing was measured: that is gated."""
    cached, total = int(c_arm.aggregates.get("cached_samples") or 0), _samples(c_arm)
    verdicts = c_arm.aggregates.get("verdicts")
    # answers only: a sample left unanswered within model.max_error_rate was not asked of it either
    unanswered = int(verdicts.get("infra_error") or 0) if isinstance(verdicts, Mapping) else 0
    answered = total - unanswered
    sources = {str(s).split(" ", 1)[0] for s in c_arm.aggregates.get("cached_from") or ()}
    if not answered or cached < answered or not sources or \
            b_arm.template.get("sha256") != c_arm.template.get("sha256"):
        return None
    origin = (f"the baseline's run ({', '.join(sorted(sources & baseline_runs))})" if sources <= baseline_runs
              else f"earlier runs ({', '.join(sorted(sources))})")
    return Check(model, "replayed", None, None, None, test="threshold", verdict=GateVerdict.ERROR,
                 reason=f"all {answered} candidate answers were replayed by the response store from {origin} "
                        "with the baseline's template: nothing new was measured; ask the endpoint "
                        "(store.reuse=false, model.offline=false)")


def _samples(arm: ArmOutcome) -> int:
    verdicts = arm.aggregates.get("verdicts")
    return sum(int(v) for v in verdicts.values()) if isinstance(verdicts, Mapping) else 0


def _replay_notes(pairs: list[tuple[ArmOutcome, ArmOutcome]]) -> list[str]:
    """Say how many of a candidate arm's answers the response store replayed (and from which runs):
    the gate compares what was measured, and replayed answers were measured on another day."""
    notes = []
    for _, c_arm in pairs:
        cached = int(c_arm.aggregates.get("cached_samples") or 0)
        if cached:
            origin = ", ".join(map(str, c_arm.aggregates.get("cached_from") or ())) or "an earlier attempt"
            notes.append(f"candidate arm {c_arm.arm}: {cached} of its {_samples(c_arm)} answers were "
                         f"replayed from the response store (stored by {origin}), not asked again")
    return notes


def _truncation_notes(pairs: list[tuple[ArmOutcome, ArmOutcome]]) -> list[str]:
    """Say how many answers of each side the endpoint cut at max_tokens: a drop made of cut answers
    is the token budget's as much as the template's (report.md said it, gate.md, what a merge
    request shows, did not)."""
    notes = []
    for b_arm, c_arm in pairs:
        cut = [(side, arm.aggregates.get("truncated"), _samples(arm))
               for side, arm in (("candidate", c_arm), ("baseline", b_arm))]
        if any(n for _, n, _ in cut):
            # a baseline blessed before evalkit kept the count: not recorded, which is not 0
            counts = ", ".join(f"{side} {int(n)} of {total}" if n is not None else
                               f"{side}: not recorded (bless it again)" for side, n, total in cut if total)
            notes.append(f"arm {c_arm.arm}: answers the endpoint cut at max_tokens (finish_reason length): "
                         f"{counts}; raise max_tokens (model.params.max_tokens) if they ran long")
    return notes


def _params_notes(pairs: list[tuple[ArmOutcome, ArmOutcome]]) -> list[str]:
    """Name sampling parameters that differ between paired arms: a drop measured at another
    temperature is the temperature's as much as the template's. Where the template changed, only
    ``DRAW_PARAMS``: its stop sequences and max_tokens change with it (every gate of the demo's
    mixtral 1.0.0 against 2.0.0 noted 2.0.0's own stop sequence as a confound, a new user's trial)."""
    notes = []
    for b_arm, c_arm in pairs:
        before, now = b_arm.aggregates.get("params"), c_arm.aggregates.get("params")
        if not isinstance(before, Mapping) or not isinstance(now, Mapping) or before == now:
            continue
        same_template = b_arm.template.get("sha256") == c_arm.template.get("sha256")
        changed = [f"{key} {before.get(key)!r} -> {now.get(key)!r}" for key in sorted({*before, *now})
                   if before.get(key) != now.get(key) and (same_template or key in DRAW_PARAMS)]
        if changed:
            notes.append(f"arm {c_arm.arm}: sampling parameters differ from the baseline's: "
                         f"{', '.join(changed)}")
    return notes


def _endpoint_change(model: str, b_arm: ArmOutcome, c_arm: ArmOutcome) -> tuple[Check | None, str]:
    """(an ERROR ``endpoint`` check when another served model answered the candidate, a note on what
    changed in what answered, '' when nothing did). A nightly whose alias was re-pointed to other
    weights measured another model than its name says: it must not PASS. Another deployment of the
    same weights (a proxy's other ``x-litellm-model-id``) measures the same model: a note, and so is
    another model under another configured name (a model upgraded under one label, on purpose)."""
    before, now = b_arm.endpoint, c_arm.endpoint or {}
    unknown = _unknown_endpoint(before, now)
    if unknown is None and before == now and b_arm.base_url and c_arm.base_url and \
            b_arm.base_url.rstrip("/") != c_arm.base_url.rstrip("/"):
        return None, (f"endpoint: another URL answered the same served model: was {b_arm.base_url}; now "
                      f"{c_arm.base_url}")
    if unknown is not None or before == now:
        return None, unknown or ""
    was, is_now = _endpoint_text(before or {}), _endpoint_text(now)
    if other_served_models(before or {}, now) and b_arm.model == c_arm.model:  # else: an upgrade
        return Check(model, "endpoint", None, None, None, test="threshold", verdict=GateVerdict.ERROR,
                     reason=f"another model answered the candidate: was {was}; now {is_now}; bless a "
                            "baseline of this model, or point the alias back"), \
            f"endpoint: served model changed: was {was}; now {is_now}"
    if other_served_models(before or {}, now):  # the configured model changed too: on purpose
        return None, (f"endpoint: another model answered, as the arm's configured model changed "
                      f"({b_arm.model} to {c_arm.model}): was {was}; now {is_now}")
    # the same name and weights where they are known; a `created` alone may be a model pulled again
    return None, f"endpoint: what answered changed under the same served model name: was {was}; now {is_now}"


def _unknown_endpoint(before: Mapping[str, Any] | None, now: Mapping[str, Any]) -> str | None:
    """Why what answered one side cannot be compared ('' when neither side records one, as for
    answers scored with `evalkit score`), or None when both name their served models."""
    if before is None:
        return ("endpoint: the baseline does not record what answered it (blessed before evalkit "
                "recorded it): a changed model behind the alias cannot be told; bless it again")
    if not before and not now:
        return ""
    for side, endpoint in (("baseline", before), ("candidate", now)):
        if not endpoint:
            return f"endpoint: the {side} records no endpoint (answers scored with `evalkit score`)"
        if not served_models(endpoint):  # an offline replay asks no endpoint who it is: unknown
            return (f"endpoint: the {side} names no served model (an offline replay): was "
                    f"{_endpoint_text(before)}; now {_endpoint_text(now)}")
    return None


def _endpoint_text(endpoint: Mapping[str, Any]) -> str:
    """An endpoint identity in a few words: served models, deployments, the /v1/models entry."""
    served = endpoint.get("served") if isinstance(endpoint.get("served"), Mapping) else {}
    answered = [a for a in endpoint.get("answered_by") or () if isinstance(a, Mapping)]
    deployments = sorted({str(a[h]) for a in answered for h in ("x-litellm-model-id",) if a.get(h)})
    parts = [", ".join(served_models(endpoint)) or "no served model named"]
    parts += [f"deployment {', '.join(deployments)}"] if deployments else []
    parts += [f"{k} {served[k]!r}" for k in ("created", "max_model_len", "owned_by") if served.get(k)]
    parts += [f"server release {endpoint['server_version']!r}"] if endpoint.get("server_version") else []
    return printable(" ".join(parts[:1]) + "".join(f"; {p}" for p in parts[1:]))  # as a server sent them


def _check_metrics(cfg: GateConfig, pairs: list[tuple[ArmOutcome, ArmOutcome]]) -> None:
    for name in cfg.metrics:
        for b_arm, c_arm in pairs:
            for side, arm in (("baseline", b_arm), ("candidate", c_arm)):
                if name not in arm.metric_names:
                    raise ConfigError(f"gate.metrics lists {name!r} but the {side} arm {arm.arm!r} has no "
                                      f"{name} scores (it has: {', '.join(arm.metric_names) or 'none'})")


def _check_tasks(pairs: list[tuple[ArmOutcome, ArmOutcome]]) -> None:
    for b_arm, c_arm in pairs:
        if not set(b_arm.tasks["task_id"]) & set(c_arm.tasks["task_id"]):
            raise ConfigError(f"model {c_arm.model}: baseline arm {b_arm.arm!r} and candidate arm "
                              f"{c_arm.arm!r} share no task id")


def gate(baseline: Baseline | Path | str, candidate_run_dir: Baseline | Path | str, cfg: GateConfig,
         out_dir: Path | str) -> GateOutcome:
    """Gate a candidate run against a baseline; write gate.md, junit.xml, metrics.txt, gate.json.

    ``baseline`` is a run directory, a blessed baseline file (``bless``, one run or several
    pooled) or a loaded ``Baseline``; ``candidate_run_dir`` a finished run directory (or a
    loaded ``Baseline``, as the calibration benchmark passes). Arms are
    matched by label, else by model (``_pair_arms``); only shared task ids are compared. See the
    module docstring for the rules.

    Returns a GateOutcome whose ``exit_code`` is 2 for ERROR, 1 for FAIL and 0 for PASS or
    INCONCLUSIVE. Raises ConfigError (exit 2) for unusable input: missing or
    malformed files, no model in common, a dataset content hash that differs
    between baseline and candidate (both hashes named), a gated metric missing.
    """
    refuse_run_dir_as_output(out_dir, "gate's outputs")
    base = baseline if isinstance(baseline, Baseline) else load_baseline(baseline)
    cand = candidate_run_dir if isinstance(candidate_run_dir, Baseline) else load_baseline(candidate_run_dir)
    for side, run in (("baseline", base), ("candidate", cand)):
        if run.problems:  # samples skipped, the file changed, answers missing: not the template's measure
            raise ConfigError(f"the {side} {run.source} is a run that exited 2 ({run.problems[0]}); gate "
                              f"runs that exited 0{FINISH_IT}")
    if cand.run_id in base.run_id.split("+"):  # a nightly that kept its folder, or a copy of the run
        raise ConfigError(f"the candidate {cand.source} is the baseline's own run {cand.run_id}: nothing "
                          "new would be gated; gate a new run (a nightly: a folder of its own each night)")
    _check_dataset(base, cand)
    pairs, arm_notes = _pair_arms(base, cand)
    _check_metrics(cfg, pairs)
    _check_tasks(pairs)
    models = _model_gates(pairs, cfg, frozenset(base.run_id.split("+")))
    models += _unmeasured_arms(base, cand, pairs)
    # a model is gated where any of its arms is paired, across models too (a label kept over an upgrade)
    paired = {"baseline": {b.model for b, _ in pairs}, "candidate": {c.model for _, c in pairs}}
    notes = tuple(f"model {m} is only in the candidate; not gated"
                  for m in dict.fromkeys(a.model for a in cand.arms) if m not in paired["candidate"])
    notes += tuple(arm_notes)
    notes += tuple(f"arm {c.arm}: the baseline's model {b.model} against the candidate's {c.model} "
                   "(paired by their label)" for b, c in pairs if b.model != c.model)
    notes += tuple(_params_notes(pairs)) + tuple(_replay_notes(pairs)) + tuple(_truncation_notes(pairs))
    problems = problems_note({task for _, c_arm in pairs for task in c_arm.tasks["task_id"]})
    notes += (problems,) if problems else ()
    notes += tuple(f"{side} arm {arm.arm}: {arm.aggregates['unverified']} of its verdicts are unverified "
                   "(program and tests ran in one process: tasks whose tests cannot run apart, JavaScript); "
                   "a hostile program could forge them"
                   for pair in pairs for side, arm in zip(("baseline", "candidate"), pair, strict=True)
                   if arm.aggregates.get("unverified"))
    outcome = GateOutcome(
        verdict=worst(m.verdict for m in models), models=tuple(models),
        baseline=f"{base.source} (run {base.run_id})", candidate=f"{cand.source} (run {cand.run_id})",
        dataset=f"{base.dataset.get('name', '?')} sha256:{base.content_sha256[:12]}", config=cfg, notes=notes)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    outputs = {name: out / name for name in ("gate.md", "junit.xml", "metrics.txt", "gate.json")}
    text = json.dumps(summary(outcome, cand.run_id).to_json(), indent=2, allow_nan=False) + "\n"
    outputs["gate.json"].write_text(text, encoding="utf-8")
    outputs["gate.md"].write_text(render_markdown(outcome), encoding="utf-8")
    outputs["junit.xml"].write_text(render_junit(outcome), encoding="utf-8")
    outputs["metrics.txt"].write_text(render_openmetrics(outcome), encoding="utf-8")
    return replace(outcome, outputs=outputs)
