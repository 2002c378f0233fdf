"""Webhooks from the sandbox to a real receiver over HTTP: signed over the exact bytes, batched,
duplicated and out of order as configured, retried with backoff, and carrying what the pipeline
keys on (callback data, pricing, error codes). Time is a manual clock: what is due is decided by
advancing it; real time is only spent waiting for the posts to land."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sandbox.clock import ManualClock
from sandbox.config import (
    FaultConfig,
    FaultEvent,
    PacingConfig,
    RecipientRule,
    RecipientsConfig,
    SandboxConfig,
    TemplateConfig,
    WebhookConfig,
)
from sandbox.server import SandboxServer, UvicornThread
from tests import sandbox_helpers
from tests.sandbox_helpers import reset
from whatsapp.client import CloudApiError, TemplateMessage
from whatsapp.errors import Action, classify
from whatsapp.webhooks.model import parse_notification
from whatsapp.webhooks.signature import verify_signature

# The module's sandbox fixtures (one sandbox per test module).
clock, server, client = sandbox_helpers.clock, sandbox_helpers.server, sandbox_helpers.client

PN = "110000000000001"
SECRET = "app-secret-ॐ"
PACK = TemplateMessage("daily_pack_v1", "hi", header_image_link="https://example.com/pack.jpg",
                       body_params={"advisor_name": "आशा"})


@dataclass
class Receiver:
    """A webhook endpoint that keeps every POST's raw bytes and can refuse the first few."""

    posts: list[tuple[bytes, str | None]] = field(default_factory=list)
    refuse: int = 0
    refused: int = 0

    async def endpoint(self, request: Request) -> Response:
        raw = await request.body()
        if self.refused < self.refuse:
            self.refused += 1
            return Response(status_code=500)
        self.posts.append((raw, request.headers.get("x-hub-signature-256")))
        return Response("ok")

    def statuses(self) -> list[dict[str, Any]]:
        return [s for raw, _ in self.posts for e in json.loads(raw)["entry"] for c in e["changes"]
                for s in c["value"].get("statuses", [])]

    def changes(self, field_name: str) -> list[dict[str, Any]]:
        return [c["value"] for raw, _ in self.posts for e in json.loads(raw)["entry"]
                for c in e["changes"] if c["field"] == field_name]


@pytest.fixture(scope="module")
def receiver() -> Iterator[tuple[Receiver, str]]:
    target = Receiver()
    app = Starlette(routes=[Route("/webhook", target.endpoint, methods=["POST"])])
    with UvicornThread(app) as running:
        yield target, f"{running.base_url}/webhook"


async def start(server: SandboxServer, receiver: tuple[Receiver, str], **config: Any) -> Receiver:
    """Reset the sandbox to ``config`` with webhooks pointing at a cleared receiver."""
    target, url = receiver
    target.posts.clear()
    target.refuse = target.refused = 0
    hooks = config.pop("webhooks", WebhookConfig())
    hooks.callback_url, hooks.app_secret = url, SECRET
    await reset(server, SandboxConfig(webhooks=hooks, **config))
    return target


async def settle(server: SandboxServer, clock: ManualClock, seconds: float, step: float = 1.0) -> None:
    """Advance the clock ``seconds`` in ``step``s, then wait (real time) until every due webhook
    has been acknowledged by the receiver."""
    for _ in range(round(seconds / step)):
        clock.advance(step)
        await asyncio.sleep(0.03)
    deadline = time.monotonic() + 10.0
    while not server.sandbox.settled():
        assert time.monotonic() < deadline, "webhooks did not settle"
        await asyncio.sleep(0.02)


def assert_all_signed(target: Receiver) -> None:
    assert target.posts
    for raw, signature in target.posts:
        assert verify_signature(raw, signature, SECRET), "a webhook failed signature verification"
        batch = parse_notification(raw)
        assert batch.object == "whatsapp_business_account" and not batch.unknown


async def test_statuses_arrive_signed_batched_duplicated_and_out_of_order(server, client, clock, receiver):
    hooks = WebhookConfig(batch_size=5, duplicate_rate=0.5, reorder_rate=0.5, reorder_delay_s=4.0,
                          read_rate=1.0, sent_delay_s=(0.1, 0.5), delivered_delay_s=(1.0, 2.0),
                          read_delay_s=(3.0, 4.0))
    target = await start(server, receiver, webhooks=hooks)
    sent = {}
    for i in range(20):
        accepted = await client.send_template(PN, f"9198765{i:05d}", PACK, callback_data=f"d-{i}")
        sent[accepted.wamid] = f"d-{i}"
    await settle(server, clock, 15.0)

    assert_all_signed(target)
    statuses = target.statuses()
    assert max(len(parse_notification(raw).statuses) for raw, _ in target.posts) <= 5
    seen = Counter((s["id"], s["status"]) for s in statuses)
    assert {(w, st) for w in sent for st in ("sent", "delivered", "read")} == set(seen)
    injected = server.sandbox.ledger.webhooks["duplicates_injected"]
    assert injected > 0 and sum(seen.values()) - len(seen) == injected
    for s in statuses:
        assert s["biz_opaque_callback_data"] == sent[s["id"]]
        assert s["pricing"] == {"billable": True, "pricing_model": "PMP", "type": "regular",
                                "category": "marketing"}
    first_arrival: dict[tuple[str, str], int] = {}
    for index, s in enumerate(statuses):
        first_arrival.setdefault((s["id"], s["status"]), index)
    overtaken = [w for w in sent if first_arrival[(w, "delivered")] < first_arrival[(w, "sent")]
                 or first_arrival[(w, "read")] < first_arrival[(w, "delivered")]]
    assert overtaken, "reordering produced no status that overtook an earlier one"


async def test_failed_statuses_carry_the_code_the_sender_classifies(server, client, clock, receiver):
    capped, absent = "919800000004", "919800000001"
    recipients = RecipientsConfig(overrides={capped: {"marketing_cap": 1},
                                             absent: {"on_whatsapp": False}})
    target = await start(server, receiver, recipients=recipients,
                         webhooks=WebhookConfig(read_rate=0.0))
    first = await client.send_template(PN, capped, PACK, callback_data="cap-1")
    second = await client.send_template(PN, capped, PACK, callback_data="cap-2")  # accepted...
    gone = await client.send_template(PN, absent, PACK, callback_data="gone-1")
    await settle(server, clock, 5.0)

    assert_all_signed(target)
    by_wamid = {}
    for s in target.statuses():
        by_wamid.setdefault(s["id"], []).append(s)
    assert [s["status"] for s in by_wamid[first.wamid]] == ["sent", "delivered"]
    for accepted, code, action in ((second, 131049, Action.RETRY_24H),
                                   (gone, 131026, Action.FAIL_RECIPIENT)):
        (failed,) = by_wamid[accepted.wamid]  # ...then failed, with no sent or delivered
        assert failed["status"] == "failed" and "pricing" not in failed
        assert failed["errors"][0]["code"] == code
        assert classify(failed["errors"][0]["code"]).action is action
    entries = {e.wamid: e for e in server.sandbox.ledger.entries}
    assert (entries[second.wamid].outcome, entries[second.wamid].error_code) == ("failed", 131049)


async def test_unacknowledged_posts_are_retried_with_exponential_backoff(server, client, clock, receiver):
    hooks = WebhookConfig(sent_delay_s=(0.0, 0.0), delivered_delay_s=(0.0, 0.0), read_rate=0.0,
                          retry_base_s=1.0, batch_size=10)
    target = await start(server, receiver, webhooks=hooks)
    target.refuse = 2
    await client.send_template(PN, "919812345678", PACK)
    await settle(server, clock, 0.0)  # sent and delivered are due at once: one post, refused
    assert (target.refused, target.posts) == (1, [])
    await settle(server, clock, 0.5, step=0.5)
    assert target.refused == 1  # the retry waits 1 s
    await settle(server, clock, 0.6, step=0.6)
    assert (target.refused, target.posts) == (2, [])  # refused again: the next waits 2 s
    await settle(server, clock, 1.5, step=1.5)
    assert (target.refused, target.posts) == (2, [])
    await settle(server, clock, 0.6, step=0.6)
    assert len(target.posts) == 1
    assert_all_signed(target)
    stats = server.sandbox.ledger.webhooks
    assert (stats["failed_posts"], stats["updates_delivered"]) == (2, 2)


async def test_hindi_inbound_text_keeps_its_signature(server, clock, receiver):
    target = await start(server, receiver)
    text = "नमस्ते / STOP कृपया"
    async with httpx.AsyncClient() as http:
        await http.post(f"{server.base_url}/sandbox/inbound",
                        json={"from": "919812345678", "text": text, "profile_name": "आशा"})
    await settle(server, clock, 0.1, step=0.1)
    (raw, _), = target.posts
    assert b"\\u0928" in raw and b"\\/" in raw  # escaped the way Meta escapes them
    assert_all_signed(target)
    (message,) = parse_notification(raw).messages
    assert (message.text, message.profile_name, message.from_wa_id) == (text, "आशा", "919812345678")


async def test_template_paused_mid_run(server, client, clock, receiver):
    target = await start(server, receiver, faults=FaultConfig(events=[
        FaultEvent(kind="template_pause", target="daily_pack_v1", language="hi", after_s=10.0)]))
    await client.send_template(PN, "919812345678", PACK)
    await settle(server, clock, 10.0, step=5.0)
    with pytest.raises(CloudApiError) as caught:
        await client.send_template(PN, "919812345679", PACK)
    assert caught.value.code == 132015 and caught.value.policy.action is Action.ROTATE_TEMPLATE

    assert_all_signed(target)
    (quality,) = target.changes("message_template_quality_update")
    assert (quality["previous_quality_score"], quality["new_quality_score"]) == ("GREEN", "RED")
    (paused,) = target.changes("message_template_status_update")
    assert (paused["event"], paused["other_info"]["title"]) == ("PAUSED", "FIRST_PAUSE")
    assert paused["message_template_language"] == "hi"

    assert await client.unpause_template(str(paused["message_template_id"]))
    await settle(server, clock, 0.1, step=0.1)
    assert [c["event"] for c in target.changes("message_template_status_update")] == ["PAUSED", "REINSTATED"]
    await client.send_template(PN, "919812345679", PACK)


async def test_template_updates_come_account_delay_late(server, client, clock, receiver):
    """The pause refuses sends at once; its webhooks arrive only ``account_delay_s`` later."""
    target = await start(server, receiver, webhooks=WebhookConfig(account_delay_s=(30.0, 30.0)),
                         faults=FaultConfig(events=[FaultEvent(
                             kind="template_pause", target="daily_pack_v1", language="hi")]))
    await settle(server, clock, 1.0)
    with pytest.raises(CloudApiError) as caught:
        await client.send_template(PN, "919812345679", PACK)
    assert caught.value.code == 132015
    await settle(server, clock, 28.0, step=4.0)
    assert target.changes("message_template_status_update") == []
    await settle(server, clock, 2.0)
    assert [c["event"] for c in target.changes("message_template_status_update")] == ["PAUSED"]


@pytest.mark.parametrize(("drop_rate", "expected"), [(0.0, ["sent", "delivered"]), (1.0, ["failed"])])
async def test_paced_template_is_held_then_released_or_dropped(server, client, clock, receiver,
                                                               drop_rate, expected):
    target = await start(
        server, receiver,
        templates=[TemplateConfig(name="daily_pack_v1", paced=True)],
        pacing=PacingConfig(release_after_s=(600.0, 1200.0), drop_rate=drop_rate),
        recipients=RecipientsConfig(default=RecipientRule()),
        webhooks=WebhookConfig(read_rate=0.0))
    accepted = await client.send_template(PN, "919812345678", PACK)
    assert accepted.held
    await settle(server, clock, 540.0, step=60.0)
    assert target.statuses() == []  # still held
    await settle(server, clock, 720.0, step=60.0)
    statuses = target.statuses()
    assert [s["status"] for s in statuses] == expected
    if drop_rate:
        assert statuses[0]["errors"][0]["code"] == 132015
    counts = server.sandbox.ledger.counts
    assert (counts["held"], counts["released"], counts["dropped"]) == (1, 1 - drop_rate, drop_rate)


async def test_a_send_to_a_bsuid_reports_statuses_by_user_id(server, client, clock, receiver):
    """Meta's username users: the send names `recipient`, the statuses `recipient_user_id` only,
    and the parsed status carries the user id so dawn can match it."""
    target = await start(server, receiver, webhooks=WebhookConfig(read_rate=1.0))
    accepted = await client.send_template(PN, "IN.13491208655302741918", PACK, callback_data="d-bsuid")
    assert (accepted.user_id, accepted.wa_id) == ("IN.13491208655302741918", None)
    await settle(server, clock, 15.0)
    statuses = [s for s in target.statuses() if s["id"] == accepted.wamid]
    assert {s["status"] for s in statuses} >= {"sent", "delivered"}
    assert all(s["recipient_user_id"] == "IN.13491208655302741918" and "recipient_id" not in s
               for s in statuses)
    parsed = [s for raw, _ in target.posts for s in parse_notification(raw).statuses]
    assert {s.recipient_user_id for s in parsed if s.id == accepted.wamid} == {"IN.13491208655302741918"}


async def test_due_updates_wait_to_share_a_post_and_a_lone_one_still_goes(server, client, clock,
                                                                           receiver):
    hooks = WebhookConfig(batch_wait_s=1.0, sent_delay_s=(0.0, 0.0),
                          delivered_delay_s=(0.3, 0.3), read_rate=0.0)
    target = await start(server, receiver, webhooks=hooks)
    for i in range(3):
        await client.send_template(PN, f"9198700{i:05d}", PACK, callback_data=f"w-{i}")
    clock.advance(0.5)  # all six statuses are due; the oldest has waited half a second
    await asyncio.sleep(0.3)
    assert target.posts == []
    await settle(server, clock, 1.0, step=0.5)
    assert [len(parse_notification(raw).statuses) for raw, _ in target.posts] == [6]

    await client.send_template(PN, "919870099999", PACK, callback_data="w-alone")
    await settle(server, clock, 2.0, step=0.5)
    assert [len(parse_notification(raw).statuses) for raw, _ in target.posts] == [6, 2]
    assert_all_signed(target)
