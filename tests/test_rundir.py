"""What a run directory's stages share (rundir.py): the canary in its thread, resuming checks."""

import threading

from evalkit.benchmarks import load_benchmark
from evalkit.config import DatasetConfig
from evalkit.execution import LocalExecutor
from evalkit.hydra_app import compose_run_config
from evalkit.rundir import start_canary


def test_a_canary_nobody_waits_for_any_more_ends_without_an_error(tmp_path, monkeypatch):
    """Ctrl-C cancels the Future the run awaits while the canary runs: the canary's thread must
    end quietly, not print a traceback beside the run's one-line "interrupted"."""
    cfg = compose_run_config([f"executor.cache_dir={tmp_path / 'cache'}"])
    bench = load_benchmark(DatasetConfig(limit=3))
    failures = []
    monkeypatch.setattr(threading, "excepthook", failures.append)
    with LocalExecutor(cfg.executor) as executor:
        checked = start_canary(bench, executor, cfg)
        assert checked.cancel()  # still running its reference solutions
        (canary,) = [t for t in threading.enumerate() if t.name == "evalkit-canary"]
        canary.join(timeout=60)
    assert not canary.is_alive()
    assert failures == []
