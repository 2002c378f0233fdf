"""The Cloud API's rate and volume limits, each checked before a send and charged only on acceptance.

Checking and charging are separate so a send refused for another reason (a paused template, a
pair-rate hit) does not spend the number's throughput, as with Meta, where only sent messages count.
All times come from the sandbox clock; nothing here sleeps.
"""

from __future__ import annotations

import math
from collections import deque

DAY_S = 24 * 3600.0


class ArrivalWindow:
    """A number's throughput, strictly: at most ``rate`` (rounded down) plus ``burst`` arrivals in
    any sliding one-second window, counted where the request arrives (after injected latency).

    Meta's rate is per second; a bucket holding a second of burst would let up to twice the rate
    through one window with no 130429, so a sender overshooting would never be told. The window
    here is the same one the ledger's peak-mps counter uses (arrivals in ``(t - 1, t]``), so with
    the default ``burst`` of 0 the ledger's peak can never exceed the rate.
    """

    __slots__ = ("capacity", "rate", "times")

    def __init__(self, rate: float, burst: int = 0) -> None:
        self.rate = rate
        self.capacity = max(1, math.floor(rate + 1e-9)) + max(0, burst)
        self.times: deque[float] = deque()

    def _expire(self, now: float) -> None:
        while self.times and self.times[0] <= now - 1.0:
            self.times.popleft()

    def available(self, now: float) -> bool:
        self._expire(now)
        return len(self.times) < self.capacity

    def take(self, now: float) -> None:
        self._expire(now)
        self.times.append(now)


class PairRate:
    """1 message per ``interval_s`` per (number, recipient), with bursts of ``burst`` borrowing
    future quota (a generic cell-rate algorithm): 45 at once are allowed, then the pair must wait
    until the borrowed 45 x 6 s are repaid before bursting again."""

    def __init__(self, interval_s: float, burst: int) -> None:
        self.interval_s = interval_s
        self.tolerance_s = (burst - 1) * interval_s
        self._tat: dict[tuple[str, str], float] = {}

    def allowed(self, key: tuple[str, str], now: float) -> bool:
        return max(self._tat.get(key, now), now) - now <= self.tolerance_s

    def take(self, key: tuple[str, str], now: float) -> None:
        self._tat[key] = max(self._tat.get(key, now), now) + self.interval_s


class RollingUnique:
    """Unique recipients over a rolling window: the portfolio's messaging limit, shared by all its
    numbers. A recipient counts from their latest business-initiated message."""

    def __init__(self, limit: int | None, window_s: float = DAY_S) -> None:
        self.limit = limit
        self.window_s = window_s
        self._last: dict[str, float] = {}
        self._order: deque[tuple[float, str]] = deque()

    def _expire(self, now: float) -> None:
        cutoff = now - self.window_s
        while self._order and self._order[0][0] <= cutoff:
            stamp, who = self._order.popleft()
            if self._last.get(who) == stamp:
                del self._last[who]

    def allowed(self, who: str, now: float) -> bool:
        if self.limit is None:
            return True
        self._expire(now)
        return who in self._last or len(self._last) < self.limit

    def take(self, who: str, now: float) -> None:
        self._last[who] = now
        self._order.append((now, who))

    def count(self, now: float) -> int:
        self._expire(now)
        return len(self._last)


class PerUserCount:
    """Marketing messages delivered to each user over a rolling 24 h, for the per-user cap."""

    def __init__(self, window_s: float = DAY_S) -> None:
        self.window_s = window_s
        self._times: dict[str, deque[float]] = {}

    def count(self, who: str, now: float) -> int:
        times = self._times.get(who)
        if not times:
            return 0
        cutoff = now - self.window_s
        while times and times[0] <= cutoff:
            times.popleft()
        return len(times)

    def add(self, who: str, now: float) -> None:
        self._times.setdefault(who, deque()).append(now)
