"""The Marketing Messages API (issue 12): the client and the sandbox over HTTP, the sender's route
by the template's current category, and the fallback to /messages when the edge is unavailable."""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from dawn.embedded.stack import Stack
from dawn.gateway_server import GatewayServer
from sandbox.config import SandboxConfig, TemplateConfig, WebhookConfig
from sandbox.server import SandboxServer
from store.templates import TemplateRow, save_sync
from streams.marketing_route import MarketingRoute
from tests import sender_morning as m
from whatsapp.client import CloudApiClient, CloudApiError
from whatsapp.payloads import TemplateMessage

NOW = datetime(2026, 11, 23, 0, 29, tzinfo=UTC)


def error(code: int | None, http_status: int | None, maybe_sent: bool = False) -> CloudApiError:
    return CloudApiError("x", code=code, http_status=http_status, maybe_sent=maybe_sent)


def test_route_follows_the_setting_and_the_current_category() -> None:
    auto, off = MarketingRoute("auto", lambda: NOW), MarketingRoute("off", lambda: NOW)
    assert auto.use("pn", "MARKETING") and not off.use("pn", "MARKETING")
    assert not auto.use("pn", "UTILITY")  # recategorised: its new category's edge
    assert not auto.use("pn", None)  # unknown category: the edge that takes every template
    with pytest.raises(ValueError):
        MarketingRoute("always", lambda: NOW)


def test_fall_back_only_when_the_edge_certainly_did_not_take_the_message() -> None:
    clock = [NOW]
    route = MarketingRoute("auto", lambda: clock[0])
    assert not route.fall_back("pn", error(None, None, maybe_sent=True))  # timeout: maybe sent
    assert not route.fall_back("pn", error(100, 500, maybe_sent=True))  # a 5xx: maybe sent
    assert not route.fall_back("pn", error(131026, 400))  # the recipient's problem, not the edge's
    assert route.use("pn", "MARKETING")
    assert route.fall_back("pn", error(131009, 400))  # not MARKETING at Meta: this one message
    assert route.use("pn", "MARKETING")
    assert route.fall_back("pn", error(100, 400))  # edge unavailable: the number stays off it
    assert not route.use("pn", "MARKETING") and route.use("other", "MARKETING")
    clock[0] = NOW + timedelta(hours=1, seconds=1)
    assert route.use("pn", "MARKETING")  # looked at again after a while


async def test_client_and_sandbox_implement_the_marketing_edge() -> None:
    config = SandboxConfig(templates=[TemplateConfig(name="mm_marketing", header_format="NONE"),
                                      TemplateConfig(name="mm_utility", category="UTILITY",
                                                     header_format="NONE")])
    number = config.numbers[0].id
    with SandboxServer(config) as sandbox:
        async with CloudApiClient(sandbox.base_url, "v26.0", "") as client:
            message = TemplateMessage("mm_marketing", "en", body_params={"advisor_name": "Asha"})
            await client.send_template(number, "919800000001", message, "d-1", marketing_api=True)
            await client.send_template(number, "919800000002", message, "d-2")
            with pytest.raises(CloudApiError) as err:
                await client.send_template(number, "919800000003",
                                           TemplateMessage("mm_utility", "en",
                                                           body_params={"advisor_name": "A"}),
                                           "d-3", marketing_api=True)
            assert err.value.code == 131009 and not err.value.maybe_sent
        entries = m.ledger(sandbox.base_url)["entries"]
    assert {e["callback_data"]: e["endpoint"] for e in entries} == {
        "d-1": "marketing_messages", "d-2": "messages"}
    config.marketing_messages_api = False
    with SandboxServer(config) as sandbox:
        async with CloudApiClient(sandbox.base_url, "v26.0", "") as client:
            with pytest.raises(CloudApiError) as err:
                await client.send_template(number, "919800000001", message, "d-4", marketing_api=True)
    assert err.value.code == 100 and err.value.http_status == 400 and not err.value.maybe_sent


@pytest.fixture(scope="module")
def gateway(stack: Stack, topics: list) -> Iterator[GatewayServer]:
    with m.morning_gateway(stack) as gw:
        yield gw


@pytest.mark.slow
@pytest.mark.parametrize("available", [True, False], ids=["marketing_edge", "fallback"])
def test_a_morning_goes_through_the_marketing_edge_or_falls_back_exactly_once(
    stack: Stack, gateway: GatewayServer, tmp_path: Path, available: bool
) -> None:
    name = f"mm_{uuid.uuid4().hex[:8]}"
    now = datetime.now(UTC)
    with psycopg.connect(stack.database_url, autocommit=True) as conn:  # as the templates agent keeps it
        save_sync(conn, TemplateRow(name, "en", "APPROVED", now, quality="GREEN", category="MARKETING",
                                    category_at=now, updated_at=now))
    config = SandboxConfig(
        webhooks=WebhookConfig(callback_url=gateway.webhook_url, app_secret=m.APP_SECRET),
        templates=[TemplateConfig(name=name)], marketing_messages_api=available)
    morning = m.seed(stack.database_url, stack.kafka_bootstrap, stack.embedded_kafka, tmp_path,
                     n=90, spread_s=2.0, intent_fields={"template_name": name})
    try:
        with SandboxServer(config) as sandbox:
            worker = m.start_worker(stack.kafka_bootstrap, stack.database_url, sandbox.base_url,
                                    stack.embedded_kafka, f"mm-{uuid.uuid4().hex[:8]}",
                                    tmp_path / "worker.log",
                                    {"grace_s": 8.0, "marketing_messages": "auto"})
            try:
                m.wait_until_all_accepted(sandbox.base_url, morning.eligible, 120, worker)
                time.sleep(1.0)
                doc = m.ledger(sandbox.base_url)
            finally:
                worker.terminate()
                worker.wait(30)
    finally:
        with psycopg.connect(stack.database_url, autocommit=True) as conn:
            conn.execute("DELETE FROM template_states WHERE name = %s", (name,))
    accepted = m.accepted_per_delivery(doc, morning.eligible)
    assert set(accepted) == set(morning.eligible) and max(accepted.values()) == 1
    endpoints = Counter(e["endpoint"] for e in doc["entries"] if e["callback_data"] in set(morning.eligible))
    if available:
        assert endpoints == {"marketing_messages": 90}
    else:
        assert endpoints == {"messages": 90}
        assert 1 <= doc["rejected"].get("100", 0) <= 90
