"""The template-change gate: may a candidate run ship against a baseline?

For each model present in both runs the candidate's arm is compared with the
baseline's on the tasks they share, task by task, by ``metrics.compare_arms``
(the engine behind reports and ``compare`` too):

- pass@1: per-task pass rate (passes / scored samples, infra errors left out);
- each similarity metric the gate config lists: per-task mean;
- the candidate's infra_error rate against ``max_infra_error``.

A drop check decides on its paired bootstrap interval against the tolerated drop:
FAIL when the whole interval lies below ``-max_drop`` (confidently worse than
tolerated), PASS when it lies at or above ``-max_drop``, INCONCLUSIVE otherwise.
The intervals are family-wise: each is drawn at the Bonferroni-adjusted level
``1 - alpha / m`` over the m drop checks of the call (every model and metric), so
the chance that any FAIL of a call is a false alarm stays below ``alpha / 2``.
Each check reports the smallest drop it would catch with 80% power at its own
noise, and an INCONCLUSIVE one the samples per task that would decide it.
A candidate whose infra_error share exceeds ``max_infra_error`` is an ERROR
(exit 2): its numbers measure the endpoint, not the template.
"""

from __future__ import annotations

import enum
import json
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Sequence
from xml.etree import ElementTree as ET

import pandas as pd

from evalkit import metrics
from evalkit.config import ConfigError, GateConfig
from evalkit.metrics.compare import PASS_AT_1, ArmTasks, compare_arms, sampling_std_error
from evalkit.records import Flip, PairedDiff
from evalkit.reporting.baseline import ArmOutcome, Baseline, load_baseline
from evalkit.reporting.openmetrics import escape_label
from evalkit.reporting.paired import describe_flip

TOP_FLIPS = 10
"""Flips listed per direction in gate.md."""
POWER = 0.8
"""Power at which each check states the drop it would catch."""


class GateVerdict(str, enum.Enum):
    """Outcome of one check, one model, or the whole gate."""

    PASS = "PASS"
    FAIL = "FAIL"
    INCONCLUSIVE = "INCONCLUSIVE"
    ERROR = "ERROR"
    """The candidate's endpoint failed too often for its numbers to mean anything (exit 2)."""


@dataclass(frozen=True)
class Check:
    """One gated quantity for one model."""

    model: str
    name: str
    """``pass@1``, a similarity metric name, or ``infra_error``."""
    baseline: float | None
    candidate: float | None
    diff: float | None
    """candidate - baseline (for drop checks: mean of per-task differences over shared tasks)."""
    ci_low: float | None = None
    ci_high: float | None = None
    p_value: float | None = None
    """Raw p-value of the paired test; None for threshold checks."""
    p_adjusted: float | None = None
    """Holm-adjusted over every model and drop check of the gate."""
    test: str = "sign-flip"
    """sign-flip (paired randomisation test), mcnemar (exact), threshold, or none."""
    verdict: GateVerdict = GateVerdict.PASS
    reason: str = ""
    confidence: float | None = None
    """Family-wise adjusted confidence level of the interval."""
    detectable_drop: float | None = None
    """Smallest true drop this check FAILs with 80% power at its own n and noise."""
    samples_needed: int | None = None
    """INCONCLUSIVE only: samples per task (candidate side) after which the interval would decide."""


@dataclass(frozen=True)
class ModelGate:
    """The gate's result for one model."""

    model: str
    baseline_arm: str
    candidate_arm: str
    baseline_template: str
    candidate_template: str
    n_tasks: int
    """Shared tasks with scored samples on both sides."""
    checks: tuple[Check, ...]
    flips: tuple[Flip, ...] = ()
    """Tasks whose pass rate changed: regressions (largest drop first), then improvements."""

    @property
    def verdict(self) -> GateVerdict:
        """ERROR, else FAIL if any check failed, else INCONCLUSIVE if any was, else PASS."""
        return _worst(c.verdict for c in self.checks)

    @property
    def regressions(self) -> tuple[Flip, ...]:
        """Tasks whose pass rate fell, largest drop first."""
        return tuple(f for f in self.flips if f.change < 0)

    @property
    def fixes(self) -> tuple[Flip, ...]:
        """Tasks whose pass rate rose, largest gain first."""
        return tuple(f for f in self.flips if f.change > 0)


@dataclass(frozen=True)
class GateOutcome:
    """The gate's verdict, per-model checks and where the outputs went."""

    verdict: GateVerdict
    models: tuple[ModelGate, ...]
    baseline: str
    """Baseline source (run dir or blessed file) and run id."""
    candidate: str
    dataset: str
    config: GateConfig
    notes: tuple[str, ...] = ()
    """Models present on one side only, and the like."""
    outputs: dict[str, Path] = field(default_factory=dict)
    """gate.md, junit.xml, metrics.txt and gate.json paths."""

    @property
    def exit_code(self) -> int:
        """2 for ERROR (infra errors above threshold), 1 for FAIL, 0 otherwise (INCONCLUSIVE is flagged)."""
        return {GateVerdict.ERROR: 2, GateVerdict.FAIL: 1}.get(self.verdict, 0)


def _worst(verdicts) -> GateVerdict:
    verdicts = set(verdicts)
    for v in (GateVerdict.ERROR, GateVerdict.FAIL, GateVerdict.INCONCLUSIVE):
        if v in verdicts:
            return v
    return GateVerdict.PASS


def _check_dataset(base: Baseline, cand: Baseline) -> None:
    b, c = base.content_sha256, cand.content_sha256
    if not b or not c:
        missing = base.source if not b else cand.source
        raise ConfigError(f"{missing} records no dataset.content_sha256; cannot check it is the same dataset")
    if b != c:
        raise ConfigError(f"baseline and candidate used different datasets: baseline {base.source} has "
                          f"content_sha256 {b}, candidate {cand.source} has {c}; "
                          "bless a baseline on this dataset")


def _pair_arms(base: Baseline, cand: Baseline) -> list[tuple[ArmOutcome, ArmOutcome]]:
    """One (baseline, candidate) arm pair per model in both: same label if any, else the first of each."""
    pairs = []
    for model in dict.fromkeys(a.model for a in cand.arms):
        b_arms = [a for a in base.arms if a.model == model]
        c_arms = [a for a in cand.arms if a.model == model]
        if not b_arms:
            continue
        labels = {a.arm: a for a in b_arms}
        same = [(labels[c.arm], c) for c in c_arms if c.arm in labels]
        pairs.append(same[0] if same else (b_arms[0], c_arms[0]))
    if not pairs:
        raise ConfigError(f"no model in common: baseline has {sorted({a.model for a in base.arms})}, "
                          f"candidate has {sorted({a.model for a in cand.arms})}")
    return pairs


def _infra_rate(tasks: pd.DataFrame) -> float:
    total = int(tasks["n"].sum())
    return float(tasks["infra_error"].sum()) / total if total else 0.0


def _infra_check(model: str, base: pd.DataFrame, cand: pd.DataFrame, cfg: GateConfig) -> Check:
    """The candidate's share of infra_error samples against the threshold (the baseline's for context)."""
    rate = _infra_rate(cand)
    bad = rate > cfg.max_infra_error
    reason = (f"infra_error rate {rate:.1%} {'exceeds' if bad else 'within'} "
              f"max_infra_error {cfg.max_infra_error:.1%}" + ("; the endpoint, not the template, "
                                                               "decides these numbers" if bad else ""))
    return Check(model, "infra_error", _infra_rate(base), rate, rate - _infra_rate(base), test="threshold",
                 verdict=GateVerdict.ERROR if bad else GateVerdict.PASS, reason=reason)


def _mean_scored(tasks: pd.DataFrame) -> float:
    scored = tasks["n"] - tasks["infra_error"]
    return float(scored[scored > 0].mean()) if (scored > 0).any() else 0.0


def _drop_check(model: str, diff: PairedDiff | None, cand_samples: float, noise: float,
                cfg: GateConfig) -> Check:
    """The verdict of one drop check: its family-wise interval against ``-max_drop``.

    ``noise``: the standard error sampling alone would give (pass@1), so that two runs that
    happened to agree on every task do not claim a power they do not have.
    """
    name = diff.measure if diff is not None else PASS_AT_1
    if diff is None:
        return Check(model, name, None, None, None, test="none", verdict=GateVerdict.INCONCLUSIVE,
                     reason="no shared task with scored samples")
    check = Check(model, diff.measure, None, None, diff.diff, diff.ci_low, diff.ci_high, diff.p_value,
                  diff.p_adjusted, diff.test, confidence=diff.confidence,
                  detectable_drop=metrics.detectable_drop(max(diff.std_error, noise), cfg.max_drop,
                                                          diff.confidence, POWER))
    interval, floor = _interval(check), -cfg.max_drop
    if diff.ci_high < floor:
        return replace(check, verdict=GateVerdict.FAIL, reason=(
            f"the whole {diff.confidence:.2%} interval {interval} lies below -max_drop {floor}"))
    if diff.ci_low >= floor:
        return replace(check, verdict=GateVerdict.PASS,
                       reason=f"change {diff.diff:+.3f}, interval {interval} above -max_drop {floor}")
    needed = metrics.decisive_samples(diff.diff, diff.std_error, cfg.max_drop, diff.confidence, cand_samples)
    more = f"; about {needed} samples per task would decide it" if needed else ""
    return replace(check, verdict=GateVerdict.INCONCLUSIVE, samples_needed=needed,
                   reason=f"interval {interval} contains -max_drop {floor}{more}")


def _means(diff: PairedDiff | None, b_arm: ArmOutcome,
           c_arm: ArmOutcome) -> tuple[float | None, float | None]:
    """Baseline and candidate means of a measure over the tasks the diff paired."""
    if diff is None:
        return None, None
    values = []
    for arm in (b_arm, c_arm):
        tasks = arm.tasks.set_index("task_id")
        if diff.measure == PASS_AT_1:
            scored = tasks["n"] - tasks["infra_error"]
            per_task = tasks["passed"] / scored.where(scored > 0)
        else:
            per_task = tasks[f"metric_{diff.measure}"]
        values.append(per_task)
    both = pd.concat(values, axis=1, join="inner").dropna()
    return float(both.iloc[:, 0].mean()), float(both.iloc[:, 1].mean())


def _model_gates(pairs: list[tuple[ArmOutcome, ArmOutcome]], cfg: GateConfig) -> list[ModelGate]:
    """Every model's checks from one ``compare_arms`` call (one family for Holm and the intervals)."""
    sides = [(ArmTasks(f"baseline:{b.model}", b.tasks), ArmTasks(c.model, c.tasks)) for b, c in pairs]
    comparison = compare_arms(sides, (PASS_AT_1, *cfg.metrics), confidence=1.0 - cfg.alpha,
                              resamples=cfg.resamples, seed=cfg.seed, alpha=cfg.alpha,
                              familywise_intervals=True)
    out = []
    for b_arm, c_arm in pairs:
        model, checks = c_arm.model, []
        for measure in (PASS_AT_1, *cfg.metrics):
            diff = comparison.diff(model, measure)
            noise = sampling_std_error(b_arm.tasks, c_arm.tasks) if measure == PASS_AT_1 else 0.0
            check = _drop_check(model, diff, _mean_scored(c_arm.tasks), noise, cfg)
            base_mean, cand_mean = _means(diff, b_arm, c_arm)
            checks.append(replace(check, name=measure, baseline=base_mean, candidate=cand_mean))
        checks.append(_infra_check(model, b_arm.tasks, c_arm.tasks, cfg))
        pass1 = comparison.diff(model, PASS_AT_1)
        out.append(ModelGate(model, b_arm.arm, c_arm.arm, _template_name(b_arm), _template_name(c_arm),
                             pass1.n_tasks if pass1 else 0, tuple(checks), comparison.flips_of(model)))
    return out


def _template_name(arm: ArmOutcome) -> str:
    t = arm.template
    return f"{t.get('family', '?')}-{t.get('version', '?')} ({str(t.get('sha256', ''))[:8]})"


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
    matched by model (by arm label when a model has several arms, else the first of each);
    only shared task ids are compared. See the module docstring for the rules.

    Returns a GateOutcome whose ``exit_code`` is 2 for ERROR, 1 for FAIL and 0 for PASS or
    INCONCLUSIVE. Raises ConfigError (exit 2) for unusable input: missing or
    malformed files, no model in common, a dataset content hash that differs
    between baseline and candidate (both hashes named), a gated metric missing.
    """
    base = baseline if isinstance(baseline, Baseline) else load_baseline(baseline)
    cand = candidate_run_dir if isinstance(candidate_run_dir, Baseline) else load_baseline(candidate_run_dir)
    _check_dataset(base, cand)
    pairs = _pair_arms(base, cand)
    _check_metrics(cfg, pairs)
    _check_tasks(pairs)
    models = _model_gates(pairs, cfg)
    paired = {c.model for _, c in pairs}
    notes = tuple(f"model {m} is only in the {side}; not gated"
                  for side, run in (("baseline", base), ("candidate", cand))
                  for m in dict.fromkeys(a.model for a in run.arms) if m not in paired)
    outcome = GateOutcome(
        verdict=_worst(m.verdict for m in models), models=tuple(models),
        baseline=f"{base.source} (run {base.run_id})", candidate=f"{cand.source} (run {cand.run_id})",
        dataset=f"{base.dataset.get('name', '?')} sha256:{base.content_sha256[:12]}", config=cfg, notes=notes)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    outputs = {name: out / name for name in ("gate.md", "junit.xml", "metrics.txt", "gate.json")}
    text = json.dumps(summary(outcome, cand.run_id), indent=2, allow_nan=False) + "\n"
    outputs["gate.json"].write_text(text, encoding="utf-8")
    outputs["gate.md"].write_text(render_markdown(outcome), encoding="utf-8")
    outputs["junit.xml"].write_text(render_junit(outcome), encoding="utf-8")
    outputs["metrics.txt"].write_text(render_openmetrics(outcome), encoding="utf-8")
    return replace(outcome, outputs=outputs)


# -- outputs ------------------------------------------------------------------------------------

def _num(value: float | None, fmt: str = ".3f") -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else format(value, fmt)


def _interval(check: Check) -> str:
    if check.ci_low is None or check.ci_high is None:
        return ""
    return f"[{check.ci_low:+.3f}, {check.ci_high:+.3f}]"


def summary(outcome: GateOutcome, candidate_run_id: str) -> dict:
    """gate.json: the verdict per model, what `evalkit history` marks on the candidate run's points."""
    return {"verdict": outcome.verdict.value, "exit_code": outcome.exit_code,
            "candidate_run_id": candidate_run_id, "baseline": outcome.baseline,
            "candidate": outcome.candidate,
            "models": [{"model": m.model, "arm": m.candidate_arm, "verdict": m.verdict.value,
                        "checks": [{"name": c.name, "verdict": c.verdict.value, "diff": c.diff,
                                    "ci_low": c.ci_low, "ci_high": c.ci_high, "reason": c.reason}
                                   for c in m.checks]} for m in outcome.models]}


def terminal_lines(outcome: GateOutcome) -> list[str]:
    """What `evalkit gate` prints under its verdict: each model's checks that did not PASS, and its power."""
    lines = []
    for m in outcome.models:
        lines.append(f"  {m.model}: {m.verdict.value} ({m.n_tasks} paired tasks)")
        lines += [f"    {c.name}: {c.verdict.value}: {c.reason}"
                  for c in m.checks if c.verdict is not GateVerdict.PASS]
        lines += [f"    {line[2:]}" for line in _power_line(m)]
    return lines


def _flip_lines(title: str, flips: Sequence[Flip]) -> list[str]:
    if not flips:
        return []
    significant = sum(f.significant for f in flips)
    shown = ", ".join(describe_flip(f) for f in flips[:TOP_FLIPS])
    more = f" and {len(flips) - TOP_FLIPS} more" if len(flips) > TOP_FLIPS else ""
    return [f"- {title} ({len(flips)}, {significant} significant): {shown}{more}"]


def _power_line(m: ModelGate) -> list[str]:
    pass1 = next((c for c in m.checks if c.name == PASS_AT_1 and c.detectable_drop is not None), None)
    if pass1 is None:
        return []
    return [f"- power: this gate catches a true pass@1 drop of {pass1.detectable_drop:.3f} or more with "
            f"{POWER:.0%} power at these tasks and samples"]


def render_markdown(outcome: GateOutcome) -> str:
    """gate.md: the verdict, one table row per model and check, power, and the per-task flips."""
    cfg = outcome.config
    flags = {GateVerdict.INCONCLUSIVE: " ⚠️ flagged: not enough evidence either way",
             GateVerdict.ERROR: " ⛔ the candidate's endpoint failed too often (exit 2)"}
    flag = flags.get(outcome.verdict, "")
    lines = [f"## evalkit gate: **{outcome.verdict.value}**{flag}", "",
             f"Baseline: {outcome.baseline}  ", f"Candidate: {outcome.candidate}  ",
             f"Dataset: {outcome.dataset}; max_drop {cfg.max_drop}, alpha {cfg.alpha} family-wise "
             f"(Bonferroni intervals, Holm p-values), max_infra_error {cfg.max_infra_error}", "",
             "FAIL: the whole interval lies below -max_drop; PASS: it lies above; "
             "INCONCLUSIVE otherwise.", "",
             "| model | check | baseline | candidate | diff | interval (level) | p (Holm) | test "
             "| catches drop ≥ | verdict |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for m in outcome.models:
        for c in m.checks:
            level = f" ({c.confidence:.1%})" if c.confidence is not None else ""
            lines.append(f"| {m.model} | {c.name} | {_num(c.baseline)} | {_num(c.candidate)} | "
                         f"{_num(c.diff, '+.3f')} | {_interval(c)}{level} | {_num(c.p_adjusted, '.3g')} | "
                         f"{c.test} | {_num(c.detectable_drop)} | **{c.verdict.value}** |")
    for m in outcome.models:
        lines += ["", f"### {m.model}: {m.verdict.value}",
                  f"{m.baseline_arm} [{m.baseline_template}] → {m.candidate_arm} [{m.candidate_template}], "
                  f"{m.n_tasks} paired tasks"]
        lines += [f"- {c.name}: {c.reason}" for c in m.checks if c.verdict is not GateVerdict.PASS]
        lines += _power_line(m)
        lines += (_flip_lines("pass rate fell", m.regressions) + _flip_lines("pass rate rose", m.fixes))
    lines += [f"- note: {n}" for n in outcome.notes]
    return "\n".join(lines) + "\n"


def render_junit(outcome: GateOutcome) -> str:
    """junit.xml: one testcase per model and check, and one per task whose pass rate fell significantly.

    A FAIL check and a significant task regression are failures, INCONCLUSIVE is skipped
    (flagged), ERROR (infra errors above threshold) is an error.
    """
    suite = ET.Element("testsuite", name="evalkit-gate")
    props = ET.SubElement(suite, "properties")
    ET.SubElement(props, "property", name="gate_verdict", value=outcome.verdict.value)
    counts = {"tests": 0, "failures": 0, "skipped": 0, "errors": 0}
    for m in outcome.models:
        for c in m.checks:
            counts["tests"] += 1
            case = ET.SubElement(suite, "testcase", classname=f"gate.{m.model}", name=c.name)
            if c.verdict is GateVerdict.FAIL:
                counts["failures"] += 1
                ET.SubElement(case, "failure", message=c.reason, type="regression").text = _case_text(m, c)
            elif c.verdict is GateVerdict.INCONCLUSIVE:
                counts["skipped"] += 1
                ET.SubElement(case, "skipped", message=f"INCONCLUSIVE: {c.reason}")
            elif c.verdict is GateVerdict.ERROR:
                counts["errors"] += 1
                ET.SubElement(case, "error", message=c.reason, type="infra_error").text = _case_text(m, c)
            ET.SubElement(case, "system-out").text = _case_text(m, c)
        for flip in (f for f in m.regressions if f.significant):
            counts["tests"] += 1
            counts["failures"] += 1
            case = ET.SubElement(suite, "testcase", classname=f"gate.{m.model}.tasks", name=flip.task_id)
            ET.SubElement(case, "failure", message=f"pass rate fell: {describe_flip(flip)}",
                          type="task_regression")
    for key, value in counts.items():
        suite.set(key, str(value))
    ET.indent(suite)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suite, encoding="unicode") + "\n"


def _case_text(m: ModelGate, c: Check) -> str:
    text = (f"{c.verdict.value}: {c.reason}\nbaseline {_num(c.baseline)} candidate {_num(c.candidate)} "
            f"diff {_num(c.diff, '+.3f')} {_interval(c)}")
    if c.name == PASS_AT_1 and m.regressions:
        text += "\npass rate fell: " + ", ".join(describe_flip(f) for f in m.regressions[:TOP_FLIPS])
    return text


def render_openmetrics(outcome: GateOutcome) -> str:
    """metrics.txt (OpenMetrics): the verdict, exit code and per-model pass@1 baseline/candidate/diff."""
    lines = ["# TYPE evalkit_gate_verdict stateset", "# HELP evalkit_gate_verdict Verdict of the gate."]
    lines += [f'evalkit_gate_verdict{{evalkit_gate_verdict="{v.value}"}} {int(v is outcome.verdict)}'
              for v in GateVerdict]
    lines += ["# TYPE evalkit_gate_exit_code gauge", f"evalkit_gate_exit_code {outcome.exit_code}"]
    series: dict[str, list[str]] = {name: [] for name in (
        "pass_at_1_baseline", "pass_at_1_candidate", "pass_at_1_diff", "infra_error_rate")}
    for m in outcome.models:
        label = f'{{model="{escape_label(m.model)}"}}'
        for c in m.checks:
            if c.name == "pass@1":
                for key, value in (("baseline", c.baseline), ("candidate", c.candidate), ("diff", c.diff)):
                    if value is not None:
                        series[f"pass_at_1_{key}"].append(f"evalkit_gate_pass_at_1_{key}{label} {value:.6g}")
            elif c.name == "infra_error":
                series["infra_error_rate"].append(f"evalkit_gate_infra_error_rate{label} {c.candidate:.6g}")
    for name, rows in series.items():
        if rows:
            lines += [f"# TYPE evalkit_gate_{name} gauge", *rows]
    return "\n".join(lines) + "\n# EOF\n"

