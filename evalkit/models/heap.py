"""Garbage-collector settings for the generation stage.

A run's long-lived objects (imported modules, config, tasks, rendered prompts:
over 200,000 once evalkit.run is imported) make a full cyclic collection slow,
about 0.1 s, and one comes during generation as soon as enough request objects
have survived: the event loop stalls while every answer in flight waits. The
short-lived objects of each request (options, headers, futures) are freed by
reference counting; looking for cycles among them every 700 allocations took
about 15% of the client's CPU per request in bench/bench_models.py.
"""

from __future__ import annotations

import contextlib
import gc
from typing import Iterator

YOUNG_THRESHOLD = 10_000


@contextlib.contextmanager
def steady_gc() -> Iterator[None]:
    """Keep what is alive now out of the collector's sight and collect young objects less often."""
    thresholds = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, *thresholds[1:])
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()  # back to the oldest generation: collectable again
