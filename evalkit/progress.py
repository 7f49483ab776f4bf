"""Progress of a run: live bars on a terminal, plain lines in a log (CI), through the same calls.

tqdm redraws its bars with carriage returns and escape codes, which a CI log keeps as one
ever-growing line, and its rate is a moving average that is wrong at the end of a bursty run.
Where stderr is not a terminal, `LineProgress` writes one plain line every few seconds instead,
with the rate since the start.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import IO

from tqdm import tqdm

LOG_EVERY_S = 5.0
"""Seconds between two progress lines in a log."""


class LineProgress:
    """tqdm's `update`/`set_postfix_str`/`close` as plain lines: one every `every_s` seconds and one
    at the end, e.g. ``generate: 120/3280 samples (4%), 45.1 samples/s, 3 s``."""

    def __init__(self, total: int, desc: str, unit: str = "sample", initial: int = 0, *,
                 every_s: float = LOG_EVERY_S, stream: IO[str] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.total, self.desc, self.unit = total, desc.strip(), unit
        self.n = self.initial = initial
        self.postfix = ""
        self._every_s, self._stream, self._clock = every_s, stream, clock
        self._start = self._last = clock()
        self._closed = False

    def update(self, n: int = 1) -> None:
        """Count `n` more; print a line when the last one is `every_s` old."""
        self.n += n
        now = self._clock()
        if now - self._last >= self._every_s:
            self._print(now)

    def set_postfix_str(self, text: str, refresh: bool = False) -> None:
        """Text shown after the rate on the next line (e.g. the endpoint's concurrency)."""
        self.postfix = text

    def close(self) -> None:
        """The final line, once."""
        if not self._closed:
            self._closed = True
            self._print(self._clock())

    def line(self, now: float) -> str:
        """The progress line at time `now`: the rate counts only what this process did."""
        elapsed = max(now - self._start, 0.0)
        rate = (self.n - self.initial) / elapsed if elapsed > 0 else 0.0
        share = f" ({100 * self.n / self.total:.0f}%)" if self.total else ""
        text = (f"{self.desc}: {self.n}/{self.total} {self.unit}s{share}, "
                f"{rate:.1f} {self.unit}s/s, {elapsed:.0f} s")
        return f"{text}, {self.postfix}" if self.postfix else text

    def _print(self, now: float) -> None:
        self._last = now
        print(self.line(now), file=self._stream or sys.stderr, flush=True)

    def __enter__(self) -> LineProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


Progress = tqdm | LineProgress
"""Either kind of progress display: both take `update`, `set_postfix_str` and `close`."""


def progress(total: int, desc: str, unit: str = "sample", initial: int = 0) -> Progress:
    """A tqdm bar when stderr is a terminal, else a LineProgress (same calls)."""
    if sys.stderr.isatty():
        return tqdm(total=total, desc=desc, unit=unit, initial=initial)
    return LineProgress(total, desc, unit, initial)
