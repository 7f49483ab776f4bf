"""The template-change gate: may a candidate run ship against a baseline?

For each model present in both runs the candidate's arm is compared with the
baseline's on the tasks they share, task by task (paired):

- pass@1: per-task pass rate (passes / samples, infra errors left out);
- each similarity metric the gate config lists: per-task mean;
- the candidate's infra_error rate against ``max_infra_error``.

A drop check FAILs when the mean drop exceeds ``max_drop`` and the paired test
(a sign-flip test over tasks; exact McNemar when both runs have one sample per
task) says it is real at ``alpha`` after Holm's correction over every model and
check. Intervals are 95% paired bootstrap intervals over tasks.
It is INCONCLUSIVE when its interval spans both 0 and ``-max_drop`` (or the drop
exceeds ``max_drop`` without significance): exit 0, flagged in every output.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Sequence
from xml.etree import ElementTree as ET

import pandas as pd

from evalkit import metrics
from evalkit.config import ConfigError, GateConfig
from evalkit.reporting.baseline import ArmOutcome, Baseline, load_baseline
from evalkit.reporting.openmetrics import escape_label
from evalkit.results import natural_key

TOP_FLIPS = 10
"""Flips listed per direction in gate.md."""


class GateVerdict(str, enum.Enum):
    """Outcome of one check, one model, or the whole gate."""

    PASS = "PASS"
    FAIL = "FAIL"
    INCONCLUSIVE = "INCONCLUSIVE"


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


@dataclass(frozen=True)
class Flip:
    """A task whose outcome changed (passed: at least one sample passed)."""

    task_id: str
    baseline_rate: float
    candidate_rate: float


@dataclass(frozen=True)
class ModelGate:
    """The gate's result for one model."""

    model: str
    baseline_arm: str
    candidate_arm: str
    baseline_template: str
    candidate_template: str
    n_tasks: int
    """Shared tasks with answered samples on both sides."""
    checks: tuple[Check, ...]
    regressions: tuple[Flip, ...]
    """Passed in the baseline, failed in the candidate (worst first)."""
    fixes: tuple[Flip, ...]
    """Failed in the baseline, passed in the candidate (best first)."""

    @property
    def verdict(self) -> GateVerdict:
        """FAIL if any check failed, else INCONCLUSIVE if any was, else PASS."""
        return _worst(c.verdict for c in self.checks)


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
    """gate.md, junit.xml and metrics.txt paths."""

    @property
    def exit_code(self) -> int:
        """1 for FAIL, 0 otherwise (INCONCLUSIVE is flagged, not failed)."""
        return 1 if self.verdict is GateVerdict.FAIL else 0


def _worst(verdicts) -> GateVerdict:
    verdicts = set(verdicts)
    for v in (GateVerdict.FAIL, GateVerdict.INCONCLUSIVE):
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


def _rates(tasks: pd.DataFrame) -> pd.DataFrame:
    out = tasks.set_index("task_id")
    answered = out["n"] - out["infra_error"]
    out = out.assign(answered=answered, rate=out["passed"] / answered.where(answered > 0))
    return out


def _drop_check(model: str, name: str, base: pd.Series, cand: pd.Series, binary: bool,
                cfg: GateConfig) -> Check:
    """Paired comparison of per-task values (aligned, no NaN); verdict decided later.

    ``binary``: one answered sample per task on both sides, so McNemar's exact test applies.
    """
    if base.empty:
        return Check(model, name, None, None, None, test="none",
                     verdict=GateVerdict.INCONCLUSIVE, reason="no shared task with answered samples")
    b, c = base.to_numpy(float), cand.to_numpy(float)
    # paired_test(a, b) reports b - a: candidate minus baseline.
    res = metrics.paired_test(b, c, resamples=cfg.resamples, confidence=0.95, seed=cfg.seed,
                              binary=binary)
    return Check(model, name, float(b.mean()), float(c.mean()), float(res["diff"]),
                 float(res["ci_low"]), float(res["ci_high"]), float(res["p_value"]), test=res["test"])


def _infra_rate(tasks: pd.DataFrame) -> float:
    total = int(tasks["n"].sum())
    return float(tasks["infra_error"].sum()) / total if total else 0.0


def _infra_check(model: str, base: pd.DataFrame, cand: pd.DataFrame, cfg: GateConfig) -> Check:
    """The candidate's share of infra_error samples against the threshold (the baseline's for context)."""
    rate = _infra_rate(cand)
    fail = rate > cfg.max_infra_error
    reason = (f"infra_error rate {rate:.1%} {'exceeds' if fail else 'within'} "
              f"max_infra_error {cfg.max_infra_error:.1%}")
    return Check(model, "infra_error", _infra_rate(base), rate, rate - _infra_rate(base), test="threshold",
                 verdict=GateVerdict.FAIL if fail else GateVerdict.PASS, reason=reason)


def _flips(base: pd.DataFrame, cand: pd.DataFrame) -> tuple[tuple[Flip, ...], tuple[Flip, ...]]:
    flips = [Flip(t, float(base.at[t, "rate"]), float(cand.at[t, "rate"])) for t in base.index]
    regressions = [f for f in flips if f.baseline_rate > 0 and f.candidate_rate == 0]
    fixes = [f for f in flips if f.baseline_rate == 0 and f.candidate_rate > 0]
    regressions.sort(key=lambda f: (f.candidate_rate - f.baseline_rate, natural_key(f.task_id)))
    fixes.sort(key=lambda f: (f.baseline_rate - f.candidate_rate, natural_key(f.task_id)))
    return tuple(regressions), tuple(fixes)


def _model_gate(pair: tuple[ArmOutcome, ArmOutcome], cfg: GateConfig) -> ModelGate:
    b_arm, c_arm = pair
    base, cand = _rates(b_arm.tasks), _rates(c_arm.tasks)
    shared = [t for t in base.index if t in cand.index]
    if not shared:
        raise ConfigError(f"model {c_arm.model}: baseline arm {b_arm.arm!r} and candidate arm {c_arm.arm!r} "
                          "share no task id")
    usable = [t for t in shared if not (math.isnan(base.at[t, "rate"]) or math.isnan(cand.at[t, "rate"]))]
    base_u, cand_u = base.loc[usable], cand.loc[usable]
    single = bool(usable) and bool((base_u["answered"] == 1).all() and (cand_u["answered"] == 1).all())
    model = c_arm.model
    checks = [_drop_check(model, "pass@1", base_u["rate"], cand_u["rate"], single, cfg)]
    for name in cfg.metrics:
        col = f"metric_{name}"
        both = base_u[col].notna() & cand_u[col].notna()
        checks.append(_drop_check(model, name, base_u.loc[both, col], cand_u.loc[both, col], False, cfg))
    checks.append(_infra_check(model, base.loc[shared], cand.loc[shared], cfg))
    regressions, fixes = _flips(base_u, cand_u)
    return ModelGate(model, b_arm.arm, c_arm.arm, _template_name(b_arm), _template_name(c_arm),
                     len(usable), tuple(checks), regressions, fixes)


def _template_name(arm: ArmOutcome) -> str:
    t = arm.template
    return f"{t.get('family', '?')}-{t.get('version', '?')} ({str(t.get('sha256', ''))[:8]})"


def _decide(check: Check, p_adjusted: float | None, cfg: GateConfig) -> Check:
    if check.test in ("threshold", "none"):
        return check
    drop = -check.diff
    p = p_adjusted if p_adjusted is not None else 1.0
    interval = _interval(check)
    if drop > cfg.max_drop and p < cfg.alpha:
        verdict, reason = GateVerdict.FAIL, (f"dropped {drop:.3f} > max_drop {cfg.max_drop} "
                                             f"(p={p:.3g} < alpha {cfg.alpha}, Holm)")
    elif check.ci_low < -cfg.max_drop and check.ci_high >= 0:
        verdict, reason = GateVerdict.INCONCLUSIVE, (
            f"interval {interval} spans both 0 and -max_drop {-cfg.max_drop}; more tasks or samples needed")
    elif drop > cfg.max_drop:
        verdict, reason = GateVerdict.INCONCLUSIVE, (f"dropped {drop:.3f} > max_drop but not significant "
                                                     f"(p={p:.3g}, Holm)")
    else:
        verdict, reason = GateVerdict.PASS, f"change {check.diff:+.3f}, interval {interval}"
    return replace(check, p_adjusted=p_adjusted, verdict=verdict, reason=reason)


def _adjust(models: list[ModelGate], cfg: GateConfig) -> list[ModelGate]:
    """Holm over every tested check of every model, then the verdict of each."""
    tested = [(i, j) for i, m in enumerate(models) for j, c in enumerate(m.checks) if c.p_value is not None]
    adjusted = metrics.holm([models[i].checks[j].p_value for i, j in tested]) if tested else []
    by_pos = {pos: float(p) for pos, p in zip(tested, adjusted, strict=True)}
    return [replace(m, checks=tuple(_decide(c, by_pos.get((i, j)), cfg) for j, c in enumerate(m.checks)))
            for i, m in enumerate(models)]


def _check_metrics(cfg: GateConfig, pairs: list[tuple[ArmOutcome, ArmOutcome]]) -> None:
    for name in cfg.metrics:
        for b_arm, c_arm in pairs:
            for side, arm in (("baseline", b_arm), ("candidate", c_arm)):
                if name not in arm.metric_names:
                    raise ConfigError(f"gate.metrics lists {name!r} but the {side} arm {arm.arm!r} has no "
                                      f"{name} scores (it has: {', '.join(arm.metric_names) or 'none'})")


def gate(baseline: Baseline | Path | str, candidate_run_dir: Path | str, cfg: GateConfig,
         out_dir: Path | str) -> GateOutcome:
    """Gate a candidate run against a baseline and write gate.md, junit.xml, metrics.txt to ``out_dir``.

    ``baseline`` is a run directory, a blessed baseline file (``bless``) or a loaded
    ``Baseline``; ``candidate_run_dir`` a finished run directory. Arms are matched
    by model (by arm label when a model has several arms, else the first of each);
    only shared task ids are compared. See the module docstring for the rules.

    Returns a GateOutcome whose ``exit_code`` is 1 for FAIL and 0 for PASS or
    INCONCLUSIVE. Raises ConfigError (exit 2) for unusable input: missing or
    malformed files, no model in common, a dataset content hash that differs
    between baseline and candidate (both hashes named), a gated metric missing.
    """
    base = baseline if isinstance(baseline, Baseline) else load_baseline(baseline)
    cand = load_baseline(candidate_run_dir)
    _check_dataset(base, cand)
    pairs = _pair_arms(base, cand)
    _check_metrics(cfg, pairs)
    models = _adjust([_model_gate(p, cfg) for p in pairs], cfg)
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
    outputs = {"gate.md": out / "gate.md", "junit.xml": out / "junit.xml", "metrics.txt": out / "metrics.txt"}
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


def _flip_lines(title: str, flips: Sequence[Flip]) -> list[str]:
    if not flips:
        return []
    shown = ", ".join(f"`{f.task_id}` ({f.baseline_rate:.2f}→{f.candidate_rate:.2f})"
                      for f in flips[:TOP_FLIPS])
    more = f" and {len(flips) - TOP_FLIPS} more" if len(flips) > TOP_FLIPS else ""
    return [f"- {title} ({len(flips)}): {shown}{more}"]


def render_markdown(outcome: GateOutcome) -> str:
    """gate.md: the verdict, one table row per model and check, and the top flips."""
    cfg = outcome.config
    flag = " ⚠️ flagged: not enough evidence either way" if outcome.verdict is GateVerdict.INCONCLUSIVE else ""
    lines = [f"## evalkit gate: **{outcome.verdict.value}**{flag}", "",
             f"Baseline: {outcome.baseline}  ", f"Candidate: {outcome.candidate}  ",
             f"Dataset: {outcome.dataset}; max_drop {cfg.max_drop}, alpha {cfg.alpha} (Holm), "
             f"max_infra_error {cfg.max_infra_error}", "",
             "| model | check | baseline | candidate | diff | 95% CI | p (Holm) | test | verdict |",
             "|---|---|---|---|---|---|---|---|---|"]
    for m in outcome.models:
        for c in m.checks:
            lines.append(f"| {m.model} | {c.name} | {_num(c.baseline)} | {_num(c.candidate)} | "
                         f"{_num(c.diff, '+.3f')} | {_interval(c)} | {_num(c.p_adjusted, '.3g')} | "
                         f"{c.test} | **{c.verdict.value}** |")
    for m in outcome.models:
        lines += ["", f"### {m.model}: {m.verdict.value}",
                  f"{m.baseline_arm} [{m.baseline_template}] → {m.candidate_arm} [{m.candidate_template}], "
                  f"{m.n_tasks} paired tasks"]
        lines += [f"- {c.name}: {c.reason}" for c in m.checks if c.verdict is not GateVerdict.PASS]
        lines += _flip_lines("passed → failed", m.regressions) + _flip_lines("failed → passed", m.fixes)
    lines += [f"- note: {n}" for n in outcome.notes]
    return "\n".join(lines) + "\n"


def render_junit(outcome: GateOutcome) -> str:
    """junit.xml: one testcase per model and check; FAIL is a failure, INCONCLUSIVE is skipped (flagged)."""
    checks = [(m, c) for m in outcome.models for c in m.checks]
    suite = ET.Element("testsuite", name="evalkit-gate", tests=str(len(checks)),
                       failures=str(sum(c.verdict is GateVerdict.FAIL for _, c in checks)),
                       skipped=str(sum(c.verdict is GateVerdict.INCONCLUSIVE for _, c in checks)),
                       errors="0")
    props = ET.SubElement(suite, "properties")
    ET.SubElement(props, "property", name="gate_verdict", value=outcome.verdict.value)
    for m, c in checks:
        case = ET.SubElement(suite, "testcase", classname=f"gate.{m.model}", name=c.name)
        if c.verdict is GateVerdict.FAIL:
            ET.SubElement(case, "failure", message=c.reason, type="regression").text = _case_text(m, c)
        elif c.verdict is GateVerdict.INCONCLUSIVE:
            ET.SubElement(case, "skipped", message=f"INCONCLUSIVE: {c.reason}")
        ET.SubElement(case, "system-out").text = _case_text(m, c)
    ET.indent(suite)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suite, encoding="unicode") + "\n"


def _case_text(m: ModelGate, c: Check) -> str:
    text = (f"{c.verdict.value}: {c.reason}\nbaseline {_num(c.baseline)} candidate {_num(c.candidate)} "
            f"diff {_num(c.diff, '+.3f')} {_interval(c)}")
    if c.name == "pass@1" and m.regressions:
        text += "\npassed -> failed: " + ", ".join(f.task_id for f in m.regressions)
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

