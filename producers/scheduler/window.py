"""The morning's send window as UTC instants.

The brief fixes the window in Indian time (05:59:30 to 06:04:30 IST, SLA deadline 06:05:00), but
every component stores and transmits UTC instants, so the conversion happens once, here, through
zoneinfo. ``dawn run`` and tests start a morning "now" instead and compress it: the same shape,
scaled, so a 120 s demo keeps the 30 s grace as 12 s.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

IST = ZoneInfo("Asia/Kolkata")

WINDOW_START = time(5, 59, 30)
WINDOW_END = time(6, 4, 30)
DEADLINE = time(6, 5, 0)
PLAN_AT = time(5, 59, 0)

#: The brief's window (300 s) and deadline (330 s after the window opens).
WINDOW_SECONDS = 300.0
DEADLINE_SECONDS = 330.0


@dataclass(frozen=True)
class Window:
    """When first sends may start, when they should be over, and the SLA deadline (UTC-aware)."""

    start: datetime
    end: datetime
    deadline: datetime

    def __post_init__(self) -> None:
        for name in ("start", "end", "deadline"):
            if getattr(self, name).utcoffset() is None:
                raise ValueError(f"Window.{name} must be timezone-aware (a UTC instant)")
        if not self.start < self.end <= self.deadline:
            raise ValueError("a window needs start < end <= deadline")

    @classmethod
    def for_date(cls, run_date: date, zone: ZoneInfo = IST) -> Window:
        """The brief's window on ``run_date`` in ``zone`` (Asia/Kolkata unless told otherwise)."""
        return cls(
            start=_instant(run_date, WINDOW_START, zone),
            end=_instant(run_date, WINDOW_END, zone),
            deadline=_instant(run_date, DEADLINE, zone),
        )

    @classmethod
    def compressed(cls, now: datetime, seconds: float) -> Window:
        """A morning that starts at ``now`` and lasts ``seconds``, with the grace scaled to match."""
        if seconds <= 0:
            raise ValueError("the window must last more than 0 seconds")
        start = now.astimezone(UTC)
        return cls(
            start=start,
            end=start + timedelta(seconds=seconds),
            deadline=start + timedelta(seconds=seconds * DEADLINE_SECONDS / WINDOW_SECONDS),
        )

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()

    def run_date(self, zone: ZoneInfo = IST) -> date:
        """The IST calendar date of the morning: what delivery ids and packs are keyed by."""
        return self.start.astimezone(zone).date()


def plan_at(run_date: date, zone: ZoneInfo = IST, at: time = PLAN_AT) -> datetime:
    """When the scheduler plans and pre-stages media for ``run_date`` (05:59:00 IST by default)."""
    return _instant(run_date, at, zone)


def _instant(run_date: date, at: time, zone: ZoneInfo) -> datetime:
    return datetime.combine(run_date, at, tzinfo=zone).astimezone(UTC)
