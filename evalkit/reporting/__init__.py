"""Reporting stage: results.json, human reports, plots, junit.xml, metrics.txt, comparisons, the gate.

write_reports(run_dir, meta, scoring, report) -> dict   one run's report files
compare(run_dirs, out_dir, baseline_arm=None) -> Path   several runs side by side
gate(baseline, candidate, cfg, out_dir) -> GateOutcome  the template-change gate
bless(run_dir, out_dir) -> Path                         a compact baseline to commit
"""

from evalkit.reporting.baseline import bless, load_baseline
from evalkit.reporting.compare import compare
from evalkit.reporting.gate import GateOutcome, GateVerdict, gate
from evalkit.reporting.write import import_plotting, write_reports

__all__ = ["GateOutcome", "GateVerdict", "bless", "compare", "gate", "import_plotting", "load_baseline",
           "write_reports"]
