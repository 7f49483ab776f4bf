"""Adaptive concurrency for one endpoint: AIMD with fast recovery.

The limit halves when the server says it is overloaded (429, 503) and grows on
success. Growth is +1 per success up to the ceiling where the last overload
happened (a halved window refills within about one round trip) and slow above
it (about +1 every two round trips), so the limit spends most of its time just
under what the server accepts instead of see-sawing between half and full.
"""

from __future__ import annotations

import asyncio
from collections import deque

# Above the last ceiling grow by PROBE / limit per success: +PROBE per round trip.
PROBE = 0.5


class AdaptiveLimiter:
    """An asyncio semaphore whose size adapts to the server's overload signals."""

    def __init__(self, start: int, low: int = 1, high: int = 64, adaptive: bool = True) -> None:
        self.low = max(1, low)
        self.high = max(self.low, high)
        self._limit = float(min(max(start, self.low), self.high))
        self.adaptive = adaptive
        self.in_flight = 0
        self.epoch = 0
        """Bumped on every decrease; a request started in an older epoch cannot cause another."""
        self._ceiling = float("inf")
        self._waiters: deque[asyncio.Future[int]] = deque()

    @property
    def limit(self) -> int:
        """The current number of requests allowed in flight (shown in the progress bar)."""
        return int(self._limit)

    async def acquire(self) -> int:
        """Wait for a slot (first come, first served); returns the epoch the request starts in."""
        if self._waiters or self.in_flight >= int(self._limit):
            # Futures, not a Condition: release() hands its slot to exactly the next waiter, where a
            # Condition wakes waiters that must re-take its lock and re-check (several loop turns each).
            waiter: asyncio.Future[int] = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                return await waiter
            except asyncio.CancelledError:
                if not waiter.cancelled():  # cancelled just after being handed a slot: pass it on
                    await self.release()
                elif waiter in self._waiters:  # (release() may have dropped it already)
                    self._waiters.remove(waiter)
                raise
        self.in_flight += 1
        return self.epoch

    async def release(self) -> None:
        """Give the slot back; waiters take every slot the (possibly grown) limit allows."""
        self.in_flight -= 1
        while self._waiters and self.in_flight < int(self._limit):
            waiter = self._waiters.popleft()
            if not waiter.done():  # done: cancelled while waiting
                self.in_flight += 1  # counted here, so no other acquire can take the slot meanwhile
                # The epoch of the grant: a decrease before the waiter runs must not count it as newer.
                waiter.set_result(self.epoch)

    def on_success(self) -> None:
        """Additive increase: fast below the last ceiling, slow probing above it."""
        if not self.adaptive:
            return
        step = 1.0 if self._limit + 1 <= self._ceiling else PROBE / self._limit
        self._limit = min(float(self.high), self._limit + step)

    def on_overload(self, epoch: int) -> None:
        """Multiplicative decrease, at most once per round of requests."""
        if not self.adaptive or epoch < self.epoch:
            return
        self._ceiling = max(float(self.low), self._limit - 1)
        self._limit = max(float(self.low), self._limit / 2)
        self.epoch += 1
