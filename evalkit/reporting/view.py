"""What a report shows, computed once and rendered by markdown.py and html.py.

A ``ReportView`` serves both one run (``write_reports``) and several runs
(``compare``); the tables are prepared here as rows of strings so both
renderers show the same numbers.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import pandas as pd
from packaging.version import InvalidVersion

from evalkit import metrics
from evalkit.config import ScoringConfig
from evalkit.metrics.stats import EXACT_FLIP_TERMS
from evalkit.prompts.layout import version_key
from evalkit.records import DRAW_PARAMS, ArmResult, Interval, PairedDiff, Status, TemplateSource
from evalkit.reporting.aggregate import display_label, format_interval, samples_per_task, tasks_scored
from evalkit.reporting.paired import compare_pairs, flip_counts, flip_entries, problems_note

Table = tuple[list[str], list[list[str]]]
"""(header cells, rows of cells): a table both renderers draw."""


@dataclass
class ReportView:
    """Everything a report renders."""

    title: str
    header: list[tuple[str, str]]
    """(name, value) facts shown at the top: run id, dataset, host, ..."""
    arms: Sequence[ArmResult]
    """The arms shown, in order."""
    baseline: str | None = None
    """Arm the others are compared with (None with a single arm)."""
    pairs: list[tuple[str, str]] = field(default_factory=list)
    """(baseline, arm) of each comparison (``report_pairs``): every arm against ``baseline``, then
    one model's template versions, each against the one before it, then (several runs) each arm
    against itself in the run given before."""
    diffs: list[PairedDiff] = field(default_factory=list)
    """``metrics.compare_arms`` differences: arm minus its pair's baseline per measure."""
    flips: list[dict[str, Any]] = field(default_factory=list)
    """``paired.flip_entries``: each pair's per-task flips, with shown samples."""
    template_diffs: list[TemplateDiff] = field(default_factory=list)
    """Text diffs between the arms' templates of one family."""
    notes: list[str] = field(default_factory=list)
    """Warnings shown under the header (synthetic arms, infra errors, dropped tasks)."""
    mde: list[tuple[str, float]] | None = None
    """Smallest pass@1 difference each pair's comparison can detect (power 0.8, at alpha 0.05 over
    ``comparisons``), by arm, or ``arm vs other`` where not every pair is against the baseline."""
    comparisons: int = 1
    """How many paired differences the report tests together (Holm's correction runs over them all)."""
    sign_flips: int = 0
    """Random sign flips an estimated sign-flip p-value of the report drew (``Comparison.sign_flips``)."""
    images: dict[str, str] = field(default_factory=dict)
    """Plot title -> PNG file name beside the report."""
    scores_note: str = ""
    """What the score table's intervals and two readings are (``build_view``)."""


@dataclass(frozen=True)
class TemplateDiff:
    """The text diff between the templates of two arms of one family."""

    family: str
    a: str
    """The first arm's label."""
    b: str
    """The second arm's label."""
    a_version: str
    b_version: str
    diff: str | None
    """Unified diff of the template sources; None when a source was not recorded."""


def template_diffs(arms: Sequence[ArmResult], templates: Mapping[str, TemplateSource],
                   baseline: str | None = None,
                   compared: Sequence[tuple[str, str]] = ()) -> list[TemplateDiff]:
    """Unified diffs between the templates of arms of one family with different sha256.

    Each distinct pair of template texts appears once, between the arms that best show the change:
    a pair the report's paired differences compare (``compared``) first, then one model's two
    template versions before two models' (the change a template review is about), then a pair with
    the ``baseline`` arm before others. A diff runs from the baseline arm where the
    pair has it, else from the older version to the newer (an oracle baseline on 2.0.0 showed mimic's
    1.0.0 as a change "to" 1.0.0, and `compare --baseline-arm` did not move it).
    """
    pairs = []
    for i, one in enumerate(arms):
        for other in arms[i + 1:]:
            ta, tb = one.template, other.template
            if ta is None or tb is None or ta.family != tb.family or ta.sha256 == tb.sha256:
                continue
            swap = other.arm == baseline or (one.arm != baseline and _newer(ta.version, tb.version))
            first, second = (other, one) if swap else (one, other)
            rank = (not {(first.arm, second.arm), (second.arm, first.arm)} & set(compared),
                    first.model != second.model, baseline not in (first.arm, second.arm))
            pairs.append((rank, first, second))
    out, done = [], set()
    for _, first, second in sorted(pairs, key=lambda pair: pair[0]):  # stable: arm order breaks ties
        ta, tb = first.template, second.template
        if (pair := frozenset((ta.sha256, tb.sha256))) in done:
            continue
        done.add(pair)
        source_a, source_b = templates.get(ta.sha256), templates.get(tb.sha256)
        diff = None
        if source_a is not None and source_b is not None:
            diff = "".join(difflib.unified_diff(
                source_a.source_text.splitlines(keepends=True),
                source_b.source_text.splitlines(keepends=True),
                fromfile=f"{first.arm} ({ta.family} {ta.version})",
                tofile=f"{second.arm} ({tb.family} {tb.version})"))
        out.append(TemplateDiff(ta.family, first.arm, second.arm, ta.version, tb.version, diff))
    return out


def _newer(version: str, other: str) -> bool:
    """Whether template ``version`` comes after ``other`` (False where either is not a version)."""
    try:
        return version_key(version) > version_key(other)
    except (InvalidVersion, TypeError):
        return False


def build_view(samples: pd.DataFrame, arms: Sequence[ArmResult],  # noqa: PLR0913 - a report's inputs
               templates: Mapping[str, TemplateSource], scoring: ScoringConfig, *, title: str,
               header: list[tuple[str, str]], baseline: str | None = None, completion: bool = False,
               runs: Mapping[str, ArmRun] | None = None) -> ReportView:
    """Compute diffs, flips, template diffs and the detectable effect for a report; ``completion``:
    the tasks fill in the middle (the lenient reading is the gateway's completion steps); ``runs``:
    each arm's run where they come from several (``report_pairs``)."""
    lenient = ("the raw middle after all five of the gateway's completion steps" if completion
               else "the first fenced block of the raw answer")
    view = ReportView(title=title, header=header, arms=arms, scores_note=(
        f"pass@k and metrics with {scoring.confidence:.0%} bootstrap intervals over tasks; the faithful "
        f"reading ({_faithful_reading(arms)}) beside the lenient one ({lenient})."))
    if any(arm.synthetic for arm in arms):
        view.notes.append("Arms marked synthetic (demo) answer from the embedded demo endpoint: "
                          "they exercise the pipeline and are not model results.")
    infra = {a.arm: a.verdicts.get(Status.INFRA_ERROR, 0) for a in arms}
    if any(infra.values()):
        view.notes.append("infra_error samples (no usable answer or no execution: the endpoint or the "
                          "sandbox failed; each sample's detail says which) are excluded from pass@k: "
                          + ", ".join(f"{arm}: {n}" for arm, n in infra.items() if n) + ".")
    unverified = {a.arm: a.unverified for a in arms if a.unverified}
    if unverified:
        view.notes.append("Verdicts decided inside the program's own process (JavaScript, or tasks whose "
                          "tests cannot be split from the program), which a hostile program could forge: "
                          + ", ".join(f"{arm}: {n}" for arm, n in unverified.items()) + ".")
    truncated = {a.arm: (a.truncated, sum(a.verdicts.values())) for a in arms if a.truncated}
    if truncated:
        counts = ", ".join(f"{arm}: {n} of {total}" for arm, (n, total) in truncated.items())
        view.notes.append(f"Answers the endpoint cut at max_tokens (finish_reason length), scored as they "
                          f"came: {counts}; raise the template's max_tokens (model.params.max_tokens) if "
                          "they ran long.")
    problems = problems_note(samples["task_id"].unique()) if "task_id" in samples.columns else None
    if problems:
        view.notes.append(problems)
    view.baseline = (baseline or arms[0].arm) if len(arms) > 1 else None
    if view.baseline is not None:
        present = set(map(str, samples["arm"].unique())) if "arm" in samples.columns else set()
        pairs = [pair for pair in report_pairs(arms, view.baseline, runs) if set(pair) <= present]
        comparison = compare_pairs(samples, pairs, scoring)
        view.diffs = list(comparison.diffs)
        compared = {(d.baseline, d.arm) for d in view.diffs}
        view.pairs = [pair for pair in pairs if pair in compared]  # a pair with no task both scored: none
        view.flips = flip_entries(samples, comparison, view.pairs)
        view.sign_flips = comparison.sign_flips
    view.template_diffs = template_diffs(arms, templates, view.baseline, view.pairs)
    view.comparisons = max(len(view.diffs), 1)
    view.mde = _detectable(arms, view.pairs, view.baseline, view.comparisons)
    return view


@dataclass(frozen=True)
class ArmRun:
    """The run an arm of a report comes from, where its arms come from several (`evalkit compare`, a
    sweep's summary)."""

    run: str
    """The run's name in the report."""
    seed: int | None
    """The run's seed (run.json), from which each request's seed derives where the arm sets none."""
    label: str = ""
    """The arm's label in its own run (the report's may carry the run's name before it)."""


def report_pairs(arms: Sequence[ArmResult], baseline: str,
                 runs: Mapping[str, ArmRun] | None = None) -> list[tuple[str, str]]:
    """(baseline, arm) pairs a report compares: every arm against ``baseline``; then, of the arms of
    one model and template family drawn alike (``DRAW_PARAMS``, and the run's seed where the arm sets
    none), each template version against the one before it where neither is ``baseline`` (which is
    compared with both already), and only where each version has one such arm (against an oracle
    baseline, a template change read as two differences from it, with no test of the change itself).
    ``runs``: each arm's run, where the arms come from several. Where versions repeat across runs,
    the versions of each run that has several are paired within it (two nights of one configuration),
    and those of runs with one are paired together (a sweep over ``prompt.version``). And an arm of a
    label, model, template, temperature and top_p a run given before has too is compared with it there
    (`evalkit compare` of two nights set each arm against the first run's first arm only: no arm was
    compared with itself the night before)."""
    pairs = [(baseline, arm.arm) for arm in arms if arm.arm != baseline]
    models: dict[tuple[Any, ...], list[ArmResult]] = {}
    for arm in arms:
        if arm.template is not None:
            drawn = {name: arm.params.get(name) for name in DRAW_PARAMS}
            if drawn["seed"] is None and runs and arm.arm in runs:
                drawn["seed"] = runs[arm.arm].seed
            key = (arm.model, arm.template.family, *(_drawn(value) for value in drawn.values()))
            models.setdefault(key, []).append(arm)
    for group in models.values():
        parts = [group]
        if runs and _in_version_order(group) is None:
            by_run: dict[str | None, list[ArmResult]] = {}
            for arm in group:
                by_run.setdefault(runs[arm.arm].run if arm.arm in runs else None, []).append(arm)
            parts = [part for part in by_run.values() if len(part) > 1]
            parts.append([part[0] for part in by_run.values() if len(part) == 1])
        for part in parts:
            ordered = _in_version_order(part) or []
            pairs += [(older.arm, newer.arm) for older, newer in zip(ordered, ordered[1:], strict=False)
                      if baseline not in (older.arm, newer.arm)]
    return pairs + _across_runs(arms, runs or {}, set(pairs))


def _across_runs(arms: Sequence[ArmResult], runs: Mapping[str, ArmRun],
                 paired: set[tuple[str, str]]) -> list[tuple[str, str]]:
    """(earlier, later) arms of one label and configuration in two runs, each with the nearest run
    given before its own that has it: one night against the night before, where the runs are given
    oldest first (seeds may differ)."""
    latest: dict[tuple[Any, ...], ArmResult] = {}
    pairs = []
    for arm in arms:
        run = runs.get(arm.arm)
        if run is None or not run.label:
            continue
        key = (run.label, arm.model, arm.template.sha256 if arm.template else None,
               *(_drawn(arm.params.get(name)) for name in DRAW_PARAMS if name != "seed"))
        before = latest.get(key)
        if before is not None and runs[before.arm].run != run.run and not {
                (before.arm, arm.arm), (arm.arm, before.arm)} & paired:  # the baseline's pair, either way
            pairs.append((before.arm, arm.arm))
        latest[key] = arm
    return pairs


def _in_version_order(arms: Sequence[ArmResult]) -> list[ArmResult] | None:
    """The arms from the oldest template version to the newest; None where two share a version (1.0
    is 1.0.0: which came before?) or a version does not order."""
    try:
        keys = [version_key(arm.template.version) for arm in arms]
    except (InvalidVersion, TypeError):
        return None
    if len(set(keys)) != len(keys):
        return None
    return [arm for _, arm in sorted(zip(keys, arms, strict=True), key=lambda pair: pair[0])]


def _drawn(value: Any) -> Any:
    """A sampling parameter as it draws: a temperature of 0 is one of 0.0."""
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else repr(value)


def _faithful_reading(arms: Sequence[ArmResult]) -> str:
    """What the faithful reading is for these arms: answers scored from a file (`evalkit score`)
    went through no template, so the gateway's post-processing did not make them."""
    rendered = sum(arm.template is not None for arm in arms)
    if rendered == len(arms):
        return "the template's post-processing, as the gateway does it"
    if rendered == 0:
        return "each answer as the file gives it"
    return ("the template's post-processing, as the gateway does it; for arms scored from a file, "
            "each answer as the file gives it")


def mde_text(mde: float | Sequence[tuple[str, float]], comparisons: int = 1) -> str:
    """The report's sentence on the smallest pass@1 difference it would show: one figure, or one for
    each arm compared with the baseline (``[(arm, figure), ...]``), planned at alpha 0.05 over
    ``comparisons`` (``_detectable``)."""
    level = "alpha 0.05" if comparisons <= 1 else f"alpha 0.05 over the {comparisons} comparisons, Holm"
    if not isinstance(mde, float | int):
        if len(mde) == 1 and " vs " not in mde[0][0]:  # the one pair, against the baseline
            return mde_text(mde[0][1], comparisons)
        seen = [f"about {value:.3f} for {arm}" for arm, value in mde if value <= 1]
        blind = [arm for arm, value in mde if value > 1]
        parts = ([f"a pass@1 difference{'' if any(' vs ' in arm for arm, _ in mde) else ' from the baseline'}"
                  f" smaller than {', '.join(seen)} is unlikely to be detected"] if seen else []) + ([
            f"for {', '.join(blind)} no difference, not even 1, is likely to be detected: add tasks, or "
            "samples per task"] if blind else [])
        return (f"With these tasks and samples ({level}, power 0.8, each pair at its own pass rates), "
                + "; ".join(parts) + ".")
    if mde > 1:  # 1 task x 1 sample said "a difference smaller than about 1.868"
        return ("With these tasks and samples, no pass@1 difference, not even 1, is likely to be "
                f"detected ({level}, power 0.8): add tasks, or samples per task.")
    return (f"With these tasks and samples, a pass@1 difference smaller than about {mde:.3f} "
            f"is unlikely to be detected ({level}, power 0.8).")


def _detectable(arms: Sequence[ArmResult], pairs: Sequence[tuple[str, str]], baseline: str | None,
                comparisons: int = 1) -> list[tuple[str, float]] | None:
    """The detectable pass@1 difference of each (baseline, arm) pair, at the pair's planning rate
    (None when there is nothing to compare), by arm (``arm vs other`` where not every pair is against
    ``baseline``): planned at every arm's mean, the sentence under "Paired differences" matched none
    of the pairs it stood under (0.039 for pairs of 0.041 and 0.026). Planned at alpha 0.05 /
    ``comparisons``, the level Holm's correction asks of a lone true difference among the report's
    others: planned at 0.05, a true difference of the size said was called significant 43% of the
    time beside 12 comparisons, not 80% (a researcher's simulation)."""
    by_label = {a.arm: a for a in arms}
    single = all(against == baseline for against, _ in pairs)
    out = []
    for against, label in pairs:
        base, arm = by_label.get(against), by_label.get(label)
        if base is None or arm is None:
            continue
        base_cell, cell = base.pass_at_k.get(1), arm.pass_at_k.get(1)
        if (base_cell is None or base_cell.value is None or cell is None or cell.value is None
                or min(arm.n_tasks, base.n_tasks) < 1):
            continue
        n_samples = max(min(arm.n_samples, base.n_samples), 1)
        rate = metrics.planning_rate([base_cell.value, cell.value])
        n_tasks = min(arm.n_tasks, base.n_tasks)
        alpha = 0.05 / max(comparisons, 1)
        out.append((label if single else f"{label} vs {against}",
                    metrics.minimum_detectable_effect(n_tasks, n_samples, rate, alpha=alpha)))
    return out or None


def _template_cell(arm: ArmResult) -> str:
    """The template as a table shows it; answers scored with `evalkit score` have none."""
    if arm.template is None:
        return "(scored answers)"
    return f"{arm.template.family} {arm.template.version} ({arm.template.sha256[:10]})"


def score_table(view: ReportView) -> Table:
    """Arm x score: faithful and lenient pass@k side by side, then similarity metrics."""
    ks = list(dict.fromkeys(k for arm in view.arms for k in arm.pass_at_k))
    lenient = any(arm.pass_at_k_lenient for arm in view.arms)
    names = list(dict.fromkeys(name for arm in view.arms for name in arm.metrics))
    differing = _differing_params(view.arms)
    headers = ["arm", "model", "template", *(["sampling"] if differing else []), "tasks", "samples/task"]
    for k in ks:
        headers += [f"pass@{k}"] + ([f"lenient pass@{k}"] if lenient else [])
    headers += names
    rows = []
    for arm in view.arms:
        sampling = [", ".join(f"{key}={arm.params.get(key)}" for key in differing)] if differing else []
        row = [display_label(arm), arm.model, _template_cell(arm), *sampling, tasks_scored(arm),
               samples_per_task(arm)]
        for k in ks:
            row.append(format_interval(arm.pass_at_k.get(k)))
            if lenient:
                row.append(format_interval(arm.pass_at_k_lenient.get(k)))
        row += [format_interval(arm.metrics.get(name)) for name in names]
        rows.append(row)
    return headers, rows


def _differing_params(arms: Sequence[ArmResult]) -> list[str]:
    """The sampling parameters whose values differ between arms (a temperature sweep's jobs read as
    two identical arms without them)."""
    keys = list(dict.fromkeys(key for arm in arms for key in arm.params))
    return [key for key in keys if len({repr(arm.params.get(key)) for arm in arms}) > 1]


def _number(value: Any, digits: int = 3) -> str:
    if value is None:
        return "n/a"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def ops_table(view: ReportView) -> Table:
    """Arm x verdict counts (infra_error in its own column), latency, tokens and cost."""
    streamed = any(arm.ttft_s is not None for arm in view.arms)
    headers = ["arm"] + [s.value for s in Status] + ["latency p50 (s)", "latency p90 (s)", "latency p95 (s)",
                                                     "latency p99 (s)"]
    headers += ["first token p50 (s)", "first token p90 (s)"] if streamed else []
    headers += ["prompt tokens", "completion tokens", "cost"]
    rows = []
    for arm in view.arms:
        latency, ttft = arm.latency_s, arm.ttft_s
        rows.append([display_label(arm)] + [str(arm.verdicts.get(s, 0)) for s in Status]
                    + [_number(v) for v in (latency.p50, latency.p90, latency.p95, latency.p99)]
                    + ([_number(ttft.p50) if ttft else "n/a", _number(ttft.p90) if ttft else "n/a"]
                       if streamed else [])
                    + [str(arm.tokens.prompt), str(arm.tokens.completion), _number(arm.cost, 4)])
    return headers, rows


def diff_table(view: ReportView) -> Table:
    """Paired differences, arm minus the arm it is compared with (a ``against`` column where that is
    not always the baseline), with raw and Holm-corrected p-values."""
    against = not single_baseline(view)
    headers = ["arm", *(["against"] if against else []), "measure", "tasks", "difference [95% interval]",
               "test", "p", "p (Holm)", "significant"]
    rows = []
    for d in view.diffs:
        interval = format_interval(Interval(d.diff, d.ci_low, d.ci_high))
        rows.append([d.arm, *([d.baseline] if against else []), d.measure, str(d.n_tasks), interval, d.test,
                     p_text(d.p_value), p_text(d.p_adjusted), "yes" if d.significant else "no"])
    return headers, rows


def p_text(p: float) -> str:
    """A p-value to 4 decimals, or in scientific notation below 0.0001 (an exact test's 2e-07 read
    ``0.0000``)."""
    return f"{p:.4f}" if p >= 0.0001 or p == 0 else f"{p:.1e}"


def single_baseline(view: ReportView) -> bool:
    """Whether every comparison of the report is against its baseline arm."""
    return all(against == view.baseline for against, _ in view.pairs)


def diff_heading(view: ReportView) -> str:
    """The title of the paired-differences section."""
    return f"Paired differences vs {view.baseline}" if single_baseline(view) else "Paired differences"


def diff_legend(view: ReportView) -> str:
    """What the paired-differences table's columns mean: an interval is at its own level, the
    ``significant`` column Holm's over every comparison of the report (a row whose interval left out
    0 read "significant: no" with nothing to say why, a researcher's trial)."""
    level = f"{view.diffs[0].confidence:.0%}" if view.diffs else "95%"
    significant = ("p below 0.05" if view.comparisons <= 1 else
                   f"p (Holm) below 0.05, Holm's correction over the report's {view.comparisons} "
                   "comparisons, so an interval that leaves out 0 may still read no")
    return (f"Each interval is {level} on its own, pass@1's never narrower than the spread sampling alone "
            "gives a rerun (two arms that agree on every task read [-x, x] there, [0, 0] on the other "
            f"measures); \"significant\" is {significant}. p is McNemar's exact "
            "test (one sample a task) or a sign-flip test's: exact (every sign pattern counted) where at "
            f"most {EXACT_FLIP_TERMS} tasks (or problems, for infilling holes) differ, else estimated from "
            f"{view.sign_flips:,} random sign flips, so never below {1 / (view.sign_flips + 1):.1g}.")


def diff_note(entry: TemplateDiff) -> str | None:
    """Why a template diff has no text, or None when it has one."""
    if entry.diff is None:
        return "(template sources were not recorded)"
    if not entry.diff:
        return "(identical template text: the hash differs through parameters or partials)"
    return None


def flip_summary(view: ReportView) -> list[str]:
    """One line per arm pair: how many tasks' pass rates fell and rose (Fisher, adjusted over tasks)."""
    lines = []
    for pair in view.flips:
        extra = (f" ({pair['truncated']} more not listed; comparison.json lists every one: beside this "
                 "report where `evalkit compare` wrote it, else `evalkit compare RUN_DIR` writes it)") \
            if pair["truncated"] else ""
        lines.append(f"{pair['arm']} vs {pair['baseline']}: pass rate {flip_counts(pair['flips'])}{extra}")
    return lines
