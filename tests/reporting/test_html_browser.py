"""report.html opened in headless Chromium: it renders its tables and plots with no console errors."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread

from tests.support.runs import make_two_arm_run

pytestmark = pytest.mark.slow  # real runs and processes: the full suite, not the fast tier

CHROMIUM = Path("/usr/bin/chromium")


@pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium is not installed (.ci/run installs it)")
def test_report_renders_in_headless_chromium(tmp_path, humaneval_tasks):
    make_two_arm_run(tmp_path / "run", humaneval_tasks)
    # Opened from a copy alone in its directory: the page must need nothing beside it.
    page = tmp_path / "alone" / "report.html"
    page.parent.mkdir()
    shutil.copy(tmp_path / "run" / "report.html", page)
    shot = tmp_path / "shot.png"
    proc = subprocess.run(
        [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run",
         f"--user-data-dir={tmp_path / 'prof'}",
         "--enable-logging=stderr", "--v=0", f"--screenshot={shot}", "--window-size=1280,2000",
         page.as_uri()],
        capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    console = [line for line in proc.stderr.splitlines() if ":CONSOLE" in line]
    assert console == []
    pixels = imread(shot)[..., :3]
    assert pixels.shape[:2] == (2000, 1280)
    assert (pixels.std(axis=(0, 1)) > 0.05).all(), "blank screenshot"
    # table header cells (#f0f0f0) and the pass@k plot's first bar colour (matplotlib C0, #1f77b4)
    header_grey = np.all(np.abs(pixels - 0xF0 / 255) < 0.01, axis=-1).sum()
    bar_blue = np.all(np.abs(pixels - np.array([0x1F, 0x77, 0xB4]) / 255) < 0.02, axis=-1).sum()
    assert header_grey > 2000, "no table rendered"
    assert bar_blue > 2000, "the embedded pass@k plot did not render"
