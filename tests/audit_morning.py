"""A small realistic morning: one record (or more) of every type the audit sink reads.

Ids carry a per-call tag so tests sharing the session's broker and database never see each
other's records.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

from confluent_kafka import Producer

from schemas.codec import Codec

Record = tuple[str, str, dict[str, Any]]  # topic, key, record


def morning(run_date: date, advisors: int = 4) -> tuple[str, list[Record]]:
    """(tag, records) for a morning of ``advisors`` advisors on two numbers, in production order."""
    tag = uuid.uuid4().hex[:8]
    t0 = datetime(run_date.year, run_date.month, run_date.day, 0, 25, tzinfo=UTC)  # 05:55 IST
    ms = timedelta(milliseconds=1)
    numbers = (f"PN{tag}1", f"PN{tag}2")
    approval = f"APR-{tag}"
    out: list[Record] = []
    pack = {
        "pack_id": f"pack-{tag}", "approval_id": approval, "run_date": run_date,
        "approved_at": t0 - timedelta(hours=8), "published_at": t0 - timedelta(hours=7),
        "variants": [{"language": "EN", "template_name": "daily_pack_en", "template_language": "en",
                      "image_url": "https://example.com/p.jpg", "image_sha256": "ab" * 32,
                      "image_mime_type": "image/jpeg", "caption": None}],
    }
    out.append(("compliance.packs.approved", pack["pack_id"], pack))
    for i in range(advisors):
        advisor_id = f"A{tag}{i}"
        phone = f"9198{i:02d}{int(tag[:6], 16) % 1000000:06d}"
        number = numbers[i % 2]
        out.append(("advisors", advisor_id, {
            "advisor_id": advisor_id, "name": f"Advisor {i}", "phone": phone, "user_id": None,
            "language": "EN", "consent": "OPTED_IN", "consent_changed_at": t0 - timedelta(days=30),
            "consent_source": "import", "consent_evidence": "advisors.csv line 2",
            "marketing_suppressed": False, "sticky_sender": number,
            "updated_at": t0 - timedelta(days=30),
        }))
        delivery = f"D{tag}{i}"
        at = t0 + timedelta(minutes=5, seconds=i)
        attempts = 2 if i == advisors - 1 else 1
        for attempt in range(1, attempts + 1):
            at += timedelta(seconds=attempt)
            out.append(("wa.delivery.intents", number, {
                "delivery_id": delivery, "run_date": run_date, "advisor_id": advisor_id,
                "phone": phone, "user_id": None, "pack_id": pack["pack_id"], "approval_id": approval,
                "language": "EN", "template_name": "daily_pack_en", "template_language": "en",
                "image_sha256": "ab" * 32, "params": {"advisor_name": f"Advisor {i}"},
                "phone_number_id": number, "send_at": at, "deadline": t0 + timedelta(minutes=40),
                "attempt": attempt, "last_error_code": 131000 if attempt > 1 else None,
                "created_at": at - (timedelta(minutes=4) if attempt == 1 else 500 * ms),
            }))
            retrying = attempt < attempts
            wamid = None if retrying else f"wamid.{tag}{i}"
            out.append(("wa.send.results", number, {
                "delivery_id": delivery, "attempt": attempt, "run_date": run_date,
                "advisor_id": advisor_id, "phone_number_id": number,
                "outcome": "RETRYING" if retrying else "ACCEPTED", "wamid": wamid, "wa_id": phone,
                "error_code": 131000 if retrying else None, "error_detail": None,
                "action": "retry_backoff" if retrying else None, "latency_ms": 120,
                "template_name": "daily_pack_en", "sent_at": at + 100 * ms,
            }))
        wamid = f"wamid.{tag}{i}"
        steps = ("SENT", "DELIVERED", "READ") if i != 1 else ("SENT", "FAILED")
        for n, status in enumerate(steps):
            event = {
                "event_id": f"{wamid}:{status}:{n}", "waba_id": f"WABA{tag}",
                "phone_number_id": number, "wamid": wamid, "status": status,
                "timestamp": at + timedelta(seconds=2 + n), "recipient_id": phone,
                "recipient_user_id": None, "callback_data": delivery,
                "errors": [{"code": 131049, "title": "ecosystem", "message": None, "details": None}]
                if status == "FAILED" else [],
                "pricing": None, "received_at": at + timedelta(seconds=3 + n),
            }
            out.append(("wa.status.events", number, event))
            if status == "DELIVERED":  # Meta repeats webhooks: the duplicate must land once
                out.append(("wa.status.events", number, dict(event)))
        out.append(("wa.delivery.state", delivery, {
            "delivery_id": delivery, "run_date": run_date, "advisor_id": advisor_id,
            "phone_number_id": number, "state": "FAILED" if i == 1 else "READ", "wamid": wamid,
            "attempts": attempts, "error_code": 131049 if i == 1 else None, "queued_at": t0,
            "accepted_at": at, "sent_at": None, "delivered_at": None, "read_at": None,
            "failed_at": None, "updated_at": at + timedelta(seconds=10),
        }))
    out.append(("wa.inbound.messages", numbers[0], {
        "event_id": f"wamid.in.{tag}", "waba_id": f"WABA{tag}", "phone_number_id": numbers[0],
        "from_wa_id": "919800000000", "from_user_id": None, "profile_name": "x", "type": "text",
        "text": "STOP", "button_payload": None, "context_wamid": None,
        "timestamp": t0 + timedelta(minutes=20), "received_at": t0 + timedelta(minutes=20),
    }))
    out.append(("wa.account.events", f"WABA{tag}", {
        "event_id": f"acct-{tag}", "waba_id": f"WABA{tag}", "field": "user_preferences",
        "event": "stop", "phone_number_id": None, "template_id": None, "template_name": None,
        "template_language": None, "subject_wa_id": "919800000001", "subject_user_id": None,
        "reason": None, "raw_json": "{}", "timestamp": t0 + timedelta(minutes=21),
    }))
    out.append(("wa.numbers.health", numbers[0], {
        "phone_number_id": numbers[0], "display_phone_number": None, "quality": "GREEN",
        "status": "CONNECTED", "allowed_mps": 80.0, "role": "PRIMARY", "throughput_level": None,
        "messaging_limit_tier": None, "reason": tag, "updated_at": t0,
    }))
    out.append(("wa.templates", "daily_pack_en:en", {
        "name": "daily_pack_en", "language": "en", "template_id": None, "status": "APPROVED",
        "quality": "GREEN", "category": "MARKETING", "paced": False, "role": "PRIMARY",
        "reason": tag, "updated_at": t0,
    }))
    out.append(("ops.sla", run_date.isoformat(), {
        "run_date": run_date, "deadline": t0 + timedelta(minutes=40), "taken_at": t0 + timedelta(minutes=41),
        "eligible": advisors, "accepted": advisors, "sent": advisors, "delivered": advisors - 1,
        "delivered_by_deadline": advisors - 1, "read": advisors - 1, "failed": 1,
        "sla_pct": 75.0, "failure_pct": 25.0, "failed_by_code": {"131049": 1},
        "sent_by_number": {numbers[0]: 2}, "projected_miss": True,
    }))
    out.append(("ops.alerts", "sla_projected_miss", {
        "alert_id": f"alert-{tag}", "kind": "sla_projected_miss", "severity": "WARNING",
        "subject": run_date.isoformat(), "message": "projected miss", "run_date": run_date,
        "details": {}, "raised_at": t0 + timedelta(minutes=30),
    }))
    return tag, out


def produce(producer: Producer, codec: Codec, records: list[Record]) -> None:
    for topic, key, record in records:
        producer.produce(topic, key=key.encode(), value=codec.encode(topic, record))
    assert producer.flush(30) == 0
