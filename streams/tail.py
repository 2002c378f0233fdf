"""Following a topic in every worker, outside the Faust consumer group.

Faust splits a topic's partitions between the workers of a group, which is right for work and
wrong for shared knowledge: every sender lane in every worker must see ``wa.numbers.health``, and
the quality agent must see every number's send results whichever worker holds their partitions.
A tail assigns itself all partitions under a throwaway group that never commits (no group join,
which costs seconds on the embedded broker) and hands each decoded record to a callback.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, OFFSET_END, Consumer, KafkaException, TopicPartition

from schemas.codec import Codec

log = logging.getLogger("dawn.tail")

POLL_S = 0.1  # how long one poll waits: bounds how late a record is seen once it is in Kafka
FETCH_BACKOFF_MS = 250  # after a fetch that brought records, the partition's next waits this long
#: How far past its reported end a partition's records may already exist: the embedded broker
#: reports the first offset of the newest batch + 1, and no producer of ours writes batches larger
#: than this (dawn.embedded.client_profile.EMBEDDED_BATCHED_PRODUCER).
EARLY_BY_AT_MOST = 200


def broker_bootstrap(app: Any) -> str:
    """``host:port,...`` of a Faust app's broker URLs, for a plain client beside it."""
    return ",".join(f"{url.host}:{url.port or 9092}" for url in app.conf.broker)


async def follow(bootstrap: str, topic: str, codec: Codec, on_record: Callable[[dict[str, Any]], Any],
                 *, from_start: bool, poll_s: float = POLL_S,
                 on_caught_up: Callable[[], Any] | None = None) -> None:
    """Call ``on_record`` with every record of ``topic`` (from the start, or from now) until
    cancelled. From now: the records just past the end offsets of the call that are stamped before
    it are skipped too (the rest of the last batches, as the embedded broker's end offset can be
    early). A record that does not decode is logged and skipped: its producer dead-letters it.
    ``on_caught_up`` is called once every record that was in the topic at the start was handed
    over: past the end offsets of the start and then one quiet poll, because the embedded broker
    reports a partition's end as the first offset of its newest record batch + 1, and some
    producers write several records a batch (dawn.embedded.client_profile)."""
    consumer = Consumer({
        "bootstrap.servers": bootstrap, "group.id": f"dawn-tail-{uuid.uuid4()}",
        "enable.auto.commit": False, "log.connection.close": False,
        # fewer, fuller fetches (dawn.embedded.client_profile.FEWER_FETCHES says what they save)
        "queued.min.messages": 1, "fetch.queue.backoff.ms": FETCH_BACKOFF_MS,
    })
    try:
        metadata = None
        while metadata is None:  # the topic may not be there yet on a fresh broker
            found = (await asyncio.to_thread(consumer.list_topics, topic, 10.0)).topics.get(topic)
            if found is not None and found.error is None and found.partitions:
                metadata = found
            else:
                await asyncio.sleep(1.0)
        start = OFFSET_BEGINNING if from_start else OFFSET_END
        started_ms = int(time.time() * 1000)
        ends = await _ends(consumer, topic, list(metadata.partitions))
        behind = dict(ends) if from_start and on_caught_up is not None else {}
        early = {} if from_start else ends  # records below end + EARLY_BY_AT_MOST may predate us
        consumer.assign([TopicPartition(topic, p, start) for p in metadata.partitions])
        while True:
            messages = await asyncio.to_thread(consumer.consume, 500, poll_s)
            if on_caught_up is not None and not behind and not messages:
                on_caught_up()  # past the end offsets and quiet: the last batches are read too
                on_caught_up = None
            for message in messages:
                if message.error():
                    continue
                if (message.offset() < early.get(message.partition(), 0) + EARLY_BY_AT_MOST
                        and message.timestamp()[1] < started_ms):
                    continue  # the rest of a batch written before the start
                if behind.get(message.partition(), 0) <= message.offset() + 1:
                    behind.pop(message.partition(), None)
                record, dead = codec.decode_or_dead_letter(topic, message.value(), key=message.key(),
                                                           partition=message.partition(),
                                                           offset=message.offset())
                if record is None:
                    log.warning("skipping unreadable record of %s: %s", topic,
                                dead["error"] if dead else "?")
                    continue
                outcome = on_record(record)
                if asyncio.iscoroutine(outcome):
                    await outcome
    finally:
        await asyncio.to_thread(consumer.close)


async def _ends(consumer: Consumer, topic: str, partitions: list[int]) -> dict[int, int]:
    """End offset of every partition of ``topic`` that holds records, asked until the broker answers."""
    while True:
        try:
            return await asyncio.to_thread(_ask_ends, consumer, topic, partitions)
        except KafkaException as exc:
            log.warning("could not read the end offsets of %s (trying again): %s", topic, exc)
            await asyncio.sleep(1.0)


def _ask_ends(consumer: Consumer, topic: str, partitions: list[int]) -> dict[int, int]:
    ends = {}
    for partition in partitions:
        low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10.0)
        if high > low:
            ends[partition] = high
    return ends
