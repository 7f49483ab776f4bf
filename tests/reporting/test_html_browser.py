"""report.html opened in headless Chromium: it renders its tables and plots with no console errors."""

from __future__ import annotations

import shutil

import pytest

from tests.support.browser import needs_chromium, pixels_near, screenshot
from tests.support.runs import make_two_arm_run

pytestmark = pytest.mark.slow  # real runs and processes: the full suite, not the fast tier


@needs_chromium
def test_report_renders_in_headless_chromium(tmp_path, humaneval_tasks):
    make_two_arm_run(tmp_path / "run", humaneval_tasks)
    # Opened from a copy alone in its directory: the page must need nothing beside it.
    page = tmp_path / "alone" / "report.html"
    page.parent.mkdir()
    shutil.copy(tmp_path / "run" / "report.html", page)
    pixels = screenshot(page, tmp_path, height=2000)  # no console message, not blank
    assert pixels.shape[:2] == (2000, 1280)
    # table header cells (#f0f0f0) and the pass@k plot's first bar colour (matplotlib C0, #1f77b4)
    header_grey = pixels_near(pixels, (0xF0, 0xF0, 0xF0), 0.01)
    bar_blue = pixels_near(pixels, (0x1F, 0x77, 0xB4), 0.02)
    assert header_grey > 2000, "no table rendered"
    assert bar_blue > 2000, "the embedded pass@k plot did not render"
