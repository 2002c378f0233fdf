"""The consent processor on records read back from the real broker, against the real PostgreSQL.

The processing function is called directly on records consumed from Kafka (not inside a Faust
worker: a worker's group join costs seconds per test on the embedded broker); the Faust agent is
a thin loop around the same call. Confirmations go through the real CloudApiClient to a small
receiver app standing in for the Graph API.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest
from confluent_kafka import Consumer, Producer
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from dawn.embedded.client_profile import consumer_config, producer_config
from schemas.codec import Codec
from store import advisors
from store.migrations import apply_migrations
from streams.consent.processor import ConsentProcessor, Outgoing, open_pool
from streams.consent.replies import reply_for
from whatsapp.client import CloudApiClient

pytestmark = pytest.mark.slow

CODEC = Codec()
T0 = datetime(2026, 11, 23, 0, 0, tzinfo=UTC)


class Receiver:
    """What the Graph API was asked to send: (phone_number_id, to, body)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, str]] = []

        async def messages(request: Request) -> JSONResponse:
            body = await request.json()
            to = body.get("to") or body["recipient"]  # a BSUID is addressed as `recipient`
            self.sent.append((request.path_params["number"], to, body["text"]["body"]))
            return JSONResponse({"messaging_product": "whatsapp", "contacts": [{"input": to, "wa_id": to}],
                                 "messages": [{"id": f"wamid.reply.{len(self.sent)}"}]})

        self.app = Starlette(routes=[Route("/v26.0/{number}/messages", messages, methods=["POST"])])


@pytest.fixture
async def world(database_url: str) -> AsyncIterator[tuple[ConsentProcessor, Receiver, Any]]:
    apply_migrations(database_url)
    receiver = Receiver()
    client = CloudApiClient("http://graph.test", "v26.0", "token",
                            transport=httpx.ASGITransport(app=receiver.app))
    pool = await open_pool(database_url)
    try:
        yield ConsentProcessor(pool, CODEC, client.send_text), receiver, pool
    finally:
        await client.aclose()
        await pool.close()


def inbound(tag: str, n: int, *, text: str | None, wa_id: str | None, user_id: str | None = None,
            payload: str | None = None, at: datetime = T0) -> dict[str, Any]:
    return {
        "event_id": f"wamid.in.{tag}.{n}", "waba_id": "WABA1", "phone_number_id": "PN1",
        "from_wa_id": wa_id, "from_user_id": user_id, "profile_name": None,
        "type": "button" if payload else "text", "text": text, "button_payload": payload,
        "context_wamid": None, "timestamp": at, "received_at": at,
    }


def through_kafka(bootstrap: str, embedded: bool, topic: str,
                  records: list[dict[str, Any] | bytes]) -> list[tuple[str, bytes | None, bytes, int, int]]:
    """Produce ``records`` and read them back: what the agent would be handed."""
    marker = uuid.uuid4().hex.encode()
    producer = Producer(producer_config(bootstrap, embedded))
    for record in records:
        value = record if isinstance(record, bytes) else CODEC.encode(topic, record)
        producer.produce(topic, key=marker, value=value)
    assert producer.flush(30) == 0
    consumer = Consumer(consumer_config(bootstrap, f"consent-test-{marker.decode()}", embedded))
    consumer.subscribe([topic])
    out = []
    try:
        for _ in range(400):
            message = consumer.poll(0.5)
            if message is None or message.error() or message.key() != marker:
                if len(out) == len(records):
                    break
                continue
            out.append((message.topic(), message.key(), message.value(), message.partition(),
                        message.offset()))
            if len(out) == len(records):
                break
    finally:
        consumer.close()
    assert len(out) == len(records)
    return out


async def handle_all(processor: ConsentProcessor, messages: list) -> list[Outgoing]:
    outgoing: list[Outgoing] = []
    for topic, key, value, partition, offset in messages:
        outgoing += await processor.handle(topic, key, value, partition, offset)
    return outgoing


async def seed(pool: Any, tag: str) -> dict[str, advisors.AdvisorRow]:
    def digits(n: int) -> str:
        return f"9198{n}{int(tag[:6], 16) % 10_000_000:07d}"

    rows = {
        "EN": advisors.AdvisorRow(f"{tag}-en", "Asha Rao", digits(1), None, "EN", "OPTED_IN",
                                  False, None),
        "HI": advisors.AdvisorRow(f"{tag}-hi", "राहुल वर्मा", digits(2), None, "HI", "OPTED_IN",
                                  False, None),
        "MR": advisors.AdvisorRow(f"{tag}-mr", "प्रिया देशपांडे", digits(3), None, "MR", "OPTED_IN",
                                  False, None),
        "BUTTON": advisors.AdvisorRow(f"{tag}-btn", "Vikram Shah", digits(4), None, "EN", "OPTED_IN",
                                      False, None),
        "BSUID": advisors.AdvisorRow(f"{tag}-bsuid", "सुनीता पाटील", None, f"IN.{tag}", "MR", "OPTED_IN",
                                     False, None),
    }
    async with pool.connection() as conn:
        await advisors.upsert_advisors(conn, rows.values(), source="import", evidence="test",
                                       at=T0 - timedelta(days=1))
    return rows


def decoded_advisors(outgoing: list[Outgoing]) -> dict[str, dict[str, Any]]:
    return {o.key.decode(): CODEC.decode("advisors", o.value) for o in outgoing if o.topic == "advisors"}


async def test_stop_in_every_language_and_as_a_button_stops_sends_and_is_confirmed(
        world, bootstrap, stack, topics) -> None:
    processor, receiver, pool = world
    tag = uuid.uuid4().hex[:10]
    rows = await seed(pool, tag)
    stops = [
        inbound(tag, 1, text="STOP", wa_id=rows["EN"].phone),
        inbound(tag, 2, text=" बंद करो। ", wa_id=rows["HI"].phone),
        inbound(tag, 3, text="थांबवा", wa_id=rows["MR"].phone),
        inbound(tag, 4, text="Stop promotions", wa_id=rows["BUTTON"].phone, payload="DAWN_STOP"),
        inbound(tag, 5, text="रुको", wa_id=None, user_id=f"IN.{tag}"),
        inbound(tag, 6, text="what time does it come?", wa_id=rows["EN"].phone),
    ]
    messages = through_kafka(bootstrap, stack.embedded_kafka, "wa.inbound.messages", stops)
    ids = [r.advisor_id for r in rows.values()]
    async with pool.connection() as conn:
        assert await advisors.sendable(conn, ids) == set(ids)

    outgoing = await handle_all(processor, messages)

    published = decoded_advisors(outgoing)
    assert {k: v["consent"] for k, v in published.items()} == dict.fromkeys(ids, "STOPPED")
    async with pool.connection() as conn:
        assert await advisors.sendable(conn, ids) == set()
    assert sorted(receiver.sent) == sorted(
        ("PN1", row.contact, reply_for("STOPPED", row.language)) for row in rows.values()
    )

    # A replay (Kafka redelivery, a repeated webhook) changes nothing and confirms nothing again.
    assert await handle_all(processor, messages) == []
    assert len(receiver.sent) == 5

    start = through_kafka(bootstrap, stack.embedded_kafka, "wa.inbound.messages", [
        inbound(tag, 7, text="शुरू", wa_id=rows["HI"].phone, at=T0 + timedelta(minutes=1)),
        inbound(tag, 8, text="RESUME", wa_id=rows["EN"].phone, at=T0 + timedelta(minutes=1)),
    ])
    outgoing = await handle_all(processor, start)
    consents = {k: v["consent"] for k, v in decoded_advisors(outgoing).items()}
    assert consents == {rows["HI"].advisor_id: "OPTED_IN"}
    async with pool.connection() as conn:
        # RESUME does not undo a STOP: only START (or an import) opts in again.
        assert await advisors.sendable(conn, ids) == {rows["HI"].advisor_id}
        history = await (await conn.execute(
            "SELECT old_value, new_value, source FROM consent_history WHERE advisor_id = %s ORDER BY id",
            (rows["HI"].advisor_id,))).fetchall()
    assert history == [(None, "OPTED_IN", "import"), ("OPTED_IN", "STOPPED", "inbound"),
                       ("STOPPED", "OPTED_IN", "inbound")]
    assert receiver.sent[-2:] == [("PN1", rows["HI"].phone, reply_for("OPTED_IN", "HI")),
                                  ("PN1", rows["EN"].phone, reply_for("STOPPED", "EN"))]


async def test_marketing_preferences_and_131050_suppress_until_resume(
        world, bootstrap, stack, topics) -> None:
    processor, receiver, pool = world
    tag = uuid.uuid4().hex[:10]
    rows = await seed(pool, tag)
    en, mr = rows["EN"], rows["MR"]

    def preference(n: int, value: str, wa_id: str) -> dict[str, Any]:
        return {"event_id": f"pref-{tag}-{n}", "waba_id": "WABA1", "field": "user_preferences",
                "event": value, "phone_number_id": "PN1", "template_id": None, "template_name": None,
                "template_language": None, "subject_wa_id": wa_id, "subject_user_id": None,
                "reason": None, "raw_json": "{}", "timestamp": T0 + timedelta(minutes=n)}

    messages = through_kafka(bootstrap, stack.embedded_kafka, "wa.account.events",
                             [preference(1, "stop", en.phone)])
    await handle_all(processor, messages)
    async with pool.connection() as conn:
        assert en.advisor_id not in await advisors.sendable(conn, [en.advisor_id])

    failure = {"delivery_id": f"D-{tag}", "attempt": 1, "run_date": T0.date(), "advisor_id": mr.advisor_id,
               "phone_number_id": "PN1", "outcome": "FAILED", "wamid": None, "wa_id": None,
               "error_code": 131050, "error_detail": "user stopped marketing", "action": None,
               "latency_ms": 90, "template_name": "daily_pack_mr", "sent_at": T0}
    messages = through_kafka(bootstrap, stack.embedded_kafka, "wa.send.results", [failure])
    outgoing = await handle_all(processor, messages)
    assert decoded_advisors(outgoing)[mr.advisor_id]["marketing_suppressed"] is True

    messages = through_kafka(bootstrap, stack.embedded_kafka, "wa.account.events",
                             [preference(2, "resume", en.phone)])
    await handle_all(processor, messages)
    async with pool.connection() as conn:
        assert await advisors.sendable(conn, [en.advisor_id, mr.advisor_id]) == {en.advisor_id}
    assert receiver.sent == []  # preference changes are WhatsApp's own; nothing to confirm


async def test_undecodable_inbound_goes_to_the_dead_letter_topic(world, bootstrap, stack, topics) -> None:
    processor, _, _ = world
    messages = through_kafka(bootstrap, stack.embedded_kafka, "wa.inbound.messages", [b"\x00garbage"])
    (out,) = await handle_all(processor, messages)
    assert out.topic == "wa.inbound.messages.dlq"
    letter = CODEC.decode(out.topic, out.value)
    assert letter["value"] == b"\x00garbage" and letter["stage"] == "consent"


def test_history_is_append_only(database_url: str) -> None:
    apply_migrations(database_url)
    with psycopg.connect(database_url) as conn, pytest.raises(psycopg.errors.RaiseException):
        conn.execute("DELETE FROM consent_history")


async def test_newer_evidence_wins(world) -> None:
    """An old file re-imported cannot undo a later STOP, and a STOP older than the START after it
    (webhooks arrive out of order) does not undo the START; its reply says where things stand."""
    processor, receiver, pool = world
    tag = uuid.uuid4().hex[:10]
    rows = await seed(pool, tag)  # opted in at T0 - 1 day
    en, hi = rows["EN"], rows["HI"]

    async def say(n: int, text: str, phone: str | None, at: datetime) -> None:
        await processor.handle("wa.inbound.messages", None, CODEC.encode(
            "wa.inbound.messages", inbound(tag, n, text=text, wa_id=phone, at=at)))

    await say(1, "stop", en.phone, T0)
    async with pool.connection() as conn:
        await advisors.upsert_advisors(conn, [en], source="import", evidence="old.csv",
                                       at=T0 + timedelta(hours=1),
                                       consent_at={en.advisor_id: T0 - timedelta(days=2)})
        assert await advisors.sendable(conn, [en.advisor_id]) == set()

    await say(2, "बंद", hi.phone, T0)
    await say(3, "शुरू", hi.phone, T0 + timedelta(hours=1))
    await say(4, "रुको", hi.phone, T0 + timedelta(minutes=30))  # sent before the START, seen after
    async with pool.connection() as conn:
        assert await advisors.sendable(conn, [hi.advisor_id]) == {hi.advisor_id}
    assert receiver.sent[-1] == ("PN1", hi.phone, reply_for("OPTED_IN", "HI"))


async def test_stop_wins_over_an_import_claiming_a_later_time(world) -> None:
    """An import dated after the advisor's STOP or PAUSE (a bad clock, a 2099 placeholder from
    before imports refused them) cannot make the advisor's own word ineffective, and importing the
    same file again does not undo it."""
    processor, receiver, pool = world
    tag = uuid.uuid4().hex[:10]
    phone = f"9196{int(tag[:6], 16) % 10_000_000:07d}"
    en = advisors.AdvisorRow(f"{tag}-en", "Asha Rao", f"{phone}1", None, "EN", "OPTED_IN", False, None)
    hi = advisors.AdvisorRow(f"{tag}-hi", "राहुल वर्मा", f"{phone}2", None, "HI", "OPTED_IN", False,
                             None)
    now = datetime.now(UTC)
    claimed = {en.advisor_id: datetime(2099, 1, 1, tzinfo=UTC), hi.advisor_id: now + timedelta(minutes=4)}
    async with pool.connection() as conn:
        await advisors.upsert_advisors(conn, [en, hi], source="import", evidence="future.csv", at=now,
                                       consent_at=claimed)

    for n, (text, row) in enumerate((("STOP", en), ("pause", hi)), start=1):
        await processor.handle("wa.inbound.messages", None, CODEC.encode(
            "wa.inbound.messages", inbound(tag, n, text=text, wa_id=row.phone, at=now)))
    async with pool.connection() as conn:
        assert await advisors.sendable(conn, [en.advisor_id, hi.advisor_id]) == set()
        assert (await advisors.get_advisor(conn, hi.advisor_id)).consent_state == "PAUSED"
        # The same file again changes nothing: the STOP already outranked its evidence.
        await advisors.upsert_advisors(conn, [en, hi], source="import", evidence="future.csv",
                                       at=datetime.now(UTC), consent_at=claimed)
        assert await advisors.sendable(conn, [en.advisor_id, hi.advisor_id]) == set()
        # Consent given later than anything weighed so far is a new opt-in.
        await advisors.upsert_advisors(conn, [hi], source="import", evidence="new.csv",
                                       at=datetime.now(UTC),
                                       consent_at={hi.advisor_id: datetime.now(UTC) + timedelta(hours=1)})
        assert await advisors.sendable(conn, [en.advisor_id, hi.advisor_id]) == {hi.advisor_id}
    assert receiver.sent[-2:] == [("PN1", en.phone, reply_for("STOPPED", "EN")),
                                  ("PN1", hi.phone, reply_for("PAUSED", "HI"))]


async def test_database_errors_are_retried_in_place_and_never_lose_the_stop(world, monkeypatch) -> None:
    """Faust acks a record once the agent's loop body leaves it, raising or not: a STOP whose
    database work fails must be retried in place until it is applied, not raised out of the loop."""
    processor, receiver, pool = world
    tag = uuid.uuid4().hex[:10]
    en = (await seed(pool, tag))["EN"]
    slept: list[float] = []

    async def no_sleep(seconds: float) -> None:
        slept.append(seconds)

    processor.sleep = no_sleep
    real_apply = advisors.apply_consent
    calls = 0

    async def flaky_apply(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls <= 3:
            raise psycopg.OperationalError("server closed the connection unexpectedly")
        return await real_apply(*args, **kwargs)

    monkeypatch.setattr(advisors, "apply_consent", flaky_apply)
    value = CODEC.encode("wa.inbound.messages", inbound(tag, 1, text="STOP", wa_id=en.phone))
    outgoing = await processor.handle_retrying("wa.inbound.messages", None, value, 0, 7)
    assert decoded_advisors(outgoing)[en.advisor_id]["consent"] == "STOPPED"
    assert slept == [0.5, 1.0, 2.0]
    async with pool.connection() as conn:
        assert await advisors.sendable(conn, [en.advisor_id]) == set()
    assert receiver.sent == [("PN1", en.phone, reply_for("STOPPED", "EN"))]

    # An error that is not the database being away: a few tries, then the record is kept in the DLQ.
    async def broken_apply(*args: Any, **kwargs: Any) -> Any:
        raise psycopg.errors.DataError("invalid input")

    monkeypatch.setattr(advisors, "apply_consent", broken_apply)
    value = CODEC.encode("wa.inbound.messages", inbound(tag, 2, text="START", wa_id=en.phone))
    (out,) = await processor.handle_retrying("wa.inbound.messages", b"PN1", value, 0, 8)
    letter = CODEC.decode(out.topic, out.value)
    assert out.topic == "wa.inbound.messages.dlq" and letter["value"] == value
    assert letter["stage"] == "consent" and "DataError" in letter["error"]
