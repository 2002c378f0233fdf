"""Small statistics for A/B tests of templates: Wilson score intervals and the two-proportion
z-test. Closed forms, no dependency: read rates are proportions over hundreds to thousands of
advisors, where these are the textbook choices (Wilson stays inside [0, 1] and keeps its coverage
for rates near 0 or 1, where the normal "Wald" interval does not)."""

from __future__ import annotations

import math
from dataclasses import dataclass

Z95 = 1.959963984540054  # two-sided 95 %


def wilson(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of a proportion; (0, 1) when there is nothing to go on."""
    if n <= 0:
        return 0.0, 1.0
    if not 0 <= successes <= n:
        raise ValueError(f"successes {successes} not within 0..{n}")
    p = successes / n
    z2 = z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z / (1 + z2 / n) * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    # Exactly 0 and 1 at the ends (floating point leaves crumbs like 7e-18), never excluding p.
    low = 0.0 if successes == 0 else min(p, centre - half)
    high = 1.0 if successes == n else max(p, centre + half)
    return low, high


@dataclass(frozen=True)
class ZTest:
    z: float
    p_value: float  # two-sided

    def significant(self, alpha: float = 0.05) -> bool:
        return self.p_value < alpha


def two_proportion_z(x1: int, n1: int, x2: int, n2: int) -> ZTest:
    """Pooled two-proportion z-test of p1 = p2 (two-sided). No evidence (an empty arm, or both
    rates 0 or 1) gives z = 0, p = 1."""
    if n1 <= 0 or n2 <= 0:
        return ZTest(0.0, 1.0)
    pooled = (x1 + x2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0:
        return ZTest(0.0, 1.0)
    z = (x1 / n1 - x2 / n2) / se
    return ZTest(z, math.erfc(abs(z) / math.sqrt(2)))
