"""A plan publish the broker stops answering part way: a clear message, and a second run completes it.

The broker is "made unreachable" by suspending its process (SIGSTOP): connections stay open and
nothing answers, as on a partitioned network, and its in-memory log survives for the second run
(SIGCONT). Runs on a broker and database of its own, since the test suspends that broker.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from dawn import cli
from dawn.embedded.broker import EmbeddedBroker
from dawn.embedded.client_profile import consumer_config, producer_config
from producers.intake.demo_pack import write_demo_pack
from producers.kafka_io import KafkaConfigs, ProduceError, produce_all, read_to_end
from producers.scheduler.plan import delivery_id
from producers.scheduler.window import Window
from sandbox.config import NumberConfig, SandboxConfig
from sandbox.server import SandboxServer
from schemas.catalogue import INTENTS, NUMBER_PARTITIONS
from schemas.codec import Codec
from store import advisors
from tests.isolation import fresh_database, own_broker

#: Enough intents that their publish (up to 200 a batch on the embedded broker, tens of thousands
#: a second) is still going when the watcher sees the first few hundred in the topic.
ADVISORS = 20_000
NUMBERS = ["110000000000071", "110000000000072"]
#: Intents in the topic when the broker is suspended: some, far from all.
SUSPEND_AT = 200
EXIT_RUN_AGAIN = 75


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[EmbeddedBroker]:
    with own_broker(tmp_path / "broker") as running:
        try:
            yield running
        finally:
            os.kill(running.process.pid, signal.SIGCONT)  # stop() must find it able to stop


def _in_topic(bootstrap: str, topic: str) -> int:
    """Records in ``topic`` by its end offsets (on the embedded broker at most one batch short)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "test-publish-watch"})
    try:
        return sum(consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=5)[1]
                   for p in range(NUMBER_PARTITIONS))
    finally:
        consumer.close()


def _suspend_when(broker: EmbeddedBroker, topic: str, at_least: int, child: subprocess.Popen) -> bool:
    """SIGSTOP the broker once ``topic`` holds ``at_least`` records; False if ``child`` ended first."""
    while child.poll() is None:
        if _in_topic(broker.bootstrap, topic) >= at_least:
            os.kill(broker.process.pid, signal.SIGSTOP)
            return True
        time.sleep(0.01)
    return False


def _schedule(broker: EmbeddedBroker, db: str, sandbox: SandboxServer, run_dir: Path,
              *extra: str) -> subprocess.Popen:
    argv = [sys.executable, "-m", "dawn.cli", "schedule", "--now", "--window", "60",
            "--embedded-broker", "--bootstrap", broker.bootstrap, "--graph-base-url", sandbox.base_url,
            "--numbers", ",".join(f"{n}:1000" for n in NUMBERS), "--tier", "TIER_100K", *extra]
    env = {**os.environ, "DATABASE_URL": db, "DAWN_RUN_DIR": str(run_dir)}
    return subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.slow
async def test_a_publish_the_broker_stops_answering_is_completed_by_a_second_schedule_without_copies(
    broker: EmbeddedBroker, database_url: str, tmp_path: Path,
) -> None:
    db = fresh_database(database_url, "publish")
    now = datetime.now(UTC)
    run_date = Window.compressed(now, 60).run_date()
    rows = [advisors.AdvisorRow(f"p-{i:05d}", f"Advisor {i}", f"9197{i:08d}", None, "EN",
                                "OPTED_IN", False, None) for i in range(ADVISORS)]
    rows.append(advisors.AdvisorRow("p-stopped", "Stopped", "919700999999", None, "EN",
                                    "STOPPED", False, None))
    async with await psycopg.AsyncConnection.connect(db, autocommit=True) as conn:
        await advisors.upsert_advisors(conn, rows, source="import", evidence="test", at=now)
    pack = write_demo_pack(tmp_path / "media", run_date, approved_at=now, published_at=now)
    (tmp_path / "pack.json").write_text(json.dumps(
        {**pack, "run_date": run_date.isoformat(), "approved_at": now.isoformat()}, default=str))
    assert cli.main(["packs", "publish", str(tmp_path / "pack.json"),
                     "--bootstrap", broker.bootstrap]) == 0
    expected = {delivery_id(r.advisor_id, pack["pack_id"], run_date) for r in rows[:ADVISORS]}

    with SandboxServer(SandboxConfig(numbers=[NumberConfig(id=n, display_phone_number=f"91224000{i}")
                                              for i, n in enumerate(NUMBERS)])) as sandbox:
        first = _schedule(broker, db, sandbox, tmp_path / "run", "--ack-timeout", "2")
        try:
            suspended = _suspend_when(broker, INTENTS.name, SUSPEND_AT, first)
            _, stderr = first.communicate(timeout=120)
        finally:
            if first.poll() is None:
                first.kill()
            os.kill(broker.process.pid, signal.SIGCONT)
        assert suspended, f"the publish ended before the broker was suspended: {stderr[-2000:]}"
        assert first.returncode == EXIT_RUN_AGAIN, stderr[-3000:]
        assert "Traceback" not in stderr
        last = stderr.strip().splitlines()[-1]
        assert last.startswith("dawn schedule: ") and f"of {ADVISORS} intents of {run_date}" in last
        assert "run `dawn schedule`" in last and "again" in last

        kafka = KafkaConfigs(producer_config(broker.bootstrap, True),
                             consumer_config(broker.bootstrap, "test-publish", True))
        partial = Counter(s.record["delivery_id"] for s in read_to_end(kafka, INTENTS.name, Codec()))
        assert SUSPEND_AT <= len(partial) < ADVISORS and set(partial) <= expected
        async with await psycopg.AsyncConnection.connect(db) as conn:
            row = await (await conn.execute(
                "SELECT planned, published, completed_at FROM intent_publishes WHERE run_date = %s",
                (run_date,))).fetchone()
        assert row is not None and row[0] == ADVISORS and row[1] < ADVISORS and row[2] is None

        second = _schedule(broker, db, sandbox, tmp_path / "run")
        _, stderr = second.communicate(timeout=120)
        assert second.returncode == 0, stderr[-3000:]

    published = Counter(s.record["delivery_id"] for s in read_to_end(kafka, INTENTS.name, Codec()))
    assert set(published) == expected  # every eligible advisor, and no one else
    assert [d for d, n in published.items() if n > 1] == []  # nothing produced twice
    async with await psycopg.AsyncConnection.connect(db) as conn:
        row = await (await conn.execute(
            "SELECT planned, published, completed_at FROM intent_publishes WHERE run_date = %s",
            (run_date,))).fetchone()
    assert row is not None and row[0] == row[1] == ADVISORS and row[2] is not None


@pytest.mark.slow
def test_produce_all_waits_while_acknowledgements_come_and_gives_up_on_a_silent_broker(
    broker: EmbeddedBroker,
) -> None:
    topic = "test.publish.stall"
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic(topic, num_partitions=NUMBER_PARTITIONS,
                                  replication_factor=1)])[topic].result(10)
    kafka = KafkaConfigs(producer_config(broker.bootstrap, True),
                         consumer_config(broker.bootstrap, "test-stall", True))
    records = [(f"k{i % 7}", b"x" * 300) for i in range(10_000)]
    # More than the in-flight window and more than a whole-batch timeout of 2 s could carry:
    # every record acknowledged, in several rounds of backpressure, progress reported on the way.
    seen: list[int] = []
    assert produce_all(kafka, topic, records, progress=lambda acked, total: seen.append(acked),
                       timeout=2.0, in_flight=500) == len(records)
    assert seen[-1] == len(records) and seen == sorted(seen)
    assert _in_topic(broker.bootstrap, topic) == len(records)

    def suspend_once(acked: int, total: int) -> None:  # at the first report, 0.5 s in
        if not suspended:
            os.kill(broker.process.pid, signal.SIGSTOP)
            suspended.append(acked)

    suspended: list[int] = []
    with pytest.raises(ProduceError, match="no acknowledgement for 5 s") as failed:
        produce_all(kafka, topic, records, progress=suspend_once, timeout=5.0, in_flight=500)
    os.kill(broker.process.pid, signal.SIGCONT)
    assert suspended and suspended[0] <= failed.value.acked < len(records)
    assert failed.value.total == len(records)
    assert f"of {len(records)} records to {topic} were not acknowledged" in str(failed.value)
    del failed  # its traceback holds the producer and so its connections, which the broker's stop waits out
