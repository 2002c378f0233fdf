"""The per-number token bucket never grants above its rate, whatever the timing of the asks."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from streams.rate_limit import TokenBucket


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@settings(max_examples=300, deadline=None)
@given(
    rate=st.floats(1.0, 1000.0),
    steps=st.lists(st.tuples(st.floats(0.0, 0.2), st.integers(1, 5)), min_size=1, max_size=200),
)
def test_grants_never_exceed_burst_plus_rate_times_interval(
    rate: float, steps: list[tuple[float, int]]
) -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate, clock=clock)
    granted: list[float] = []
    for advance, asks in steps:
        clock.t += advance
        for _ in range(asks):
            if bucket.try_acquire() == 0:
                granted.append(clock.t)
    for i, start in enumerate(granted):
        for j in range(i, len(granted)):
            # grants i..j inclusive happened within [start, granted[j]]
            assert j - i + 1 <= 1 + rate * (granted[j] - start) + 1e-6


@given(rate=st.floats(1.0, 500.0), wait_fraction=st.floats(0.0, 0.99))
def test_the_promised_wait_is_enough_and_needed(rate: float, wait_fraction: float) -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate, clock=clock)
    assert bucket.try_acquire() == 0
    wait = bucket.try_acquire()
    assert wait > 0
    clock.t += wait * wait_fraction
    assert bucket.try_acquire() > 0
    clock.t += wait
    assert bucket.try_acquire() == 0


def test_lowering_after_a_130429_slows_the_number_down_but_not_to_zero() -> None:
    bucket = TokenBucket(80.0, clock=FakeClock())
    assert bucket.lower() == 64.0
    for _ in range(100):
        bucket.lower()
    assert bucket.rate == 1.0
