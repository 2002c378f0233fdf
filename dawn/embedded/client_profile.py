"""Kafka client settings for the embedded broker, kept in this one place.

Tansu (the embedded broker) answers a "latest offset" query with the first offset of the newest
record batch + 1 instead of the log end. Anything that trusts that value (consumer lag,
``auto.offset.reset=latest``, Faust table recovery) goes wrong as soon as a batch holds more than
one record. With every producer writing one record per batch, the value is right, and table
recovery and two-worker hand-over were measured correct. It costs throughput (about 3,000 records/s
against 18,000 batched) and broker CPU, so the topics whose readers do not trust the end offsets
(statuses, states, intents, results: the large ones) are written in batches; see each profile.
All of this applies only to the embedded broker; a real Kafka gets the clients' defaults.

Tansu also holds JoinGroup for about half the session timeout, so the embedded profile uses a short
session timeout and heartbeat, or the first assignment takes about 30 s.
"""

from __future__ import annotations

from typing import Any

#: Every producer on the embedded broker unless its topic's profile below says otherwise: one
#: record per batch, so the end offsets of what it writes are exact.
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


#: The producer of intents (the scheduler's publish and the sender's retries) and of send results
#: (the sender): batched like statuses, but idempotent, so their order per number is kept (5
#: requests in flight) and a retry writes no copy. One record per batch made them the two largest
#: counts of record batches of a morning, read all morning: the broker's fetch cost grows with the
#: batches of a partition being written and read (an aiokafka reader of a 30,000-batch partition
#: taking 500 records/s: 59% of a core, 11% when the 30,000 came 200 a batch), and the publish of
#: 100,000 intents took 109 s. Measured there: 100,000 intent-sized records at 112,300/s batched
#: against 4,585/s one a batch, all read back in order per key. Their readers do not need exact end
#: offsets: the Faust agents resume from committed offsets (tests.test_faust_handover hands
#: partitions of a batched input over between two workers: nothing lost or repeated), a second
#: ``dawn schedule`` reads the intents to the end and then the rest of the last batches
#: (producers.kafka_io), and the quality agent's tail of results from now skips what was written
#: before it (streams.tail). Faust's own changelogs stay one record per batch (EMBEDDED_FAUST):
#: table recovery does trust the end offsets.
EMBEDDED_ORDERED_BATCHED_PRODUCER = {"batch.num.messages": 200}


def ordered_batched_producer_config(bootstrap: str, embedded: bool) -> dict[str, Any]:
    """The project's producer config for intents and send results (see above)."""
    return producer_config(bootstrap, embedded,
                           **(EMBEDDED_ORDERED_BATCHED_PRODUCER if embedded else {}))


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
