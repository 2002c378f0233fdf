"""Following the morning from the outside: the latest state of every delivery, live.

``dawn run`` shows progress and computes its SLA summary from ``wa.delivery.state``, the same
compacted topic the dashboard and reports read, so the summary is the pipeline's own view and not
a count kept on the side. Partitions are assigned directly (no consumer group): a watcher must not
wait for the embedded broker's slow group join, and it commits nothing.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from dawn.embedded.client_profile import consumer_config
from schemas.catalogue import DELIVERY_STATE
from schemas.codec import Codec
from streams.sla.policy import Tally

log = logging.getLogger("dawn.run")


class DeliveryWatch:
    """A background thread keeping ``delivery_id -> latest DeliveryState`` from the topic."""

    def __init__(self, bootstrap: str, codec: Codec, *, embedded: bool) -> None:
        self._codec = codec
        self._consumer = Consumer(consumer_config(bootstrap, "dawn-run-watch", embedded))
        self._consumer.assign([
            TopicPartition(DELIVERY_STATE.name, p, OFFSET_BEGINNING)
            for p in range(DELIVERY_STATE.partitions)
        ])
        self._latest: dict[str, dict[str, Any]] = {}
        #: Deliveries per state, kept as states arrive: the progress view reads it twice a second.
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.undecodable = 0
        self._thread = threading.Thread(target=self._follow, name="delivery-watch", daemon=True)

    def start(self) -> DeliveryWatch:
        self._thread.start()
        return self

    def _follow(self) -> None:
        while not self._stop.is_set():
            for msg in self._consumer.consume(num_messages=1000, timeout=0.2):
                if msg.error():
                    log.warning("delivery watch: %s", msg.error())
                    continue
                record, dead = self._codec.decode_or_dead_letter(DELIVERY_STATE.name, msg.value())
                if record is None:
                    self.undecodable += 1
                    log.warning("undecodable delivery state: %s", dead and dead["error"])
                    continue
                with self._lock:
                    previous = self._latest.get(record["delivery_id"])
                    if previous is not None:
                        self._counts[previous["state"]] -= 1
                    self._latest[record["delivery_id"]] = record
                    self._counts[record["state"]] += 1
        self._consumer.close()

    def states(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._latest.values())

    def tallies(self) -> list[Tally]:
        return [Tally.from_state(r) for r in self.states()]

    def counts(self) -> Counter[str]:
        """How many deliveries are in each state right now."""
        with self._lock:
            return +self._counts

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
