"""Reporting stage: results.json, human reports, plots, junit.xml, metrics.txt, comparisons.

    write_reports(run_dir, meta, scoring, report) -> dict   one run's report files
    compare(run_dirs, out_dir, baseline_arm=None) -> Path   several runs side by side
"""

from evalkit.reporting.compare import compare
from evalkit.reporting.write import write_reports

__all__ = ["compare", "write_reports"]
