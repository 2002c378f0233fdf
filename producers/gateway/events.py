"""A parsed webhook batch as Kafka records: which topic, which key, which Avro value.

Event ids must not change when Meta delivers the same webhook again (it does, and it retries what
we answered with 503), so they derive from the content only: a status from wamid, status and
Meta's timestamp; an inbound message from its wamid; anything else from a hash of its raw JSON
and the entry's ``time``. Meta's retries keep the entry ``time``, while the same event sent again
later (a template FLAGGED on Monday and again on Thursday) gets a new one, so the two are two
facts. A value-level error has no time of its own; the digest of the change value it came in
(whose statuses carry timestamps) joins its id. ``received_at`` is the one field that differs
between deliveries, and it is not part of an id.

Every status and inbound record carries its item's JSON (``raw_json``): a field dawn does not type
yet is still in Kafka, and Meta never sends an acknowledged webhook again. It is written with the
C encoder in one call per item (no key sorting): cheap next to the parse itself.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from bus.sink import OutRecord
from producers.gateway.numbers import digits
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

STATUS_SYMBOLS = frozenset({"SENT", "DELIVERED", "READ", "FAILED", "DELETED", "WARNING", "PLAYED"})

_compact = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=str).encode


def _ms(unix_seconds: int | None, received_ms: int) -> int:
    return unix_seconds * 1000 if unix_seconds is not None else received_ms


def _canonical_json(raw: Any) -> str:
    return json.dumps(raw, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)


def _errors(errors: tuple[ErrorDetail, ...]) -> list[dict[str, Any]]:
    return [
        {"code": e.code or 0, "title": e.title, "message": e.message, "details": e.details}
        for e in errors
    ]


def _opt_ms(unix_seconds: int | None) -> int | None:
    return None if unix_seconds is None else unix_seconds * 1000


def _fields(obj: Any) -> dict[str, Any] | None:
    """A typed sub-record (dataclass with slots) as the dict its Avro record takes."""
    if obj is None:
        return None
    return {name: getattr(obj, name) for name in obj.__dataclass_fields__}


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
        "pricing": _fields(s.pricing),
        "recipient_parent_user_id": s.recipient_parent_user_id,
        "conversation": None if s.conversation is None else {
            "id": s.conversation.id, "origin_type": s.conversation.origin_type,
            "expiration_timestamp": _opt_ms(s.conversation.expiration_timestamp),
        },
        "received_at": received_ms,
        "raw_json": _compact(s.raw),
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
        "from_parent_user_id": m.from_parent_user_id,
        "username": m.username,
        "caption": m.caption,
        "button_text": m.button_text,
        "interactive_type": m.interactive_type,
        "reply_id": m.reply_id,
        "reply_title": m.reply_title,
        "reply_description": m.reply_description,
        "context_from": m.context_from,
        "forwarded": m.forwarded,
        "frequently_forwarded": m.frequently_forwarded,
        "media": _fields(m.media),
        "referral": _fields(m.referral),
        "reaction": _fields(m.reaction),
        "system": _fields(m.system),
        "errors": _errors(m.errors),
        "raw_json": _compact(m.raw),
    }


#: AccountChange attributes copied as they are into the AccountEvent record.
_ACCOUNT_COPIED = (
    "event", "template_id", "template_name", "template_language", "subject_wa_id",
    "subject_user_id", "reason", "display_phone_number", "template_category", "other_info_title",
    "other_info_description", "rejection_reason", "rejection_recommendation", "previous_category",
    "new_category", "correct_category", "template_element", "template_title", "template_footer",
    "previous_quality", "new_quality", "old_limit", "current_limit",
    "max_daily_conversations_per_business", "max_daily_conversation_per_phone",
    "max_phone_numbers_per_business", "max_phone_numbers_per_waba", "category", "detail",
)


def account_record(
    item: AccountChange | SystemErrorEvent | UnknownChange, received_ms: int,
    numbers: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """An AccountEvent for anything that is neither a status nor an inbound message.

    ``numbers`` maps display numbers (digits) to phone number ids: ``phone_number_quality_update``
    names only the display number, and the fleet is keyed by id."""
    raw_json = _canonical_json(item.raw)
    record: dict[str, Any] = {
        "waba_id": item.waba_id or "",
        "phone_number_id": item.phone_number_id,
        "raw_json": raw_json,
        "timestamp": received_ms,
        "entry_time": _opt_ms(item.entry_time),
    }
    context = ""
    if isinstance(item, AccountChange):
        record.update({name: getattr(item, name) for name in _ACCOUNT_COPIED})
        record.update(field=item.field, timestamp=_ms(item.timestamp, received_ms),
                      category_update_timestamp=_opt_ms(item.category_update_timestamp))
        if record["phone_number_id"] is None and numbers:
            record["phone_number_id"] = numbers.get(digits(item.display_phone_number) or "")
    elif isinstance(item, SystemErrorEvent):
        record.update(field="system_error", event=None if item.code is None else str(item.code),
                      reason=item.title, error_code=item.code, error_message=item.message,
                      error_details=item.details)
        context = item.context_digest or ""
    else:
        record.update(field=item.field or "unknown", reason=item.reason)
    identity = f"{record['waba_id']}\n{record['field']}\n{item.entry_time}\n{context}\n{raw_json}"
    record["event_id"] = hashlib.sha256(identity.encode()).hexdigest()
    return record


def to_records(batch: WebhookBatch, codec: Codec, now: datetime,
               numbers: Mapping[str, str] | None = None) -> list[OutRecord]:
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
        record = account_record(item, received_ms, numbers)
        out.append(OutRecord(ACCOUNT.name, record["waba_id"].encode(),
                             codec.encode(ACCOUNT.name, record)))
    return out
