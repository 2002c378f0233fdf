"""Every refusal the sandbox can produce reaches the real client as a CloudApiError with Meta's code,
HTTP status and the policy action the taxonomy prescribes; none of them leaves a ledger entry."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from sandbox.config import (
    FaultConfig,
    FaultEvent,
    NumberConfig,
    RecipientsConfig,
    SandboxConfig,
    TemplateConfig,
)
from sandbox.server import SandboxServer
from tests import sandbox_helpers
from tests.sandbox_helpers import ledger, reset
from whatsapp.client import CloudApiClient, CloudApiError, TemplateMessage
from whatsapp.errors import Action

# The module's sandbox fixtures (one sandbox per test module).
clock, server = sandbox_helpers.clock, sandbox_helpers.server

PN = "110000000000001"
TO = "919812345678"
LINK = "https://example.com/pack.jpg"
PACK = TemplateMessage("daily_pack_v1", "en", header_image_link=LINK, body_params={"advisor_name": "Asha"})


@dataclass
class Case:
    """One way to be refused: the world, the call, and what the client must make of it."""

    send: Callable[[CloudApiClient], Any]
    code: int | None
    http_status: int | None
    action: Action
    config: SandboxConfig = field(default_factory=SandboxConfig)
    token: str = ""


def template(**kwargs: Any) -> SandboxConfig:
    return SandboxConfig(templates=[TemplateConfig(name="daily_pack_v1", **kwargs)])


def pack(**changes: Any) -> Callable[[CloudApiClient], Any]:
    fields = {"name": "daily_pack_v1", "language": "en", "header_image_link": LINK,
              "body_params": {"advisor_name": "Asha"}, **changes}
    return lambda c: c.send_template(PN, TO, TemplateMessage(**fields))


CASES: dict[str, Case] = {
    "wrong token": Case(pack(), 190, 401, Action.HALT_ALL,
                        config=SandboxConfig(access_token="right"), token="wrong"),
    "unknown template": Case(pack(name="daily_pack_v9"), 132001, 400, Action.FALLBACK_TEMPLATE),
    "language not approved": Case(pack(language="ta"), 132001, 400, Action.FALLBACK_TEMPLATE),
    "template pending": Case(pack(), 132001, 400, Action.FALLBACK_TEMPLATE,
                             config=template(status="PENDING")),
    "template paused": Case(pack(), 132015, 400, Action.ROTATE_TEMPLATE, config=template(status="PAUSED")),
    "template disabled": Case(pack(), 132016, 400, Action.ROTATE_TEMPLATE,
                              config=template(status="DISABLED")),
    "parameter name": Case(pack(body_params={"name": "Asha"}), 132000, 400, Action.DEAD_LETTER),
    "parameter count": Case(pack(body_params={}), 132000, 400, Action.DEAD_LETTER),
    "positional for named": Case(pack(body_params=["Asha"]), 132000, 400, Action.DEAD_LETTER),
    "image header missing": Case(pack(header_image_link=None), 132012, 400, Action.DEAD_LETTER),
    "image header not uploaded": Case(pack(header_image_link=None, header_image_id="4242"),
                                      131009, 400, Action.DEAD_LETTER),
    "not on WhatsApp": Case(pack(), 131026, 400, Action.FAIL_RECIPIENT, config=SandboxConfig(
        recipients=RecipientsConfig(overrides={TO: {"on_whatsapp": False}}, undeliverable_as="error"))),
    "marketing stopped": Case(pack(), 131050, 400, Action.SUPPRESS_RECIPIENT, config=SandboxConfig(
        recipients=RecipientsConfig(overrides={TO: {"marketing_stopped": True}},
                                    undeliverable_as="error"))),
    "number restricted": Case(pack(), 131031, 400, Action.STOP_NUMBER, config=SandboxConfig(numbers=[
        NumberConfig(id=PN, display_phone_number="912240000001", status="RESTRICTED")])),
    "maintenance": Case(pack(), 131057, 400, Action.RETRY_AFTER, config=SandboxConfig(
        faults=FaultConfig(events=[FaultEvent(kind="maintenance", target=PN, duration_s=60)]))),
    "outside service window": Case(lambda c: c.send_text(PN, TO, "hello"), 131047, 400,
                                   Action.USE_TEMPLATE),
    "unknown number": Case(lambda c: c.send_template("999", TO, PACK), 100, 400, Action.DEAD_LETTER),
    "server error": Case(pack(), None, None, Action.RETRY_BACKOFF,
                         config=SandboxConfig(faults=FaultConfig(error_5xx_rate=1.0))),
}


@pytest.fixture
async def fresh(server: SandboxServer) -> AsyncIterator[SandboxServer]:
    yield server
    await reset(server, SandboxConfig())


@pytest.mark.parametrize("name", list(CASES))
async def test_refusal_reaches_the_client_with_the_right_policy(fresh, name):
    case = CASES[name]
    await reset(fresh, case.config)
    async with CloudApiClient(fresh.base_url, access_token=case.token) as client:
        with pytest.raises(CloudApiError) as caught:
            await case.send(client)
    error = caught.value
    assert error.policy.action is case.action
    if case.code is None:  # a 5xx: code 1 (HTTP 500) or 2 (HTTP 503), both transient
        assert (error.code, error.http_status) in ((1, 500), (2, 503))
        # No idempotency key: even with a Graph error body a 5xx may have sent, so the sender
        # must reconcile before resending; the ledger below shows this one did not send.
        assert error.maybe_sent
    else:
        assert (error.code, error.http_status) == (case.code, case.http_status)
        assert error.error_type == "OAuthException" and error.fbtrace_id and error.details
    state = await ledger(fresh)
    assert state["entries"] == []
    assert sum(state["rejected"].values()) == 1


async def test_the_right_token_is_accepted(fresh):
    await reset(fresh, SandboxConfig(access_token="right"))
    async with CloudApiClient(fresh.base_url, access_token="right") as client:
        accepted = await client.send_template(PN, TO, PACK)
    assert accepted.wamid.startswith("wamid.")


async def test_a_timeout_leaves_no_entry_and_may_have_sent(fresh):
    """Before acceptance: the client cannot know, so it must treat the outcome as unknown."""
    await reset(fresh, SandboxConfig(faults=FaultConfig(timeout_rate=1.0, timeout_hold_s=1.0)))
    async with CloudApiClient(fresh.base_url, timeout=httpx.Timeout(0.3)) as client:
        with pytest.raises(CloudApiError) as caught:
            await client.send_template(PN, TO, PACK)
    assert caught.value.code is None and caught.value.maybe_sent
    assert caught.value.policy.action is Action.RETRY_BACKOFF
    state = await ledger(fresh)
    assert state["entries"] == [] and state["faults"] == {"timeout": 1}


async def test_a_text_inside_the_service_window_is_accepted(fresh):
    await reset(fresh, SandboxConfig())
    async with httpx.AsyncClient() as http:
        inbound = {"from": TO, "phone_number_id": PN, "text": "START"}
        (await http.post(f"{fresh.base_url}/sandbox/inbound", json=inbound)).raise_for_status()
    async with CloudApiClient(fresh.base_url) as client:
        accepted = await client.send_text(PN, TO, "You are subscribed.")
    assert accepted.wa_id == TO
