"""The sender agent: delivery intents in, Cloud API sends out, one outcome per attempt recorded.

``wa.delivery.intents`` is keyed by sender number, so every intent of a number reaches the worker
that owns its partition and each number's rate limiter lives in one place without coordination.
The agent only decodes and hands over small batches; :mod:`streams.sender.engine` does the rest and
acknowledges each record once its outcome is in PostgreSQL and its result in Kafka. Records that do
not decode go to ``wa.delivery.intents.dlq`` with the reason and are acknowledged.

Options (``ctx.options``): ``mps`` (default from settings, 80), ``mps_by_number``, ``in_flight``,
``grace_s`` (ledger reconcile grace), ``max_attempts``, ``numbers`` (failover pool), ``take``,
``take_within_s``, ``max_pending``, ``claim_max_age_s``, ``breaker_failures``,
``breaker_cool_down_s``, ``stop_s``, ``handover_s`` and ``recover_s`` (see :mod:`streams.rates`).

Nothing in the loop may raise out of it: Faust would restart the agent and the engine's held
intents (unacknowledged, possibly hours before their ``send_at``) would be dropped until the next
rebalance. A failing step (a DLQ produce timing out, the schema registry not answering, an ack) is
retried in place with backoff by :func:`intake`, logged once and then every few tries.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import faust
import httpx
from psycopg_pool import AsyncConnectionPool

from bus.sink import OutRecord
from schemas.catalogue import INTENTS, NUMBERS_HEALTH, RESULTS
from schemas.codec import Codec
from streams.app import catalogue_channel
from streams.context import StreamContext
from streams.health_view import HealthView
from streams.retrying import retry_in_place
from streams.rotation import TemplateBook
from streams.sender.engine import Item, Sender, SenderOptions
from streams.tail import broker_bootstrap, follow
from whatsapp.client import CloudApiClient

TAKE = 200
TAKE_WITHIN_S = 0.05

log = logging.getLogger("dawn.sender")


async def intake(
    events: Sequence[Any], *, codec: Codec, emitter: Any, ack: Callable[[Any], Awaitable[object]],
    engine: Sender, sleep: Callable[[float], Awaitable[object]] | None = None,
) -> None:
    """Decode one take of events and hand the intents to ``engine``; dead-letter the rest.

    Never raises (but on cancellation): every step is retried in place, so a broker or registry
    hiccup delays the intake instead of restarting the agent and dropping the engine's held intents.
    """
    kwargs: dict[str, Any] = {} if sleep is None else {"sleep": sleep}
    items = []
    for event in events:
        message = event.message

        async def decode(message: Any = message) -> tuple[Any, Any]:
            return codec.decode_or_dead_letter(
                INTENTS.name, message.value, key=message.key, partition=message.partition,
                offset=message.offset, stage="sender")

        intent, dead = await retry_in_place(decode, what="decoding an intent", log=log, **kwargs)
        if intent is None:
            await retry_in_place(lambda dead=dead: emitter.dead_letters([dead]),
                                 what="producing an intent dead letter", log=log, **kwargs)
            await retry_in_place(lambda event=event: ack(event),
                                 what="acknowledging a dead-lettered intent", log=log, **kwargs)
            continue
        items.append(Item(intent, event, message.key, message.value,
                          message.partition, message.offset))
    await engine.submit(items)  # in memory only; not retried, it is not idempotent


class KafkaEmitter:
    """The sender's output topics; each call returns once the broker acknowledged every record.

    Through the worker's sink (bus.sink), not Faust's producer: a morning writes a result per
    delivery, and Faust's producer sends from the busy event loop one record per partition at a
    time on the embedded broker. Intents (retries, failover) get the Java client's partitioner from
    the producer config, so they land on their number's partition like the scheduler's.
    """

    def __init__(self, ctx: StreamContext) -> None:
        self._ctx = ctx

    async def _send_all(self, topic: str, records: Sequence[dict[str, Any]],
                        key_field: str | None) -> None:
        await self._ctx.sink.send([
            OutRecord(topic, record[key_field].encode() if key_field else record.get("key"),
                      self._ctx.codec.encode(topic, record)) for record in records])

    async def intents(self, records: Sequence[dict[str, Any]]) -> None:
        await self._send_all(INTENTS.name, records, "phone_number_id")

    async def results(self, records: Sequence[dict[str, Any]]) -> None:
        await self._send_all(RESULTS.name, records, "phone_number_id")
        if self._ctx.metrics is not None:
            self._ctx.metrics.count_results(records)

    async def dead_letters(self, records: Sequence[dict[str, Any]]) -> None:
        await self._send_all(INTENTS.dlq.name, records, None)


def register(app: faust.App, ctx: StreamContext) -> Any:
    """Add the sender agent to ``app``; needs ``ctx.database_url`` (the send ledger)."""
    if not ctx.database_url:
        raise ValueError("the sender needs a database_url: the send ledger is what prevents double sends")
    database_url = ctx.database_url
    options = SenderOptions.from_options(ctx.options)
    take = int(ctx.options.get("take", TAKE))
    within = float(ctx.options.get("take_within_s", TAKE_WITHIN_S))
    emitter = KafkaEmitter(ctx)

    # Every worker follows every number's health (not only its partitions' numbers): a lane stops
    # claiming within a poll of a STOPPED record, and failover picks among all healthy numbers.
    health = HealthView()

    @app.task
    async def follow_health() -> None:
        await follow(broker_bootstrap(app), NUMBERS_HEALTH.name, ctx.codec, health.update,
                     from_start=True)

    def owned(event: Any) -> bool:
        return event is None or event.message.tp in app.consumer.assignment()

    @app.agent(catalogue_channel(app, INTENTS.name), name="dawn.sender")
    async def sender(stream: faust.StreamT) -> None:
        pool = AsyncConnectionPool(database_url, min_size=1, max_size=4, open=False,
                                   kwargs={"autocommit": True})
        await pool.open(wait=True)

        def make_client(in_flight: int) -> CloudApiClient:
            """A number's own client, its pool just big enough for the lane's requests in flight."""
            limits = httpx.Limits(max_connections=in_flight, max_keepalive_connections=in_flight)
            return CloudApiClient(ctx.graph_base_url, ctx.graph_version, ctx.access_token,
                                  limits=limits)

        templates = TemplateBook(ctx.now)
        refresh = asyncio.create_task(templates.refresh_forever(pool), name="template-states")
        engine = Sender(pool=pool, make_client=make_client, emit=emitter, ack=stream.ack, now=ctx.now,
                        monotonic=ctx.monotonic, options=options, owned=owned, templates=templates,
                        health=health, rates=ctx.rates)
        if ctx.metrics is not None:
            ctx.metrics.watch_sender(engine)
        try:
            async for events in stream.noack_take(take, within=within):
                await intake(events, codec=ctx.codec, emitter=emitter, ack=stream.ack, engine=engine)
        finally:
            refresh.cancel()
            if ctx.metrics is not None:
                ctx.metrics.unwatch_sender(engine)
            await engine.aclose()
            await pool.close()

    return sender
