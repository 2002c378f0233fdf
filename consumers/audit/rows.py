"""One audit row per decoded record: a content id, the month it is filed under, the columns asked about.

The id must be the same every time the same fact is read, whichever offset it sits at, because a
topic recreated and replayed from offset 0 gives every record a new offset. So ids come from what
the record says: the natural key where the record has one (delivery and attempt, a webhook's
event id), a hash of the whole record for snapshots of compacted topics (advisors, delivery
state), where each distinct content is a distinct fact.

Intents and results add the sending number and the record's own time (``created_at``,
``sent_at``) to the delivery and attempt: a failover hand-over re-queues the same attempt on a new
number, reconcile re-queues it on the same one, and a RETRYING or SKIPPED result can repeat with a
different detail; each is a fact of its own, while the same record read twice keeps one id.

PostgreSQL text and jsonb cannot hold U+0000, which any string of a record may carry (an inbound
text, a profile name, an error detail). Every NUL in a text column and in ``record`` is replaced by
U+FFFD (the replacement character), visibly marking where one was; ids of hashed records are
computed from the record as it was, before that replacement.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from schemas.catalogue import topic as catalogue_topic

IST = ZoneInfo("Asia/Kolkata")

#: Column order of audit_events as the writer copies it (ingested_at is left to its default).
COLUMNS = (
    "event_id", "month", "occurred_at", "topic", "record_type", "run_date", "advisor_id",
    "delivery_id", "attempt", "wamid", "phone_number_id", "recipient", "status", "error_code",
    "template_name", "approval_id", "record", "source_partition", "source_offset",
)
REJECT_COLUMNS = (
    "reject_id", "month", "topic", "source_partition", "source_offset", "produced_at", "key",
    "value", "error",
)

AuditRow = tuple[Any, ...]


def month_of(day: date) -> date:
    return day.replace(day=1)


def ist_month(at: datetime) -> date:
    """The IST month an instant falls in (a 06:00 IST morning never straddles a boundary)."""
    return month_of(at.astimezone(IST).date())


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    raise TypeError(f"cannot audit a {type(value).__name__}")


#: What replaces U+0000, which PostgreSQL text and jsonb cannot store.
NUL_REPLACEMENT = "\ufffd"


def clean_text(value: Any) -> Any:
    """``value`` with every NUL in its strings (nested in dicts and lists too) replaced."""
    if isinstance(value, str):
        return value.replace("\x00", NUL_REPLACEMENT) if "\x00" in value else value
    if isinstance(value, dict):
        return {clean_text(k): clean_text(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean_text(v) for v in value]
    return value


def _raw_json(record: dict[str, Any]) -> str:
    return json.dumps(record, default=_json_default, ensure_ascii=False, sort_keys=True)


def record_json(record: dict[str, Any]) -> str:
    """The record as stored in the jsonb column: NULs replaced (see the module doc)."""
    raw = _raw_json(record)
    # json.dumps writes a NUL as the escape \u0000: without one, there is nothing to replace.
    return _raw_json(clean_text(record)) if "\\u0000" in raw else raw


def _digest(*parts: Any) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part if isinstance(part, bytes) else str(part).encode())
        h.update(b"\x00")
    return h.hexdigest()[:32]


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def _first_error(record: dict[str, Any]) -> int | None:
    errors = record.get("errors") or []
    return errors[0]["code"] if errors else None


# Each extractor returns (event_id, occurred_at, columns) for one record type.
Fields = dict[str, Any]


def _intent(r: Fields) -> tuple[str, datetime, Fields]:
    event_id = f"intent:{r['delivery_id']}:{r['attempt']}:{r['phone_number_id']}:{_ms(r['created_at'])}"
    return event_id, r["created_at"], {
        "run_date": r["run_date"], "advisor_id": r["advisor_id"], "delivery_id": r["delivery_id"],
        "attempt": r["attempt"], "phone_number_id": r["phone_number_id"],
        "recipient": r.get("phone") or r.get("user_id"), "status": "QUEUED",
        "template_name": r["template_name"], "approval_id": r["approval_id"],
    }


def _result(r: Fields) -> tuple[str, datetime, Fields]:
    event_id = (f"result:{r['delivery_id']}:{r['attempt']}:{r['outcome']}:{r['phone_number_id']}:"
                f"{_ms(r['sent_at'])}")
    return event_id, r["sent_at"], {
        "run_date": r["run_date"], "advisor_id": r["advisor_id"], "delivery_id": r["delivery_id"],
        "attempt": r["attempt"], "wamid": r.get("wamid"), "phone_number_id": r["phone_number_id"],
        "recipient": r.get("wa_id"), "status": r["outcome"], "error_code": r.get("error_code"),
        "template_name": r["template_name"],
    }


def _status(r: Fields) -> tuple[str, datetime, Fields]:
    return f"status:{r['event_id']}", r["timestamp"], {
        "delivery_id": r.get("callback_data"), "wamid": r["wamid"],
        "phone_number_id": r["phone_number_id"],
        "recipient": r.get("recipient_id") or r.get("recipient_user_id"), "status": r["status"],
        "error_code": _first_error(r),
    }


def _inbound(r: Fields) -> tuple[str, datetime, Fields]:
    return f"inbound:{r['event_id']}", r["timestamp"], {
        "wamid": r["event_id"], "phone_number_id": r["phone_number_id"],
        "recipient": r.get("from_wa_id") or r.get("from_user_id"), "status": r["type"],
    }


def _account(r: Fields) -> tuple[str, datetime, Fields]:
    return f"account:{r['event_id']}", r["timestamp"], {
        "phone_number_id": r.get("phone_number_id"),
        "recipient": r.get("subject_wa_id") or r.get("subject_user_id"),
        "status": f"{r['field']}:{r.get('event') or ''}", "template_name": r.get("template_name"),
    }


def _advisor(r: Fields) -> tuple[str, datetime, Fields]:
    suppressed = " (marketing suppressed)" if r["marketing_suppressed"] else ""
    return f"advisor:{_digest(_raw_json(r))}", r["updated_at"], {
        "advisor_id": r["advisor_id"], "recipient": r.get("phone") or r.get("user_id"),
        "status": f"{r['consent']}{suppressed}", "phone_number_id": r.get("sticky_sender"),
    }


def _state(r: Fields) -> tuple[str, datetime, Fields]:
    return f"state:{_digest(_raw_json(r))}", r["updated_at"], {
        "run_date": r["run_date"], "advisor_id": r["advisor_id"], "delivery_id": r["delivery_id"],
        "attempt": r["attempts"], "wamid": r.get("wamid"), "phone_number_id": r.get("phone_number_id"),
        "status": r["state"], "error_code": r.get("error_code"),
    }


def _sla(r: Fields) -> tuple[str, datetime, Fields]:
    return f"sla:{r['run_date']}:{_ms(r['taken_at'])}", r["taken_at"], {
        "run_date": r["run_date"], "status": "projected_miss" if r["projected_miss"] else "on_track",
    }


def _alert(r: Fields) -> tuple[str, datetime, Fields]:
    return f"alert:{r['alert_id']}:{_ms(r['raised_at'])}", r["raised_at"], {
        "run_date": r.get("run_date"), "status": f"{r['severity']}:{r['kind']}",
    }


def _pack(r: Fields) -> tuple[str, datetime, Fields]:
    return f"pack:{r['pack_id']}", r["approved_at"], {
        "run_date": r["run_date"], "approval_id": r["approval_id"], "status": "APPROVED",
    }


def _health(r: Fields) -> tuple[str, datetime, Fields]:
    return f"health:{_digest(_raw_json(r))}", r["updated_at"], {
        "phone_number_id": r["phone_number_id"], "status": f"{r['quality']}:{r['role']}",
    }


def _template(r: Fields) -> tuple[str, datetime, Fields]:
    return f"template:{_digest(_raw_json(r))}", r["updated_at"], {
        "template_name": r["name"], "status": f"{r['status']}:{r['quality']}",
    }


def _dead_letter(r: Fields) -> tuple[str, datetime, Fields]:
    """The failure is the fact; its failed_at is not part of the id, so the same record given up
    on twice by the same stage (a replay) is one row."""
    key = _digest(r["stage"], r["source_topic"], r["source_partition"], r["source_offset"],
                  r.get("value") or b"")
    return f"dead:{key}", r["failed_at"], {"status": f"{r['stage']}:{r['source_topic']}"}


EXTRACTORS: dict[str, Callable[[Fields], tuple[str, datetime, Fields]]] = {
    "DeliveryIntent": _intent, "SendResult": _result, "StatusEvent": _status,
    "InboundMessage": _inbound, "AccountEvent": _account, "Advisor": _advisor,
    "DeliveryState": _state, "SlaSnapshot": _sla, "Alert": _alert, "ContentPack": _pack,
    "NumberHealth": _health, "TemplateState": _template, "DeadLetter": _dead_letter,
}


def audit_row(topic: str, record: dict[str, Any], partition: int = -1, offset: int = -1) -> AuditRow:
    """The audit_events row of a decoded ``record`` of ``topic``, in :data:`COLUMNS` order."""
    record_type = catalogue_topic(topic).value_schema
    event_id, occurred_at, cols = EXTRACTORS[record_type](record)
    run_date = cols.get("run_date")
    month = month_of(run_date) if run_date else ist_month(occurred_at)
    return tuple(clean_text(v) if isinstance(v, str) else v for v in (
        event_id, month, occurred_at, topic, record_type, run_date, cols.get("advisor_id"),
        cols.get("delivery_id"), cols.get("attempt"), cols.get("wamid"), cols.get("phone_number_id"),
        cols.get("recipient"), cols.get("status"), cols.get("error_code"), cols.get("template_name"),
        cols.get("approval_id"), record_json(record), partition, offset,
    ))


def reject_row(topic: str, key: bytes | None, value: bytes | None, error: str, *,
               partition: int, offset: int, produced_at_ms: int) -> AuditRow:
    """The audit_rejects row of an unreadable record, identified by its bytes, not its offset."""
    produced_at = datetime.fromtimestamp(produced_at_ms / 1000, UTC)
    return (
        f"reject:{_digest(topic, key or b'', value or b'')}", ist_month(produced_at), topic,
        partition, offset, produced_at, key, value, clean_text(error),
    )
