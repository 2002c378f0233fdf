"""The per-number send limiter, with an injectable clock.

Meta counts a number's throughput itself and answers 130429 past it, so the sender must stay at
or under the allowed rate in every second, not merely on average. A token bucket with a burst of
one does that, but every late timer wake-up is then lost for good, and the sender fell to ~0.94
of the allowed rate on a busy machine. This limiter keeps the exact guarantee that matters instead:
at most ``floor(rate)`` grants in any half-open one-second window (it remembers the last
``floor(rate)`` grant times), and lets a late sender catch up, at most ``catch_up`` times the rate
(grants are at least ``1 / (rate * catch_up)`` apart), so catching up is a brisk walk, not a burst.
The clock is injected so the property tests drive it without sleeping.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable

MIN_RATE = 1.0
WINDOW_S = 1.0
_EPSILON = 1e-9


class SendRateLimiter:
    """Grants sends at up to ``rate`` per second, never more than ``floor(rate)`` in any second."""

    def __init__(self, rate: float, *, catch_up: float = 2.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if rate <= 0 or catch_up < 1:
            raise ValueError("rate must be positive and catch_up at least 1")
        self._clock = clock
        self._catch_up = catch_up
        self._grants: deque[float] = deque()
        self._rate = 0.0
        self.set_rate(rate)

    @property
    def rate(self) -> float:
        return self._rate

    @property
    def capacity(self) -> int:
        """Grants allowed in any one-second window."""
        return self._grants.maxlen or 1

    def set_rate(self, rate: float) -> None:
        """Change the rate from now on; grants already made still count in their window."""
        self._rate = max(MIN_RATE, rate)
        capacity = max(1, math.floor(self._rate + _EPSILON))
        self._grants = deque(self._grants, maxlen=capacity)

    def lower(self, factor: float = 0.8) -> float:
        """Slow down after a 130429: Meta saw us above its limit, whatever our own count says."""
        self.set_rate(self._rate * factor)
        return self._rate

    def try_acquire(self) -> float:
        """Take a grant and return 0, or return the seconds until one will be there."""
        now = self._clock()
        wait = 0.0
        if self._grants:
            wait = self._grants[-1] + 1 / (self._rate * self._catch_up) - now
            if len(self._grants) == self.capacity:
                wait = max(wait, self._grants[0] + WINDOW_S - now)
        if wait > _EPSILON:
            return wait
        self._grants.append(now)
        return 0.0

    async def acquire(self, sleep: Callable[[float], Awaitable[object]] = asyncio.sleep) -> None:
        """Wait for a grant. Waits are short (at most a second), never the consumer's timeouts."""
        while (wait := self.try_acquire()) > 0:
            await sleep(wait)
