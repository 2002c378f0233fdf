"""The advisor WebSocket with a real client against the real broker: an advisor's signed token
gets their own delivery state changes, in order, each within a second of reaching Kafka, and not
one record of another advisor's; a forged, expired or missing token gets no socket at all."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import websockets
from confluent_kafka import Producer

from dawn.dashboard_server import DashboardServer
from dawn.embedded.client_profile import producer_config
from dawn.settings import Secret, Settings
from ops.tokens import mint_advisor_token
from schemas.catalogue import DELIVERY_STATE
from schemas.codec import Codec

SECRET = "advisor-secret-for-tests"
OPS = "ops-token-for-tests"
#: The issue's promise: a state change reaches the advisor within a second.
PROMISED_S = 1.0


def state(delivery: str, advisor: str, value: str, at: datetime, error: int | None = None) -> dict:
    return {
        "delivery_id": delivery, "run_date": date(2026, 11, 26), "advisor_id": advisor,
        "phone_number_id": "PN1", "state": value, "wamid": None, "attempts": 1,
        "error_code": error, "queued_at": at, "accepted_at": None, "sent_at": None,
        "delivered_at": at if value in ("DELIVERED", "READ") else None, "read_at": None,
        "failed_at": at if value == "FAILED" else None, "updated_at": at,
    }


@pytest.fixture
def server(bootstrap: str, topics: Any) -> Any:
    settings = Settings(advisor_token_secret=Secret(SECRET))
    with DashboardServer(bootstrap, settings, ops_token=OPS, embedded=True) as dashboard:
        yield dashboard


@pytest.fixture(scope="module")
def producer(bootstrap: str) -> Any:
    """One producer for the module, kept warm so a produce costs no connection set-up."""
    return Producer(producer_config(bootstrap, True))


def produce(producer: Producer, codec: Codec, record: dict) -> None:
    """Produce and wait for the broker's acknowledgement."""
    producer.produce(DELIVERY_STATE.name, key=record["delivery_id"].encode(),
                     value=codec.encode(DELIVERY_STATE.name, record))
    assert producer.flush(10) == 0


async def next_state(ws: Any, timeout: float) -> dict:
    """The next ``state`` message (pings skipped)."""
    while True:
        message = json.loads(await asyncio.wait_for(ws.recv(), timeout))
        if message["type"] == "state":
            return message


async def test_an_advisor_gets_their_states_in_order_and_nobody_elses(server: Any, producer: Any) -> None:
    tag = uuid.uuid4().hex[:8]
    mine, theirs = f"A{tag}", f"B{tag}"
    codec = Codec(None)
    url = server.base_url.replace("http", "ws") + "/advisor/ws?token="
    t0 = datetime.now(UTC)
    async with websockets.connect(url + mint_advisor_token(mine, SECRET)) as ws:
        hello = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert hello == {"type": "hello", "advisor_id": mine}
        # the feed may still be reading the session's earlier records: the promise is about a
        # live feed, so wait (untimed) until a first record of mine has come through
        produce(producer, codec, state(f"W{mine}", mine, "QUEUED", t0))
        assert (await next_state(ws, timeout=60))["delivery_id"] == f"W{mine}"
        steps = [("QUEUED", None), ("SENT", None), ("DELIVERED", None), ("READ", None)]
        received = []
        latencies: list[float] = []
        for i, (value, _) in enumerate(steps):
            at = t0 + timedelta(seconds=i)
            # another advisor's change first, a duplicate of mine after: neither may reach me
            produce(producer, codec, state(f"D{theirs}", theirs, value, at))
            produce(producer, codec, state(f"D{mine}", mine, value, at))
            produced = time.monotonic()  # the change is in Kafka
            event = await next_state(ws, timeout=10)
            latency = time.monotonic() - produced
            received.append(event)
            latencies.append(latency)
            assert latency <= PROMISED_S, f"{value} took {latency:.2f} s"
            produce(producer, codec, state(f"D{mine}", mine, value, at))
        # a second delivery of mine that fails: the reason comes with it
        produce(producer, codec, state(f"E{mine}", mine, "FAILED", t0, error=131026))
        failed = await next_state(ws, timeout=10)
        # nothing else is on the way: not the other advisor's, not my duplicates
        with pytest.raises(TimeoutError):
            await next_state(ws, timeout=2)
    print(f"state change to socket: worst {max(latencies):.3f} s of {len(latencies)}")
    assert [(e["delivery_id"], e["state"]) for e in received] == [
        (f"D{mine}", s) for s, _ in steps]
    assert all(e["reason"] is None for e in received)
    assert failed["delivery_id"] == f"E{mine}" and failed["error_code"] == 131026
    assert "undeliverable" in failed["reason"]


async def test_a_new_connection_starts_from_the_present(server: Any, producer: Any) -> None:
    advisor = f"A{uuid.uuid4().hex[:8]}"
    produce(producer, Codec(None), state(f"D{advisor}", advisor, "DELIVERED", datetime.now(UTC)))
    url = server.base_url.replace("http", "ws") + "/advisor/ws?token="
    deadline = time.monotonic() + 10
    while True:  # the feed may not have read it yet
        async with websockets.connect(url + mint_advisor_token(advisor, SECRET)) as ws:
            await ws.recv()  # hello
            try:
                event = await next_state(ws, timeout=0.5)
                break
            except TimeoutError:
                assert time.monotonic() < deadline, "the present state never came"
    assert event["state"] == "DELIVERED"


@pytest.mark.parametrize("token", [
    "",
    "not-a-token",
    mint_advisor_token("A1", "another-secret"),
    mint_advisor_token("A1", SECRET, ttl_s=-10),
    mint_advisor_token("A1", SECRET)[:-2] + "xx",
    mint_advisor_token("A1", SECRET).replace("A1.", "A2.", 1),
], ids=["empty", "garbage", "another-secret", "expired", "bad-signature", "another-advisor"])
async def test_a_bad_token_gets_no_socket(server: Any, token: str) -> None:
    url = server.base_url.replace("http", "ws") + "/advisor/ws?token=" + token
    with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
        async with websockets.connect(url) as ws:
            await ws.recv()
    assert refused.value.response.status_code == 403
