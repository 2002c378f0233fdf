"""Parsing Meta's largest webhook POST, against ``json.loads`` of the same bytes.

    python bench/webhook_parse.py [--updates 1000] [--megabytes 3] [--repeat 20]

A POST may batch up to 1,000 updates in up to 3 MB, and the gateway answers Meta only after it has
parsed and produced them, so the parse is on the path of every acknowledgement. ``json.loads`` is
the floor (parse_notification starts with it); the ratio says what the typed parse costs on top.
The body mixes statuses (some failed, with pricing), inbound texts in Hindi and account changes,
serialised as Meta does (non-ASCII as ``\\uXXXX`` escapes, ``/`` as ``\\/``), and the inbound texts
are padded until the body has the requested size. Best of ``--repeat`` runs, so a busy machine
shows less noise. A second ratio covers the gateway's whole CPU path per POST: the parse plus the
Kafka records (each status and inbound item's raw JSON re-serialised, every record Avro-encoded).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from producers.gateway.events import to_records
from schemas.codec import Codec
from whatsapp.webhooks.model import parse_notification

WABA = "102290129340398"
NUMBERS = [f"10654035224{i:04d}" for i in range(8)]
HINDI = "नमस्ते, आज का पैक देखा। धन्यवाद! "


def _value(number: str, **items: Any) -> dict[str, Any]:
    return {"messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550783881", "phone_number_id": number}, **items}


def _status(i: int) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": f"wamid.HBgMOTE5ODEyMzQ1Njc4FQIAERgS{i:012d}", "status": ("sent", "delivered", "read")[i % 3],
        "timestamp": str(1_795_000_000 + i), "recipient_id": f"9198{i:08d}",
        "biz_opaque_callback_data": f"D{i:08d}:1",
        "pricing": {"billable": True, "pricing_model": "PMP", "type": "regular", "category": "marketing"},
    }
    if i % 20 == 0:
        item["status"] = "failed"
        item["errors"] = [{"code": 131049, "title": "This message was not delivered",
                           "message": "This message was not delivered", "error_data": {"details": "limit"}}]
    return {"field": "messages", "value": _value(NUMBERS[i % len(NUMBERS)], statuses=[item])}


def _inbound(i: int, body: str) -> dict[str, Any]:
    phone = f"9198{i:08d}"
    return {"field": "messages", "value": _value(
        NUMBERS[i % len(NUMBERS)],
        contacts=[{"profile": {"name": "आशा"}, "wa_id": phone, "user_id": f"IN.{i:016d}"}],
        messages=[{"from": phone, "id": f"wamid.HBgMOTE5{i:012d}", "timestamp": str(1_795_000_000 + i),
                   "type": "text", "text": {"body": body}}],
    )}


def _account(i: int) -> dict[str, Any]:
    return {"field": "message_template_status_update", "value": {
        "event": "PAUSED", "message_template_id": 594425479261596 + i,
        "message_template_name": "daily_pack_v1", "message_template_language": "hi",
        "reason": None, "other_info": {"title": "FIRST_PAUSE", "description": "quality"},
    }}


def _encode(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, ensure_ascii=True).replace("/", "\\/").encode()


def body(updates: int, target_bytes: int) -> bytes:
    """A notification of ``updates`` one-update changes, about ``target_bytes`` long."""
    inbound = max(1, updates // 4)
    accounts = max(1, updates // 20)
    statuses = updates - inbound - accounts

    def build(text: str) -> bytes:
        changes = [_status(i) for i in range(statuses)]
        changes += [_inbound(i, text) for i in range(inbound)]
        changes += [_account(i) for i in range(accounts)]
        return _encode({"object": "whatsapp_business_account", "entry": [{"id": WABA, "changes": changes}]})

    bare = len(build(""))
    per_char = len(_encode({"t": HINDI})) - len(_encode({"t": ""}))  # escaped bytes per repetition
    repeats = max(0, (target_bytes - bare) // (per_char * inbound))
    return build(HINDI * repeats)


def best_of(repeat: int, fn: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--updates", type=int, default=1000)
    parser.add_argument("--megabytes", type=float, default=3.0)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    raw = body(args.updates, int(args.megabytes * 1024 * 1024))
    batch = parse_notification(raw)
    if batch.size != args.updates or batch.unknown:
        raise SystemExit(f"the body parsed into {batch.size} items ({len(batch.unknown)} unknown), "
                         f"expected {args.updates}")
    loads = best_of(args.repeat, lambda: json.loads(raw))
    parse = best_of(args.repeat, lambda: parse_notification(raw))
    codec, now = Codec(), datetime.now(UTC)
    records = best_of(args.repeat, lambda: to_records(parse_notification(raw), codec, now))
    print(f"body        {len(raw) / 1024 / 1024:.2f} MB, {batch.size} updates "
          f"({len(batch.statuses)} statuses, {len(batch.messages)} inbound, {len(batch.changes)} changes)")
    print(f"json.loads  {loads * 1000:8.2f} ms")
    print(f"parse       {parse * 1000:8.2f} ms")
    print(f"ratio       {parse / loads:8.2f}x json.loads")
    print(f"records     {records * 1000:8.2f} ms (parse + Kafka records, raw JSON included)")
    print(f"ratio       {records / loads:8.2f}x json.loads")


if __name__ == "__main__":
    main()
