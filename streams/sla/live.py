"""The SLA of every live run date, kept as delivery states arrive instead of recounted each tick.

:func:`streams.sla.policy.snapshot` counts a run date from all its tallies: at 30,000 deliveries
and one snapshot a second that recount was a sixth of the tracking worker's CPU, and it grows with
the morning. Here each tally's contribution is added when it arrives and taken back when a later
state of the same delivery replaces it, so a snapshot costs the same at 300 deliveries as at
100,000. :func:`~streams.sla.policy.snapshot` stays the definition: the tests hold the two equal.

Two parts of a snapshot depend on more than the tallies:
- "settled" deliveries (accepted ``settle_s`` before now) grow as time passes. Accepted times not
  yet settled wait in a heap and are counted when the snapshot's clock passes them;
- "delivered by the deadline" needs the deadline, learned from the intents, possibly after states
  were counted. A run date whose deadline (or whose clock, going backwards) differs from the one
  its counts were made with is counted again from its tallies, once.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from streams.sla.policy import SlaPolicy, Tally, snapshot_from_counts


@dataclass
class RunDateCounts:
    """The counters of :func:`~streams.sla.policy.snapshot` for one run date."""

    deadline: datetime
    #: Deliveries accepted at or before this are counted as settled.
    settled_mark: datetime
    eligible: int = 0
    accepted: int = 0
    sent: int = 0
    delivered: int = 0
    by_deadline: int = 0
    read: int = 0
    failed: int = 0
    outcomes: int = 0
    settled: int = 0
    settled_delivered: int = 0
    failed_by_code: Counter[str] = field(default_factory=Counter)
    sent_by_number: Counter[str] = field(default_factory=Counter)
    #: Accepted deliveries not settled yet: delivery id -> accepted_at. The heap orders them by
    #: time; an entry whose delivery is no longer pending at that time is skipped when popped.
    pending: dict[str, datetime] = field(default_factory=dict)
    heap: list[tuple[datetime, str]] = field(default_factory=list)

    def add(self, delivery_id: str, t: Tally, sign: int) -> None:
        """Count ``t`` in (``sign`` 1) or take it back out (-1)."""
        reached = t.reached_phone_at
        is_failed = t.state == "FAILED"
        self.eligible += sign
        if t.accepted_at is not None:
            self.accepted += sign
            self.sent_by_number[t.phone_number_id or "unknown"] += sign
            if t.accepted_at <= self.settled_mark:
                self.settled += sign
                self.settled_delivered += sign * (reached is not None)
            elif sign > 0:
                self.pending[delivery_id] = t.accepted_at
                heapq.heappush(self.heap, (t.accepted_at, delivery_id))
            else:
                del self.pending[delivery_id]
        if t.accepted_at is not None or is_failed:
            self.outcomes += sign
        if t.sent_at is not None or reached is not None:
            self.sent += sign
        if reached is not None:
            self.delivered += sign
            self.by_deadline += sign * (reached <= self.deadline)
        if t.read_at is not None:
            self.read += sign
        if is_failed:
            self.failed += sign
            self.failed_by_code[str(t.error_code or 0)] += sign

    def settle_until(self, mark: datetime, tallies: Mapping[str, Tally]) -> None:
        """Count as settled what was accepted by ``mark``, a mark not before the current one."""
        self.settled_mark = mark
        heap = self.heap
        while heap and heap[0][0] <= mark:
            accepted_at, delivery_id = heapq.heappop(heap)
            if self.pending.get(delivery_id) != accepted_at:
                continue
            del self.pending[delivery_id]
            self.settled += 1
            self.settled_delivered += tallies[delivery_id].reached_phone_at is not None


class LiveSla:
    """Latest tally per delivery id, grouped by run date, with each run date's counts."""

    def __init__(self, policy: SlaPolicy) -> None:
        self.policy = policy
        self._run_date_of: dict[str, date] = {}
        self._tallies: dict[date, dict[str, Tally]] = {}
        self._counts: dict[date, RunDateCounts] = {}

    def put(self, delivery_id: str, tally: Tally) -> None:
        """``tally`` is now the latest of ``delivery_id`` (a replayed one simply replaces)."""
        old_date = self._run_date_of.get(delivery_id)
        if old_date is not None:
            group = self._tallies[old_date]
            old = group.pop(delivery_id)
            counts = self._counts.get(old_date)
            if not group and old_date != tally.run_date:  # its last delivery moved away
                del self._tallies[old_date]
                self._counts.pop(old_date, None)
            elif counts is not None:
                counts.add(delivery_id, old, -1)
        self._run_date_of[delivery_id] = tally.run_date
        self._tallies.setdefault(tally.run_date, {})[delivery_id] = tally
        counts = self._counts.get(tally.run_date)
        if counts is not None:
            counts.add(delivery_id, tally, 1)

    def snapshots(self, now: datetime, deadlines: Mapping[str, int],
                  linger: timedelta) -> list[dict[str, Any]]:
        """A snapshot per live run date: its deadline (epoch ms by ISO date) is known and not older
        than ``linger``. Run dates without a known deadline have no intent seen: nothing to judge."""
        out = []
        for run_date in sorted(self._tallies):
            deadline_ms = deadlines.get(run_date.isoformat())
            if deadline_ms is None:
                continue
            deadline = datetime.fromtimestamp(deadline_ms / 1000, UTC)
            if now - deadline > linger:
                continue
            counts = self._counts_at(run_date, deadline, now - timedelta(seconds=self.policy.settle_s))
            out.append(snapshot_from_counts(run_date, deadline, counts, now, self.policy))
        return out

    def _counts_at(self, run_date: date, deadline: datetime, settle_before: datetime) -> RunDateCounts:
        counts = self._counts.get(run_date)
        tallies = self._tallies[run_date]
        if counts is None or counts.deadline != deadline or settle_before < counts.settled_mark:
            counts = RunDateCounts(deadline=deadline, settled_mark=settle_before)
            for delivery_id, t in tallies.items():
                counts.add(delivery_id, t, 1)
            self._counts[run_date] = counts
        else:
            counts.settle_until(settle_before, tallies)
        return counts
