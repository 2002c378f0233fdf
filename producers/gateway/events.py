"""A parsed webhook batch as Kafka records: which topic, which key, which Avro value.

Event ids must not change when Meta delivers the same webhook again (it does, and it retries what
we answered with 503), so they derive from the content only: a status from wamid, status and
Meta's timestamp; an inbound message from its wamid; anything else from a hash of its raw JSON.
``received_at`` is the one field that differs between deliveries, and it is not part of an id.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from producers.gateway.sink import OutRecord
from schemas.catalogue import ACCOUNT, INBOUND, STATUSES
from schemas.codec import Codec
from whatsapp.webhooks.events import (
    AccountChange,
    ErrorDetail,
    InboundMessage,
    StatusUpdate,
    SystemErrorEvent,
    UnknownChange,
    WebhookBatch,
)

STATUS_SYMBOLS = frozenset({"SENT", "DELIVERED", "READ", "FAILED", "DELETED", "WARNING"})


def _ms(unix_seconds: int | None, received_ms: int) -> int:
    return unix_seconds * 1000 if unix_seconds is not None else received_ms


def _canonical_json(raw: Any) -> str:
    return json.dumps(raw, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)


def _errors(errors: tuple[ErrorDetail, ...]) -> list[dict[str, Any]]:
    return [
        {"code": e.code or 0, "title": e.title, "message": e.message, "details": e.details}
        for e in errors
    ]


def status_record(s: StatusUpdate, received_ms: int) -> dict[str, Any]:
    status = s.status.upper()
    return {
        "event_id": f"{s.id}:{s.status}:{s.timestamp}",
        "waba_id": s.waba_id or "",
        "phone_number_id": s.phone_number_id or "",
        "wamid": s.id,
        "status": status if status in STATUS_SYMBOLS else "UNKNOWN",
        "timestamp": _ms(s.timestamp, received_ms),
        "recipient_id": s.recipient_id,
        "recipient_user_id": s.recipient_user_id,
        "callback_data": s.biz_opaque_callback_data,
        "errors": _errors(s.errors),
        "pricing": None if s.pricing is None else {
            "billable": s.pricing.billable, "pricing_model": s.pricing.pricing_model,
            "type": s.pricing.type, "category": s.pricing.category,
        },
        "received_at": received_ms,
    }


def inbound_record(m: InboundMessage, received_ms: int) -> dict[str, Any]:
    return {
        "event_id": m.id,
        "waba_id": m.waba_id or "",
        "phone_number_id": m.phone_number_id or "",
        "from_wa_id": m.from_wa_id,
        "from_user_id": m.from_user_id,
        "profile_name": m.profile_name,
        "type": m.type or "unknown",
        "text": m.reply_text,
        "button_payload": m.reply_payload,
        "context_wamid": m.context_id,
        "timestamp": _ms(m.timestamp, received_ms),
        "received_at": received_ms,
    }


def account_record(
    item: AccountChange | SystemErrorEvent | UnknownChange, received_ms: int
) -> dict[str, Any]:
    """An AccountEvent for anything that is neither a status nor an inbound message."""
    raw_json = _canonical_json(item.raw)
    record: dict[str, Any] = {
        "waba_id": item.waba_id or "",
        "phone_number_id": item.phone_number_id,
        "raw_json": raw_json,
        "timestamp": received_ms,
    }
    if isinstance(item, AccountChange):
        record.update(
            field=item.field, event=item.event, template_id=item.template_id,
            template_name=item.template_name, template_language=item.template_language,
            subject_wa_id=item.subject_wa_id, subject_user_id=item.subject_user_id,
            reason=item.reason or item.other_info_title, timestamp=_ms(item.timestamp, received_ms),
        )
    elif isinstance(item, SystemErrorEvent):
        record.update(field="system_error", event=None if item.code is None else str(item.code),
                      reason=item.title)
    else:
        record.update(field=item.field or "unknown", reason=item.reason)
    identity = f"{record['waba_id']}\n{record['field']}\n{raw_json}"
    record["event_id"] = hashlib.sha256(identity.encode()).hexdigest()
    return record


def to_records(batch: WebhookBatch, codec: Codec, now: datetime) -> list[OutRecord]:
    """Every item of ``batch`` as an encoded record: statuses and inbound keyed by the business
    number (so they share a partition with that number's intents), the rest by WABA."""
    received_ms = int(now.timestamp() * 1000)
    out = [
        OutRecord(STATUSES.name, (s.phone_number_id or "").encode(),
                  codec.encode(STATUSES.name, status_record(s, received_ms)))
        for s in batch.statuses
    ]
    out += [
        OutRecord(INBOUND.name, (m.phone_number_id or "").encode(),
                  codec.encode(INBOUND.name, inbound_record(m, received_ms)))
        for m in batch.messages
    ]
    for item in (*batch.changes, *batch.system_errors, *batch.unknown):
        record = account_record(item, received_ms)
        out.append(OutRecord(ACCOUNT.name, record["waba_id"].encode(),
                             codec.encode(ACCOUNT.name, record)))
    return out
