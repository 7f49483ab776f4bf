"""`evalkit report RUN_DIR`: rebuild a finished run's results.json and reports from its samples."""

from __future__ import annotations

import json
from pathlib import Path

from evalkit.config import ConfigError, ReportConfig
from evalkit.reporting.write import recorded_scoring, write_reports


def rerender(run_dir: Path, report: ReportConfig) -> Path:
    """Write the run's reports again (its own k, readings and bootstrap settings); the html report's path."""
    results_path = run_dir / "results.json"
    if not (run_dir / "samples.jsonl").is_file() or not results_path.is_file():
        raise ConfigError(f"{run_dir} is not a run directory (needs samples.jsonl and results.json)")
    try:
        results = json.loads(results_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{results_path} cannot be read: {exc}") from None
    if not isinstance(results, dict):
        raise ConfigError(f"{results_path} is not a results.json object")
    if not isinstance(results.get("arms"), list):
        raise ConfigError(f"{results_path} is not a results.json (no arms list)")
    # A loaded results.json is the metadata; the run's own k, readings and bootstrap settings apply.
    write_reports(run_dir, results, recorded_scoring([results]), report)
    return run_dir / "report.html"
