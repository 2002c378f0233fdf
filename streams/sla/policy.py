"""The morning's SLA, computed from delivery states, and when it deserves an alert.

Eligible means the distinct delivery ids planned for the run date: every intent produces a QUEUED
state, so the states of a run date are exactly its plan. Counting from the latest state per
delivery id (not from events) makes replayed or duplicated states harmless.

Projection (``projected_miss``). Before the deadline, the SLA is projected as::

    projected = delivered_by_deadline + pending * ratio

where ``pending`` are deliveries neither delivered nor failed yet, and ``ratio`` is the share of
*settled* deliveries that reached the phone: those accepted at least ``settle_s`` seconds ago
(long enough that a healthy message would have been delivered by now). The SLA is projected to
miss when ``projected < target_pct% * eligible``. No projection is made during warm-up, that is
until ``min_settled`` deliveries have settled, because two or three early deliveries say nothing.
After the deadline the projection is simply the final count.

Failure rate (alert). ``failed / (deliveries with an outcome)``, an outcome being accepted by Meta
or failed, once ``min_settled`` outcomes exist. Dividing by eligible instead (the snapshot's
``failure_pct``) would only cross 2% when most of the morning is over, too late to act.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

TERMINAL_DELIVERED = ("DELIVERED", "READ")


@dataclass(frozen=True)
class SlaPolicy:
    """Thresholds; defaults are the brief's (99% by the deadline, alert over 2% failures)."""

    target_pct: float = 99.0
    max_failure_pct: float = 2.0
    settle_s: float = 10.0
    min_settled: int = 20


@dataclass(frozen=True)
class Tally:
    """What the SLA needs of one delivery: the slice of its latest DeliveryState record."""

    run_date: date
    state: str
    phone_number_id: str | None
    error_code: int | None
    accepted_at: datetime | None
    sent_at: datetime | None
    delivered_at: datetime | None
    read_at: datetime | None

    @classmethod
    def from_state(cls, record: dict[str, Any]) -> Tally:
        return cls(
            run_date=record["run_date"],
            state=record["state"],
            phone_number_id=record.get("phone_number_id"),
            error_code=record.get("error_code"),
            accepted_at=record.get("accepted_at"),
            sent_at=record.get("sent_at"),
            delivered_at=record.get("delivered_at"),
            read_at=record.get("read_at"),
        )

    @property
    def reached_phone_at(self) -> datetime | None:
        delivered, read = self.delivered_at, self.read_at
        if delivered is None or read is None:
            return delivered or read
        return min(delivered, read)


def snapshot(
    run_date: date, deadline: datetime, tallies: Iterable[Tally], now: datetime,
    policy: SlaPolicy = SlaPolicy(),
) -> dict[str, Any]:
    """The SlaSnapshot record of ``run_date`` from the latest tally of each of its deliveries."""
    eligible = accepted = sent = delivered = by_deadline = read = failed = 0
    settled = settled_delivered = outcomes = 0
    failed_by_code: Counter[str] = Counter()
    sent_by_number: Counter[str] = Counter()
    settle_before = now - timedelta(seconds=policy.settle_s)
    for t in tallies:
        if t.run_date != run_date:
            continue
        eligible += 1
        reached = t.reached_phone_at
        is_failed = t.state == "FAILED"
        if t.accepted_at is not None:
            accepted += 1
            sent_by_number[t.phone_number_id or "unknown"] += 1
            if t.accepted_at <= settle_before:
                settled += 1
                settled_delivered += reached is not None
        if t.accepted_at is not None or is_failed:
            outcomes += 1
        if t.sent_at is not None or reached is not None:
            sent += 1
        if reached is not None:
            delivered += 1
            by_deadline += reached <= deadline
        if t.read_at is not None:
            read += 1
        if is_failed:
            failed += 1
            failed_by_code[str(t.error_code or 0)] += 1
    return _assemble(
        run_date, deadline, now, policy, eligible=eligible, accepted=accepted, sent=sent,
        delivered=delivered, by_deadline=by_deadline, read=read, failed=failed, settled=settled,
        settled_delivered=settled_delivered, outcomes=outcomes, failed_by_code=failed_by_code,
        sent_by_number=sent_by_number)


def snapshot_from_counts(run_date: date, deadline: datetime, counts: Any, now: datetime,
                         policy: SlaPolicy = SlaPolicy()) -> dict[str, Any]:
    """The SlaSnapshot record from counters kept as states arrive (streams.sla.live), which must
    be those :func:`snapshot` would count from the same tallies at ``now``."""
    return _assemble(
        run_date, deadline, now, policy, eligible=counts.eligible, accepted=counts.accepted,
        sent=counts.sent, delivered=counts.delivered, by_deadline=counts.by_deadline,
        read=counts.read, failed=counts.failed, settled=counts.settled,
        settled_delivered=counts.settled_delivered, outcomes=counts.outcomes,
        failed_by_code=+counts.failed_by_code, sent_by_number=+counts.sent_by_number)


def _assemble(run_date: date, deadline: datetime, now: datetime, policy: SlaPolicy, *,
              eligible: int, accepted: int, sent: int, delivered: int, by_deadline: int,
              read: int, failed: int, settled: int, settled_delivered: int, outcomes: int,
              failed_by_code: Counter[str], sent_by_number: Counter[str]) -> dict[str, Any]:
    projected_miss = False
    if eligible and settled >= min(policy.min_settled, eligible):
        pending = eligible - delivered - failed
        ratio = settled_delivered / settled if now < deadline else 0.0
        projected = by_deadline + pending * ratio
        projected_miss = projected < policy.target_pct / 100 * eligible
    return {
        "run_date": run_date,
        "deadline": deadline,
        "taken_at": now,
        "eligible": eligible,
        "accepted": accepted,
        "sent": sent,
        "delivered": delivered,
        "delivered_by_deadline": by_deadline,
        "read": read,
        "failed": failed,
        "sla_pct": 100.0 * by_deadline / eligible if eligible else 0.0,
        "failure_pct": 100.0 * failed / eligible if eligible else 0.0,
        "failed_by_code": dict(failed_by_code),
        "sent_by_number": dict(sent_by_number),
        "projected_miss": projected_miss,
        "outcome_failure_pct": 100.0 * failed / outcomes if outcomes >= policy.min_settled else 0.0,
    }


def conditions(snap: dict[str, Any], policy: SlaPolicy = SlaPolicy()) -> dict[str, str]:
    """Alert kinds that hold in ``snap``, each with its human-readable message."""
    holding: dict[str, str] = {}
    if snap["outcome_failure_pct"] > policy.max_failure_pct:
        holding["failure_rate"] = (
            f"{snap['outcome_failure_pct']:.1f}% of send outcomes failed "
            f"(over {policy.max_failure_pct:g}%): {snap['failed_by_code']}"
        )
    if snap["projected_miss"]:
        holding["sla_projected_miss"] = (
            f"SLA projected to miss {policy.target_pct:g}%: {snap['delivered_by_deadline']} of "
            f"{snap['eligible']} delivered so far, {snap['failed']} failed"
        )
    return holding


@dataclass
class AlertLatch:
    """Raises an alert when a condition starts holding, not on every tick while it holds.

    A condition that stops holding is released, so it alerts again if it comes back.
    """

    active: set[tuple[str, date]]

    def update(self, run_date: date, holding: dict[str, str], now: datetime) -> list[dict[str, Any]]:
        alerts = []
        for kind in ("failure_rate", "sla_projected_miss"):
            key = (kind, run_date)
            if kind in holding and key not in self.active:
                self.active.add(key)
                alerts.append(alert(kind, run_date, holding[kind], now))
            elif kind not in holding:
                self.active.discard(key)
        return alerts


def alert(kind: str, run_date: date, message: str, now: datetime) -> dict[str, Any]:
    """An Alert record about ``run_date``; the id is stable so a repeat is recognisable."""
    return {
        "alert_id": f"{kind}:{run_date.isoformat()}",
        "kind": kind,
        "severity": "CRITICAL",
        "subject": run_date.isoformat(),
        "message": message,
        "run_date": run_date,
        "details": {},
        "raised_at": now,
    }


def snapshot_record(snap: dict[str, Any]) -> dict[str, Any]:
    """``snap`` without the fields the SlaSnapshot schema does not carry."""
    return {k: v for k, v in snap.items() if k != "outcome_failure_pct"}
