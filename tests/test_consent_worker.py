"""The consent agent in a real Faust worker (``dawn worker --agents consent``), end to end:
an inbound STOP on Kafka -> PostgreSQL says STOPPED -> an Advisor record on ``advisors`` -> a
confirmation reaches the Graph API stand-in over HTTP."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
from confluent_kafka import Consumer, Producer

from dawn.embedded.client_profile import consumer_config, producer_config
from sandbox.server import UvicornThread
from schemas.codec import Codec
from store import advisors
from store.migrations import apply_migrations
from streams.consent.replies import reply_for
from tests.test_consent_agent import Receiver, inbound

pytestmark = pytest.mark.slow

CODEC = Codec()


def test_stop_through_a_faust_worker(bootstrap, database_url, stack, topics, tmp_path: Path) -> None:
    apply_migrations(database_url)
    tag = uuid.uuid4().hex[:10]
    phone = f"91985{int(tag[:6], 16) % 10_000_000:07d}"
    row = advisors.AdvisorRow(f"{tag}-w", "मृणाल जोशी", phone, None, "MR", "OPTED_IN", False, None)

    async def seed() -> None:
        async with await psycopg.AsyncConnection.connect(database_url) as conn:
            await advisors.upsert_advisors(conn, [row], source="import", evidence="t",
                                           at=datetime(2026, 1, 1, tzinfo=UTC))

    asyncio.run(seed())
    receiver = Receiver()
    graph = UvicornThread(receiver.app).start()
    log_path = tmp_path / "worker.log"
    argv = [sys.executable, "-m", "dawn.cli", "worker", "--bootstrap", bootstrap,
            "--database-url", database_url, "--graph-base-url", graph.base_url,
            "--agents", "consent", "--app-id", f"consent-worker-{tag}",
            "--data-dir", str(tmp_path / "faust")]
    if stack.embedded_kafka:
        argv.append("--embedded-broker")
    with log_path.open("wb") as log:
        worker = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=os.environ.copy())
    try:
        producer = Producer(producer_config(bootstrap, stack.embedded_kafka))
        producer.produce("wa.inbound.messages", key=b"PN1",
                         value=CODEC.encode("wa.inbound.messages",
                                            inbound(tag, 1, text="थांबवा", wa_id=phone)))
        assert producer.flush(30) == 0
        for _ in range(600):  # the first group join takes a few seconds on the embedded broker
            if receiver.sent or worker.poll() is not None:
                break
            time.sleep(0.1)
        assert worker.poll() is None, log_path.read_text(errors="replace")[-3000:]
        assert receiver.sent == [("PN1", phone, reply_for("STOPPED", "MR"))]
        with psycopg.connect(database_url) as conn:
            state = conn.execute("SELECT consent_state FROM advisors WHERE advisor_id = %s",
                                 (row.advisor_id,)).fetchone()
        assert state == ("STOPPED",)
        assert _published_consent(bootstrap, stack.embedded_kafka, row.advisor_id) == "STOPPED"
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait(10)
        graph.stop()


def _published_consent(bootstrap: str, embedded: bool, advisor_id: str) -> str | None:
    consumer = Consumer(consumer_config(bootstrap, f"consent-worker-read-{uuid.uuid4().hex[:8]}", embedded))
    consumer.subscribe(["advisors"])
    latest = None
    try:
        for _ in range(60):
            message = consumer.poll(0.5)
            if message is None:
                if latest is not None:
                    break
                continue
            if not message.error() and message.key() == advisor_id.encode():
                latest = CODEC.decode("advisors", message.value())["consent"]
    finally:
        consumer.close()
    return latest
