"""Each sender number's pace in one worker process, shared by every agent that sends from it.

``wa.delivery.intents`` and the inbound topics are keyed by the business number, so the worker
that owns a number's partition runs both its sender lane and the consent replies from it; both
acquire the same :class:`NumberRate` from the process's :class:`NumberRates`, so a STOP
confirmation counts against the number's rate like a pack does.

What a number may send now (:meth:`NumberRate.target`) is Meta's allowed rate, less:

- a **lowered cap** after a 130429: Meta saw us above its limit. The cap drops by a fifth and
  climbs back a tenth of the allowed rate every ``recover_s`` without another 130429, so one
  noisy second does not halve a morning. The cap is kept in PostgreSQL (``number_pace``, by
  :mod:`streams.sender.engine`), so the next owner of the number after a partition move starts
  from it instead of from the full rate;
- the **headroom arrival jitter needs**: the limiter spaces dispatches, Meta counts arrivals, and
  latency that varies by ``J`` seconds moves sends across Meta's one-second windows. The count of
  arrivals in a window then varies by about ``sqrt(rate * J / 3)``; four of those (measured ``J``:
  the 2nd-98th percentile spread of this number's recent call latencies, so the rare slow calls
  that come in bunches count too) keep the peak under the rate. Until 20 calls are measured ``J``
  is taken as :data:`DEFAULT_SPREAD_S`;
- a **hand-over reserve**: for ``handover_s`` (the client's request timeout) after this process
  starts using a number, calls of the previous owner may still land; it had at most ``in_flight``
  of them, so that many fewer (at most half the rate) per second are sent until then. Two seconds
  by default: an old owner stops dispatching when its partition is revoked (it checks ownership
  just before each call) and a call it had dispatched arrives at Meta within its upload time, well
  under that, whatever its answer's fate; a SIGKILLed owner's calls die with its connections.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from streams.limiter import MIN_RATE, SendRateLimiter

DEFAULT_SPREAD_S = 0.25
SIGMAS = 4.0
#: A late sender catches up at most this much above its rate: a fast catch-up is a burst of arrivals.
CATCH_UP = 1.2
LOWER_BY = 0.8
RECOVER_STEP = 0.1  # of the allowed rate
MIN_SAMPLES = 20


@dataclass(frozen=True)
class PaceConfig:
    recover_s: float = 30.0
    handover_s: float = 2.0
    in_flight: int = 32

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> PaceConfig:
        return cls(recover_s=float(options.get("recover_s", cls.recover_s)),
                   handover_s=float(options.get("handover_s", cls.handover_s)),
                   in_flight=int(options.get("in_flight", cls.in_flight)))


class NumberRate:
    """One number's limiter and the state that sets its rate."""

    def __init__(self, number: str, allowed: float, *, clock: Callable[[], float],
                 config: PaceConfig = PaceConfig()) -> None:
        self.number = number
        self.allowed = allowed
        self._clock = clock
        self._config = config
        self._started = clock()
        self._latencies: deque[float] = deque(maxlen=256)
        self._lowered: float | None = None  # the cap right after the last step down
        self._lowered_at = 0.0
        self.limiter = SendRateLimiter(self.target(), catch_up=CATCH_UP, clock=clock)

    # -- what sets the rate -------------------------------------------------------------------

    def observe(self, latency_s: float) -> None:
        """A call to Meta took ``latency_s`` (from dispatch to answer)."""
        self._latencies.append(latency_s)

    def spread_s(self) -> float:
        if len(self._latencies) < MIN_SAMPLES:
            return DEFAULT_SPREAD_S
        ordered = sorted(self._latencies)
        low = ordered[int(0.02 * (len(ordered) - 1))]
        high = ordered[int(0.98 * (len(ordered) - 1))]
        return max(0.0, high - low)

    def headroom(self, rate: float) -> float:
        return math.ceil(SIGMAS * math.sqrt(rate * self.spread_s() / 3))

    def cap(self) -> float:
        """The allowed rate, or the lowered cap as far as it has recovered by now."""
        if self._lowered is None:
            return self.allowed
        steps = math.floor((self._clock() - self._lowered_at) / self._config.recover_s)
        cap = self._lowered + steps * RECOVER_STEP * self.allowed
        if cap >= self.allowed:
            self._lowered = None
            return self.allowed
        return cap

    def lower(self) -> float:
        """A 130429: Meta saw us above its limit, whatever our own count says."""
        self._lowered = max(MIN_RATE, self.cap() * LOWER_BY)
        self._lowered_at = self._clock()
        return self._lowered

    def restore(self, cap: float, age_s: float) -> None:
        """Take over a cap lowered ``age_s`` seconds ago by this number's previous owner."""
        if cap < self.allowed:
            self._lowered = max(MIN_RATE, cap)
            self._lowered_at = self._clock() - max(0.0, age_s)

    def lowered(self) -> float | None:
        """The cap to persist (None: at the allowed rate)."""
        return self._lowered if self.cap() < self.allowed else None

    def target(self) -> float:
        rate = self.cap()
        if self._clock() - self._started < self._config.handover_s:
            rate -= min(self._config.in_flight, rate / 2)
        return max(MIN_RATE, rate - self.headroom(rate))

    # -- using it -------------------------------------------------------------------------------

    async def acquire(self) -> None:
        """Wait for a grant at the current target rate."""
        target = self.target()
        if abs(target - self.limiter.rate) >= 0.5:
            self.limiter.set_rate(target)
        await self.limiter.acquire()


class NumberRates:
    """The process's numbers, created on first use with their allowed rate."""

    def __init__(self, allowed: Callable[[str], float], *, clock: Callable[[], float] = time.monotonic,
                 config: PaceConfig = PaceConfig()) -> None:
        self._allowed = allowed
        self._clock = clock
        self._config = config
        self._numbers: dict[str, NumberRate] = {}

    @classmethod
    def from_options(cls, options: dict[str, Any], clock: Callable[[], float]) -> NumberRates:
        """From the worker's options: ``mps``, ``mps_by_number``, ``in_flight``, ``recover_s``,
        ``handover_s``."""
        default = float(options.get("mps", 80.0))
        by_number = {k: float(v) for k, v in dict(options.get("mps_by_number", {})).items()}
        return cls(lambda n: by_number.get(n, default), clock=clock,
                   config=PaceConfig.from_options(options))

    def get(self, number: str) -> NumberRate:
        rate = self._numbers.get(number)
        if rate is None:
            rate = self._numbers[number] = NumberRate(number, self._allowed(number), clock=self._clock,
                                                      config=self._config)
        return rate
