"""The adaptive limiter's arithmetic (AIMD with fast recovery below the last ceiling)."""

from __future__ import annotations

import asyncio

from evalkit.models import AdaptiveLimiter


def test_halves_once_per_epoch_and_respects_bounds():
    lim = AdaptiveLimiter(start=16, low=2, high=32)
    epoch = lim.epoch
    lim.on_overload(epoch)
    assert lim.limit == 8
    lim.on_overload(epoch)  # a request started before the decrease: no second halving
    assert lim.limit == 8
    for _ in range(5):
        lim.on_overload(lim.epoch)
    assert lim.limit == 2


def test_grows_fast_to_the_ceiling_then_slowly():
    lim = AdaptiveLimiter(start=16, low=1, high=64)
    lim.on_overload(lim.epoch)  # ceiling 15, limit 8
    for _ in range(7):
        lim.on_success()
    assert lim.limit == 15
    for _ in range(10):
        lim.on_success()
    assert lim.limit == 15  # above the ceiling: about +0.5 per round of 15 successes
    for _ in range(40):
        lim.on_success()
    assert 16 <= lim.limit <= 17


def test_start_is_clamped_and_growth_stops_at_high():
    lim = AdaptiveLimiter(start=100, low=1, high=10)
    assert lim.limit == 10
    lim.on_success()
    assert lim.limit == 10
    fixed = AdaptiveLimiter(start=4, adaptive=False)
    fixed.on_overload(0)
    fixed.on_success()
    assert fixed.limit == 4


def test_never_more_in_flight_than_the_limit():
    async def go():
        lim = AdaptiveLimiter(start=3)
        peak = 0

        async def job():
            nonlocal peak
            await lim.acquire()
            peak = max(peak, lim.in_flight)
            await asyncio.sleep(0.01)
            await lim.release()

        await asyncio.gather(*(job() for _ in range(30)))
        return peak

    assert asyncio.run(go()) == 3


def test_a_cancelled_waiter_keeps_no_slot():
    async def go():
        lim = AdaptiveLimiter(start=1, adaptive=False)
        await lim.acquire()
        queued = asyncio.create_task(lim.acquire())
        await asyncio.sleep(0)
        queued.cancel()  # cancelled while waiting
        handed = asyncio.create_task(lim.acquire())
        await asyncio.sleep(0)
        await lim.release()  # hands the slot to `handed`...
        handed.cancel()  # ...which is cancelled before it runs: the slot must come back
        await asyncio.gather(queued, handed, return_exceptions=True)
        assert lim.in_flight == 0
        await asyncio.wait_for(lim.acquire(), 1)
        return lim.in_flight

    assert asyncio.run(go()) == 1


def test_a_slot_granted_before_a_decrease_keeps_its_epoch():
    async def go():
        lim = AdaptiveLimiter(start=1)
        first = await lim.acquire()
        queued = asyncio.create_task(lim.acquire())
        await asyncio.sleep(0)
        await lim.release()  # granted now, runs later
        lim.on_overload(first)  # a decrease before the queued request runs
        return first, await queued

    first, granted = asyncio.run(go())
    assert granted == first  # so its own overload, if any, cannot halve the limit again
