"""Issue 4: replay every webhook three times, shuffled: delivery states and SLA are unchanged.

The whole path runs for real: intents and results produced to their topics as the scheduler and
sender would, statuses as signed webhooks over HTTP to the gateway, and a ``dawn worker`` process
running the delivery-state and SLA agents (Faust) that publishes ``wa.delivery.state`` and
``ops.sla``. Two copies of the same morning run side by side under two run dates, one fed each
webhook once in order, the other every webhook three times, shuffled, in random small batches;
their published states and SLA snapshots must be the same.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer

from dawn.embedded.client_profile import consumer_config, gateway_producer_config, producer_config
from dawn.embedded.stack import Stack
from dawn.gateway_server import GatewayServer
from schemas.catalogue import DELIVERY_STATE, INTENTS, RESULTS, SLA
from schemas.codec import Codec
from tests import webhook_bodies as wb
from tests.test_gateway import config, post

DELIVERIES = 30
NUMBERS = 3
WAIT_S = 120.0


@dataclass(frozen=True)
class Morning:
    """One copy of the morning: its own run date, delivery ids and sender numbers."""

    tag: str
    run_date: date
    t0: datetime

    @property
    def deadline(self) -> datetime:
        return self.t0 + timedelta(seconds=330)

    def number(self, i: int) -> str:
        return f"pn-{self.tag}-{i % NUMBERS}"

    def delivery(self, i: int) -> str:
        return f"{self.tag}-d{i:03}"

    def unix(self, offset_s: float) -> int:
        return int((self.t0 + timedelta(seconds=offset_s)).timestamp())

    def statuses(self, i: int) -> list[dict[str, Any]]:
        """Meta-style: most read, some delivered after the deadline, failed, or stuck at sent."""
        w = f"wamid.{self.tag}.{i:03}"
        cb = self.delivery(i) if i % 2 else None  # half matched by callback data, half by wamid
        sent = wb.status(w, "sent", self.unix(20 + i), cb)
        if i % 10 == 3:
            return [sent, wb.status(w, "failed", self.unix(25 + i), cb, code=131049)]
        if i % 10 == 7:
            return [sent]
        if i % 15 == 5:
            return [sent, wb.status(w, "delivered", self.unix(400 + i), cb)]
        return [sent, wb.status(w, "delivered", self.unix(22 + i), cb),
                wb.status(w, "read", self.unix(60 + i), cb)]

    def produce_plan_and_results(self, producer: Producer, codec: Codec) -> None:
        for i in range(DELIVERIES):
            number, d = self.number(i), self.delivery(i)
            intent = {
                "delivery_id": d, "run_date": self.run_date, "advisor_id": f"adv{i:03}",
                "phone": "919800000000", "pack_id": "pack-1", "approval_id": "ap-1", "language": "HI",
                "template_name": "daily_pack", "template_language": "hi", "image_sha256": "0" * 64,
                "params": {"advisor_name": "A"}, "phone_number_id": number, "send_at": self.t0,
                "deadline": self.deadline, "attempt": 1, "created_at": self.t0,
            }
            result = {
                "delivery_id": d, "attempt": 1, "run_date": self.run_date, "advisor_id": f"adv{i:03}",
                "phone_number_id": number, "outcome": "ACCEPTED", "wamid": f"wamid.{self.tag}.{i:03}",
                "template_name": "daily_pack", "latency_ms": 90,
                "sent_at": self.t0 + timedelta(seconds=10 + i),
            }
            producer.produce(INTENTS.name, key=number.encode(), value=codec.encode(INTENTS.name, intent))
            producer.produce(RESULTS.name, key=number.encode(), value=codec.encode(RESULTS.name, result))

    def webhook(self, items: list[tuple[int, dict[str, Any]]]) -> bytes:
        return wb.meta_bytes(wb.envelope(
            [wb.messages_change(self.number(i), statuses=[s]) for i, s in items]))


@pytest.fixture
def worker(stack: Stack, topics: list, database_url: str, tmp_path: Path) -> Iterator[None]:
    """``dawn worker`` with only the delivery-state and SLA agents, snapshots every second."""
    app_id = f"replay-{uuid.uuid4().hex[:6]}"
    argv = [sys.executable, "-m", "dawn.cli", "worker", "--bootstrap", stack.kafka_bootstrap,
            "--database-url", database_url, "--app-id", app_id,
            "--agents", "delivery,sla", "--data-dir", str(tmp_path / "faust"),
            "--options", json.dumps({"sla_interval_s": 1.0})]
    if stack.embedded_kafka:
        argv.append("--embedded-broker")
    with open(tmp_path / "worker.log", "wb") as log:
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        try:
            yield
        finally:
            proc.terminate()
            proc.wait(timeout=30)


def published(bootstrap: str, mornings: list[Morning], codec: Codec) -> tuple[dict, dict]:
    """Latest state per delivery and latest snapshot per run date, once every morning's snapshot
    shows its final counts (or WAIT_S runs out, and the comparison shows what is missing)."""
    consumer = Consumer(consumer_config(bootstrap, f"read-{uuid.uuid4().hex[:6]}", embedded=True))
    consumer.subscribe([DELIVERY_STATE.name, SLA.name])
    ours = {m.delivery(i) for m in mornings for i in range(DELIVERIES)}
    states: dict[str, dict] = {}
    snaps: dict[date, dict] = {}
    deadline = time.monotonic() + WAIT_S
    try:
        while time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None or msg.error():
                done = [snaps.get(m.run_date, {}).get("read") == 22 and
                        snaps[m.run_date]["failed"] == 3 for m in mornings]
                if all(done) and len(states) == len(ours):
                    break
                continue
            record = codec.decode(msg.topic(), msg.value())
            if msg.topic() == SLA.name:
                snaps[record["run_date"]] = record
            elif record["delivery_id"] in ours:
                states[record["delivery_id"]] = record
    finally:
        consumer.close()
    return states, snaps


def normalised(morning: Morning, states: dict, snaps: dict) -> tuple[dict, dict]:
    """The morning's results with its own names (tag, numbers, run date) and the clock removed."""
    mine = {}
    for d, s in states.items():
        if d.startswith(morning.tag):
            s = {**s, "delivery_id": d.removeprefix(morning.tag), "updated_at": None, "run_date": None,
                 "phone_number_id": s["phone_number_id"].removeprefix(f"pn-{morning.tag}"),
                 "wamid": s["wamid"].replace(morning.tag, "")}
            mine[s["delivery_id"]] = s
    snap = dict(snaps.get(morning.run_date, {}))
    if snap:
        # Time-dependent by design (when it was taken, what is projected then): tested in test_sla.
        snap.update(run_date=None, taken_at=None, projected_miss=None,
                    sent_by_number=sorted(snap["sent_by_number"].values()))
    return mine, snap


def test_replaying_every_webhook_three_times_shuffled_changes_nothing(
    stack: Stack, worker: None
) -> None:
    codec = Codec()
    run = uuid.uuid4().hex[:6]
    rng = random.Random(run)
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=60)
    day = date(2030, 1, 1) + timedelta(days=2 * rng.randrange(5000))  # unique on the shared broker
    once = Morning(f"{run}o", day, t0)
    thrice = Morning(f"{run}t", day + timedelta(days=1), t0)

    producer = Producer(producer_config(stack.kafka_bootstrap, stack.embedded_kafka))
    for morning in (once, thrice):
        morning.produce_plan_and_results(producer, codec)
    assert producer.flush(15) == 0

    statuses = [(i, s) for i in range(DELIVERIES) for s in once.statuses(i)]
    replayed = [(i, s) for i in range(DELIVERIES) for s in thrice.statuses(i)] * 3
    rng.shuffle(replayed)
    kafka = gateway_producer_config(stack.kafka_bootstrap, stack.embedded_kafka)
    with GatewayServer(config(kafka)) as gw:
        for item in statuses:
            assert post(gw, once.webhook([item])).status_code == 200
        while replayed:  # Meta batches a few updates per POST at this rate
            size = rng.randint(1, 6)
            assert post(gw, thrice.webhook(replayed[:size])).status_code == 200
            del replayed[:size]

    states, snaps = published(stack.kafka_bootstrap, [once, thrice], codec)
    states_once, sla_once = normalised(once, states, snaps)
    states_thrice, sla_thrice = normalised(thrice, states, snaps)

    counts: dict[str, int] = {}
    for s in states_once.values():
        counts[s["state"]] = counts.get(s["state"], 0) + 1
    assert counts == {"READ": 22, "DELIVERED": 2, "FAILED": 3, "SENT": 3}
    assert states_thrice == states_once
    assert (sla_once["eligible"], sla_once["delivered"], sla_once["delivered_by_deadline"]) == (30, 24, 22)
    assert sla_once["failed_by_code"] == {"131049": 3}
    assert sla_thrice == sla_once
