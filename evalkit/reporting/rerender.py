"""`evalkit report RUN_DIR`: rebuild a finished run's results.json and reports from its samples."""

from __future__ import annotations

from pathlib import Path

from evalkit.config import ConfigError, ReportConfig
from evalkit.reporting.aggregate import arm_samples
from evalkit.reporting.baseline import require_results_of
from evalkit.reporting.write import REPORT_DROPS, recorded_scoring, write_reports
from evalkit.results import load_results, load_samples


def rerender(run_dir: Path, report: ReportConfig) -> Path:
    """Write the run's reports again and return the html report's path.

    The run's own k, readings and bootstrap settings apply, as recorded in its results.json.
    """
    if not (run_dir / "samples.jsonl").is_file() or not (run_dir / "results.json").is_file():
        raise ConfigError(f"{run_dir} is not a run directory (needs samples.jsonl and results.json)")
    results = load_results(run_dir)
    # Rebuilt from samples another hand changed, results.json would bless the change: the samples
    # must be the ones it recorded (their counts and verdicts), as for bless and gate.
    samples = load_samples(run_dir, without=REPORT_DROPS)
    for arm in results.to_json()["arms"]:
        require_results_of(run_dir, arm["arm"], arm_samples(samples, arm["arm"]), arm)
    write_reports(run_dir, results, [arm.spec for arm in results.arms], recorded_scoring([results]), report,
                  samples)
    return run_dir / "report.html"
