"""The per-number circuit breaker's state machine, driven by a fake clock (no sleeping)."""

from __future__ import annotations

import pytest

from whatsapp.breaker import BreakerRegistry, BreakerState, CircuitBreaker
from whatsapp.errors import classify


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def breaker(clock: FakeClock) -> CircuitBreaker:
    return CircuitBreaker(failure_threshold=3, cool_down_s=30.0, clock=clock)


def test_opens_after_n_consecutive_transient_failures(breaker: CircuitBreaker) -> None:
    for _ in range(2):
        breaker.record_failure()
        assert breaker.state is BreakerState.CLOSED and breaker.allow()
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN
    assert not breaker.allow()


def test_a_success_resets_the_count(breaker: CircuitBreaker) -> None:
    breaker.record_failure()
    breaker.record_failure()
    breaker.record_success()
    breaker.record_failure()
    breaker.record_failure()
    assert breaker.state is BreakerState.CLOSED
    assert breaker.consecutive_failures == 2


def test_only_transient_policies_count(breaker: CircuitBreaker) -> None:
    """Recipient and template errors prove the number works: they count as successes."""
    breaker.record(classify(131000))
    breaker.record(classify(131000))
    breaker.record(classify(131026))  # undeliverable recipient
    breaker.record(classify(131000))
    assert breaker.state is BreakerState.CLOSED
    for _ in range(2):
        breaker.record(classify(None))  # timeout
    assert breaker.state is BreakerState.OPEN


@pytest.mark.parametrize(
    "code", [131031, 131045, 368, 190], ids=["locked", "unregistered", "policy", "token"]
)
def test_a_stopped_number_trips_and_stays_open(breaker: CircuitBreaker, clock: FakeClock, code: int) -> None:
    breaker.record(classify(code))
    assert breaker.state is BreakerState.OPEN and not breaker.allow()
    clock.advance(breaker.cool_down_s * 10)
    breaker.record(classify(131000))  # a late answer neither closes it nor shortens the stop
    breaker.record(classify(131057))
    breaker.record(None)
    assert breaker.state is BreakerState.OPEN and not breaker.allow()
    clock.advance(breaker.stop_cool_down_s)
    assert breaker.allow()  # after the long cool-down, one probe may find out


def test_reset_closes_a_stopped_number_at_once(breaker: CircuitBreaker) -> None:
    breaker.record(classify(131045))
    breaker.reset()
    assert breaker.state is BreakerState.CLOSED and breaker.allow()
    assert breaker.consecutive_failures == 0


def test_maintenance_trips_for_its_retry_after(breaker: CircuitBreaker, clock: FakeClock) -> None:
    policy = classify(131057)
    breaker.record(policy)
    assert breaker.state is BreakerState.OPEN
    assert breaker.cool_down_remaining() == policy.retry_after_s
    clock.advance(policy.retry_after_s or 0)
    assert breaker.allow()


@pytest.mark.parametrize("code", [130429, 4, 80007], ids=["throughput", "app-rate", "waba-rate"])
def test_rate_limits_count_neither_way(breaker: CircuitBreaker, code: int) -> None:
    breaker.record(classify(131000))
    breaker.record(classify(131000))
    for _ in range(10):
        breaker.record(classify(code))
    assert breaker.state is BreakerState.CLOSED and breaker.consecutive_failures == 2
    breaker.record(classify(131000))
    assert breaker.state is BreakerState.OPEN
    breaker.reset()
    for _ in range(10):
        breaker.record(classify(code))
    assert breaker.state is BreakerState.CLOSED


def test_recipient_and_template_errors_count_as_success(breaker: CircuitBreaker) -> None:
    for code in (131026, 131050, 132015, 132001, 131049):
        breaker.record(classify(131000))
        breaker.record(classify(131000))
        breaker.record(classify(code))
        assert breaker.consecutive_failures == 0, code


def test_half_open_lets_exactly_one_probe_through(breaker: CircuitBreaker, clock: FakeClock) -> None:
    breaker.trip()
    clock.advance(29.9)
    assert not breaker.allow()
    assert breaker.cool_down_remaining() == pytest.approx(0.1)
    clock.advance(0.1)
    assert breaker.state is BreakerState.HALF_OPEN
    assert breaker.allow()
    assert not breaker.allow()
    assert not breaker.allow()


def test_probe_success_closes(breaker: CircuitBreaker, clock: FakeClock) -> None:
    breaker.trip()
    clock.advance(30)
    assert breaker.allow()
    breaker.record_success()
    assert breaker.state is BreakerState.CLOSED
    assert all(breaker.allow() for _ in range(5))


def test_probe_failure_reopens_for_a_fresh_cool_down(breaker: CircuitBreaker, clock: FakeClock) -> None:
    breaker.trip()
    clock.advance(30)
    assert breaker.allow()
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN
    clock.advance(29)
    assert not breaker.allow()
    clock.advance(1)
    assert breaker.allow()


def test_a_probe_that_never_reports_does_not_wedge_the_breaker(
    breaker: CircuitBreaker, clock: FakeClock
) -> None:
    breaker.trip()
    clock.advance(30)
    assert breaker.allow()  # this probe's worker dies
    clock.advance(29)
    assert not breaker.allow()
    clock.advance(1)
    assert breaker.allow()


def test_trip_for_maintenance_uses_its_own_cool_down(breaker: CircuitBreaker, clock: FakeClock) -> None:
    breaker.trip(60.0)
    clock.advance(59)
    assert not breaker.allow()
    clock.advance(1)
    assert breaker.allow()


def test_late_answers_while_open_are_ignored(breaker: CircuitBreaker, clock: FakeClock) -> None:
    """A request sent before the trip must not cut a deliberate cool-down short or extend it."""
    breaker.trip(60.0)
    breaker.record_success()
    assert breaker.state is BreakerState.OPEN
    clock.advance(50)
    breaker.record_failure()
    clock.advance(10)
    assert breaker.allow()


def test_registry_keeps_one_independent_breaker_per_number(clock: FakeClock) -> None:
    registry = BreakerRegistry(failure_threshold=1, cool_down_s=10.0, clock=clock)
    registry.get("pn-1").record_failure()
    assert registry.get("pn-1") is registry.get("pn-1")
    assert registry.get("pn-2").allow()
    assert registry.states() == {"pn-1": BreakerState.OPEN, "pn-2": BreakerState.CLOSED}
    clock.advance(10)
    assert registry.states()["pn-1"] is BreakerState.HALF_OPEN


def test_rejects_nonsense_settings() -> None:
    with pytest.raises(ValueError):
        CircuitBreaker(failure_threshold=0)
    with pytest.raises(ValueError):
        CircuitBreaker(cool_down_s=-1)
