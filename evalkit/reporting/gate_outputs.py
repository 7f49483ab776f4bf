"""The gate's outputs: gate.md, junit.xml, metrics.txt, gate.json and the terminal lines."""

from __future__ import annotations

import math
from typing import Sequence
from xml.etree import ElementTree as ET

from evalkit.metrics.compare import PASS_AT_1
from evalkit.records import Flip, GateCheckResult, GateModelResult, GateResults, printable
from evalkit.reporting.gate_outcome import POWER, Check, GateOutcome, GateVerdict, ModelGate
from evalkit.reporting.junit import xml_ready
from evalkit.reporting.markdown import inline
from evalkit.reporting.openmetrics import escape_label
from evalkit.reporting.paired import describe_flip

TOP_FLIPS = 10
"""Flips listed per direction in gate.md."""


def _num(value: float | None, fmt: str = ".3f") -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else format(value, fmt)


def _catchable(check: Check) -> float | None:
    """The check's detectable drop, or inf for a pass@1 drop beyond 1, which none can reach."""
    drop = check.detectable_drop
    return math.inf if drop is not None and check.name == PASS_AT_1 and drop > 1 else drop


def _drop_text(check: Check) -> str:
    drop = _catchable(check)
    return "none (> 1)" if drop == math.inf else _num(drop)


def interval_text(check: Check) -> str:
    """``[-0.050, +0.010]``, or '' for a check without an interval."""
    if check.ci_low is None or check.ci_high is None:
        return ""
    return f"[{check.ci_low:+.3f}, {check.ci_high:+.3f}]"


def summary(outcome: GateOutcome, candidate_run_id: str) -> GateResults:
    """gate.json: the verdict per model, what `evalkit history` marks on the candidate run's points."""
    return GateResults(
        verdict=outcome.verdict, exit_code=outcome.exit_code, candidate_run_id=candidate_run_id,
        baseline=outcome.baseline, candidate=outcome.candidate,
        models=tuple(GateModelResult(model=m.model, arm=m.candidate_arm, verdict=m.verdict, checks=tuple(
            GateCheckResult(name=c.name, verdict=c.verdict, diff=c.diff, ci_low=c.ci_low, ci_high=c.ci_high,
                            reason=c.reason) for c in m.checks)) for m in outcome.models))


def terminal_lines(outcome: GateOutcome) -> list[str]:
    """What `evalkit gate` prints under its verdict: each model's checks that did not PASS, and its power."""
    lines = []
    for m in outcome.models:
        lines.append(f"  {printable(m.name)}: {m.verdict.value} ({m.n_tasks} paired tasks)")
        lines += [f"    note: {printable(m.endpoint_note)}"] if m.endpoint_note else []
        lines += [f"    {c.name}: {c.verdict.value}: {printable(c.reason)}"
                  for c in m.checks if c.verdict is not GateVerdict.PASS]
        lines += [f"    {line[2:]}" for line in _power_line(m)]
    return lines + [f"  note: {printable(note)}" for note in outcome.notes]


def _flip_lines(title: str, flips: Sequence[Flip]) -> list[str]:
    if not flips:
        return []
    significant = sum(f.significant for f in flips)
    shown = ", ".join(describe_flip(f) for f in flips[:TOP_FLIPS])
    more = f" and {len(flips) - TOP_FLIPS} more" if len(flips) > TOP_FLIPS else ""
    return [f"- {title} ({len(flips)}, {significant} significant): {inline(shown)}{more}"]


def _power_line(m: ModelGate) -> list[str]:
    pass1 = next((c for c in m.checks if c.name == PASS_AT_1 and c.detectable_drop is not None), None)
    if pass1 is None:
        return []
    if _catchable(pass1) == math.inf:  # 1 task x 1 sample said it caught "a drop of 2.001 or more"
        return [f"- power: at these tasks and samples this gate catches no true pass@1 drop with {POWER:.0%} "
                "power, not even from 1 to 0: add tasks, or samples per task in both runs"]
    return [f"- power: this gate catches a true pass@1 drop of {pass1.detectable_drop:.3f} or more with "
            f"{POWER:.0%} power at these tasks and samples"]


def render_markdown(outcome: GateOutcome) -> str:
    """gate.md: the verdict, one table row per model and check, power, and the per-task flips."""
    cfg = outcome.config
    flags = {GateVerdict.INCONCLUSIVE: " ⚠️ flagged: not enough evidence either way",
             GateVerdict.ERROR: " ⛔ the candidate's numbers do not measure the baseline's model and "
                                "template (exit 2)"}
    flag = flags.get(outcome.verdict, "")
    latency = f", max_latency_p95_ratio {cfg.max_latency_p95_ratio}" if cfg.max_latency_p95_ratio else ""
    lines = [f"## evalkit gate: **{outcome.verdict.value}**{flag}", "",
             f"Baseline: {inline(outcome.baseline)}  ", f"Candidate: {inline(outcome.candidate)}  ",
             f"Dataset: {outcome.dataset}; max_drop {cfg.max_drop}, alpha {cfg.alpha} family-wise "
             f"(Bonferroni intervals, Holm p-values), max_infra_error {cfg.max_infra_error}{latency}", "",
             "FAIL: the whole interval lies below -max_drop (pass@1: and the exact test of the drop "
             "agrees); PASS: it lies above; "
             "INCONCLUSIVE otherwise.", "",
             "| model | check | baseline | candidate | diff | interval (level) | p (Holm) | test "
             "| catches drop ≥ | verdict |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for m in outcome.models:
        for c in m.checks:
            level = f" ({c.confidence:.1%})" if c.confidence is not None else ""
            sides = ".0f" if c.name == "task_coverage" else ".3f"  # counts of tasks read 60.000
            lines.append(f"| {inline(m.name)} | {c.name} | {_num(c.baseline, sides)} | "
                         f"{_num(c.candidate, sides)} | "
                         f"{_num(c.diff, '+.3f')} | {interval_text(c)}{level} | "
                         f"{_num(c.p_adjusted, '.3g')} | {c.test} | {_drop_text(c)} | "
                         f"**{c.verdict.value}** |")
    for m in outcome.models:
        lines += ["", f"### {inline(m.name)}: {m.verdict.value}",
                  inline(f"{m.baseline_arm} [{m.baseline_template}] → {m.candidate_arm} "
                         f"[{m.candidate_template}], {m.n_tasks} paired tasks")]
        lines += [f"- note: {inline(m.endpoint_note)}"] if m.endpoint_note else []
        lines += [f"- {c.name}: {inline(c.reason)}" for c in m.checks if c.verdict is not GateVerdict.PASS]
        lines += _power_line(m)
        lines += (_flip_lines("pass rate fell", m.regressions) + _flip_lines("pass rate rose", m.fixes))
    lines += [f"- note: {inline(n)}" for n in outcome.notes]
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
            case = ET.SubElement(suite, "testcase", classname=f"gate.{m.name}", name=c.name)
            if c.verdict is GateVerdict.FAIL:
                counts["failures"] += 1
                ET.SubElement(case, "failure", message=c.reason, type="regression").text = _case_text(m, c)
            elif c.verdict is GateVerdict.INCONCLUSIVE:
                counts["skipped"] += 1
                ET.SubElement(case, "skipped", message=f"INCONCLUSIVE: {c.reason}")
            elif c.verdict is GateVerdict.ERROR:
                counts["errors"] += 1
                kind = {"endpoint": "endpoint_changed", "task_coverage": "coverage"}.get(c.name, c.name)
                ET.SubElement(case, "error", message=c.reason, type=kind).text = _case_text(m, c)
            ET.SubElement(case, "system-out").text = _case_text(m, c)
        for flip in (f for f in m.regressions if f.significant):
            counts["tests"] += 1
            counts["failures"] += 1
            case = ET.SubElement(suite, "testcase", classname=f"gate.{m.name}.tasks", name=flip.task_id)
            ET.SubElement(case, "failure", message=f"pass rate fell: {describe_flip(flip)}",
                          type="task_regression")
    for key, value in counts.items():
        suite.set(key, str(value))
    ET.indent(xml_ready(suite))
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suite, encoding="unicode") + "\n"


def _case_text(m: ModelGate, c: Check) -> str:
    text = (f"{c.verdict.value}: {c.reason}\nbaseline {_num(c.baseline)} candidate {_num(c.candidate)} "
            f"diff {_num(c.diff, '+.3f')} {interval_text(c)}")
    if m.endpoint_note:  # on every check of the model: what answered it is what each check measured
        text += f"\nnote: {m.endpoint_note}"
    if c.name == PASS_AT_1 and m.regressions:
        text += "\npass rate fell: " + ", ".join(describe_flip(f) for f in m.regressions[:TOP_FLIPS])
    return text


def render_openmetrics(outcome: GateOutcome) -> str:
    """metrics.txt (OpenMetrics): the verdict, exit code and per model pass@1's baseline, candidate,
    diff with its family-wise interval, and the drop the gate catches with 80% power."""
    lines = ["# TYPE evalkit_gate_verdict stateset", "# HELP evalkit_gate_verdict Verdict of the gate."]
    lines += [f'evalkit_gate_verdict{{evalkit_gate_verdict="{v.value}"}} {int(v is outcome.verdict)}'
              for v in GateVerdict]
    lines += ["# TYPE evalkit_gate_exit_code gauge", f"evalkit_gate_exit_code {outcome.exit_code}"]
    series: dict[str, list[str]] = {name: [] for name in (
        "pass_at_1_baseline", "pass_at_1_candidate", "pass_at_1_diff", "pass_at_1_ci_low",
        "pass_at_1_ci_high", "pass_at_1_detectable_drop", "infra_error_rate")}
    for m in outcome.models:
        label = f'{{model="{escape_label(m.model)}"}}'
        for c in m.checks:
            if c.name == "pass@1":
                for key, value in (("baseline", c.baseline), ("candidate", c.candidate), ("diff", c.diff),
                                   ("ci_low", c.ci_low), ("ci_high", c.ci_high),
                                   ("detectable_drop", _catchable(c))):
                    if value is not None:
                        shown = "+Inf" if value == math.inf else f"{value:.6g}"  # OpenMetrics' spelling
                        series[f"pass_at_1_{key}"].append(f"evalkit_gate_pass_at_1_{key}{label} {shown}")
            elif c.name == "infra_error":
                series["infra_error_rate"].append(f"evalkit_gate_infra_error_rate{label} {c.candidate:.6g}")
    for name, rows in series.items():
        if rows:
            lines += [f"# TYPE evalkit_gate_{name} gauge", *rows]
    return "\n".join(lines) + "\n# EOF\n"
