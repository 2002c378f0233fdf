"""The sandbox's Graph API surface through the real client: media upload, template sends whose
Hindi and Marathi parameters survive byte for byte, template creation through the resumable
upload API, listings, health; plus its config file and control endpoints."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

import sandbox
from sandbox.clock import ManualClock
from sandbox.config import SandboxConfig
from sandbox.loader import load_config, load_config_file
from sandbox.server import SandboxServer
from whatsapp.client import CloudApiClient, CloudApiError, TemplateMessage
from whatsapp.errors import Action
from whatsapp.payloads import TemplateSpec

PN, PN2 = "110000000000001", "110000000000002"
WABA, APP = "100000000000001", "100000000000003"
# A JPEG's magic bytes, then bytes a careless multipart parser would mangle.
JPEG = b"\xff\xd8\xff\xe0" + b"\r\n--not-a-boundary\r\n\x00\xff" * 64


@pytest.fixture(scope="module")
def clock() -> ManualClock:
    return ManualClock(1_767_225_600.0)


@pytest.fixture(scope="module")
def server(clock: ManualClock) -> Iterator[SandboxServer]:
    config = SandboxConfig(access_token="token", template_approval_s=60.0)
    with SandboxServer(config, clock=clock) as running:
        yield running


@pytest.fixture
async def client(server: SandboxServer) -> AsyncIterator[CloudApiClient]:
    async with CloudApiClient(server.base_url, access_token="token") as c:
        yield c


async def test_hindi_and_marathi_parameters_arrive_intact(server, client):
    media_id = await client.upload_media(PN, JPEG, "image/jpeg", "pack.jpg")
    names = {"hi": "आशा देशपांडे", "mr": "अमोल पाटील", "en": "Asha / O'Brien \"A\""}
    wamids = {}
    for language, name in names.items():
        message = TemplateMessage("daily_pack_v1", language, header_image_id=media_id,
                                  body_params={"advisor_name": name})
        accepted = await client.send_template(PN, "+91 98123-45678", message, callback_data=language)
        assert (accepted.input, accepted.wa_id) == ("+91 98123-45678", "919812345678")
        wamids[accepted.wamid] = language
    async with httpx.AsyncClient() as http:
        entries = (await http.get(f"{server.base_url}/sandbox/ledger")).json()["entries"]
    got = {e["language"]: e["params"]["advisor_name"] for e in entries if e["wamid"] in wamids}
    assert got == names


async def test_media_is_per_number_unless_configured_shared(client):
    media_id = await client.upload_media(PN, JPEG, "image/jpeg")
    message = TemplateMessage("daily_pack_v1", "en", header_image_id=media_id,
                              body_params={"advisor_name": "Asha"})
    with pytest.raises(CloudApiError) as caught:
        await client.send_template(PN2, "919812345678", message)
    assert caught.value.code == 131009 and caught.value.policy.action is Action.DEAD_LETTER


async def test_template_created_through_resumable_upload_then_approved(server, client, clock):
    spec = TemplateSpec(name="daily_pack_v2", language="hi", body_text="नमस्ते {{advisor_name}}",
                        body_examples={"advisor_name": "आशा"})
    created = await client.create_template(WABA, APP, spec, header_image=JPEG)
    assert (created.status, created.category) == ("PENDING", "MARKETING")
    message = TemplateMessage("daily_pack_v2", "hi", header_image_link="https://example.com/p.jpg",
                              body_params={"advisor_name": "आशा"})
    with pytest.raises(CloudApiError) as caught:
        await client.send_template(PN, "919812345678", message)
    assert caught.value.code == 132001

    clock.advance(60.0)
    listed = {(t.name, t.language): t for t in await client.list_templates(WABA)}
    assert listed[("daily_pack_v2", "hi")].status == "APPROVED"
    assert {lang for name, lang in listed if name == "daily_pack_v1"} == {"en", "hi", "mr"}
    await client.send_template(PN, "919812345670", message)
    assert (await client.health_status(created.id)).available

    with pytest.raises(CloudApiError) as caught:  # same name and language again
        await client.create_template(WABA, APP, spec, header_image=JPEG)
    assert caught.value.code == 100 and caught.value.subcode == 2388024


async def test_numbers_and_waba_health(client):
    numbers = await client.list_phone_numbers(WABA)
    assert [n.id for n in numbers] == [PN, PN2, "110000000000003"]
    assert {(n.quality_rating, n.status, n.throughput_level) for n in numbers} == {
        ("GREEN", "CONNECTED", "STANDARD")}
    health = await client.health_status(WABA)
    assert health.available and {e.entity_type for e in health.entities} == {"WABA", "BUSINESS", "APP"}


async def test_control_endpoints_expose_config_with_secrets(server):
    async with httpx.AsyncClient() as http:
        config = (await http.get(f"{server.base_url}/sandbox/config")).json()
        assert config["access_token"] == "token"
        assert load_config(config).to_dict() == config  # loadable as it stands
        bad = await http.post(f"{server.base_url}/sandbox/reset", json={"numbers": [], "x": 1})
        assert bad.status_code == 400


def test_sample_config_loads_and_unknown_keys_are_refused():
    path = Path(sandbox.__file__).parent / "sample_config.json"
    config = load_config_file(path)
    assert config.faults.profile == "realistic" and config.faults.error_5xx_rate == 0.002
    assert config.recipients.overrides["919800000001"] == {"on_whatsapp": False}
    data = json.loads(path.read_text(encoding="utf-8"))
    data["webhooks"]["duplicte_rate"] = 0.5
    with pytest.raises(ValueError, match="duplicte_rate"):
        load_config(data)
    default = SandboxConfig()
    assert [(n.mps, n.quality, n.status) for n in default.numbers] == [(80.0, "GREEN", "CONNECTED")] * 3
    pack, carousel = default.templates
    assert (pack.name, pack.languages, pack.category, pack.status, pack.header_format,
            pack.parameters) == ("daily_pack_v1", ["en", "hi", "mr"], "MARKETING", "APPROVED",
                                 "IMAGE", ["advisor_name"])
    assert (carousel.name, carousel.header_format, carousel.cards) == \
        ("daily_pack_carousel_v1", "NONE", 3)
