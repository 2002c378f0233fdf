"""Webhook bodies shaped like Meta's, and a Kafka reader for what the gateway produced."""

from __future__ import annotations

import json
import time
from collections import defaultdict
from typing import Any

from confluent_kafka import Consumer

from dawn.embedded.client_profile import consumer_config

WABA = "waba-1"


def envelope(changes: list[dict[str, Any]], waba_id: str = WABA) -> dict[str, Any]:
    return {"object": "whatsapp_business_account", "entry": [{"id": waba_id, "changes": changes}]}


def messages_change(phone_number_id: str, **value: Any) -> dict[str, Any]:
    return {"field": "messages", "value": {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550001111", "phone_number_id": phone_number_id},
        **value,
    }}


def status(wamid: str, value: str, ts: int, callback: str | None = None,
           code: int | None = None) -> dict[str, Any]:
    item: dict[str, Any] = {"id": wamid, "status": value, "timestamp": str(ts),
                            "recipient_id": "919812345678"}
    if callback:
        item["biz_opaque_callback_data"] = callback
    if code:
        item["errors"] = [{"code": code, "title": "Failed", "error_data": {"details": "x"}}]
    return item


def text_message(wamid: str, body: str, ts: int) -> dict[str, Any]:
    return {"from": "919812345678", "id": wamid, "timestamp": str(ts), "type": "text",
            "text": {"body": body}}


def meta_bytes(doc: dict[str, Any]) -> bytes:
    """Serialised as Meta does: non-ASCII as \\uXXXX escapes and "/" as "\\/"."""
    return json.dumps(doc, ensure_ascii=True).replace("/", "\\/").encode()


def read_topics(bootstrap: str, topics: list[str], keys: set[bytes], want: int, group: str,
                settle_s: float = 1.0, timeout_s: float = 30.0) -> dict[str, list[tuple[bytes, bytes]]]:
    """(key, value) pairs with one of ``keys`` per topic from the start (the broker is shared by
    the session: unique keys tell a test's records apart), once ``want`` arrived and nothing more
    came for ``settle_s`` (so extras are caught too), or when ``timeout_s`` runs out."""
    consumer = Consumer(consumer_config(bootstrap, group, embedded=True))
    consumer.subscribe(topics)
    got: dict[str, list[tuple[bytes, bytes]]] = defaultdict(list)
    count = 0
    deadline = time.monotonic() + timeout_s
    quiet_since = None
    try:
        while time.monotonic() < deadline:
            msg = consumer.poll(0.2)
            if msg is None or msg.error():
                if count >= want:
                    quiet_since = quiet_since or time.monotonic()
                    if time.monotonic() - quiet_since >= settle_s:
                        break
                continue
            if msg.key() not in keys:
                continue
            quiet_since = None
            got[msg.topic()].append((msg.key(), msg.value()))
            count += 1
    finally:
        consumer.close()
    return got
