"""The audit sink: every dawn topic into PostgreSQL, once per record, offsets committed after the data.

A batch goes: consume -> decode -> rows (content ids) -> one PostgreSQL transaction -> dead letters
flushed to their DLQ -> offsets committed. A crash anywhere before the offset commit replays the
batch, and the idempotent insert absorbs it; a crash after cannot lose it, because the database
had already committed. While PostgreSQL is down the writer retries the batch in place, so the
consumer simply stops advancing; ``max.poll.interval.ms`` is raised so a long outage does not
cost the group membership (and if it does, the next owner replays, harmlessly).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition

from consumers.audit_rows import AuditRow, audit_row, ist_month, reject_row
from consumers.audit_writer import AuditWriter
from schemas.catalogue import ALL_TOPICS
from schemas.codec import Codec, dead_letter
from store.migrations import apply_migrations

log = logging.getLogger("dawn.audit")

#: Every topic of the catalogue, dead-letter topics included.
AUDITED_TOPICS: tuple[str, ...] = tuple(t.name for t in ALL_TOPICS)
GROUP_ID = "dawn.audit"
#: How long the sink may sit on one batch (a database outage) before the group gives its partitions
#: away: well past the minute-long outage the sink is built to ride out.
MAX_POLL_INTERVAL_MS = 15 * 60 * 1000


@dataclass(frozen=True)
class BatchReport:
    read: int
    inserted: int
    rejected: int
    committed: bool


class AuditSink:
    """A confluent-kafka consumer group member writing audit rows through :class:`AuditWriter`."""

    def __init__(self, consumer: Mapping[str, Any], producer: Mapping[str, Any], database_url: str, *,
                 codec: Codec | None = None, topics: tuple[str, ...] = AUDITED_TOPICS,
                 batch_size: int = 5000, batch_wait_s: float = 0.5,
                 writer: AuditWriter | None = None) -> None:
        self.codec = codec or Codec()
        self.database_url = database_url
        self.batch_size = batch_size
        self.batch_wait_s = batch_wait_s
        self.writer = writer or AuditWriter(database_url)
        # Client configs come from the caller, who knows which broker (and client profile) this is.
        self.consumer = Consumer({**consumer, "max.poll.interval.ms": MAX_POLL_INTERVAL_MS})
        self.producer = Producer(dict(producer))
        self.topics = topics
        self.stop_event = threading.Event()

    def start(self) -> None:
        """Migrate (waiting for PostgreSQL if it is not up yet), make partitions ahead, subscribe."""
        delay = 0.5
        while True:
            try:
                apply_migrations(self.database_url)
                break
            except psycopg.OperationalError as exc:
                if self.stop_event.is_set():
                    raise
                log.warning("PostgreSQL unavailable at start (%s); retrying in %.1f s",
                            type(exc).__name__, delay)
                time.sleep(delay)
                delay = min(delay * 2, 5.0)
        today = ist_month(datetime.now(UTC))
        ahead = {ist_month(datetime.now(UTC) + timedelta(days=31 * i)) for i in range(3)} | {today}
        self.writer.ensure_months("audit_events", ahead)
        self.consumer.subscribe(list(self.topics))

    def step(self) -> BatchReport:
        """Consume, write and commit one batch."""
        messages = self.consumer.consume(self.batch_size, self.batch_wait_s)
        rows: list[AuditRow] = []
        rejects: list[AuditRow] = []
        dead: list[tuple[str, bytes | None, bytes]] = []
        offsets: dict[tuple[str, int], int] = {}
        for message in messages:
            error = message.error()
            if error is not None:
                if error.code() != KafkaError._PARTITION_EOF:
                    log.warning("consume error: %s", error.str())
                continue
            offsets[(message.topic(), message.partition())] = message.offset() + 1
            self._convert(message, rows, rejects, dead)
        read = len(rows) + len(rejects)
        if not offsets:
            return BatchReport(0, 0, 0, committed=False)
        inserted = self.writer.write(rows, rejects, stop=self.stop_event)
        if inserted < 0:
            return BatchReport(read, 0, 0, committed=False)
        for topic, key, value in dead:
            self.producer.produce(topic, value=value, key=key)
        if dead and self.producer.flush(30) > 0:
            log.error("dead letters not acknowledged by Kafka; not committing the batch")
            return BatchReport(read, inserted, len(rejects), committed=False)
        try:
            self.consumer.commit(offsets=[TopicPartition(t, p, o) for (t, p), o in offsets.items()],
                                 asynchronous=False)
        except KafkaException as exc:  # partitions moved away: their new owner replays, harmlessly
            log.warning("offset commit failed (%s); the batch will be replayed", exc)
            return BatchReport(read, inserted, len(rejects), committed=False)
        return BatchReport(read, inserted, len(rejects), committed=True)

    def _convert(self, message: Message, rows: list[AuditRow], rejects: list[AuditRow],
                 dead: list[tuple[str, bytes | None, bytes]]) -> None:
        topic, key, value = message.topic(), message.key(), message.value()
        partition, offset = message.partition(), message.offset()
        try:
            record = self.codec.decode(topic, value)
            rows.append(audit_row(topic, record, partition, offset))
            return
        except (ValueError, KeyError, TypeError) as exc:  # DecodeError is a ValueError
            error = f"{type(exc).__name__}: {exc}"
        _, ts_ms = message.timestamp()
        produced_ms = ts_ms if ts_ms and ts_ms > 0 else int(time.time() * 1000)
        log.warning("audit reject %s[%d]@%d: %s", topic, partition, offset, error)
        rejects.append(reject_row(topic, key, value, error, partition=partition, offset=offset,
                                  produced_at_ms=produced_ms))
        if not topic.endswith(".dlq"):  # never dead-letter a dead letter: no loops
            letter = dead_letter(topic, value, error, key=key, partition=partition, offset=offset,
                                 stage="audit")
            letter["failed_at"] = datetime.fromtimestamp(produced_ms / 1000, UTC)
            dead.append((f"{topic}.dlq", key, self.codec.encode(f"{topic}.dlq", letter)))

    def run(self) -> None:
        """Until :meth:`stop`: batches in a loop."""
        self.start()
        try:
            while not self.stop_event.is_set():
                self.step()
        finally:
            self.close()

    def stop(self) -> None:
        self.stop_event.set()

    def close(self) -> None:
        self.producer.flush(10)
        self.consumer.close()
        self.writer.close()
