"""The records the sender writes: send results and follow-up intents (retry, reconcile, failover).

Pure functions of the intent, so the sender's control flow stays readable and the shapes are in
one place. A follow-up is always a *new* intent record: the original is acknowledged only after its
follow-up is in Kafka, so a crash between the two loses nothing (the ledger drops the replay).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any


def send_result(
    intent: dict[str, Any], outcome: str, *, at: datetime, wamid: str | None = None,
    wa_id: str | None = None, error_code: int | None = None, error_detail: str | None = None,
    action: str | None = None, latency_ms: float = 0.0,
) -> dict[str, Any]:
    """A SendResult for one attempt of ``intent``."""
    return {
        "delivery_id": intent["delivery_id"],
        "attempt": intent["attempt"],
        "run_date": intent["run_date"],
        "advisor_id": intent["advisor_id"],
        "phone_number_id": intent["phone_number_id"],
        "outcome": outcome,
        "wamid": wamid,
        "wa_id": wa_id,
        "error_code": error_code,
        "error_detail": error_detail,
        "action": action,
        "latency_ms": int(latency_ms),
        "template_name": intent["template_name"],
        "sent_at": at,
    }


def follow_up(
    intent: dict[str, Any], *, at: datetime, send_at: datetime, next_attempt: bool,
    error_code: int | None = None, phone_number_id: str | None = None,
) -> dict[str, Any]:
    """A new intent for the same delivery: a retry (``next_attempt``), a wait for reconciliation,
    or a hand-over to ``phone_number_id`` when the current number was stopped. A hand-over adds
    the number it leaves to ``tried_numbers``, so the delivery never comes back to it."""
    tried = list(intent.get("tried_numbers") or [])
    if phone_number_id and phone_number_id != intent["phone_number_id"]:
        tried.append(intent["phone_number_id"])
    return {
        **intent,
        "tried_numbers": tried,
        "attempt": intent["attempt"] + (1 if next_attempt else 0),
        "send_at": send_at,
        "last_error_code": error_code if error_code is not None else intent.get("last_error_code"),
        "phone_number_id": phone_number_id or intent["phone_number_id"],
        "created_at": at,
    }


def after(at: datetime, seconds: float) -> datetime:
    return at + timedelta(seconds=seconds)
