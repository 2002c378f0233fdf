"""The delivery state of one delivery id, merged from everything we learn about it.

Meta delivers statuses out of order and duplicated, the sender may write a result twice after a
crash, and a replayed webhook repeats them all. So a delivery is not a state machine fed in order:
it is a set of facts, and the state is derived from the facts. Every merge is a join (max of
ranks, min of first-seen instants, max of attempts, a deterministic pick among error codes), which
makes :func:`merge` commutative, associative and idempotent: any order and any number of
duplicates of the same events yield the same :class:`Delivery`.

Order of progress: QUEUED < ACCEPTED < HELD < SENT < DELIVERED < READ. HELD ranks above ACCEPTED
because Meta took the message and told us more (it is holding it). FAILED is terminal unless a
delivered or read proves delivery anyway (Meta sometimes reports read after a failure).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

PROGRESS = ("QUEUED", "ACCEPTED", "HELD", "SENT", "DELIVERED", "READ")
RANK = {name: i for i, name in enumerate(PROGRESS)}
DELIVERED_RANK = RANK["DELIVERED"]

#: Status webhook value -> progress it proves (FAILED is handled apart; DELETED/WARNING say nothing).
STATUS_PROGRESS = {"SENT": "SENT", "DELIVERED": "DELIVERED", "READ": "READ"}
#: Send outcome -> progress it proves. RETRYING and SKIPPED prove nothing beyond the attempt.
RESULT_PROGRESS = {"ACCEPTED": "ACCEPTED", "HELD": "HELD"}


def _min(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None or b is None:
        return a or b
    return min(a, b)


@dataclass(frozen=True)
class Delivery:
    """Facts known about one delivery id; ``state`` is derived from them."""

    delivery_id: str
    run_date: date | None = None
    advisor_id: str | None = None
    attempts: int = 0
    #: Sender number and wamid of the highest attempt that reported them.
    phone_number_id: str | None = None
    phone_attempt: int = -1
    wamid: str | None = None
    wamid_attempt: int = -1
    rank: int = -1
    failed: bool = False
    #: (failed_at, code) of the latest failure, so the reported code does not depend on order.
    failure: tuple[datetime, int] | None = None
    #: First instant each progress step (and the failure) was seen.
    reached: dict[str, datetime] = field(default_factory=dict)

    @property
    def state(self) -> str:
        if self.rank >= DELIVERED_RANK or not self.failed:
            return PROGRESS[max(self.rank, 0)]
        return "FAILED"

    @property
    def error_code(self) -> int | None:
        return self.failure[1] if self.failure else None


def merge(a: Delivery, b: Delivery) -> Delivery:
    """The join of two fact sets about the same delivery id (commutative and idempotent)."""
    if a.delivery_id != b.delivery_id:
        raise ValueError(f"cannot merge {a.delivery_id!r} with {b.delivery_id!r}")
    phone = max((a.phone_attempt, a.phone_number_id or ""), (b.phone_attempt, b.phone_number_id or ""))
    wamid = max((a.wamid_attempt, a.wamid or ""), (b.wamid_attempt, b.wamid or ""))
    failures = [f for f in (a.failure, b.failure) if f is not None]
    reached = dict(a.reached)
    for step, at in b.reached.items():
        reached[step] = _min(reached.get(step), at)  # type: ignore[assignment]
    return Delivery(
        delivery_id=a.delivery_id,
        run_date=max(filter(None, (a.run_date, b.run_date)), default=None),
        advisor_id=max(filter(None, (a.advisor_id, b.advisor_id)), default=None),
        attempts=max(a.attempts, b.attempts),
        phone_number_id=phone[1] or None,
        phone_attempt=phone[0],
        wamid=wamid[1] or None,
        wamid_attempt=wamid[0],
        rank=max(a.rank, b.rank),
        failed=a.failed or b.failed,
        failure=max(failures) if failures else None,
        reached=reached,
    )


# -- facts from the three input topics ----------------------------------------------------------


def from_intent(intent: dict[str, Any]) -> Delivery:
    """An intent proves the delivery was planned (QUEUED) and names its run date and advisor."""
    attempt = int(intent.get("attempt") or 1)
    return Delivery(
        delivery_id=intent["delivery_id"],
        run_date=intent["run_date"],
        advisor_id=intent["advisor_id"],
        attempts=attempt,
        phone_number_id=intent["phone_number_id"],
        phone_attempt=attempt,
        rank=RANK["QUEUED"],
        reached={"QUEUED": intent["created_at"]},
    )


def from_result(result: dict[str, Any]) -> Delivery:
    """A send result: accepted/held move forward, a final FAILED fails, the rest count attempts."""
    attempt = int(result["attempt"])
    outcome = result["outcome"]
    progress = RESULT_PROGRESS.get(outcome)
    at = result["sent_at"]
    failed = outcome == "FAILED"
    reached: dict[str, datetime] = {}
    if progress:
        reached[progress] = at
    if failed:
        reached["FAILED"] = at
    return Delivery(
        delivery_id=result["delivery_id"],
        run_date=result["run_date"],
        advisor_id=result["advisor_id"],
        attempts=attempt,
        phone_number_id=result["phone_number_id"],
        phone_attempt=attempt,
        wamid=result.get("wamid") if progress else None,
        wamid_attempt=attempt if progress and result.get("wamid") else -1,
        rank=RANK[progress] if progress else -1,
        failed=failed,
        failure=(at, int(result.get("error_code") or 0)) if failed else None,
        reached=reached,
    )


def from_status(delivery_id: str, status: dict[str, Any]) -> Delivery:
    """A status webhook already matched to ``delivery_id`` (by callback data or wamid)."""
    value = status["status"]
    at = status["timestamp"]
    progress = STATUS_PROGRESS.get(value)
    failed = value == "FAILED"
    codes = [int(e["code"]) for e in status.get("errors") or []]
    reached: dict[str, datetime] = {}
    if progress:
        reached[progress] = at
    if failed:
        reached["FAILED"] = at
    return Delivery(
        delivery_id=delivery_id,
        rank=RANK[progress] if progress else -1,
        failed=failed,
        failure=(at, max(codes, default=0)) if failed else None,
        reached=reached,
    )


def to_record(delivery: Delivery, updated_at: datetime) -> dict[str, Any]:
    """The DeliveryState value for ``wa.delivery.state``; needs the intent or a result seen."""
    return {
        "delivery_id": delivery.delivery_id,
        "run_date": delivery.run_date,
        "advisor_id": delivery.advisor_id or "",
        "phone_number_id": delivery.phone_number_id,
        "state": delivery.state,
        "wamid": delivery.wamid,
        "attempts": delivery.attempts,
        "error_code": delivery.error_code,
        "queued_at": delivery.reached.get("QUEUED"),
        "accepted_at": _min(delivery.reached.get("ACCEPTED"), delivery.reached.get("HELD")),
        "sent_at": delivery.reached.get("SENT"),
        "delivered_at": delivery.reached.get("DELIVERED"),
        "read_at": delivery.reached.get("READ"),
        "failed_at": delivery.reached.get("FAILED") if delivery.state == "FAILED" else None,
        "updated_at": updated_at,
    }


def to_json(d: Delivery) -> dict[str, Any]:
    """``d`` as JSON-able values, as the agent's PostgreSQL book stores it (store.delivery_book)."""
    return {
        "id": d.delivery_id,
        "run_date": d.run_date.isoformat() if d.run_date else None,
        "advisor_id": d.advisor_id,
        "attempts": d.attempts,
        "phone": [d.phone_attempt, d.phone_number_id],
        "wamid": [d.wamid_attempt, d.wamid],
        "rank": d.rank,
        "failed": d.failed,
        "failure": [_to_ms(d.failure[0]), d.failure[1]] if d.failure else None,
        "reached": {step: _to_ms(t) for step, t in d.reached.items()},
    }


def from_json(doc: dict[str, Any]) -> Delivery:
    return Delivery(
        delivery_id=doc["id"],
        run_date=date.fromisoformat(doc["run_date"]) if doc["run_date"] else None,
        advisor_id=doc["advisor_id"],
        attempts=doc["attempts"],
        phone_attempt=doc["phone"][0],
        phone_number_id=doc["phone"][1],
        wamid_attempt=doc["wamid"][0],
        wamid=doc["wamid"][1],
        rank=doc["rank"],
        failed=doc["failed"],
        failure=(_from_ms(doc["failure"][0]), doc["failure"][1]) if doc["failure"] else None,  # type: ignore[arg-type]
        reached={step: _from_ms(ms) for step, ms in doc["reached"].items()},  # type: ignore[misc]
    )


def _to_ms(t: datetime | None) -> int | None:
    return None if t is None else int(t.timestamp() * 1000)


def _from_ms(ms: int | None) -> datetime | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, UTC)


def publishable(delivery: Delivery) -> bool:
    """A state record needs the run date and advisor, which only an intent or a result carries."""
    return delivery.run_date is not None and delivery.advisor_id is not None

