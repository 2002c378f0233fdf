"""Producing records and knowing, without blocking the event loop, that Kafka has them.

The gateway may answer Meta 200 only once every record of the webhook is acknowledged, because Meta
never resends an acknowledged webhook; a stream agent may acknowledge its input only once its
output is in Kafka. confluent-kafka reports acknowledgements through callbacks that run inside
``poll()``; one thread polls for the whole process and hands each outcome to the waiting
coroutine's event loop, so a caller awaits its records without holding a thread.

Why not Faust's producer in the worker: it sends from the worker's event loop, and on the embedded
broker (one record per batch) a record waits for its partition's previous one to leave, so a busy
worker produced a few hundred records/s. librdkafka's threads keep requests in flight whatever the
event loop is doing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer

log = logging.getLogger("dawn.kafka")


class SinkUnavailable(RuntimeError):
    """Kafka did not acknowledge every record in time: the webhook must not be acknowledged."""


@dataclass(frozen=True)
class OutRecord:
    """One encoded record for one topic."""

    topic: str
    key: bytes | None
    value: bytes


class KafkaSink:
    """One confluent-kafka Producer per process and the thread that collects its acknowledgements."""

    def __init__(self, config: dict[str, Any], ack_timeout_s: float) -> None:
        # librdkafka gives up on a record after message.timeout.ms; keep that inside our own wait so
        # a dead broker turns into a clear error rather than a record acknowledged after we said 503.
        self._producer = Producer({"message.timeout.ms": int(ack_timeout_s * 1000), **config})
        self._ack_timeout_s = ack_timeout_s
        self._stop = threading.Event()
        self._poller = threading.Thread(target=self._poll, name="kafka-sink-poll", daemon=True)
        self._poller.start()

    def _poll(self) -> None:
        while not self._stop.is_set():
            self._producer.poll(0.05)

    async def send(self, records: Sequence[OutRecord]) -> None:
        """Produce ``records`` and return once Kafka acknowledged all; SinkUnavailable otherwise."""
        if not records:
            return
        loop = asyncio.get_running_loop()
        waiter = _Waiter(loop, len(records))
        try:
            for record in records:
                self._producer.produce(record.topic, key=record.key, value=record.value,
                                       on_delivery=waiter.on_delivery)
        except (BufferError, KafkaException) as exc:  # local queue full, producer unusable
            raise SinkUnavailable(f"could not enqueue: {exc}") from exc
        try:
            async with asyncio.timeout(self._ack_timeout_s + 1):
                error = await waiter.done
        except TimeoutError as exc:
            raise SinkUnavailable(f"no acknowledgement within {self._ack_timeout_s}s") from exc
        if error is not None:
            raise SinkUnavailable(f"not all {len(records)} records acknowledged: {error}")

    def close(self) -> None:
        """Stop polling and flush what is still queued (each request already waited this long)."""
        self._stop.set()
        self._poller.join()
        remaining = self._producer.flush(self._ack_timeout_s)
        if remaining:
            log.warning("%d records still unacknowledged at shutdown", remaining)


class _Waiter:
    """Counts one request's acknowledgements in the poll thread and wakes the request once.

    Delivery callbacks run only in the poll thread, so the count needs no lock; waking the event
    loop once per request instead of once per record keeps large batches cheap.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, expected: int) -> None:
        self._loop = loop
        self._remaining = expected
        self._settled = False
        self.done: asyncio.Future[KafkaError | None] = loop.create_future()

    def on_delivery(self, err: KafkaError | None, _msg: Message) -> None:
        self._remaining -= 1
        if self._settled or (err is None and self._remaining > 0):
            return
        self._settled = True
        with contextlib.suppress(RuntimeError):  # the request's loop is gone: nobody waits
            self._loop.call_soon_threadsafe(self._settle, err)

    def _settle(self, err: KafkaError | None) -> None:
        if not self.done.done():
            self.done.set_result(err)
