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

#: A reader that keeps up fetches each record alone, and the embedded broker's cost per fetch grows
#: with the partition's record batches. After a fetch that returned records, the next one for the
#: partition waits up to 250 ms, so a busy partition is read a few times a second, each fetch
#: bringing what came meanwhile. Measured: one reader at the end of a 60,000-record topic taking
#: 500 records/s cost the broker 101% of a core, 52% at 200 ms, 27% at 500 ms (producing alone:
#: 12%). Readers see records up to that much later; none of them is on the send path. The worker's
#: tails (streams.tail) set the same.
FEWER_FETCHES: dict[str, Any] = {"queued.min.messages": 1, "fetch.queue.backoff.ms": 250}

EMBEDDED_LIBRDKAFKA_CONSUMER: dict[str, Any] = {
    "session.timeout.ms": 6000,
    "heartbeat.interval.ms": 1000,
    **FEWER_FETCHES,
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
        # (bus.sink) must land on the same partition as the scheduler's intents for that number,
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


#: The producer of the topics whose readers do not need the end offsets to be right: the gateway's
#: statuses and the delivery-state agent's states, the two largest streams of a morning (two to
#: four records per delivery). Their readers: the worker's Faust consumer, which resumes from
#: committed offsets; the tails, which read past the early end (streams.tail); the reads to the end,
#: which read the rest of the last batches (producers.kafka_io); `dawn run`'s watch, which reads on;
#: and the dashboard, whose check after a reconnect compares its position with the end and so
#: re-reads these topics from the start after every reconnect (harmless: its handling of states and
#: statuses is keyed, a re-read changes nothing). So these producers batch on the embedded broker.
#: Measured there: the broker's CPU per fetch grows with the number of record batches in the
#: partition, not records (one reader at the end of a 60,000-record topic
#: taking 500 records/s cost 101% of a core with one record per batch, 14% with 100 a batch), and
#: at 30,000 advisors the broker used a whole core. The batch cap bounds how early the reported end
#: can be. Without idempotence, 32 requests in flight: duplicates carry the same event id or state,
#: order does not matter to the merges (Meta reorders statuses anyway), and the state agent waits
#: for each batch's acknowledgements before it produces the next; acks=all still makes every
#: acknowledgement durable.
EMBEDDED_BATCHED_PRODUCER = {"batch.num.messages": 200, "enable.idempotence": False,
                             "max.in.flight.requests.per.connection": 32}


def batched_producer_config(bootstrap: str, embedded: bool) -> dict[str, Any]:
    """The project's producer config for statuses and delivery states (see above)."""
    return producer_config(bootstrap, embedded, **(EMBEDDED_BATCHED_PRODUCER if embedded else {}))


#: The webhook gateway writes statuses (and account and inbound events, a few).
gateway_producer_config = batched_producer_config


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
