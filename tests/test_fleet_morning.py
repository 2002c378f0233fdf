"""A number turning RED mid-morning, end to end: ``dawn worker`` (sender, reconcile, quality) as its
own process, the real broker and PostgreSQL, the sandbox and the gateway over real HTTP.

The oracle is the sandbox's own ledger: no message is accepted from the RED number later than 2 s
after it turned RED (by the sandbox's clock), and every eligible advisor still gets the pack exactly
once, the RED number's remaining intents carried by the healthy numbers and the hot spare. With two
workers sharing the numbers' partitions, every moved intent names the numbers it left and is never
keyed to one of them again (failover cannot bounce).
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from dawn.embedded.stack import Stack
from dawn.gateway_server import GatewayServer
from producers.kafka_io import read_to_end
from sandbox.config import SandboxConfig, WebhookConfig
from sandbox.server import SandboxServer
from schemas.catalogue import INTENTS
from tests import sender_morning as m
from tests.quality_helpers import Topics, start_quality_worker, unique_numbers, wait_for, write_fleet

pytestmark = pytest.mark.slow

STOP_WITHIN_S = 2.0


@pytest.fixture(scope="module")
def gateway(stack: Stack, topics: list) -> Iterator[GatewayServer]:
    with m.morning_gateway(stack) as gw:
        yield gw


@pytest.mark.parametrize("workers", [1, 2])
def test_a_number_turning_red_mid_morning_stops_within_2_s_and_the_morning_completes(
    stack: Stack, gateway: GatewayServer, tmp_path: Path, workers: int
) -> None:
    numbers = unique_numbers(4)
    ids = [n.id for n in numbers]
    primaries, spare, red = ids[:3], ids[3], ids[2]
    waba = f"9{uuid.uuid4().int % 10**14:014d}"
    fleet = write_fleet(tmp_path / "fleet.json", {spare: {"role": "SPARE"}})
    config = SandboxConfig(waba_id=waba, numbers=numbers, webhooks=WebhookConfig(
        callback_url=gateway.webhook_url, app_secret=m.APP_SECRET))
    read = Topics(stack.kafka_bootstrap, stack.embedded_kafka, ids)
    with SandboxServer(config) as sandbox:
        app_id = f"red-{uuid.uuid4().hex[:8]}"
        procs = [start_quality_worker(
            stack.kafka_bootstrap, stack.database_url, sandbox.base_url, stack.embedded_kafka,
            app_id, tmp_path / f"worker{k}.log", waba_id=waba, fleet_file=fleet,
            agents="sender,reconcile,quality" if k == 0 else "sender,reconcile",
            options={"grace_s": 8.0}, numbers=ids) for k in range(workers)]
        worker = procs[0]
        try:
            wait_for("the fleet", lambda: len(read.latest()) == 4, 60, worker)
            morning = m.seed(stack.database_url, stack.kafka_bootstrap, stack.embedded_kafka,
                             tmp_path, n=600, numbers=tuple(primaries), spread_s=12.0)
            wait_for("the morning under way", lambda: _accepted_from(sandbox.base_url, red) >= 40, 60,
                     worker, every=0.1)
            httpx.post(f"{sandbox.base_url}/sandbox/faults", timeout=10, json={"events": [
                {"after_s": 0, "kind": "number_quality", "target": red, "value": "RED"}]},
            ).raise_for_status()
            red_at = sandbox.sandbox.clock()
            doc = m.wait_until_all_accepted(sandbox.base_url, morning.eligible, 120, worker)
            time.sleep(1.0)  # a late duplicate would show by now
            doc = m.ledger(sandbox.base_url)
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                proc.wait(30)
    ours = [e for e in doc["entries"] if e["callback_data"] in set(morning.eligible)]
    from_red = [e["time"] for e in ours if e["phone_number_id"] == red]
    assert from_red, "the RED number sent nothing before it turned RED: the test proves nothing"
    assert max(from_red) <= red_at + STOP_WITHIN_S, (max(from_red) - red_at)
    accepted = Counter(e["callback_data"] for e in ours)
    assert set(accepted) == set(morning.eligible)  # 100 %, more than the 99 % asked
    assert max(accepted.values()) == 1
    moved = [e for e in ours if e["phone_number_id"] != red and e["time"] > red_at]
    assert moved and {e["phone_number_id"] for e in moved} <= {*primaries[:2], spare}
    assert read.latest()[red]["role"] == "STOPPED"
    intents = [s.record for s in read_to_end(read.kafka, INTENTS.name, read.codec)
               if s.record["delivery_id"] in set(morning.eligible)]
    moved_intents = [i for i in intents if i["tried_numbers"]]
    assert moved_intents, "nothing was handed over"
    for intent in moved_intents:
        assert intent["phone_number_id"] not in intent["tried_numbers"], intent
        assert red in intent["tried_numbers"]


def _accepted_from(sandbox_url: str, number: str) -> int:
    return sum(e["phone_number_id"] == number for e in m.ledger(sandbox_url)["entries"])
