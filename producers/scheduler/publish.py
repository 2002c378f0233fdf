"""Publishing a morning's intents: as long as its size needs, with progress, and completable.

A morning of 100,000 intents takes tens of seconds to be acknowledged on the embedded broker, so
the publish waits as long as acknowledgements keep coming (producers.kafka_io.produce_all) and
shows how far it is. When Kafka stops acknowledging, PartialPublish says how many intents are in
the topic and that running ``dawn schedule`` again for the morning publishes the rest.

The second run does not produce again what the first got into the topic: a morning whose publish
began has a row in PostgreSQL (store.intent_publishes), and for such a morning the scheduler reads
``wa.delivery.intents`` back and produces only the intents whose delivery id is not there. The
guarantee relied on for the rest is the sender's: delivery ids are deterministic per (advisor,
pack, day) and the send ledger (store.send_ledger) claims each once, so the copies that can still
happen (records in flight when the first run gave up, which the broker may have written after
all) are never sent twice. The topic, not the row, decides what is missing: it also knows about
intents acknowledged just before a crash that no row could record.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import psycopg
from rich.progress import Progress

from producers.kafka_io import KafkaConfigs, ProduceError, produce_all, read_to_end
from schemas.catalogue import INTENTS
from schemas.codec import Codec
from store import intent_publishes

log = logging.getLogger("dawn.scheduler")

#: A log line about the publish's progress this often (the bar, when shown, moves more often).
LOG_EVERY_S = 5.0


class PartialPublish(RuntimeError):
    """Kafka did not acknowledge every intent of the morning; the message says what to do."""

    def __init__(self, run_date: date, planned: int, published: int, reason: str) -> None:
        super().__init__(
            f"{planned - published} of {planned} intents of {run_date} were not published "
            f"({reason}); run `dawn schedule` for {run_date} again to publish the rest "
            "(intents already in the topic are not published again)")
        self.run_date, self.planned, self.published, self.reason = run_date, planned, published, reason


@dataclass(frozen=True)
class Published:
    """What one publish did: ``produced`` now, ``already`` found in the topic from an earlier run."""

    planned: int
    produced: int
    already: int


def published_ids(kafka: KafkaConfigs, codec: Codec, run_date: date) -> set[str]:
    """Delivery ids of ``run_date`` already in the intents topic (acknowledged, so durable)."""
    return {s.record["delivery_id"] for s in read_to_end(kafka, INTENTS.name, codec)
            if s.record["run_date"] == run_date}


async def publish_intents(
    kafka: KafkaConfigs, database_url: str, codec: Codec, run_date: date,
    intents: Sequence[dict[str, Any]], *, now: Callable[[], datetime], ack_timeout: float,
    show_progress: bool = False,
) -> Published:
    """Produce the morning's intents that are not in the topic yet, keyed by sender number.

    Raises PartialPublish when some are not acknowledged (``ack_timeout``: how long Kafka may
    acknowledge nothing at all); the morning's row then says how many are in the topic.
    """
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        earlier = await intent_publishes.publish_of(conn, run_date)
        present = await asyncio.to_thread(published_ids, kafka, codec, run_date) if earlier else set()
        missing = [i for i in intents if i["delivery_id"] not in present]
        already = len(intents) - len(missing)
        if earlier is not None:
            log.info("%d of %d intents of %s are in %s from an earlier run; publishing the other %d",
                     already, len(intents), run_date, INTENTS.name, len(missing))
        await intent_publishes.begin(conn, run_date, len(intents), now())
        records = [(i["phone_number_id"], codec.encode(INTENTS.name, i)) for i in missing]
        with Progress(disable=not show_progress, transient=True) as bar:
            report = _Report(bar, bar.add_task("publishing intents", total=len(records)))
            try:
                await asyncio.to_thread(produce_all, kafka, INTENTS.name, records,
                                        progress=report, timeout=ack_timeout)
            except ProduceError as exc:
                await intent_publishes.finish(conn, run_date, already + exc.acked, None)
                raise PartialPublish(run_date, len(intents), already + exc.acked, exc.reason) from exc
        await intent_publishes.finish(conn, run_date, len(intents), now())
    log.info("published %d intents to %s", len(records), INTENTS.name)
    return Published(len(intents), len(records), already)


class _Report:
    """The publish's progress: on the bar as it comes, in the log every LOG_EVERY_S."""

    def __init__(self, bar: Progress, task: Any) -> None:
        self.bar, self.task = bar, task
        self.started = self.logged = time.monotonic()

    def __call__(self, acked: int, total: int) -> None:
        self.bar.update(self.task, completed=acked)
        now = time.monotonic()
        if now - self.logged >= LOG_EVERY_S and acked < total:
            self.logged = now
            log.info("published %d of %d intents (%.0f a second)", acked, total,
                     acked / (now - self.started))
