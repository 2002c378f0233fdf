"""The dashboard's Kafka side: one thread reading every topic the page shows into the board.

Partitions are assigned directly, not through a consumer group: a dashboard is a reader that
commits nothing, several may run at once, and it must not wait for a group join. Each topic is read
from ``since`` (a time, for the topics that keep days of records) or from its beginning (compacted
topics, whose beginning is their present).

When the broker goes away librdkafka keeps the assignment and reconnects by itself; the feed only
has to notice and say so: a transport or all-brokers-down error marks it disconnected, and the
next successful metadata request or record marks it connected again. The page shows which. A
broker that comes back without its data (the embedded broker keeps records in memory) would leave
the feed waiting past the end of empty partitions, so on every reconnection a partition whose end
is now before the feed's position (or whose topic is gone) is read again from its start; the check
is made before the feed shows itself connected again, and retried at every heartbeat until the
broker answers it. A broker refilled past the feed's old position before the feed reconnects is
not noticed (a real Kafka keeps its logs; only the in-memory embedded broker comes back empty).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, TopicPartition

from consumers.dashboard.advisor_hub import AdvisorHub
from consumers.dashboard.board import OpsBoard
from schemas.catalogue import (
    ALERTS,
    DELIVERY_STATE,
    NUMBERS_HEALTH,
    RESULTS,
    SLA,
    STATUSES,
    TEMPLATES,
    Topic,
)
from schemas.codec import Codec

log = logging.getLogger("dawn.dashboard")

FEED_TOPICS: tuple[Topic, ...] = (SLA, ALERTS, NUMBERS_HEALTH, TEMPLATES, DELIVERY_STATE, RESULTS,
                                  STATUSES)
FETCH_WAIT_MS = 100
#: How often the thread checks the broker is there while no records arrive.
HEARTBEAT_S = 2.0
_DOWN_CODES = (KafkaError._ALL_BROKERS_DOWN, KafkaError._TRANSPORT, KafkaError._RESOLVE)
#: What a watermark query of a partition answers when its topic is not there (any more).
_GONE_CODES = (KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._UNKNOWN_PARTITION,
               KafkaError._UNKNOWN_TOPIC)


class KafkaFeed:
    """Reads :data:`FEED_TOPICS` into ``board`` (under ``lock``) and delivery states into ``hub``."""

    def __init__(self, consumer_config: Mapping[str, Any], codec: Codec, board: OpsBoard,
                 hub: AdvisorHub, *, since_ms: int | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.board = board
        self.hub = hub
        self.lock = threading.Lock()
        self.connected = False
        self.reconnects = 0
        self._rewind_pending = False
        self.undecodable = 0
        self._codec = codec
        self._since_ms = since_ms
        self._clock = clock
        config = dict(consumer_config)
        config["error_cb"] = self._on_error
        config.setdefault("enable.auto.commit", False)
        # An advisor is promised their change within a second: a broker that holds an empty fetch
        # for its full wait would spend half of it here. Ten idle fetches a second cost nothing.
        config["fetch.wait.max.ms"] = FETCH_WAIT_MS
        self._consumer = Consumer(config)
        self._start: dict[tuple[str, int], int] = {}
        self._warned: set[tuple[str | None, int]] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="dashboard-feed", daemon=True)

    def start(self) -> KafkaFeed:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def status(self) -> dict[str, Any]:
        return {"connected": self.connected, "reconnects": self.reconnects,
                "undecodable": self.undecodable}

    def _on_error(self, err: KafkaError) -> None:
        if err.code() in _DOWN_CODES:
            if self.connected:
                log.warning("dashboard lost the broker: %s", err.str())
            self.connected = False

    def _mark_up(self) -> None:
        if not self.connected:
            self.reconnects += 1
            log.info("dashboard connected to the broker")
            self._rewind_pending = self.reconnects > 1
        if self._rewind_pending:  # checked again on every heartbeat until the check succeeds
            self._rewind_pending = not self._rewind_truncated()
        self.connected = True

    def _rewind_truncated(self) -> bool:
        """Read again from the start any partition that now ends before where the feed was, or
        whose topic is gone (the broker came back empty); False when the broker could not say."""
        try:
            positions = self._consumer.position(self._consumer.assignment())
            rewound = []
            for tp in positions:
                if tp.offset < 0:  # nothing read yet: keep the start it was assigned
                    tp.offset = self._start.get((tp.topic, tp.partition), OFFSET_BEGINNING)
                    continue
                try:
                    low, high = self._consumer.get_watermark_offsets(tp, timeout=2)
                except KafkaException as exc:
                    if exc.args[0].code() not in _GONE_CODES:
                        raise
                    low, high = OFFSET_BEGINNING, -1
                if high < tp.offset:
                    rewound.append(f"{tp.topic}[{tp.partition}]")
                    tp.offset = low
            if rewound:
                log.warning("the broker came back without records the dashboard had read; reading "
                            "%s again from the start", ", ".join(rewound))
                self._consumer.assign(positions)
            return True
        except KafkaException as exc:
            log.warning("dashboard could not check offsets after reconnecting (trying again): %s",
                        exc)
            return False

    def _assign(self) -> None:
        partitions = [TopicPartition(t.name, p, OFFSET_BEGINNING)
                      for t in FEED_TOPICS for p in range(t.partitions)]
        if self._since_ms is not None:
            by_time = [TopicPartition(tp.topic, tp.partition, self._since_ms) for tp in partitions
                       if _topic_of(tp.topic).cleanup_policy == "delete"]
            try:
                found = {(tp.topic, tp.partition): tp.offset
                         for tp in self._consumer.offsets_for_times(by_time, timeout=10)}
            except KafkaException as exc:
                log.warning("could not look offsets up by time (%s); reading from the beginning", exc)
                found = {}
            for tp in partitions:
                offset = found.get((tp.topic, tp.partition))
                if offset is not None and offset >= 0:
                    tp.offset = offset
        self._start = {(tp.topic, tp.partition): tp.offset for tp in partitions}
        self._consumer.assign(partitions)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._consumer.list_topics(timeout=5)
                self._mark_up()
                self._assign()
                break
            except KafkaException as exc:
                self.connected = False
                log.warning("dashboard waiting for the broker: %s", exc)
                self._stop.wait(HEARTBEAT_S)
        last_check = self._clock()
        while not self._stop.is_set():
            messages = self._consumer.consume(num_messages=500, timeout=0.2)
            for msg in messages:
                if msg.error():
                    self._warn_once(msg.topic(), msg.error())
                    continue
                self._mark_up()
                self._apply(msg.topic(), msg.value())
            if not messages and self._clock() - last_check >= HEARTBEAT_S:
                last_check = self._clock()
                try:
                    self._consumer.list_topics(timeout=1)
                    self._mark_up()
                except KafkaException:
                    self.connected = False
        self._consumer.close()

    def _warn_once(self, topic: str | None, error: KafkaError) -> None:
        """A missing topic (one no producer created yet) answers every fetch: say it once."""
        key = (topic, error.code())
        if error.code() != KafkaError._PARTITION_EOF and key not in self._warned:
            self._warned.add(key)
            log.warning("dashboard feed, %s: %s", topic, error.str())

    def _apply(self, topic: str, value: bytes | None) -> None:
        record, dead = self._codec.decode_or_dead_letter(topic, value)
        if record is None:
            self.undecodable += 1
            log.warning("dashboard skipped an undecodable %s record: %s", topic,
                        dead and dead["error"])
            return
        with self.lock:
            self.board.apply(topic, record)
        if topic == DELIVERY_STATE.name:
            self.hub.publish(record)


def _topic_of(name: str) -> Topic:
    return next(t for t in FEED_TOPICS if t.name == name)
