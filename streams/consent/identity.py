"""Number and identity changes WhatsApp reports as ``system`` messages, applied to the advisor.

Policy (the README's "Number changes" table):

- ``user_changed_number`` (``customer_changed_number`` before Graph v12): the advisor who had the
  old phone (``from``), or the previous business-scoped user id, moves to the new phone and user
  id. Same advisor row: consent, marketing suppression and the sticky sender stay with the
  person; the old number, which WhatsApp may recycle, stops matching them. Recorded in
  ``advisor_identity_history`` with old and new ids and published as an Advisor record.
- A new phone another advisor already has is not taken (``number_change_refused``) and is alerted:
  a person must settle which advisor it is.
- ``user_changed_user_id``: the business-scoped user id alone changes.
- ``customer_identity_changed`` (the user reinstalled or changed device: their security code
  changed): nothing about whom to send to changes, but it is recorded and alerted on
  ``ops.alerts``, since a takeover of an advisor's account looks the same.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

NUMBER_CHANGED = ("user_changed_number", "customer_changed_number")
USER_ID_CHANGED = ("user_changed_user_id",)
IDENTITY_CHANGED = ("customer_identity_changed", "user_identity_changed")


@dataclass(frozen=True)
class SystemEvent:
    """A system message reduced to what the policy needs."""

    event_id: str
    kind: str
    old_phone: str | None
    old_user_id: str | None
    new_phone: str | None
    new_user_id: str | None
    at: datetime


def system_event(record: dict[str, Any]) -> SystemEvent | None:
    """The identity event an InboundMessage record carries, or None if it carries none."""
    system = record.get("system") if record.get("type") == "system" else None
    if not system or system.get("type") not in (*NUMBER_CHANGED, *USER_ID_CHANGED, *IDENTITY_CHANGED):
        return None
    return SystemEvent(
        event_id=record["event_id"], kind=system["type"],
        old_phone=record.get("from_wa_id"),
        old_user_id=system.get("previous_user_id") or record.get("from_user_id"),
        new_phone=system.get("wa_id") if system["type"] in NUMBER_CHANGED else None,
        new_user_id=system.get("user_id"), at=record["timestamp"],
    )


def alert(event: SystemEvent, kind: str, advisor_id: str | None, message: str,
          details: dict[str, str]) -> dict[str, Any]:
    """The Alert record (alert.avsc) for ops: one per event, so a replay repeats its id."""
    return {
        "alert_id": f"{kind}:{event.event_id}", "kind": kind, "severity": "WARNING",
        "subject": advisor_id or "unknown advisor", "message": message, "run_date": None,
        "details": {"wamid": event.event_id, "system_type": event.kind, **details},
        "raised_at": event.at,
    }
