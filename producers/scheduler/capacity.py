"""How much a set of sender numbers can carry in a window, and what to ask for when it is not enough.

Two different ceilings apply (whatsapp-cloud-api.md section 1): each number's throughput (80 mps by
default), which adding numbers raises, and the portfolio's messaging tier (unique recipients per
rolling 24 h, shared by every number), which adding numbers does not raise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from producers.scheduler.window import Window

#: Meta's portfolio messaging tiers, smallest first, with the unique recipients each allows.
TIERS: dict[str, float] = {
    "TIER_250": 250,
    "TIER_2K": 2_000,
    "TIER_10K": 10_000,
    "TIER_100K": 100_000,
    "TIER_UNLIMITED": math.inf,
}


@dataclass(frozen=True)
class PlanPolicy:
    """How much of the window and of each number's rate first attempts may use.

    First attempts go into the first ``first_attempt_share`` of the window: by default the first
    240 s of 300 s. What that leaves for retries depends on how the attempt failed:

    - a refused send (an error code from Meta) is retried after the sender's backoff
      (whatsapp.errors: 1 s then 2 s, +-25% jitter), so both retries of a message failing at the
      cutoff land inside the window; a number in maintenance (131057) waits 60 s, which still ends
      by 06:04:30 for one retry;
    - a send whose answer was lost (timeout, 5xx: it may have gone out) is resent only after the
      send ledger's grace for a status webhook (30 s) on top of the client's read timeout (10 s),
      so one such resend fits after the cutoff and a second does not.

    Backoff and grace do not shrink with a compressed ``dawn run`` window. Each second is planned
    to ``rate_share`` of the number's allowed rate (90%), so retries and the sender's token-bucket
    jitter fit beside first attempts without crossing the rate (130429).
    """

    first_attempt_share: float = 0.8
    rate_share: float = 0.9

    def __post_init__(self) -> None:
        if not (0 < self.first_attempt_share <= 1 and 0 < self.rate_share <= 1):
            raise ValueError("first_attempt_share and rate_share must be in (0, 1]")

    @property
    def utilisation(self) -> float:
        """Share of a number's raw window capacity (mps x window seconds) that the plan fills."""
        return self.first_attempt_share * self.rate_share

    def per_second(self, allowed_mps: float) -> int:
        """First attempts planned per whole second on a number allowed ``allowed_mps``."""
        return math.floor(allowed_mps * self.rate_share + 1e-9)

    def first_attempt_seconds(self, window: Window) -> int:
        """Whole seconds, from the window start, that first attempts are planned into."""
        return math.floor(window.seconds * self.first_attempt_share + 1e-9)

    def capacity(self, allowed_mps: float, window: Window, packs: int = 1) -> int:
        """Advisors one number can take when each gets ``packs`` messages.

        With several packs each advisor's messages are a fixed sub-window apart (send_times), so a
        number's first-attempt seconds are split evenly between the packs.
        """
        return self.per_second(allowed_mps) * (self.first_attempt_seconds(window) // max(1, packs))


def numbers_needed(advisors: int, allowed_mps: float, window: Window, policy: PlanPolicy,
                   packs: int = 1) -> int | None:
    """Numbers at ``allowed_mps`` needed for ``advisors``; None when one number can carry nothing."""
    per_number = policy.capacity(allowed_mps, window, packs)
    if advisors <= 0:
        return 0
    return math.ceil(advisors / per_number) if per_number else None


def tier_needed(recipients: int) -> str:
    """The smallest messaging tier that lets ``recipients`` unique users be messaged in 24 h."""
    return next(name for name, limit in TIERS.items() if recipients <= limit)


def tier_allows(tier: str, recipients: int) -> bool:
    """True when ``tier`` covers ``recipients``; ValueError names the known tiers otherwise."""
    if tier not in TIERS:
        raise ValueError(f"unknown messaging tier {tier!r}; known: {', '.join(TIERS)}")
    return recipients <= TIERS[tier]
