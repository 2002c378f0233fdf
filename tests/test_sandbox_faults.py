"""Fault injection: the accepted-then-timed-out send that double-send protection must survive, and
faults changed at run time (a number's quality falling, a restriction, maintenance, the chaos
profile's schedule), observed through the client the way the quality poller would see them."""

from __future__ import annotations

import httpx
import pytest

from sandbox.config import FaultConfig, SandboxConfig
from tests import sandbox_helpers
from tests.sandbox_helpers import control
from whatsapp.client import CloudApiClient, CloudApiError, TemplateMessage
from whatsapp.errors import Action

# The module's sandbox fixtures (one sandbox per test module).
clock, server, client = sandbox_helpers.clock, sandbox_helpers.server, sandbox_helpers.client

PN, PN2, PN3 = "110000000000001", "110000000000002", "110000000000003"
TO = "919812345678"
PACK = TemplateMessage("daily_pack_v1", "mr", header_image_link="https://example.com/pack.jpg",
                       body_params={"advisor_name": "अमोल"})


async def test_accept_then_timeout_leaves_an_entry_the_client_never_saw(server, client):
    await control(server, "POST", "reset", SandboxConfig(faults=FaultConfig(
        accept_then_timeout_rate=1.0, timeout_hold_s=1.0)).to_dict())
    async with CloudApiClient(server.base_url, timeout=httpx.Timeout(0.3)) as impatient:
        with pytest.raises(CloudApiError) as caught:
            await impatient.send_template(PN, TO, PACK, callback_data="d-1")
    assert caught.value.code is None and caught.value.maybe_sent
    assert caught.value.policy.action is Action.RETRY_BACKOFF

    ledger = await control(server, "GET", "ledger")
    (entry,) = ledger["entries"]
    assert (entry["callback_data"], entry["client_saw"]) == ("d-1", "timeout")
    assert ledger["faults"] == {"accept_then_timeout": 1}

    # A sender that resends blindly is caught: the same delivery id was accepted twice.
    await control(server, "POST", "faults", {"profile": "none"})
    await client.send_template(PN, TO, PACK, callback_data="d-1")
    duplicates = (await control(server, "GET", "ledger"))["duplicates"]
    assert (duplicates["callback_data"], duplicates["recipient_template_day"]) == (1, 1)


async def test_a_5xx_never_leaves_an_entry(server, client):
    await control(server, "POST", "reset", SandboxConfig().to_dict())
    await control(server, "POST", "faults", {"error_5xx_rate": 1.0})
    for _ in range(3):
        with pytest.raises(CloudApiError):
            await client.send_template(PN, TO, PACK)
    ledger = await control(server, "GET", "ledger")
    assert (ledger["entries"], ledger["faults"]) == ([], {"5xx": 3})


async def test_quality_drop_and_restriction_at_a_given_moment(server, client, clock):
    await control(server, "POST", "reset", SandboxConfig().to_dict())
    faults = await control(server, "POST", "faults", {"events": [
        {"kind": "number_quality", "target": PN2, "value": "RED", "after_s": 30},
        {"kind": "number_status", "target": PN3, "value": "RESTRICTED", "after_s": 60}]})
    assert faults["profile"] == "none" and len(faults["events"]) == 2

    clock.advance(29.0)
    assert (await client.phone_number(PN2)).quality_rating == "GREEN"
    clock.advance(1.0)
    info = await client.phone_number(PN2)
    assert (info.quality_rating, info.status, info.messaging_limit_tier) == ("RED", "CONNECTED", "TIER_10K")
    await client.send_template(PN3, TO, PACK)

    clock.advance(30.0)
    with pytest.raises(CloudApiError) as caught:
        await client.send_template(PN3, TO, PACK)
    assert caught.value.code == 131031 and caught.value.policy.action is Action.STOP_NUMBER
    health = await client.health_status(PN3)
    assert health.can_send_message == "BLOCKED" and [e.code for e in health.errors] == [131031]
    assert (await client.health_status(PN)).available


async def test_chaos_profile_schedules_maintenance_and_a_falling_number(server, client, clock):
    await control(server, "POST", "reset", SandboxConfig().to_dict())
    # The chaos schedule with its random faults switched off, so only the events act.
    await control(server, "POST", "faults", {"profile": "chaos", "error_5xx_rate": 0,
                                             "timeout_rate": 0, "accept_then_timeout_rate": 0,
                                             "latency_median_ms": 0, "latency_p99_ms": 0})
    clock.advance(25.0)
    with pytest.raises(CloudApiError) as caught:
        await client.send_template(PN, TO, PACK)
    assert caught.value.code == 131057 and caught.value.policy.action is Action.RETRY_AFTER
    assert (await client.health_status(PN)).can_send_message == "LIMITED"
    clock.advance(10.0)
    assert (await client.phone_number(PN3)).quality_rating == "YELLOW"
    clock.advance(60.0)  # maintenance over, the template paused, the number RED
    assert (await client.phone_number(PN3)).quality_rating == "RED"
    with pytest.raises(CloudApiError) as caught:
        await client.send_template(PN, TO, PACK)
    assert caught.value.code == 132015
    templates = {(t.name, t.language): t for t in await client.list_templates("100000000000001")}
    assert templates[("daily_pack_v1", "mr")].status == "PAUSED"


async def test_bad_fault_requests_are_refused(server):
    async with httpx.AsyncClient() as http:
        for body in ({"profile": "mayhem"}, {"error_5xx_rate": 2},
                     {"events": [{"kind": "maintenance", "target": "nope"}]}, {"bogus": 1}):
            response = await http.post(f"{server.base_url}/sandbox/faults", json=body)
            assert response.status_code == 400, body
