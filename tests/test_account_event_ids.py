"""A repeat is a new fact, a retry is not: account events through the gateway into the audit trail.

Meta sends the same template event again when it happens again (FLAGGED on Monday and on
Thursday) with a new entry ``time``, and retries an unacknowledged webhook with the same one. Both
bodies are otherwise byte-identical, so the audit trail can only tell them apart by the entry time
the gateway puts in the event id. Value-level errors carry no time: the change they came in does.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import httpx
import psycopg
import pytest

from dawn.embedded.client_profile import gateway_producer_config
from dawn.embedded.stack import Stack
from dawn.gateway_server import GatewayServer
from dawn.settings import Secret
from producers.gateway.config import GatewayConfig
from schemas.catalogue import ACCOUNT
from schemas.codec import Codec
from tests import webhook_bodies as wb
from tests.test_audit_sink import drain, new_sink
from whatsapp.webhooks.signature import sign

pytestmark = pytest.mark.slow

SECRET = "ids-secret"
MONDAY = 1763942400
DAY = 86_400


@pytest.fixture(scope="module")
def gateway(stack: Stack, topics: list) -> Iterator[GatewayServer]:
    config = GatewayConfig(app_secret=Secret(SECRET), verify_token=Secret("v"), ops_token=Secret(""),
                           kafka=gateway_producer_config(stack.kafka_bootstrap, stack.embedded_kafka))  # type: ignore[arg-type]
    with GatewayServer(config) as gw:
        yield gw


def post(gw: GatewayServer, doc: dict) -> None:
    body = json.dumps(doc).encode()
    answer = httpx.post(gw.webhook_url, content=body, timeout=30, headers={
        "content-type": "application/json", "x-hub-signature-256": sign(body, SECRET)})
    assert answer.status_code == 200, answer.text


def flagged(waba: str, template: str, time: int) -> dict:
    return {"object": "whatsapp_business_account", "entry": [{"id": waba, "time": time, "changes": [
        {"field": "message_template_status_update", "value": {
            "event": "FLAGGED", "message_template_id": 594425479261596,
            "message_template_name": template, "message_template_language": "hi", "reason": "NONE",
            "other_info": {"title": "FIRST_PAUSE", "description": "paused for 3 hours"}}}]}]}


def value_error(waba: str, pnid: str, status_ts: int) -> dict:
    return wb.envelope([wb.messages_change(pnid, statuses=[
        wb.status(f"wamid.err-{pnid}-{status_ts}", "sent", status_ts)],
        errors=[{"code": 131000, "title": "Something went wrong", "message": "Something went wrong",
                 "error_data": {"details": "Unknown error"}}])], waba_id=waba)


def audit_rows(database_url: str, waba: str) -> list[tuple[str, str]]:
    with psycopg.connect(database_url) as conn:
        return conn.execute(
            "SELECT event_id, status FROM audit_events WHERE record_type = 'AccountEvent' "
            "AND record ->> 'waba_id' = %s ORDER BY occurred_at", (waba,)).fetchall()


def test_two_identical_events_a_day_apart_are_two_rows_and_a_retry_is_none(
        gateway: GatewayServer, bootstrap: str, database_url: str, stack: Stack) -> None:
    run = uuid.uuid4().hex[:8]
    waba, template, pnid = f"waba-ids-{run}", f"pack_{run}", f"pn-ids-{run}"
    post(gateway, flagged(waba, template, MONDAY))
    post(gateway, flagged(waba, template, MONDAY))  # Meta's retry: same entry time
    post(gateway, flagged(waba, template, MONDAY + DAY))  # the same event again, a day later
    post(gateway, value_error(waba, pnid, MONDAY + 10))
    post(gateway, value_error(waba, pnid, MONDAY + 10))  # retry
    post(gateway, value_error(waba, pnid, MONDAY + DAY + 10))  # the error again, with new siblings

    got = wb.read_topics(bootstrap, [ACCOUNT.name], {waba.encode()}, want=6, group=f"ids-{run}")
    records = [Codec().decode(ACCOUNT.name, v) for _, v in got[ACCOUNT.name]]
    assert len(records) == 6  # the gateway keeps everything; the ids tell facts apart
    pauses = [r for r in records if r["field"] == "message_template_status_update"]
    assert {(r["reason"], r["other_info_title"]) for r in pauses} == {("NONE", "FIRST_PAUSE")}
    assert len({r["event_id"] for r in pauses}) == 2
    errors = [r for r in records if r["field"] == "system_error"]
    assert len({r["event_id"] for r in errors}) == 2

    sink = new_sink(bootstrap, database_url, stack)
    try:
        drain(sink, lambda: len(audit_rows(database_url, waba)) >= 4)
        for _ in range(5):  # a wrongly kept retry would land by now
            sink.step()
    finally:
        sink.close()
    rows = audit_rows(database_url, waba)
    assert sorted(status for _, status in rows) == [
        "message_template_status_update:FLAGGED", "message_template_status_update:FLAGGED",
        "system_error:131000", "system_error:131000"]
