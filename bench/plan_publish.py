"""Intents per second through the scheduler's publish, against the broker's own ceiling.

    python bench/plan_publish.py [--records 100000] [--real-kafka HOST:PORT]

The publish (producers.kafka_io.produce_all) keeps at most IN_FLIGHT records waiting for their
acknowledgement, serves delivery reports as they come and reports progress. The baseline is a
plain confluent-kafka producer with the same settings: every record queued as fast as the local
queue takes it, then one flush without a deadline; the fastest way in, with no backpressure and no
progress. Both write intent-sized records (520 bytes) keyed by four sender numbers to
``wa.delivery.intents``. Goal: ratio >= 0.9. Without ``--real-kafka`` the broker is an embedded
one of the bench's own, with the intents' embedded client profile (up to 200 a batch, idempotent),
which it prints.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from confluent_kafka import Producer

from dawn.embedded.broker import EmbeddedBroker
from dawn.embedded.client_profile import consumer_config, ordered_batched_producer_config
from dawn.topics import ensure_topics
from producers.kafka_io import KafkaConfigs, produce_all
from schemas.catalogue import INTENTS

VALUE_BYTES = 520  # about an encoded DeliveryIntent


def baseline(config: dict, records: list[tuple[str, bytes]]) -> float:
    producer = Producer(config)
    started = time.monotonic()
    for key, value in records:
        while True:
            try:
                producer.produce(INTENTS.name, key=key.encode(), value=value)
                break
            except BufferError:
                producer.poll(0.1)
    left = producer.flush()
    assert left == 0, left
    return len(records) / (time.monotonic() - started)


def publish(kafka: KafkaConfigs, records: list[tuple[str, bytes]]) -> float:
    started = time.monotonic()
    produce_all(kafka, INTENTS.name, records)
    return len(records) / (time.monotonic() - started)


def measure(real_kafka: str | None, run: Callable[[str, bool], float]) -> float:
    """``run(bootstrap, embedded)`` on the given Kafka, or on a fresh embedded broker of its own
    (each measurement starts from an empty log: the broker's memory grows with what it holds)."""
    if real_kafka:
        ensure_topics(real_kafka)
        return run(real_kafka, False)
    with tempfile.TemporaryDirectory() as tmp:
        broker = EmbeddedBroker.start(Path(tmp))
        try:
            ensure_topics(broker.bootstrap)
            return run(broker.bootstrap, True)
        finally:
            broker.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--real-kafka", metavar="HOST:PORT", help="a Kafka to use instead")
    args = parser.parse_args()
    value = os.urandom(VALUE_BYTES)
    records = [(f"1100000000000{90 + i % 4}", value) for i in range(args.records)]
    print(f"client profile: {'defaults' if args.real_kafka else 'embedded (intents: up to 200 a batch)'}")
    base = measure(args.real_kafka, lambda bootstrap, embedded: baseline(
        ordered_batched_producer_config(bootstrap, embedded), records))
    ours = measure(args.real_kafka, lambda bootstrap, embedded: publish(KafkaConfigs(
        ordered_batched_producer_config(bootstrap, embedded),
        consumer_config(bootstrap, "bench", embedded)), records))
    print(f"baseline (queue all, one flush): {base:,.0f} records/s")
    print(f"plan publish (produce_all):      {ours:,.0f} records/s")
    print(f"ratio: {ours / base:.2f}")


if __name__ == "__main__":
    main()
