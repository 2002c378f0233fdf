"""The delivery-state agent: intents, send results and statuses in; ``wa.delivery.state`` out.

The three input topics are keyed by sender number with the same partition count, so a number's
records share a partition and one worker sees them together; the tables (deliveries, wamid index,
waiting statuses) live beside them and are recovered from their changelogs on restart. A record
is published only when it changes the delivery, so Meta's duplicate webhooks cost no output.

Limit: a delivery failed over to another number continues on that number's partition; with more
than one worker its facts can then sit in two workers' tables. One worker (the embedded default)
sees everything.
"""

from __future__ import annotations

import logging

import faust

from schemas.catalogue import DELIVERY_STATE, INTENTS, NUMBER_PARTITIONS, RESULTS, STATUSES
from streams.context import StreamContext
from streams.delivery import state as ds
from streams.delivery.book import DeliveryBook
from streams.table_view import TableView

log = logging.getLogger("dawn.delivery_state")

INPUTS = (INTENTS.name, RESULTS.name, STATUSES.name)


def register(app: faust.App, ctx: StreamContext) -> None:
    inputs = app.topic(*INPUTS, key_type=bytes, value_type=bytes, partitions=NUMBER_PARTITIONS)
    table_args = {"key_type": str, "partitions": NUMBER_PARTITIONS}
    book = DeliveryBook(
        deliveries=TableView(app.Table("delivery-state", **table_args), ds.to_json, ds.from_json),
        wamids=app.Table("delivery-wamids", **table_args),
        waiting=TableView(app.Table("delivery-waiting", **table_args), ds.to_json, ds.from_json),
    )
    output = app.topic(DELIVERY_STATE.name, key_type=bytes, value_type=bytes,
                       partitions=DELIVERY_STATE.partitions)
    dead_letters = {name: app.topic(f"{name}.dlq", key_type=bytes, value_type=bytes) for name in INPUTS}

    @app.agent(inputs, name="delivery-state")
    async def track(stream: faust.StreamT) -> None:
        async for event in stream.events():
            message = event.message
            record, dead = ctx.codec.decode_or_dead_letter(
                message.topic, event.value, key=event.key, partition=message.partition,
                offset=message.offset, stage="delivery_state",
            )
            if dead is not None:
                log.warning("undecodable record on %s -> dlq: %s", message.topic, dead["error"])
                await dead_letters[message.topic].send(
                    key=event.key, value=ctx.codec.encode(f"{message.topic}.dlq", dead))
                continue
            for delivery in book.apply(message.topic, record):
                if ds.publishable(delivery):
                    await output.send(
                        key=delivery.delivery_id.encode(),
                        value=ctx.codec.encode(DELIVERY_STATE.name, ds.to_record(delivery, ctx.now())),
                    )
