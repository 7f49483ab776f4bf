"""What the template-change gate decided: verdicts, checks, per-model results (see ``gate``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from evalkit.config import GateConfig
from evalkit.records import Flip, GateVerdict

POWER = 0.8
"""Power at which each check states the drop it would catch."""


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


UNMEASURED = "(none)"
"""The candidate arm of a ModelGate for a baseline arm no candidate arm measured (an ``arm_coverage``
ERROR)."""


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
    endpoint_note: str = ""
    """What changed in what answered, between baseline and candidate, when it changed (another
    deployment of the same model; another served model is also an ``endpoint`` ERROR check), or that
    a side records no endpoint identity; '' when both record the same."""

    @property
    def verdict(self) -> GateVerdict:
        """ERROR, else FAIL if any check failed, else INCONCLUSIVE if any was, else PASS."""
        return worst(c.verdict for c in self.checks)

    @property
    def name(self) -> str:
        """How gate.md, the terminal and junit name this gate: ``mimic (demo-mimic)``, the arm's label
        and its model where they differ (the model alone named an arm the lines below called by its
        label, a new user's trial)."""
        arm = self.candidate_arm if self.candidate_arm != UNMEASURED else self.baseline_arm
        return self.model if arm in ("", self.model) else f"{arm} ({self.model})"

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


def worst(verdicts) -> GateVerdict:
    """ERROR over FAIL over INCONCLUSIVE over PASS."""
    verdicts = set(verdicts)
    for v in (GateVerdict.ERROR, GateVerdict.FAIL, GateVerdict.INCONCLUSIVE):
        if v in verdicts:
            return v
    return GateVerdict.PASS
