"""Kafka client settings for the embedded broker, kept in this one place.

Tansu (the embedded broker) answers a "latest offset" query with the first offset of the newest
record batch + 1 instead of the log end. Anything that trusts that value (consumer lag,
``auto.offset.reset=latest``, Faust table recovery and partition hand-over) goes wrong as soon as a
batch holds more than one record. With every producer writing one record per batch, the value is
right, and table recovery and two-worker hand-over were measured correct. It costs throughput
(about 3,000 records/s against 18,000 batched), so it applies only to the embedded broker; a real
Kafka gets the clients' defaults.

Tansu also holds JoinGroup for about half the session timeout, so the embedded profile uses a short
session timeout and heartbeat, or the first assignment takes about 30 s.
"""

from __future__ import annotations

from typing import Any

#: Every producer on the embedded broker, the scheduler's intents included. The intents are the
#: one large burst (a record per advisor), and nothing about their producer can safely go faster
#: here: the sender's group hand-over and a second ``dawn schedule`` reading the topic back to find
#: what a partial publish left out both trust the end offsets, so one record per batch stays; their
#: order per number needs the idempotent producer, which allows 5 requests in flight, so the
#: gateway's 32 in flight without idempotence does not apply. Measured with 20,000 intent-sized
#: records: about 4,000 records/s either way with ``linger.ms`` 0 or ``socket.nagle.disable``, no
#: gain, so neither is set. The publish keeps up instead by waiting as long as acknowledgements
#: keep coming (producers.kafka_io.produce_all): 100,000 intents take about 25 s. On a real Kafka
#: the client's defaults already batch (up to 10,000 records or 1 MB a batch, 5 ms linger).
EMBEDDED_LIBRDKAFKA_PRODUCER: dict[str, Any] = {
    "batch.num.messages": 1,
}

EMBEDDED_LIBRDKAFKA_CONSUMER: dict[str, Any] = {
    "session.timeout.ms": 6000,
    "heartbeat.interval.ms": 1000,
}

EMBEDDED_FAUST: dict[str, Any] = {
    "producer_max_batch_size": 1,
    "broker_session_timeout": 6,
    "broker_heartbeat_interval": 1,
}


def producer_config(bootstrap: str, embedded: bool, **extra: Any) -> dict[str, Any]:
    """confluent-kafka producer config: durable and idempotent, plus the embedded profile."""
    config: dict[str, Any] = {
        "bootstrap.servers": bootstrap,
        "acks": "all",
        "enable.idempotence": True,
        "linger.ms": 5,
        # The Java client's and aiokafka's (so Faust's) partitioner: a retry the sender produces
        # through Faust must land on the same partition as the scheduler's intents for that number,
        # or two workers could each send from one number. librdkafka's default hashes differently.
        "partitioner": "murmur2_random",
        # Brokers close idle connections (the embedded one after seconds); the client reconnects
        # on its own, so the close is not worth a log line on stderr.
        "log.connection.close": False,
    }
    if embedded:
        config.update(EMBEDDED_LIBRDKAFKA_PRODUCER)
    config.update(extra)
    return config


#: The webhook gateway's producer. On the embedded broker every record is its own request (the
#: embedded profile), and an idempotent producer allows only 5 requests in flight: at a morning's
#: 1,000 statuses/s acknowledgements then queue up to p99 ~400 ms (measured with a paced producer;
#: 3 ms with 32 in flight). The gateway does not need idempotence: duplicates carry the same event
#: id and order does not matter to a monotonic merge (Meta reorders statuses anyway), while
#: acks=all still makes every 200 durable.
EMBEDDED_GATEWAY_PRODUCER = {"enable.idempotence": False, "max.in.flight.requests.per.connection": 32}


def gateway_producer_config(bootstrap: str, embedded: bool) -> dict[str, Any]:
    """The project's producer config, with more requests in flight on the embedded broker."""
    return producer_config(bootstrap, embedded, **(EMBEDDED_GATEWAY_PRODUCER if embedded else {}))


def consumer_config(bootstrap: str, group_id: str, embedded: bool, **extra: Any) -> dict[str, Any]:
    """confluent-kafka consumer config: manual commits after the effect, plus the embedded profile."""
    config: dict[str, Any] = {
        "bootstrap.servers": bootstrap,
        "group.id": group_id,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "partition.assignment.strategy": "range",
        "log.connection.close": False,
    }
    if embedded:
        config.update(EMBEDDED_LIBRDKAFKA_CONSUMER)
    config.update(extra)
    return config


def faust_config(embedded: bool) -> dict[str, Any]:
    """Faust App settings that depend on the broker."""
    return dict(EMBEDDED_FAUST) if embedded else {}
