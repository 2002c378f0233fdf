"""A circuit breaker per sender number, so one sick number stops burning attempts and quality.

closed -> open after ``failure_threshold`` consecutive transient failures -> half-open after the
cool-down, where exactly one probe is let through -> closed when the probe succeeds, open again
when it fails. A stopped number (account locked, not registered, token revoked: STOP_NUMBER and
HALT_ALL) opens the breaker for ``stop_cool_down_s``, an hour by default, because those do not heal
within a morning by themselves; :meth:`CircuitBreaker.reset` closes it sooner, once the number's
health says it can send again. The clock is injected (a callable returning monotonic seconds) so tests and the
compressed ``dawn run`` morning never sleep. Meant for one asyncio loop: no locks.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from enum import StrEnum

from whatsapp.errors import API_RATE_LIMIT, Action, ErrorPolicy

Clock = Callable[[], float]

#: How long a STOP_NUMBER or HALT_ALL error keeps a breaker open unless reset first.
STOP_COOL_DOWN_S = 3600.0


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """Breaker for one phone number.

    Only *transient* failures count: a recipient or template error proves the number works, so it
    is recorded as a success. Rate limits (the number's 130429, the app's 4 and 80007) count neither
    way: the number works, we are only too fast, and slowing down is the rate limiter's job. A
    probe that never reports back (its worker died) does not wedge the breaker: after another
    cool-down a new probe is allowed.
    """

    def __init__(
        self,
        failure_threshold: int = 5,
        cool_down_s: float = 30.0,
        clock: Clock = time.monotonic,
        stop_cool_down_s: float = STOP_COOL_DOWN_S,
    ) -> None:
        if failure_threshold < 1:
            raise ValueError("failure_threshold must be at least 1")
        if cool_down_s < 0 or stop_cool_down_s < 0:
            raise ValueError("cool-downs must not be negative")
        self.failure_threshold = failure_threshold
        self.cool_down_s = cool_down_s
        self.stop_cool_down_s = stop_cool_down_s
        self._clock = clock
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._reopen_at = 0.0
        self._probe_started: float | None = None

    @property
    def state(self) -> BreakerState:
        """The state, with an expired cool-down already counted as half-open."""
        if self._state is BreakerState.OPEN and self._clock() >= self._reopen_at:
            return BreakerState.HALF_OPEN
        return self._state

    @property
    def consecutive_failures(self) -> int:
        return self._failures

    def allow(self) -> bool:
        """May a request go out now? In half-open, True exactly once per probe."""
        now = self._clock()
        if self._state is BreakerState.CLOSED:
            return True
        if self._state is BreakerState.OPEN:
            if now < self._reopen_at:
                return False
            self._state = BreakerState.HALF_OPEN
            self._probe_started = now
            return True
        if self._probe_started is not None and now - self._probe_started < self.cool_down_s:
            return False
        self._probe_started = now
        return True

    def cool_down_remaining(self) -> float:
        """Seconds until a probe may go out (0 when requests are allowed now or a probe is due)."""
        now = self._clock()
        if self._state is BreakerState.OPEN:
            return max(0.0, self._reopen_at - now)
        if self._state is BreakerState.HALF_OPEN and self._probe_started is not None:
            return max(0.0, self._probe_started + self.cool_down_s - now)
        return 0.0

    def record_success(self) -> None:
        """A success closes the breaker, unless it is open: then it is a late answer to a request
        sent before the trip, and must not cut a deliberate cool-down (such as 131057's) short."""
        if self._state is BreakerState.OPEN:
            return
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._probe_started = None

    def record_failure(self) -> None:
        """Count one transient failure; a failed probe reopens at once. Ignored while open, for
        the same reason as late successes."""
        if self._state is BreakerState.OPEN:
            return
        self._failures += 1
        if self._state is BreakerState.HALF_OPEN or self._failures >= self.failure_threshold:
            self.trip()

    def record(self, policy: ErrorPolicy | None) -> None:
        """Record an outcome: None for success, else the error's policy."""
        if policy is None:
            self.record_success()
        elif policy is API_RATE_LIMIT or policy.action is Action.LOWER_RATE:
            return
        elif policy.action in (Action.STOP_NUMBER, Action.HALT_ALL):
            self.trip(self.stop_cool_down_s)
        elif policy.action is Action.RETRY_AFTER:
            self.trip(policy.retry_after_s)
        elif policy.transient:
            self.record_failure()
        else:
            self.record_success()

    def trip(self, cool_down_s: float | None = None) -> None:
        """Open now, e.g. for the ~60 s a number spends in maintenance (131057).

        Never shortens an open period still running: a maintenance answer arriving while a
        stopped number's hour runs must not let a probe out after a minute.
        """
        reopen_at = self._clock() + (self.cool_down_s if cool_down_s is None else cool_down_s)
        if self._state is BreakerState.OPEN:
            reopen_at = max(reopen_at, self._reopen_at)
        self._state = BreakerState.OPEN
        self._reopen_at = reopen_at
        self._probe_started = None

    def reset(self) -> None:
        """Close now, whatever the state: the number is known to be able to send again."""
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._reopen_at = 0.0
        self._probe_started = None


class BreakerRegistry:
    """One breaker per phone_number_id, created on first use with shared settings."""

    def __init__(
        self,
        failure_threshold: int = 5,
        cool_down_s: float = 30.0,
        clock: Clock = time.monotonic,
        stop_cool_down_s: float = STOP_COOL_DOWN_S,
    ) -> None:
        self.failure_threshold = failure_threshold
        self.cool_down_s = cool_down_s
        self.stop_cool_down_s = stop_cool_down_s
        self._clock = clock
        self._breakers: dict[str, CircuitBreaker] = {}

    def get(self, phone_number_id: str) -> CircuitBreaker:
        breaker = self._breakers.get(phone_number_id)
        if breaker is None:
            breaker = CircuitBreaker(
                self.failure_threshold, self.cool_down_s, self._clock, self.stop_cool_down_s
            )
            self._breakers[phone_number_id] = breaker
        return breaker

    def states(self) -> dict[str, BreakerState]:
        """Every known number's state, for the dashboard and health topic."""
        return {number: breaker.state for number, breaker in self._breakers.items()}
