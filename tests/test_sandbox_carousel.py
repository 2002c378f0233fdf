"""Media card carousels end to end over HTTP: the client's payload, the sandbox checking it as Meta
does (card count, card indexes, image headers -> 132012; parameters -> 132000; unknown media ->
131009), and uploads fetched back byte for byte."""

from __future__ import annotations

import hashlib
import io
from collections.abc import AsyncIterator

import httpx
import pytest
from PIL import Image

from sandbox.config import SandboxConfig
from sandbox.server import SandboxServer
from tests import sandbox_helpers
from tests.sandbox_helpers import ledger, reset
from whatsapp.client import CloudApiClient, CloudApiError, TemplateMessage
from whatsapp.payloads import template_message_body

clock, server = sandbox_helpers.clock, sandbox_helpers.server

PN = "110000000000001"
TO = "919812345678"
CAROUSEL = "daily_pack_carousel_v1"


def jpeg(colour: tuple[int, int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), colour).save(out, "JPEG")
    return out.getvalue()


@pytest.fixture
async def fresh(server: SandboxServer) -> AsyncIterator[CloudApiClient]:
    await reset(server, SandboxConfig(keep_media_bytes=True))
    async with CloudApiClient(server.base_url) as c:
        yield c


async def _cards(client: CloudApiClient, n: int) -> list[tuple[str, bytes]]:
    images = [jpeg((40 * k, 200, 90)) for k in range(n)]
    return [(await client.upload_media(PN, data, "image/jpeg"), data) for data in images]


def test_payload_has_one_indexed_image_card_per_id() -> None:
    body = template_message_body(TO, TemplateMessage(CAROUSEL, "hi", body_params={"advisor_name": "राहुल"},
                                                     card_image_ids=["m1", "m2", "m3"]), "d1")
    components = body["template"]["components"]
    assert components[0] == {"type": "body", "parameters": [
        {"type": "text", "parameter_name": "advisor_name", "text": "राहुल"}]}
    assert components[1] == {"type": "carousel", "cards": [
        {"card_index": k, "components": [
            {"type": "header", "parameters": [{"type": "image", "image": {"id": f"m{k + 1}"}}]}]}
        for k in range(3)]}


@pytest.mark.parametrize("bad", [
    dict(card_image_ids=["only-one"]),
    dict(card_image_ids=[f"m{k}" for k in range(11)]),
    dict(card_image_ids=["a", "b"], header_image_id="h"),
])
def test_client_refuses_impossible_carousels(bad) -> None:
    with pytest.raises(ValueError):
        TemplateMessage(CAROUSEL, "en", **bad)


async def test_three_card_carousel_is_accepted_and_its_media_read_back(fresh, server) -> None:
    cards = await _cards(fresh, 3)
    accepted = await fresh.send_template(PN, TO, TemplateMessage(
        CAROUSEL, "mr", body_params={"advisor_name": "प्रिया"}, card_image_ids=[m for m, _ in cards]),
        callback_data="d-1")
    entry = (await ledger(server))["entries"][-1]
    assert entry["wamid"] == accepted.wamid and entry["template"] == CAROUSEL
    assert entry["media_ids"] == [m for m, _ in cards]
    async with httpx.AsyncClient() as http:
        for media_id, data in cards:
            kept = await http.get(f"{server.base_url}/sandbox/media/{media_id}")
            assert kept.content == data and kept.headers["content-type"] == "image/jpeg"
            node = (await http.get(f"{server.base_url}/v26.0/{media_id}")).json()
            assert node["sha256"] == hashlib.sha256(data).hexdigest()
            assert node["file_size"] == len(data)


async def _raw_send(server: SandboxServer, template: dict) -> httpx.Response:
    body = {"messaging_product": "whatsapp", "to": TO, "type": "template", "template": template}
    async with httpx.AsyncClient() as http:
        return await http.post(f"{server.base_url}/v26.0/{PN}/messages", json=body)


def _card(index: int, media_id: str | None = None, kind: str = "image") -> dict:
    param = {"type": kind, kind: {"id": media_id}} if media_id else {"type": "text", "text": "x"}
    return {"card_index": index, "components": [{"type": "header", "parameters": [param]}]}


BODY = {"type": "body", "parameters": [{"type": "text", "parameter_name": "advisor_name", "text": "A"}]}


@pytest.mark.parametrize(("cards", "body", "code"), [
    (lambda ids: [_card(0, ids[0]), _card(1, ids[1])], BODY, 132012),            # two of three
    (lambda ids: [_card(k, ids[k % 3]) for k in range(4)], BODY, 132012),        # four of three
    (lambda ids: [_card(0, ids[0]), _card(0, ids[1]), _card(2, ids[2])], BODY, 132012),  # index twice
    (lambda ids: [_card(0, ids[0]), _card(1), _card(2, ids[2])], BODY, 132012),  # text header
    (lambda ids: [_card(0, ids[0]), _card(1, ids[1], "video"), _card(2, ids[2])], BODY, 132012),
    (lambda ids: [_card(k, ids[k]) for k in range(3)], {"type": "body", "parameters": []}, 132000),
    (lambda ids: [_card(0, ids[0]), _card(1, "999"), _card(2, ids[2])], BODY, 131009),  # no upload
    (None, BODY, 132012),                                                        # no carousel
])
async def test_carousel_sends_are_checked_as_meta_checks_them(fresh, server, cards, body, code) -> None:
    ids = [m for m, _ in await _cards(fresh, 3)]
    components = [body] + ([{"type": "carousel", "cards": cards(ids)}] if cards else [])
    response = await _raw_send(server, {"name": CAROUSEL, "language": {"code": "en"},
                                        "components": components})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == code
    assert (await ledger(server))["accepted"] == 0


async def test_single_image_template_refuses_cards(fresh, server) -> None:
    ids = [m for m, _ in await _cards(fresh, 3)]
    with pytest.raises(CloudApiError) as caught:
        await fresh.send_template(PN, TO, TemplateMessage(
            "daily_pack_v1", "en", body_params={"advisor_name": "A"}, card_image_ids=ids))
    assert caught.value.code == 132012
