"""Pages opened in headless Chromium (Debian's /usr/bin/chromium, which .ci/run installs)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread

CHROMIUM = Path("/usr/bin/chromium")

needs_chromium = pytest.mark.skipif(not CHROMIUM.exists(),
                                    reason="/usr/bin/chromium is not installed (.ci/run installs it)")
"""Marks a test that opens a page in the browser."""


def screenshot(page: Path, work_dir: Path, height: int) -> np.ndarray:
    """The page rendered 1280 pixels wide and ``height`` high, as RGB in [0, 1]; asserts Chromium
    exited 0, logged no console message and drew something."""
    shot = work_dir / "shot.png"
    proc = subprocess.run(
        [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run",
         f"--user-data-dir={work_dir / 'prof'}",
         "--enable-logging=stderr", "--v=0", f"--screenshot={shot}", f"--window-size=1280,{height}",
         page.as_uri()],
        capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert [line for line in proc.stderr.splitlines() if ":CONSOLE" in line] == []
    pixels = imread(shot)[..., :3]
    assert (pixels.std(axis=(0, 1)) > 0.05).all(), "blank screenshot"
    return pixels


def pixels_near(pixels: np.ndarray, rgb: tuple[int, int, int], tolerance: float) -> int:
    """How many pixels are within ``tolerance`` of the colour ``rgb`` (0-255 per channel)."""
    return int(np.all(np.abs(pixels - np.array(rgb) / 255) < tolerance, axis=-1).sum())
