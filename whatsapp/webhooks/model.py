"""Parse a webhook notification into typed items, never losing any of it.

Only a body that is not a JSON object is refused (``WebhookFormatError``, a 4xx for the gateway).
Anything inside a valid object that is unexpected, malformed or new becomes an ``UnknownChange``
holding the JSON concerned: Meta retries what we do not acknowledge for days and offers no way to
fetch a webhook again, so what is acknowledged must be kept, even when not understood.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from whatsapp.coerce import as_dict, as_int, as_str
from whatsapp.webhooks.account import READERS
from whatsapp.webhooks.events import (
    AccountChange,
    InboundMessage,
    StatusUpdate,
    SystemErrorEvent,
    UnknownChange,
    WebhookBatch,
)
from whatsapp.webhooks.messages import parse_messages_value

log = logging.getLogger("dawn.whatsapp")

_MESSAGES = "messages"


class WebhookFormatError(ValueError):
    """The body is not JSON, or not a JSON object: nothing in it can be kept."""


def _load(body: bytes | str | dict[str, Any]) -> dict[str, Any]:
    if isinstance(body, dict):
        return body
    if not isinstance(body, bytes | bytearray | str):
        raise WebhookFormatError(f"body of type {type(body).__name__} is not JSON")
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise WebhookFormatError(f"body is not valid JSON ({type(exc).__name__})") from exc
    if not isinstance(doc, dict):
        raise WebhookFormatError(f"body is a JSON {type(doc).__name__}, not an object")
    return doc


def _place(batch: WebhookBatch, item: object, waba_id: str | None) -> None:
    match item:
        case StatusUpdate():
            batch.statuses.append(item)
        case InboundMessage():
            batch.messages.append(item)
        case AccountChange():
            batch.changes.append(item)
        case SystemErrorEvent():
            batch.system_errors.append(item)
        case UnknownChange():
            batch.unknown.append(item)
        case _:  # a reader returning a type this match does not know yet: keep it, never drop it
            log.error("webhook parser produced a %s; kept raw", type(item).__name__)
            batch.unknown.append(UnknownChange(waba_id, None, f"unplaced {type(item).__name__}", raw=item))


def _parse_change(waba_id: str | None, time: int | None, change: Any) -> list[object]:
    if not isinstance(change, dict):
        return [UnknownChange(waba_id, None, "change is not an object", raw=change, entry_time=time)]
    field = as_str(change.get("field"))
    value = change.get("value")
    if not isinstance(value, dict):
        return [UnknownChange(waba_id, field, "change value is not an object", raw=change,
                              entry_time=time)]
    if field == _MESSAGES or (field is None and ("statuses" in value or "messages" in value)):
        return list(parse_messages_value(waba_id, field, value, time))
    reader = READERS.get(field) if field else None
    if reader is None:
        phone_number_id = as_str(as_dict(value.get("metadata")).get("phone_number_id"))
        return [UnknownChange(waba_id, field, "unhandled field", phone_number_id, value,
                              entry_time=time)]
    return list(reader(waba_id, time, field, value))


def parse_notification(body: bytes | str | dict[str, Any]) -> WebhookBatch:
    """Every status, inbound message, account change and system error in one POST body.

    Raises WebhookFormatError only when the body is not a JSON object; otherwise never raises.
    """
    doc = _load(body)
    batch = WebhookBatch(object=as_str(doc.get("object")) or "")
    entries = doc.get("entry")
    if not isinstance(entries, list):
        batch.unknown.append(UnknownChange(None, None, "notification without an entry list", raw=doc))
        return batch
    for entry in entries:
        if not isinstance(entry, dict):
            batch.unknown.append(UnknownChange(None, None, "entry is not an object", raw=entry))
            continue
        waba_id = as_str(entry.get("id"))
        changes = entry.get("changes")
        if not isinstance(changes, list):
            batch.unknown.append(UnknownChange(waba_id, None, "entry without a changes list", raw=entry))
            continue
        time = as_int(entry.get("time"))
        for change in changes:
            try:
                items = _parse_change(waba_id, time, change)
            except Exception as exc:  # a parser bug must cost one change, never the batch
                log.error("webhook change not parsed (%s); kept raw", type(exc).__name__)
                items = [UnknownChange(waba_id, None, f"parse error: {type(exc).__name__}", raw=change,
                                       entry_time=time)]
            for item in items:
                _place(batch, item, waba_id)
    return batch
