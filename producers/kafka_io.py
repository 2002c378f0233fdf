"""Producing a batch with every delivery report checked, and reading a topic up to its end.

The scheduler's records matter one by one (a lost intent is an advisor without their pack), so a
failed delivery report is an error, never a log line. Reading "to the end" trusts the broker's end
offsets, which the embedded broker gets right only when producers write one record per batch; the
caller builds the configs with dawn.embedded.client_profile, which makes every producer do that on
that broker, so nothing here decides which broker profile applies.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition

from schemas.codec import Codec

log = logging.getLogger("dawn.scheduler")

TIMEOUT_S = 30.0


@dataclass(frozen=True)
class KafkaConfigs:
    """confluent-kafka configs: a producer's, and a consumer's (its group.id is replaced here)."""

    producer: Mapping[str, Any]
    consumer: Mapping[str, Any]


class Stored(NamedTuple):
    """One record read back, with where it sits (the sender's order is per partition)."""

    key: str | None
    partition: int
    record: dict[str, Any]


class ProduceError(RuntimeError):
    """Some records were not acknowledged by Kafka; the message says how many and why."""


def produce_all(
    configs: KafkaConfigs, topic: str, records: Iterable[tuple[str, bytes]],
    *, progress: Callable[[int], None] | None = None, timeout: float = TIMEOUT_S,
) -> int:
    """Produce (key, value) pairs in order and wait for every acknowledgement; returns the count.

    Order within a key is kept (the producer is idempotent), which the sender relies on: it works
    through a partition in order.
    """
    producer = Producer(dict(configs.producer))
    failures: list[str] = []
    acked = 0

    def on_delivery(err: KafkaError | None, _msg: Any) -> None:
        nonlocal acked
        if err is not None:
            failures.append(err.str())
        else:
            acked += 1
            if progress is not None:
                progress(1)

    sent = 0
    for key, value in records:
        while True:
            try:
                producer.produce(topic, key=key.encode(), value=value, on_delivery=on_delivery)
                break
            except BufferError:  # local queue full: let deliveries drain, then try again
                producer.poll(0.5)
        sent += 1
        producer.poll(0)
    remaining = producer.flush(timeout)
    if remaining or failures or acked != sent:
        reasons = ", ".join(sorted(set(failures))) or "no acknowledgement before the timeout"
        raise ProduceError(
            f"{sent - acked} of {sent} records to {topic} were not acknowledged ({reasons})"
        )
    return sent


def read_to_end(
    configs: KafkaConfigs, topic: str, codec: Codec, *, timeout: float = TIMEOUT_S,
) -> list[Stored]:
    """Every decodable record of ``topic`` from the beginning to the end offsets of now.

    Partitions are assigned, not subscribed, under a throwaway group that never commits: reading
    is a snapshot, not consumption, and a group join would cost seconds on the embedded broker.
    Undecodable records are logged and skipped; their producer's DLQ is where they are kept.
    """
    consumer = Consumer({**configs.consumer, "group.id": f"dawn-snapshot-{uuid.uuid4()}",
                         "enable.auto.commit": False})
    try:
        metadata = consumer.list_topics(topic, timeout=timeout).topics.get(topic)
        if metadata is None or metadata.error is not None:
            return []
        ends: dict[int, int] = {}
        starts: list[TopicPartition] = []
        for partition in metadata.partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=timeout)
            if high > low:
                ends[partition] = high
                starts.append(TopicPartition(topic, partition, low))
        if not starts:
            return []
        consumer.assign(starts)
        out: list[Stored] = []
        deadline = time.monotonic() + timeout
        while ends:
            if time.monotonic() > deadline:
                raise TimeoutError(f"could not read {topic} to its end in {timeout:g} s")
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            if msg.error():
                if msg.error().code() == KafkaError._PARTITION_EOF:
                    continue
                raise KafkaException(msg.error())
            record, dead = codec.decode_or_dead_letter(
                topic, msg.value(), key=msg.key(), partition=msg.partition(), offset=msg.offset()
            )
            if record is not None:
                out.append(Stored(msg.key().decode() if msg.key() else None, msg.partition(), record))
            else:
                log.warning("skipping unreadable record %s[%d]@%d: %s", topic, msg.partition(),
                            msg.offset(), dead["error"] if dead else "?")
            if msg.offset() + 1 >= ends.get(msg.partition(), 0):
                ends.pop(msg.partition(), None)
        return out
    finally:
        consumer.close()
