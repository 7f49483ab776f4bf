"""steady_gc: the generation stage's collector settings are undone afterwards."""

from __future__ import annotations

import gc

from evalkit.models import steady_gc
from evalkit.models.heap import YOUNG_THRESHOLD


def test_steady_gc_freezes_then_restores():
    before = gc.get_threshold()
    with steady_gc():
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold() == (YOUNG_THRESHOLD, *before[1:])
    assert gc.get_freeze_count() == 0
    assert gc.get_threshold() == before
