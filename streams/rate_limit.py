"""A token bucket per sender number, with an injectable clock.

Meta counts a number's throughput itself and answers 130429 past it, so the sender must stay at
or under the allowed rate, not merely near it on average. The bucket holds at most ``burst``
tokens, so grants at times t1 <= ... <= tn satisfy ``n <= burst + rate * (tn - t1)``. With the
default ``burst`` of 1 (what the sender uses) that means fewer than ``rate + 1`` grants in any
window shorter than a second: at most 80 in any 1 s window at 80 mps (81 only if the window is
closed at both ends, a whole second long, and a grant lands exactly on each end). A larger burst
allows ``burst - 1`` more in every window. The clock is injected so the property test can drive it
without sleeping.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

MIN_RATE = 1.0
_EPSILON = 1e-9  # float refills land a hair under a whole token exactly when one is due


class TokenBucket:
    """Grants sends at ``rate`` per second with bursts of at most ``burst``."""

    def __init__(self, rate: float, *, burst: float = 1.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be positive and burst at least 1")
        self._clock = clock
        self._rate = rate
        self._burst = burst
        self._tokens = burst
        self._stamp = clock()

    @property
    def rate(self) -> float:
        return self._rate

    def set_rate(self, rate: float) -> None:
        """Change the rate from now on; tokens already earned at the old rate are kept."""
        self._refill()
        self._rate = max(MIN_RATE, rate)

    def lower(self, factor: float = 0.8) -> float:
        """Slow down after a 130429: Meta saw us above its limit, whatever our own count says."""
        self.set_rate(self._rate * factor)
        return self._rate

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self._burst, self._tokens + (now - self._stamp) * self._rate)
        self._stamp = now

    def try_acquire(self) -> float:
        """Take a token and return 0, or return the seconds until one will be there."""
        self._refill()
        if self._tokens >= 1 - _EPSILON:
            self._tokens = max(0.0, self._tokens - 1)
            return 0.0
        return (1 - self._tokens) / self._rate

    async def acquire(self, sleep: Callable[[float], Awaitable[object]] = asyncio.sleep) -> None:
        """Wait for a token. Waits are short (one token's worth), never the consumer's timeouts."""
        while (wait := self.try_acquire()) > 0:
            await sleep(wait)
