"""Readers that must not trust a partition's end offset, on topics written several records a batch.

The embedded broker reports a partition's end as the first offset of its newest record batch + 1;
statuses and delivery states are written in batches there (dawn.embedded.client_profile). So a
read "to the end" must read the rest of the last batches, a tail "caught up" only after them, and
a tail "from now" must not hand over the rest of a batch written before it started. Each test
writes real batches with the project's batched producer to a real broker; the oracle is what was
produced.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime

from confluent_kafka import Producer

from dawn.embedded.client_profile import batched_producer_config, consumer_config
from producers.kafka_io import KafkaConfigs, read_to_end
from schemas.catalogue import DELIVERY_STATE
from schemas.codec import Codec
from streams.delivery import state as ds
from streams.tail import follow
from tests.test_delivery_state import morning, replay

RECORDS = 3000


def produce_states(bootstrap: str, codec: Codec, tag: str, count: int) -> list[str]:
    """``count`` delivery states in as few batches as the producer makes; their delivery ids."""
    deliveries = list(replay(morning()).values())
    producer = Producer(batched_producer_config(bootstrap, embedded=True))
    now = datetime.now(UTC)
    ids = []
    for i in range(count):
        record = ds.to_record(deliveries[i % len(deliveries)], now)
        record["delivery_id"] = f"{tag}-{i}"
        ids.append(record["delivery_id"])
        producer.produce(DELIVERY_STATE.name, key=record["delivery_id"].encode(),
                         value=codec.encode(DELIVERY_STATE.name, record))
    assert producer.flush(30) == 0
    return ids


def test_a_read_to_the_end_reads_the_rest_of_the_last_batches(bootstrap: str, topics: list) -> None:
    codec = Codec()
    ids = produce_states(bootstrap, codec, f"read-{uuid.uuid4().hex[:6]}", RECORDS)
    configs = KafkaConfigs(producer={}, consumer=consumer_config(bootstrap, "unused", embedded=True))
    read = {s.record["delivery_id"] for s in read_to_end(configs, DELIVERY_STATE.name, codec)}
    assert set(ids) <= read


def test_caught_up_comes_after_the_last_record_present_at_the_start(bootstrap: str, topics: list) -> None:
    codec = Codec()
    ids = produce_states(bootstrap, codec, f"caught-{uuid.uuid4().hex[:6]}", RECORDS)
    seen: list[str] = []
    at_caught_up: list[set[str]] = []

    async def scenario() -> None:
        task = asyncio.create_task(follow(
            bootstrap, DELIVERY_STATE.name, codec, lambda r: seen.append(r["delivery_id"]),
            from_start=True, on_caught_up=lambda: at_caught_up.append(set(seen))))
        async with asyncio.timeout(60):
            while not at_caught_up:
                await asyncio.sleep(0.05)
        task.cancel()

    asyncio.run(scenario())
    assert set(ids) <= at_caught_up[0]


def test_a_tail_from_now_hands_over_nothing_written_before_it(bootstrap: str, topics: list) -> None:
    codec = Codec()
    before = produce_states(bootstrap, codec, f"before-{uuid.uuid4().hex[:6]}", RECORDS)
    time.sleep(0.01)  # stamps after the tail's start are what it must hand over
    seen: list[str] = []

    async def scenario() -> list[str]:
        task = asyncio.create_task(follow(bootstrap, DELIVERY_STATE.name, codec,
                                          lambda r: seen.append(r["delivery_id"]), from_start=False))
        await asyncio.sleep(3)  # assigned at the (early) end offsets
        after = await asyncio.to_thread(produce_states, bootstrap, codec,
                                        f"after-{uuid.uuid4().hex[:6]}", 200)
        async with asyncio.timeout(30):
            while not set(after) <= set(seen):
                await asyncio.sleep(0.05)
        task.cancel()
        return after

    after = asyncio.run(scenario())
    assert not set(before) & set(seen)
    assert set(after) <= set(seen)
