"""The number-change policy case by case, against the real PostgreSQL and sandbox.

The consent agent's processing function gets InboundMessage records as the gateway writes them;
the README's "Number changes" table is the oracle. Also: the gateway's number directory read from
the WABA's phone numbers, and sends addressed to a business-scoped user id.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from producers.gateway.numbers import NumberDirectory, graph_fetch
from sandbox.config import SandboxConfig
from sandbox.server import SandboxServer
from schemas.catalogue import ADVISORS, ALERTS, INBOUND
from schemas.codec import Codec
from store import advisors
from store.migrations import apply_migrations
from streams.consent.processor import ConsentProcessor, open_pool
from whatsapp.client import CloudApiClient
from whatsapp.payloads import TemplateMessage, template_message_body, text_message_body

CODEC = Codec()
T0 = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)


def phone() -> str:
    return f"91{8000000000 + secrets.randbelow(10**9)}"


def system(n: int, frm: str | None, system_type: str, *, from_user_id: str | None = None,
           **fields: str) -> dict[str, Any]:
    at = T0 + timedelta(minutes=n)
    return {
        "event_id": f"wamid.sys.{uuid.uuid4().hex}", "waba_id": "W", "phone_number_id": "PN1",
        "from_wa_id": frm, "from_user_id": from_user_id, "profile_name": None, "type": "system",
        "text": None, "button_payload": None, "context_wamid": None, "timestamp": at, "received_at": at,
        "system": {"type": system_type, "body": "changed", "wa_id": None, "user_id": None,
                   "parent_user_id": None, "previous_user_id": None, "previous_parent_user_id": None,
                   "identity": None, "customer": None, **fields},
    }


SENT: list[tuple[str, str, str]] = []  # confirmations the processor sent: (number, to, text)


@pytest.fixture
async def world(database_url: str) -> AsyncIterator[tuple[ConsentProcessor, Any]]:
    apply_migrations(database_url)
    pool = await open_pool(database_url)

    async def send_text(number: str, to: str, text: str) -> None:
        SENT.append((number, to, text))

    try:
        yield ConsentProcessor(pool, CODEC, send_text), pool
    finally:
        await pool.close()


async def seed(pool: Any, *rows: advisors.AdvisorRow) -> None:
    async with pool.connection() as conn:
        await advisors.upsert_advisors(conn, rows, source="import", evidence="t", at=T0)


def row(advisor_id: str, phone: str | None, user_id: str | None = None, consent: str = "OPTED_IN",
        sticky: str | None = "PN-STICKY") -> advisors.AdvisorRow:
    return advisors.AdvisorRow(advisor_id, "Asha", phone, user_id, "MR", consent, False, sticky)


async def handle(processor: ConsentProcessor, record: dict[str, Any]) -> dict[str, list[dict]]:
    out = await processor.handle(INBOUND.name, b"PN1", CODEC.encode(INBOUND.name, record))
    by_topic: dict[str, list[dict]] = {}
    for o in out:
        by_topic.setdefault(o.topic, []).append(CODEC.decode(o.topic, o.value))
    return by_topic


async def test_a_number_change_keeps_consent_and_sticky_and_a_replay_changes_nothing(world) -> None:
    processor, pool = world
    tag, old, new = uuid.uuid4().hex[:8], phone(), phone()
    await seed(pool, row(f"a-{tag}", old, consent="PAUSED"))
    record = system(1, old, "customer_changed_number", wa_id=new)
    out = await handle(processor, record)
    (published,) = out[ADVISORS.name]
    assert (published["phone"], published["consent"], published["sticky_sender"]) == (
        new, "PAUSED", "PN-STICKY")
    assert await handle(processor, record) == {}  # the same wamid again
    async with pool.connection() as conn:
        assert (await advisors.find_by_contact(conn, wa_id=old)) is None
        assert (await advisors.find_by_contact(conn, wa_id=new)).advisor_id == f"a-{tag}"
        history = await advisors.identity_history(conn, f"a-{tag}")
    assert [(h["kind"], h["old_phone"], h["new_phone"]) for h in history] == [("number_changed", old, new)]

    # The platform's file still has the old number: importing it does not move the advisor back,
    # while a number WhatsApp never told us about is the platform's newer word and is taken.
    async with pool.connection() as conn:
        later = T0 + timedelta(days=1)
        await advisors.upsert_advisors(conn, [row(f"a-{tag}", old)], source="import", evidence="t",
                                       at=later)
        assert (await advisors.get_advisor(conn, f"a-{tag}")).phone == new
        third = phone()
        await advisors.upsert_advisors(conn, [row(f"a-{tag}", third)], source="import", evidence="t",
                                       at=later)
        assert (await advisors.get_advisor(conn, f"a-{tag}")).phone == third


def text(n: int, frm: str, body: str) -> dict[str, Any]:
    at = T0 + timedelta(minutes=n)
    return {
        "event_id": f"wamid.txt.{uuid.uuid4().hex}", "waba_id": "W", "phone_number_id": "PN1",
        "from_wa_id": frm, "from_user_id": None, "profile_name": None, "type": "text", "text": body,
        "button_payload": None, "context_wamid": None, "timestamp": at, "received_at": at,
    }


async def test_a_stop_from_the_new_number_that_overtook_the_number_change_is_applied(world) -> None:
    """Webhooks come out of order: the STOP sent from the new number after the change arrives
    first, from a phone no advisor has yet. It is kept and applied (and confirmed) when the change
    arrives; a STOP that phone sent before the change was its previous owner's and is not."""
    processor, pool = world
    tag, old, new = uuid.uuid4().hex[:8], phone(), phone()
    await seed(pool, row(f"a-{tag}", old))
    previous_owner = text(0, new, "STOP")  # a year's worth earlier in spirit: before the change
    assert await handle(processor, previous_owner) == {}
    async with pool.connection() as conn:
        assert (await advisors.get_advisor(conn, f"a-{tag}")).consent_state == "OPTED_IN"
    change = system(5, old, "user_changed_number", wa_id=new)
    await handle(processor, {**text(6, new, "थांबवा")})  # arrives before the change
    SENT.clear()
    out = await handle(processor, change)
    (published,) = out[ADVISORS.name]
    assert (published["phone"], published["consent"]) == (new, "STOPPED")
    assert [(to, number) for number, to, _ in SENT] == [(new, "PN1")]
    async with pool.connection() as conn:
        assert await advisors.sendable(conn, [f"a-{tag}"]) == set()
    assert await handle(processor, change) == {}  # a replay applies and confirms nothing again
    assert len(SENT) == 1


async def test_a_stop_the_new_number_sent_before_the_change_was_someone_elses(world) -> None:
    processor, pool = world
    tag, old, new = uuid.uuid4().hex[:8], phone(), phone()
    await seed(pool, row(f"a-{tag}", old))
    assert await handle(processor, text(1, new, "STOP")) == {}  # the number's previous owner
    out = await handle(processor, system(5, old, "user_changed_number", wa_id=new))
    (published,) = out[ADVISORS.name]
    assert (published["phone"], published["consent"]) == (new, "OPTED_IN")


async def test_a_new_number_that_is_another_advisors_is_refused_and_alerted(world) -> None:
    processor, pool = world
    tag, old, taken = uuid.uuid4().hex[:8], phone(), phone()
    await seed(pool, row(f"a-{tag}", old), row(f"b-{tag}", taken))
    out = await handle(processor, system(1, old, "user_changed_number", wa_id=taken))
    assert ADVISORS.name not in out
    (alert,) = out[ALERTS.name]
    assert (alert["kind"], alert["subject"]) == ("number_change_refused", f"a-{tag}")
    assert taken not in alert["details"]["new_phone"]  # masked
    async with pool.connection() as conn:
        assert (await advisors.get_advisor(conn, f"a-{tag}")).phone == old
        assert (await advisors.get_advisor(conn, f"b-{tag}")).phone == taken
        (refused,) = await advisors.identity_history(conn, f"a-{tag}")
    assert (refused["kind"], refused["new_phone"]) == ("number_change_refused", taken)


async def test_a_user_id_change_moves_a_username_advisor(world) -> None:
    processor, pool = world
    tag = uuid.uuid4().hex[:8]
    old_id, new_id = f"US.{tag}0001", f"US.{tag}0002"
    await seed(pool, row(f"u-{tag}", None, old_id))
    out = await handle(processor, system(1, None, "user_changed_user_id", from_user_id=new_id,
                                         user_id=new_id, previous_user_id=old_id))
    (published,) = out[ADVISORS.name]
    assert (published["phone"], published["user_id"], published["consent"]) == (None, new_id, "OPTED_IN")


async def test_number_change_from_an_unknown_user_changes_nothing(world) -> None:
    processor, _pool = world
    assert await handle(processor, system(1, phone(), "user_changed_number", wa_id=phone())) == {}


async def test_directory_reads_the_wabas_numbers_from_the_sandbox() -> None:
    config = SandboxConfig()
    with SandboxServer(config) as sandbox:
        async with CloudApiClient(sandbox.base_url) as client:
            directory = NumberDirectory({"+91 99999 00000": "configured-id"},
                                        graph_fetch(client, config.waba_id))
            assert directory.mapping == {"919999900000": "configured-id"}
            assert await directory.refresh()
    assert directory.mapping == {**{n.display_phone_number: n.id for n in config.numbers},
                                 "919999900000": "configured-id"}


async def test_a_failed_directory_read_keeps_what_it_had() -> None:
    async def broken() -> dict[str, str]:
        raise OSError("graph down")

    directory = NumberDirectory({"15550783881": "PN1"}, broken)
    assert not await directory.refresh()
    assert directory.mapping == {"15550783881": "PN1"}


def test_a_bsuid_is_addressed_as_recipient_and_a_phone_as_to() -> None:
    message = TemplateMessage("daily_pack_v1", "hi", body_params={"advisor_name": "आशा"})
    by_id = template_message_body("IN.13491208655302741918", message, "d1")
    by_phone = template_message_body("919812345678", message, "d1")
    assert (by_id.get("recipient"), "to" in by_id) == ("IN.13491208655302741918", False)
    assert (by_phone.get("to"), "recipient" in by_phone) == ("919812345678", False)
    assert text_message_body("US.1349120865530274", "ok")["recipient"] == "US.1349120865530274"


async def test_the_sandbox_accepts_a_send_to_a_bsuid() -> None:
    with SandboxServer(SandboxConfig()) as sandbox:
        async with CloudApiClient(sandbox.base_url) as client:
            message = TemplateMessage("daily_pack_v1", "en", header_image_link="https://example.com/p.jpg",
                                      body_params={"advisor_name": "Dev"})
            accepted = await client.send_template("110000000000001", "IN.13491208655302741918",
                                                  message, "d-bsuid")
            with pytest.raises(Exception, match="131008"):
                await client.send_template("110000000000001", "not-a-bsuid", message, "d-x")
    assert (accepted.user_id, accepted.wa_id) == ("IN.13491208655302741918", None)
