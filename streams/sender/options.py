"""The sender's knobs, parsed once from the stream context's options into a frozen value."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from store.send_ledger import DEFAULT_GRACE
from streams.sender.retry_policy import MAX_ATTEMPTS

TICK_S = 0.25  # longest a lane or the flusher sleeps before looking again
FLUSH_MAX = 500  # outcomes settled in one flush


@dataclass(frozen=True)
class SenderOptions:
    """Knobs read from the stream context's options (see :meth:`from_options`)."""

    mps: float = 80.0
    mps_by_number: dict[str, float] = field(default_factory=dict)
    in_flight: int = 32
    grace: timedelta = DEFAULT_GRACE
    max_attempts: int = MAX_ATTEMPTS
    numbers: tuple[str, ...] = ()  # every sender number, for failover
    max_pending: int = 20_000  # intents held in memory before the stream is slowed
    claim_max_age: timedelta | None = None  # None: half the grace
    breaker_failures: int = 5  # consecutive transient failures that open a number's breaker
    breaker_cool_down_s: float = 30.0
    marketing_messages: str = "off"  # "auto": MARKETING templates via the Marketing Messages API
    handover_s: float = 2.0  # see streams.rates
    recover_s: float = 30.0
    stop_s: float = 900.0  # how long a number that cannot send (a STOP_NUMBER error) stays stopped

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> SenderOptions:
        return cls(
            mps=float(options.get("mps", cls.mps)),
            mps_by_number={k: float(v) for k, v in dict(options.get("mps_by_number", {})).items()},
            in_flight=int(options.get("in_flight", cls.in_flight)),
            grace=timedelta(seconds=float(options.get("grace_s", DEFAULT_GRACE.total_seconds()))),
            max_attempts=int(options.get("max_attempts", MAX_ATTEMPTS)),
            numbers=tuple(options.get("numbers", ())),
            max_pending=int(options.get("max_pending", cls.max_pending)),
            claim_max_age=(timedelta(seconds=float(options["claim_max_age_s"]))
                           if options.get("claim_max_age_s") is not None else None),
            breaker_failures=int(options.get("breaker_failures", cls.breaker_failures)),
            breaker_cool_down_s=float(options.get("breaker_cool_down_s", cls.breaker_cool_down_s)),
            marketing_messages=str(options.get("marketing_messages", cls.marketing_messages)),
            stop_s=float(options.get("stop_s", cls.stop_s)),
            handover_s=float(options.get("handover_s", cls.handover_s)),
            recover_s=float(options.get("recover_s", cls.recover_s)),
        )

    @property
    def max_claim_age(self) -> timedelta:
        """How old a claim may be when its HTTP call goes out; older ones are not sent."""
        return self.claim_max_age if self.claim_max_age is not None else self.grace / 2

    def rate_of(self, phone_number_id: str) -> float:
        """The messages per second ``phone_number_id`` may send."""
        return self.mps_by_number.get(phone_number_id, self.mps)
