"""What advisors tell us in any form reaches the next send: number changes, captions, buttons.

Webhook bodies in Meta's shapes are signed and posted to the real gateway; the inbound records it
writes to the real broker are applied by the consent agent's processing function against the real
PostgreSQL. Then the morning is planned from PostgreSQL as the scheduler does, its intents (and
those queued before the webhooks came) go to Kafka, and a ``dawn worker`` sender process sends them
to the sandbox over HTTP. The sandbox's ledger is the witness:

- the advisor who changed number gets the next pack on the NEW number, from the same (sticky)
  business number; nothing goes to the old one, which WhatsApp may give to someone else;
- an image captioned "STOP" and a tap on Meta's "Stop promotions" button (a payload that is not
  ours) stop that advisor's sends, queued ones included;
- a username advisor known only by a business-scoped user id is sent to by that id;
- an identity change (new device) changes nothing about whom to send to, and is alerted.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import secrets
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from confluent_kafka import Consumer, Producer

from dawn.embedded.client_profile import consumer_config, gateway_producer_config, producer_config
from dawn.embedded.stack import Stack
from dawn.gateway_server import GatewayServer
from dawn.settings import Secret
from producers.gateway.config import GatewayConfig
from producers.scheduler.assignment import SenderNumber
from producers.scheduler.plan import plan_morning
from producers.scheduler.window import Window
from sandbox.config import SandboxConfig
from sandbox.server import SandboxServer
from schemas.catalogue import ALERTS, INBOUND, INTENTS, RESULTS
from schemas.codec import Codec
from store import advisors
from store.migrations import apply_migrations
from streams.consent.processor import ConsentProcessor, open_pool
from tests import sender_morning as m
from tests import webhook_bodies as wb
from whatsapp.webhooks.signature import sign

pytestmark = pytest.mark.slow

CODEC = Codec()
SECRET = "number-change-secret"
STICKY = m.NUMBERS[1]


def _phone() -> str:
    return f"91{7000000000 + secrets.randbelow(10**9)}"


def _pack(pack_id: str, sha: str, image: Path) -> dict[str, Any]:
    return {"pack_id": pack_id, "approval_id": "CMP-77", "variants": [{
        "language": "EN", "template_name": "daily_pack_v1", "template_language": "en",
        "image_url": image.as_uri(), "image_sha256": sha, "image_mime_type": "image/jpeg"}]}


async def _eligible(pool: Any, ids: set[str]) -> list[advisors.AdvisorRow]:
    async with pool.connection() as conn:
        return [a for a in await advisors.eligible(conn) if a.advisor_id in ids]


def _plan(rows: list[advisors.AdvisorRow], pack: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The scheduler's plan for ``rows`` on a window starting now: intent by advisor id."""
    now = datetime.now(UTC)
    plan = plan_morning(window=Window.compressed(now, 20), packs=[pack], advisors=rows,
                        numbers=[SenderNumber(n, 80.0) for n in m.NUMBERS], created_at=now)
    assert plan.summary.ok, plan.summary.problems
    return {i["advisor_id"]: i for i in plan.intents}


def _results(bootstrap: str, embedded: bool, wanted: set[str], worker: Any) -> dict[str, Any]:
    consumer = Consumer(consumer_config(bootstrap, f"nc-results-{uuid.uuid4().hex[:8]}", embedded))
    consumer.subscribe([RESULTS.name])
    out: dict[str, Any] = {}
    try:
        for _ in range(600):
            for message in consumer.consume(500, 0.2):
                if not message.error():
                    result = CODEC.decode(RESULTS.name, message.value())
                    if result["delivery_id"] in wanted:
                        out[result["delivery_id"]] = result
            if len(out) == len(wanted):
                return out
            assert worker.poll() is None, "the worker died"
    finally:
        consumer.close()
    raise AssertionError(f"the sender decided on {len(out)} of {len(wanted)} intents")


def test_number_change_caption_and_stop_promotions_reach_the_next_send(
        stack: Stack, topics: list, tmp_path: Path) -> None:
    apply_migrations(stack.database_url)
    run = uuid.uuid4().hex[:8]
    ids = {k: f"nc-{run}-{k}" for k in ("moved", "caption", "button", "control", "username")}
    old_phone, new_phone = _phone(), _phone()
    phones = {"caption": _phone(), "button": _phone(), "control": _phone()}
    old_bsuid, new_bsuid, username_bsuid = (f"IN.{secrets.randbelow(10**18):018d}" for _ in range(3))
    image = tmp_path / f"{run}.jpg"
    image.write_bytes(b"\xff\xd8\xff\xe0" + secrets.token_bytes(256))
    sha = hashlib.sha256(image.read_bytes()).hexdigest()
    with psycopg.connect(stack.database_url, autocommit=True) as conn:
        conn.execute("INSERT INTO pack_media (image_sha256, image_url, mime_type) VALUES (%s, %s, "
                     "'image/jpeg')", (sha, image.as_uri()))
    pnid = f"pn-nc-{run}"  # the business number the webhooks name (a key of this test's own)
    t0 = int(time.time()) - 60

    def message(n: int, frm: str, kind: str, payload: dict[str, Any]) -> dict[str, Any]:
        return {"from": frm, "id": f"wamid.nc.{run}.{n}", "timestamp": str(t0 + n), "type": kind,
                kind: payload}

    bodies = [
        wb.envelope([wb.messages_change(pnid, messages=[{
            "from": old_phone, "id": f"wamid.nc.{run}.1", "timestamp": str(t0 + 1), "type": "system",
            "system": {"body": f"User Asha changed from {old_phone} to {new_phone}",
                       "wa_id": new_phone, "type": "user_changed_number", "user_id": new_bsuid,
                       "previous_user_id": old_bsuid}}])]),
        wb.envelope([wb.messages_change(
            pnid, contacts=[{"profile": {"name": "Meera"}, "wa_id": phones["caption"]}],
            messages=[message(2, phones["caption"], "image", {
                "caption": "STOP", "mime_type": "image/jpeg", "sha256": "x", "id": "1479537139650973"})])]),
        wb.envelope([wb.messages_change(
            pnid, contacts=[{"profile": {"name": "Ravi"}, "wa_id": phones["button"]}],
            messages=[{**message(3, phones["button"], "button",
                                 {"payload": "Stop promotions", "text": "Stop promotions"}),
                       "context": {"from": "15550001111", "id": "wamid.pack"}}])]),
        wb.envelope([wb.messages_change(pnid, messages=[{
            "from": phones["control"], "id": f"wamid.nc.{run}.4", "timestamp": str(t0 + 4),
            "type": "system", "system": {"body": "Customer's identity changed", "identity": "Tlc9PQ==",
                                         "type": "customer_identity_changed"}}])]),
    ]

    async def scenario() -> tuple[dict, dict, list, list]:
        pool = await open_pool(stack.database_url)
        try:
            async with pool.connection() as conn:
                def row(key: str, name: str, phone: str | None, user_id: str | None = None,
                        sticky: str | None = None) -> advisors.AdvisorRow:
                    return advisors.AdvisorRow(ids[key], name, phone, user_id, "EN", "OPTED_IN",
                                               False, sticky)

                rows = [row("moved", "Asha", old_phone, old_bsuid, STICKY),
                        row("caption", "Meera", phones["caption"]),
                        row("button", "Ravi", phones["button"]),
                        row("control", "Kiran", phones["control"]),
                        row("username", "Dev", None, username_bsuid)]
                await advisors.upsert_advisors(conn, rows, source="import", evidence="test",
                                               at=datetime.now(UTC) - timedelta(days=1))
            queued = _plan(await _eligible(pool, set(ids.values())), _pack(f"pack-today-{run}", sha, image))

            config = GatewayConfig(app_secret=Secret(SECRET), verify_token=Secret("v"), ops_token=Secret(""),
                                   kafka=gateway_producer_config(stack.kafka_bootstrap, stack.embedded_kafka))  # type: ignore[arg-type]
            with GatewayServer(config) as gateway:
                for body in [*bodies, bodies[0]]:  # the number change is delivered twice
                    raw = wb.meta_bytes(body)
                    answer = httpx.post(gateway.webhook_url, content=raw, timeout=30, headers={
                        "content-type": "application/json", "x-hub-signature-256": sign(raw, SECRET)})
                    assert answer.status_code == 200, answer.text
            got = wb.read_topics(stack.kafka_bootstrap, [INBOUND.name], {pnid.encode()}, want=5,
                                 group=f"nc-{run}")
            assert len(got[INBOUND.name]) == 5
            confirmations: list[tuple[str, str, str]] = []

            async def send_text(number: str, to: str, text: str) -> None:
                confirmations.append((number, to, text))

            processor = ConsentProcessor(pool, CODEC, send_text)
            outgoing = []
            for key, value in got[INBOUND.name]:
                outgoing += await processor.handle(INBOUND.name, key, value)
            tomorrow = _plan(await _eligible(pool, set(ids.values())),
                             _pack(f"pack-tomorrow-{run}", sha, image))
            async with pool.connection() as conn:
                history = await advisors.identity_history(conn, ids["moved"])
                history += await advisors.identity_history(conn, ids["control"])
            return queued, tomorrow, outgoing, history
        finally:
            await pool.close()

    queued, tomorrow, outgoing, history = asyncio.run(scenario())

    # The plan itself: the moved advisor on the new ids and the same business number; STOPs out.
    assert set(tomorrow) == {ids["moved"], ids["control"], ids["username"]}
    moved = tomorrow[ids["moved"]]
    assert (moved["phone"], moved["user_id"], moved["phone_number_id"]) == (new_phone, new_bsuid, STICKY)
    assert [(h["kind"], h["old_phone"], h["new_phone"], h["old_user_id"], h["new_user_id"])
            for h in history] == [("number_changed", old_phone, new_phone, old_bsuid, new_bsuid),
                                  ("identity_changed", phones["control"], phones["control"], None, None)]
    alerts = [CODEC.decode(ALERTS.name, o.value) for o in outgoing if o.topic == ALERTS.name]
    assert [(a["kind"], a["subject"]) for a in alerts] == [("customer_identity_changed", ids["control"])]
    published = [CODEC.decode(o.topic, o.value) for o in outgoing if o.topic == "advisors"]
    assert {(r["advisor_id"], r["phone"], r["consent"]) for r in published} >= {
        (ids["moved"], new_phone, "OPTED_IN"), (ids["caption"], phones["caption"], "STOPPED"),
        (ids["button"], phones["button"], "STOPPED")}

    # The sends: tomorrow's plan, plus today's intents for the two who said STOP, queued before.
    intents = [*tomorrow.values(), queued[ids["caption"]], queued[ids["button"]]]
    start = datetime.now(UTC)  # the worker takes seconds to start: send now, whatever the plan said
    intents = [{**i, "send_at": start, "deadline": start + timedelta(minutes=10)} for i in intents]
    producer = Producer(producer_config(stack.kafka_bootstrap, stack.embedded_kafka))
    for intent in intents:
        producer.produce(INTENTS.name, key=intent["phone_number_id"].encode(),
                         value=CODEC.encode(INTENTS.name, intent))
    assert producer.flush(60) == 0
    sent = [tomorrow[ids[k]]["delivery_id"] for k in ("moved", "control", "username")]
    stopped = [queued[ids[k]]["delivery_id"] for k in ("caption", "button")]
    with SandboxServer(SandboxConfig()) as sandbox:
        worker = m.start_worker(stack.kafka_bootstrap, stack.database_url, sandbox.base_url,
                                stack.embedded_kafka, f"nc-worker-{run}", tmp_path / "worker.log")
        try:
            doc = m.wait_until_all_accepted(sandbox.base_url, sent, 120, worker)
            results = _results(stack.kafka_bootstrap, stack.embedded_kafka, set(sent + stopped), worker)
            time.sleep(1.0)  # a wrongful send would show by now
            doc = m.ledger(sandbox.base_url)
        finally:
            worker.terminate()
            worker.wait(30)
    to = {e["callback_data"]: (e["to"], e["phone_number_id"]) for e in doc["entries"]
          if e["callback_data"] in set(sent + stopped)}
    control, username = tomorrow[ids["control"]], tomorrow[ids["username"]]
    assert to == {
        moved["delivery_id"]: (new_phone, STICKY),
        control["delivery_id"]: (phones["control"], control["phone_number_id"]),
        username["delivery_id"]: (username_bsuid, username["phone_number_id"]),
    }
    assert not [e for e in doc["entries"] if e["to"] == old_phone]
    assert {d: (results[d]["outcome"], results[d]["error_detail"]) for d in stopped} == {
        d: ("SKIPPED", "no consent") for d in stopped}
    assert json.dumps(doc)  # the ledger is JSON all the way
