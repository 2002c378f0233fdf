"""The webhook gateway over real HTTP against the real broker."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest

from dawn.embedded.client_profile import gateway_producer_config
from dawn.embedded.ports import free_port
from dawn.embedded.stack import Stack
from dawn.gateway_server import GatewayServer
from dawn.settings import Secret
from producers.gateway.config import GatewayConfig, GatewayConfigError
from schemas.catalogue import ACCOUNT, INBOUND, STATUSES
from schemas.codec import Codec
from tests import webhook_bodies as wb
from whatsapp.webhooks.signature import sign

SECRET = "test-app-secret"
HINDI = "बंद करो / कल सुबह भेजें"
MARATHI = "थांबवा, धन्यवाद! ✓"


def config(kafka: dict, **overrides: object) -> GatewayConfig:
    return GatewayConfig(app_secret=Secret(SECRET), verify_token=Secret("verify-me"),
                         ops_token=Secret("ops-token"), kafka=kafka, **overrides)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def gateway(stack: Stack, topics: list) -> Iterator[GatewayServer]:
    with GatewayServer(config(gateway_producer_config(stack.kafka_bootstrap, stack.embedded_kafka))) as gw:
        yield gw


def post(gw: GatewayServer, body: bytes, signature: str | None = "sign", **kw: object) -> httpx.Response:
    headers = {"content-type": "application/json"}
    if signature == "sign":
        headers["x-hub-signature-256"] = sign(body, SECRET)
    elif signature is not None:
        headers["x-hub-signature-256"] = signature
    return httpx.post(gw.webhook_url, content=body, headers=headers, timeout=30, **kw)  # type: ignore[arg-type]


def test_signed_batch_lands_in_the_right_topics_with_the_right_keys(
    gateway: GatewayServer, bootstrap: str
) -> None:
    run = uuid.uuid4().hex[:8]
    pn_a, pn_b, waba = f"pn-a-{run}", f"pn-b-{run}", f"waba-{run}"
    body = wb.meta_bytes(wb.envelope([
        wb.messages_change(pn_a, statuses=[wb.status(f"w1-{run}", "delivered", 1763770000, "d1"),
                                           wb.status(f"w2-{run}", "failed", 1763770001, code=131049)]),
        wb.messages_change(pn_b, statuses=[wb.status(f"w3-{run}", "read", 1763770002)]),
        wb.messages_change(pn_b, contacts=[{"profile": {"name": "आशा"}, "wa_id": "919812345678"}],
                           messages=[wb.text_message(f"in1-{run}", HINDI, 1763770003),
                                     wb.text_message(f"in2-{run}", MARATHI, 1763770004)]),
        {"field": "message_template_status_update",
         "value": {"event": "PAUSED", "message_template_id": 77, "message_template_name": "daily_pack",
                   "message_template_language": "hi", "reason": None,
                   "other_info": {"title": "FIRST_PAUSE"}}},
        {"field": "some_future_field", "value": {"anything": [1, 2]}},
    ], waba_id=waba))

    first = post(gateway, body)
    assert first.status_code == 200, first.text
    assert post(gateway, body).status_code == 200  # Meta's duplicate delivery

    got = wb.read_topics(bootstrap, [STATUSES.name, INBOUND.name, ACCOUNT.name],
                         {pn_a.encode(), pn_b.encode(), waba.encode()}, want=14, group=f"t-{run}")
    codec = Codec()
    decoded = {t: [(k.decode(), codec.decode(t, v)) for k, v in got[t]] for t in got}
    statuses = decoded[STATUSES.name]
    assert len(statuses) == 6 and len(decoded[INBOUND.name]) == 4 and len(decoded[ACCOUNT.name]) == 4
    by_wamid = {r["wamid"]: (k, r) for k, r in statuses}
    assert {w: (k, r["status"]) for w, (k, r) in by_wamid.items()} == {
        f"w1-{run}": (pn_a, "DELIVERED"), f"w2-{run}": (pn_a, "FAILED"), f"w3-{run}": (pn_b, "READ"),
    }
    assert by_wamid[f"w1-{run}"][1]["callback_data"] == "d1"
    assert [e["code"] for e in by_wamid[f"w2-{run}"][1]["errors"]] == [131049]
    # Duplicate deliveries carry the same event ids, so consumers can drop them.
    for topic in (STATUSES.name, INBOUND.name, ACCOUNT.name):
        ids = [r["event_id"] for _, r in decoded[topic]]
        assert len(set(ids)) == len(ids) // 2
    texts = {r["event_id"]: (k, r["text"]) for k, r in decoded[INBOUND.name]}
    assert texts[f"in1-{run}"] == (pn_b, HINDI)
    assert texts[f"in2-{run}"][1].encode() == MARATHI.encode()
    account = {r["field"]: (k, r) for k, r in decoded[ACCOUNT.name]}
    assert account["message_template_status_update"][0] == waba
    assert account["message_template_status_update"][1]["event"] == "PAUSED"
    assert '"anything":[1,2]' in account["some_future_field"][1]["raw_json"]


def test_unsigned_forged_and_malformed(gateway: GatewayServer) -> None:
    body = wb.meta_bytes(wb.envelope([]))
    assert post(gateway, body, signature=None).status_code == 401
    assert post(gateway, body, signature=sign(body, "not-the-secret")).status_code == 403
    assert post(gateway, body + b" ", signature=sign(body, SECRET)).status_code == 403
    assert post(gateway, b'{"object": "whatsapp_business_account", "entry": [').status_code == 400
    assert post(gateway, b"[1, 2]").status_code == 400


def test_oversize_is_refused_by_declared_length_and_while_streaming(gateway: GatewayServer) -> None:
    big = b"x" * (4 * 1024 * 1024)
    assert post(gateway, big).status_code == 413

    def chunks() -> Iterator[bytes]:  # no Content-Length: only the streaming check can catch it
        for _ in range(64):
            yield b"y" * (64 * 1024)

    assert post(gateway, chunks(), signature="sha256=" + "0" * 64).status_code == 413  # type: ignore[arg-type]


def test_verify_handshake(gateway: GatewayServer) -> None:
    ok = httpx.get(gateway.webhook_url, params={
        "hub.mode": "subscribe", "hub.verify_token": "verify-me", "hub.challenge": "1158201444"})
    assert (ok.status_code, ok.text) == (200, "1158201444")
    bad = httpx.get(gateway.webhook_url, params={
        "hub.mode": "subscribe", "hub.verify_token": "guess", "hub.challenge": "1158201444"})
    assert bad.status_code == 403


def test_metrics_need_the_ops_token(gateway: GatewayServer) -> None:
    url = gateway.base_url
    assert httpx.get(url + "/healthz").status_code == 200
    assert httpx.get(url + "/metrics").status_code == 403
    assert httpx.get(url + "/metrics", headers={"authorization": "Bearer nope"}).status_code == 403
    ok = httpx.get(url + "/metrics", headers={"authorization": "Bearer ops-token"})
    assert ok.status_code == 200 and "dawn_gateway_requests_total" in ok.text


def test_unreachable_broker_means_503_not_200() -> None:
    dead = gateway_producer_config(f"127.0.0.1:{free_port()}", embedded=True)
    with GatewayServer(config(dead, ack_timeout_s=1.0)) as gw:
        body = wb.meta_bytes(wb.envelope([wb.messages_change("pn-x", statuses=[
            wb.status("w-dead", "sent", 1763770000)])]))
        assert post(gw, body).status_code == 503


def test_no_app_secret_no_start() -> None:
    with pytest.raises(GatewayConfigError, match="WHATSAPP_APP_SECRET"):
        GatewayConfig(app_secret=Secret(""), verify_token=Secret("v"), ops_token=Secret(""), kafka={})
