"""The A/B statistics against values computed by hand from the textbook formulas (issue 12)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from consumers.audit.stats import two_proportion_z, wilson


@pytest.mark.parametrize(("x", "n", "low", "high"), [
    (0, 10, 0.0, 0.2775),   # Wilson, z = 1.96: [0, 0.2775]
    (5, 10, 0.2366, 0.7634),
    (10, 10, 0.7225, 1.0),
    (81, 263, 0.2553, 0.3662),
])
def test_wilson_known_values(x: int, n: int, low: float, high: float) -> None:
    lo, hi = wilson(x, n)
    assert lo == pytest.approx(low, abs=5e-4) and hi == pytest.approx(high, abs=5e-4)


def test_two_proportion_z_known_value() -> None:
    # 45/100 vs 30/100: pooled 0.375, se = sqrt(0.375 * 0.625 * 0.02) = 0.068465, z = 2.1909,
    # two-sided p = 0.02846
    t = two_proportion_z(45, 100, 30, 100)
    assert t.z == pytest.approx(2.1909, abs=1e-3)
    assert t.p_value == pytest.approx(0.02846, abs=2e-4)
    assert t.significant()
    assert not two_proportion_z(50, 100, 45, 100).significant()


def test_degenerate_inputs_say_nothing() -> None:
    assert wilson(0, 0) == (0.0, 1.0)
    assert two_proportion_z(0, 0, 3, 10).p_value == 1.0
    assert two_proportion_z(10, 10, 20, 20).p_value == 1.0
    with pytest.raises(ValueError):
        wilson(11, 10)


@given(st.integers(1, 5000).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))))
def test_wilson_contains_the_estimate_and_stays_in_0_1(xn: tuple[int, int]) -> None:
    x, n = xn
    lo, hi = wilson(x, n)
    assert 0.0 <= lo <= x / n <= hi <= 1.0
    assert not math.isnan(lo) and not math.isnan(hi)
