"""Progress in a CI log: plain lines every few seconds with the true rate, no escape codes."""

from __future__ import annotations

import io

from evalkit.progress import LineProgress


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_line_every_few_seconds_and_one_at_the_end():
    log, clock = io.StringIO(), Clock()
    with LineProgress(300, "generate", every_s=5.0, stream=log, clock=clock) as bar:
        for _ in range(30):  # 10 samples every second for 30 s
            clock.now += 1.0
            bar.update(10)
            bar.set_postfix_str("concurrency=16")
    lines = log.getvalue().splitlines()
    assert len(lines) == 6 + 1  # at 5, 10, ..., 30 s, then the final line
    assert lines[0] == "generate: 50/300 samples (17%), 10.0 samples/s, 5 s, concurrency=16"
    assert lines[-1] == "generate: 300/300 samples (100%), 10.0 samples/s, 30 s, concurrency=16"
    assert "\r" not in log.getvalue() and "\x1b" not in log.getvalue()


def test_the_final_rate_is_the_average_even_after_a_burst():
    # tqdm's moving average said 55/s for a run that did 367/s: a burst at the end skews it
    log, clock = io.StringIO(), Clock()
    bar = LineProgress(1000, "execute ", stream=log, clock=clock)
    clock.now += 9.0
    bar.update(100)
    clock.now += 1.0
    bar.update(900)
    bar.close()
    bar.close()  # closing twice writes the final line once
    assert log.getvalue().splitlines()[-1] == "execute: 1000/1000 samples (100%), 100.0 samples/s, 10 s"
    assert len(log.getvalue().splitlines()) == 2  # at 9 s, then the final line


def test_a_resumed_run_counts_only_this_process_in_its_rate():
    log, clock = io.StringIO(), Clock()
    bar = LineProgress(100, "generate", initial=60, stream=log, clock=clock)
    clock.now += 4.0
    bar.update(40)
    bar.close()
    assert log.getvalue().strip() == "generate: 100/100 samples (100%), 10.0 samples/s, 4 s"
