"""Nothing Meta sends is lost between the webhook body and the Kafka record.

Every corpus body (tests/data/webhooks, see tests/webhook_corpus.py) is signed and posted to the
real gateway over HTTP, and what lands on the real broker is decoded with the README's data-team
snippet: fastavro and the .avsc files alone. Every status, message, account change and error of
the body must come back as one record whose ``raw_json`` is the item, and whose typed fields say
what Meta's field names say they should.
"""

from __future__ import annotations

import glob
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dawn.embedded.client_profile import gateway_producer_config
from dawn.embedded.stack import Stack
from dawn.gateway_server import GatewayServer
from dawn.settings import Secret
from producers.gateway.config import GatewayConfig
from producers.gateway.events import to_records
from schemas.catalogue import ACCOUNT, INBOUND, STATUSES
from schemas.codec import Codec
from tests import webhook_bodies as wb
from tests import webhook_corpus as wc
from tests.test_data_team_decode import readme_snippet
from whatsapp.webhooks.model import parse_notification
from whatsapp.webhooks.signature import sign

CODEC = Codec()
SECRET = "corpus-secret"
REPO = Path(__file__).resolve().parent.parent
WABA, PNID = "102290129340398", "106540352242922"
#: The gateway's configured number directory (display number -> phone_number_id).
NUMBERS = {"15550783881": PNID, "15550783882": "106540352242923"}


@pytest.fixture(scope="module")
def snippet() -> dict[str, Any]:
    """The README's load_schemas/decode, loaded with every .avsc file and nothing of ours."""
    namespace: dict[str, Any] = {}
    exec(readme_snippet(), namespace)  # noqa: S102 - the README's own code, under test
    paths = glob.glob(str(REPO / "schemas" / "**" / "*.avsc"), recursive=True)
    namespace["schemas"] = namespace["load_schemas"](paths)
    return namespace


@pytest.fixture(scope="module")
def gateway(stack: Stack, topics: list) -> Iterator[GatewayServer]:
    config = GatewayConfig(app_secret=Secret(SECRET), verify_token=Secret("v"), ops_token=Secret(""),
                           kafka=gateway_producer_config(stack.kafka_bootstrap, stack.embedded_kafka),
                           numbers=NUMBERS)  # type: ignore[arg-type]
    with GatewayServer(config) as gw:
        yield gw


def post(gw: GatewayServer, body: bytes) -> None:
    answer = httpx.post(gw.webhook_url, content=body, timeout=60, headers={
        "content-type": "application/json", "x-hub-signature-256": sign(body, SECRET)})
    assert answer.status_code == 200, answer.text


def decoded(bootstrap: str, snippet: dict[str, Any], keys: set[str], want: int,
            timeout_s: float = 60.0) -> dict[str, list[dict[str, Any]]]:
    got = wb.read_topics(bootstrap, [STATUSES.name, INBOUND.name, ACCOUNT.name],
                         {k.encode() for k in keys}, want=want, group=f"corpus-{uuid.uuid4().hex[:8]}",
                         timeout_s=timeout_s)
    return {topic: [snippet["decode"](value, snippet["schemas"]) for _, value in pairs]
            for topic, pairs in got.items()}


Expected = tuple[str, str, Any, int | None, list[dict[str, Any]]]


def expected_items(doc: dict[str, Any]) -> Iterator[Expected]:
    """(topic, field, the JSON a record's raw_json must equal, entry time, the value's contacts)
    for every update."""
    for entry in doc["entry"]:
        time = entry.get("time")
        for change in entry["changes"]:
            field, value = change["field"], change["value"]
            contacts = value.get("contacts", [])
            if field == "messages":
                for key, topic, kind in (("statuses", STATUSES.name, "status"),
                                         ("messages", INBOUND.name, "message"),
                                         ("errors", ACCOUNT.name, "system_error")):
                    yield from ((topic, kind, i, time, contacts) for i in value.get(key, []))
            elif field == "user_preferences":
                for pref in value["user_preferences"]:
                    yield ACCOUNT.name, field, {**value, "user_preferences": [pref]}, time, contacts
            else:
                yield ACCOUNT.name, field, value, time, contacts


def check_contact(record: dict[str, Any], item: dict[str, Any], contacts: list[dict[str, Any]],
                  where: str) -> None:
    """The sender's user id and profile come from the contact with their wa_id (or user id)."""
    mine = [c for c in contacts if c.get("wa_id") == item.get("from")
            or (item.get("from_user_id") and c.get("user_id") == item["from_user_id"])]
    contact = mine[0] if mine else (contacts[0] if len(contacts) == 1 else {})
    assert record["from_user_id"] == (item.get("from_user_id") or contact.get("user_id")), where
    assert record["profile_name"] == wc.get(contact, "profile.name"), where


def at(record: Any, path: str) -> Any:
    for step in path.split("."):
        record = record.get(step) if isinstance(record, dict) else None
    if isinstance(record, datetime):
        return int(record.timestamp() * 1000)
    return record


def check_typed(record: dict[str, Any], item: dict[str, Any],
                fields: dict[str, Any], where: str) -> None:
    for path, source in fields.items():
        want, got = source(item), at(record, path)
        if path == "errors":
            got = [{k: e[k] for k in ("code", "title", "message", "details")} for e in got]
        elif isinstance(want, int | float) and not isinstance(want, bool) and isinstance(got, str):
            want = str(want)  # ids and tiers Meta sends as numbers are strings in the record
        assert got == want, f"{where}: {path} is {got!r}, Meta sent {want!r}"


def test_every_corpus_item_has_a_typed_field_or_is_kept_raw_on_purpose() -> None:
    for name, raw in wc.corpus().items():
        for _, kind, item, _, _ in expected_items(json.loads(raw)):
            if kind in ("status", "message"):
                assert not wc.untyped(kind, item), f"{name}: {sorted(wc.untyped(kind, item))}"


def test_a_new_field_meta_adds_is_caught_by_the_oracle() -> None:
    status = {"id": "wamid.X", "status": "sent", "timestamp": "1", "recipient_id": "91",
              "new_meta_field": {"nested": 1}}
    assert wc.untyped("status", status) == {"new_meta_field.nested"}


@pytest.mark.slow
def test_every_corpus_body_reaches_kafka_whole_and_typed(
        gateway: GatewayServer, bootstrap: str, snippet: dict[str, Any]) -> None:
    bodies = wc.corpus()
    expected = []
    for name, raw in bodies.items():
        post(gateway, raw)
        expected += [(name, *e) for e in expected_items(json.loads(raw))]
    records = decoded(bootstrap, snippet, {WABA, PNID}, want=len(expected))
    unmatched = {t: list(rs) for t, rs in records.items()}
    for name, topic, kind, item, time, contacts in expected:
        where = f"{name}: {kind} {json.dumps(item, ensure_ascii=False)[:80]}"
        match = next((r for r in unmatched.get(topic, []) if json.loads(r["raw_json"]) == item), None)
        assert match is not None, f"{where}: no record round-trips it"
        unmatched[topic].remove(match)
        if kind == "status":
            check_typed(match, item, wc.STATUS_FIELDS, where)
        elif kind == "message":
            check_typed(match, item, wc.INBOUND_FIELDS, where)
            check_contact(match, item, contacts, where)
            assert match["phone_number_id"] == PNID
        else:
            assert match["field"] == kind, where
            assert at(match, "entry_time") == wc.ms(time), where
            check_typed(match, item, wc.ACCOUNT_FIELDS.get(kind, {}), where)
            if kind == "phone_number_quality_update":  # named by display number only, any format
                display = "".join(ch for ch in item["display_phone_number"] if ch.isdigit())
                assert match["phone_number_id"] == NUMBERS[display], where
    assert not any(unmatched.values()), f"records nobody sent: {unmatched}"


@pytest.mark.slow
def test_a_thousand_update_three_megabyte_batch_round_trips(
        gateway: GatewayServer, bootstrap: str, snippet: dict[str, Any]) -> None:
    pnid, waba = f"pn-big-{uuid.uuid4().hex[:8]}", f"waba-big-{uuid.uuid4().hex[:8]}"
    body = wc.big_batch(pnid, waba)
    doc = json.loads(body)
    assert len(doc["entry"][0]["changes"]) == 1000
    assert 2_900_000 <= len(body) <= 3 * 1024 * 1024
    assert b"\\u0928" in body and b"\\/" in body  # Devanagari escaped as Meta does, "/" as "\/"
    post(gateway, body)
    records = decoded(bootstrap, snippet, {pnid}, want=1000, timeout_s=120)
    items = [c["value"].get("statuses", c["value"].get("messages"))[0]
             for c in doc["entry"][0]["changes"]]
    raws = sorted(r["raw_json"] for rs in records.values() for r in rs)
    assert len(raws) == 1000
    assert sorted(json.loads(r)["id"] for r in raws) == sorted(i["id"] for i in items)
    by_id = {json.loads(r)["id"]: json.loads(r) for r in raws}
    assert all(by_id[i["id"]] == i for i in items)


json_scalar = st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12),
                        st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=12))
json_value = st.recursive(json_scalar, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)), max_leaves=8)
extra_keys = st.dictionaries(st.text(min_size=1, max_size=8).filter(
    lambda k: k not in ("id", "status", "type", "from", "timestamp")), json_value, max_size=4)


@settings(max_examples=60, deadline=None)
@given(status_extra=extra_keys, message_extra=extra_keys,
       kind=st.sampled_from(["text", "image", "button", "interactive", "system", "sticker", "order"]),
       text=st.text(max_size=20))
def test_any_item_round_trips_through_the_records(status_extra: dict, message_extra: dict,
                                                   kind: str, text: str) -> None:
    """Whatever Meta adds to an item, of whatever JSON type, the record keeps it: the gateway's
    parse and records, Avro-encoded, decoded by the README snippet's logic."""
    status = {**status_extra, "id": "wamid.S", "status": "delivered", "timestamp": "1763880000"}
    message = {**message_extra, "id": "wamid.M", "from": "919812345678", "timestamp": "1763880001",
               "type": kind, kind: {"body": text, "caption": text}}
    body = json.dumps(wb.envelope([wb.messages_change("PN", statuses=[status], messages=[message])]))
    records = to_records(parse_notification(body), CODEC, datetime.now(UTC))
    decoded = [CODEC.decode(r.topic, r.value) for r in records]
    assert [json.loads(r["raw_json"]) for r in decoded] == [status, message]
