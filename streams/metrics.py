"""The worker's Prometheus metrics: sends counted as results are emitted, the rest read at scrape.

Limiter rates, requests in flight and breaker states are read from the sender engines when
Prometheus asks; unknown claims are one indexed count in the send ledger (the partial index on
``state = 'CLAIMED'``); consumer lag is the group's committed offsets against the partitions'
ends. None of it runs on the send path.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol

import psycopg
from confluent_kafka import Consumer, KafkaException, TopicPartition

from ops.metrics import ServiceMetrics
from schemas.catalogue import DATA_TOPICS

log = logging.getLogger("dawn.worker")

Samples = Iterable[tuple[tuple[str, ...], float]]


class LaneStats(Protocol):
    def lane_stats(self) -> list[tuple[str, float, int, str]]: ...


class WorkerMetrics(ServiceMetrics):
    def __init__(self, *, database_url: str | None = None,
                 lag: Callable[[], Samples] | None = None) -> None:
        super().__init__("worker")
        self._senders: list[LaneStats] = []
        self._database_url = database_url
        self.sends = self.counter("dawn_worker_sends")
        self.at_scrape("dawn_worker_limiter_rate", lambda: self._lanes(1))
        self.at_scrape("dawn_worker_in_flight", lambda: self._lanes(2))
        self.at_scrape("dawn_worker_breaker_open", self._breakers)
        self.at_scrape("dawn_worker_unknown_claims", self._unknown_claims)
        self.at_scrape("dawn_worker_consumer_lag", lag or (lambda: ()))

    def watch_sender(self, engine: LaneStats) -> None:
        self._senders.append(engine)

    def unwatch_sender(self, engine: LaneStats) -> None:
        if engine in self._senders:
            self._senders.remove(engine)

    def count_results(self, records: Sequence[dict[str, Any]]) -> None:
        for (number, outcome), n in Counter(
                (r["phone_number_id"], r["outcome"]) for r in records).items():
            self.sends.labels(number, outcome).inc(n)

    def _stats(self) -> list[tuple[str, float, int, str]]:
        try:
            return [row for engine in list(self._senders) for row in engine.lane_stats()]
        except RuntimeError:  # a lane was added while we copied: the next scrape has it
            return []

    def _lanes(self, column: int) -> Samples:
        return [((row[0],), float(row[column])) for row in self._stats()]

    def _breakers(self) -> Samples:
        return [((number, state), 0.0 if state == "closed" else 1.0)
                for number, _, _, state in self._stats()]

    def _unknown_claims(self) -> Samples:
        if not self._database_url:
            return []
        try:
            with psycopg.connect(self._database_url, connect_timeout=3) as conn:
                row = conn.execute("SELECT count(*) FROM send_ledger WHERE state = 'CLAIMED'").fetchone()
        except psycopg.Error as exc:
            log.warning("metrics: cannot count unknown claims: %s", exc)
            return []
        return [((), float(row[0] if row else 0))]


def consumer_lag(consumer_config: dict[str, Any]) -> Callable[[], Samples]:
    """Reads a group's lag per topic: partition end minus the group's committed offset."""
    consumer = Consumer(consumer_config)
    partitions = [TopicPartition(t.name, p) for t in DATA_TOPICS for p in range(t.partitions)]

    def read() -> Samples:
        try:
            committed = consumer.committed(partitions, timeout=5)
            lag: Counter[str] = Counter()
            for tp in committed:
                if tp.offset < 0:  # the group never read it: not this worker's topic
                    continue
                _, high = consumer.get_watermark_offsets(tp, timeout=5, cached=False)
                lag[tp.topic] += max(0, high - tp.offset)
        except KafkaException as exc:
            log.warning("metrics: cannot read consumer lag: %s", exc)
            return []
        return [((topic,), float(n)) for topic, n in sorted(lag.items())]

    return read
