"""The audit sink: every dawn topic into PostgreSQL, once per record, offsets committed after the data.

A batch goes: consume -> decode -> rows (content ids) -> one PostgreSQL transaction -> dead letters
flushed to their DLQ -> offsets committed. A crash anywhere before the offset commit replays the
batch, and the idempotent insert absorbs it; a crash after cannot lose it, because the database
had already committed. While PostgreSQL is down the writer retries the batch in place, so the
consumer simply stops advancing; ``max.poll.interval.ms`` is raised so a long outage does not
cost the group membership (and if it does, the next owner replays, harmlessly).

Not committing is not enough to replay a batch: the consumer's position is already past it, so the
next batch would be read from there and its commit would cover the skipped one too. Every path
that leaves a batch uncommitted therefore seeks each of its partitions back to the batch's first
offset, so the next step reads the batch again (a partition that moved away meanwhile is replayed
by its new owner from the last commit).
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

from consumers.audit.metrics import AuditMetrics
from consumers.audit.rows import AuditRow, audit_row, ist_month, reject_row
from consumers.audit.writer import AuditWriter
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
                 writer: AuditWriter | None = None, metrics: AuditMetrics | None = None) -> None:
        self.codec = codec or Codec()
        self.metrics = metrics
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
        firsts: dict[tuple[str, int], int] = {}
        by_position: dict[tuple[str, int, int], Message] = {}
        for message in messages:
            error = message.error()
            if error is not None:
                if error.code() != KafkaError._PARTITION_EOF:
                    log.warning("consume error: %s", error.str())
                continue
            where = (message.topic(), message.partition())
            firsts.setdefault(where, message.offset())
            offsets[where] = message.offset() + 1
            by_position[(*where, message.offset())] = message
            self._convert(message, rows, rejects, dead)
        read = len(rows) + len(rejects)
        if not offsets:
            return BatchReport(0, 0, 0, committed=False)

        def reject_of(row: AuditRow, error: str) -> AuditRow:  # a decoded record PG refused
            message = by_position[(row[3], row[17], row[18])]
            return self._reject(message, error)

        inserted = self.writer.write(rows, rejects, stop=self.stop_event, reject_of=reject_of)
        if inserted < 0:
            self._rewind(firsts)
            return BatchReport(read, 0, 0, committed=False)
        for topic, key, value in dead:
            self.producer.produce(topic, value=value, key=key)
        if dead and self.producer.flush(30) > 0:
            log.error("dead letters not acknowledged by Kafka; not committing the batch")
            self._rewind(firsts)
            return BatchReport(read, inserted, len(rejects), committed=False)
        try:
            self.consumer.commit(offsets=[TopicPartition(t, p, o) for (t, p), o in offsets.items()],
                                 asynchronous=False)
        except KafkaException as exc:
            log.warning("offset commit failed (%s); the batch will be replayed", exc)
            self._rewind(firsts)
            return BatchReport(read, inserted, len(rejects), committed=False)
        return BatchReport(read, inserted, len(rejects), committed=True)

    def _rewind(self, firsts: Mapping[tuple[str, int], int]) -> None:
        """Seek each partition of an uncommitted batch back to its first offset, so it is read again."""
        for (topic, partition), offset in firsts.items():
            try:
                self.consumer.seek(TopicPartition(topic, partition, offset))
            except KafkaException as exc:  # no longer ours: its new owner replays from the commit
                log.warning("cannot rewind %s[%d] to %d (%s)", topic, partition, offset, exc)

    @staticmethod
    def _reject(message: Message, error: str) -> AuditRow:
        _, ts_ms = message.timestamp()
        produced_ms = ts_ms if ts_ms and ts_ms > 0 else int(time.time() * 1000)
        return reject_row(message.topic(), message.key(), message.value(), error,
                          partition=message.partition(), offset=message.offset(),
                          produced_at_ms=produced_ms)

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
                report = self.step()
                if self.metrics is not None:
                    self.metrics.batch(report)
        finally:
            self.close()

    def stop(self) -> None:
        self.stop_event.set()

    def close(self) -> None:
        self.producer.flush(10)
        self.consumer.close()
        self.writer.close()
