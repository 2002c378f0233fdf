"""Producing a batch with every delivery report checked, and reading a topic up to its end.

The scheduler's records matter one by one (a lost intent is an advisor without their pack), so a
failed delivery report is an error, never a log line. Reading "to the end" reads to the broker's
end offsets and then on until the topic is quiet: the embedded broker reports an end that is early
for topics written several records a batch (dawn.embedded.client_profile), so nothing here needs to
know which broker profile applies.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition

from schemas.codec import Codec

log = logging.getLogger("dawn.scheduler")

TIMEOUT_S = 30.0
#: Records queued ahead of their acknowledgements. Enough for full batches on any broker (with the
#: embedded broker's batches of 200, 10,000 kept the publish at 0.75 of a producer that queues
#: everything, 50,000 at 0.84); bounded so a broker that stops answering leaves at most this many
#: records of unknown fate, and so a morning of any size takes memory in proportion to this (about
#: 26 MB of intents), not to the morning.
IN_FLIGHT = 50_000
#: How often ``progress`` hears of new acknowledgements: often enough for a live bar, never per record.
PROGRESS_EVERY_S = 0.5
#: After a stall: how long the purged records' delivery reports may take to be served, so the
#: producer ends with nothing outstanding (librdkafka warns on stderr about records left behind).
PURGED_REPORTS_S = 5.0
#: How long a read to the end waits for the rest of the last record batches (messages_to_end).
QUIET_S = 0.5
#: ... and at most this long: the rest of a batch comes in the fetch that brought its first record.
REST_AT_MOST_S = 2.0


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
    """Some records were not acknowledged by Kafka; the message says how many and why.

    ``acked`` records are in the topic for certain. Of the rest, the few that were in flight when
    the publish gave up may be in it too (their fate is unknown); none of them is lost silently.
    """

    def __init__(self, topic: str, total: int, acked: int, reason: str) -> None:
        super().__init__(f"{total - acked} of {total} records to {topic} were not acknowledged "
                         f"({reason})")
        self.topic, self.total, self.acked, self.reason = topic, total, acked, reason


class _Acks:
    """Delivery reports as they arrive: how many acknowledged, why any failed, when last heard."""

    def __init__(self) -> None:
        self.acked = 0
        self.failures: set[str] = set()
        self.heard = time.monotonic()

    def __call__(self, err: KafkaError | None, _msg: Any) -> None:
        self.heard = time.monotonic()
        if err is None:
            self.acked += 1
        else:
            self.failures.add(err.str())


#: Delivery reports are served after every this many records produced, not after each: at the
#: embedded broker's batched rate (over 100,000 records/s) serving each one cost a quarter of the
#: publish's speed.
SERVE_EVERY = 100


def produce_all(
    configs: KafkaConfigs, topic: str, records: Sequence[tuple[str, bytes]],
    *, progress: Callable[[int, int], None] | None = None, timeout: float = TIMEOUT_S,
    in_flight: int = IN_FLIGHT,
) -> int:
    """Produce (key, value) pairs in order and wait for every acknowledgement; returns the count.

    Order within a key is kept (the producer is idempotent), which the sender relies on: it works
    through a partition in order.

    The wait is as long as the size needs: ``timeout`` bounds a stall (records outstanding and no
    delivery report for that long), not the whole batch, and at most ``in_flight`` records are
    queued ahead of their acknowledgements (backpressure, also on a full local queue). The first
    failed record stops the producing; a stall purges what is still queued. Either way
    ProduceError says how many were acknowledged. ``progress(acked, total)`` is called every
    PROGRESS_EVERY_S and once at the end.
    """
    producer = Producer(dict(configs.producer))
    acks = _Acks()
    total, produced = len(records), 0
    shown = time.monotonic()
    stalled = False

    def wait(seconds: float) -> None:
        """Serve delivery reports for up to ``seconds``; notice a stall and report progress."""
        nonlocal shown, stalled
        producer.poll(seconds)
        now = time.monotonic()
        if len(producer) and now - acks.heard > timeout:
            stalled = True
        if progress is not None and now - shown >= PROGRESS_EVERY_S:
            shown = now
            progress(acks.acked, total)

    while produced < total and not (acks.failures or stalled):
        if len(producer) >= in_flight:
            wait(0.1)
            continue
        key, value = records[produced]
        if not len(producer):  # nothing outstanding: a stall can only start from here
            acks.heard = time.monotonic()
        try:
            producer.produce(topic, key=key.encode(), value=value, on_delivery=acks)
        except BufferError:  # local queue full: let deliveries drain, then try again
            wait(0.1)
            continue
        except KafkaException as exc:  # e.g. a fatal idempotence error: nothing more will go
            acks.failures.add(exc.args[0].str() if exc.args else str(exc))
            break
        produced += 1
        if produced % SERVE_EVERY == 0:
            wait(0)
    while len(producer) and not stalled:
        wait(0.1)
    reasons = sorted(acks.failures)
    if stalled:  # what is still queued will not be acknowledged in time: give it up now, visibly
        reasons.insert(0, f"no acknowledgement for {timeout:g} s")
        producer.purge()  # their delivery reports (purged) come at once, in flush
        producer.flush(PURGED_REPORTS_S)
    if progress is not None:
        progress(acks.acked, total)
    if acks.acked != total:
        raise ProduceError(topic, total, acks.acked, ", ".join(reasons) or "not produced")
    return total


def messages_to_end(consumer: Consumer, topic: str, partitions: Iterable[int],
                    timeout: float = TIMEOUT_S) -> Iterator[Message]:
    """Every record of ``topic``'s ``partitions`` from their start to the end offsets of now, then
    what follows until the topic goes quiet for a moment (assigns ``consumer``).

    The embedded broker reports a partition's end as the first offset of its newest record batch
    + 1, and some topics are written several records a batch there (dawn.embedded.client_profile),
    so the rest of those batches come after the "end", in the same fetch as their first record: a
    quiet poll, or at most ``REST_AT_MOST_S`` on a topic written all the time, is enough. On Kafka
    the second part reads nothing, or records produced since the read began. ``timeout`` bounds a
    wait for the next record, not the whole read, so a topic of any length is read.
    """
    ends: dict[int, int] = {}
    starts: list[TopicPartition] = []
    for partition in partitions:
        low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=timeout)
        if high > low:
            ends[partition] = high
            starts.append(TopicPartition(topic, partition, low))
    if not starts:
        return
    consumer.assign(starts)
    deadline = time.monotonic() + timeout
    while ends:
        if time.monotonic() > deadline:
            raise TimeoutError(f"no record of {topic} for {timeout:g} s before its end")
        for msg in consumer.consume(num_messages=1000, timeout=0.5):
            deadline = time.monotonic() + timeout  # a long topic takes as long as it needs
            if msg.error():
                if msg.error().code() == KafkaError._PARTITION_EOF:
                    continue
                raise KafkaException(msg.error())
            if msg.offset() + 1 >= ends.get(msg.partition(), 0):
                ends.pop(msg.partition(), None)
            yield msg
    until = time.monotonic() + REST_AT_MOST_S
    while time.monotonic() < until and (batch := consumer.consume(num_messages=1000, timeout=QUIET_S)):
        yield from (msg for msg in batch if not msg.error())


def read_to_end(
    configs: KafkaConfigs, topic: str, codec: Codec, *, timeout: float = TIMEOUT_S,
) -> list[Stored]:
    """Every decodable record of ``topic`` from the beginning to its end (:func:`messages_to_end`).

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
        out: list[Stored] = []
        for msg in messages_to_end(consumer, topic, metadata.partitions, timeout):
            record, dead = codec.decode_or_dead_letter(
                topic, msg.value(), key=msg.key(), partition=msg.partition(), offset=msg.offset()
            )
            if record is not None:
                out.append(Stored(msg.key().decode() if msg.key() else None, msg.partition(), record))
            else:
                log.warning("skipping unreadable record %s[%d]@%d: %s", topic, msg.partition(),
                            msg.offset(), dead["error"] if dead else "?")
        return out
    finally:
        consumer.close()
