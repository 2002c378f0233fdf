"""The delivery-state agent: intents, send results and statuses in; ``wa.delivery.state`` out.

The three input topics are keyed by sender number with the same partition count, so a number's
records share a partition. The agent takes them in batches (up to ``delivery_take`` records or
``delivery_take_within_s`` seconds, ctx.options) and per batch, in one PostgreSQL transaction,
merges them into the book (:mod:`streams.delivery.batch`), publishes each changed delivery once,
waits for Kafka's acknowledgements, commits, and only then acknowledges the records. A crash
anywhere before the acknowledgement replays the batch: merging is idempotent, and a change that was
published but not committed is published again with the same facts (and a later ``updated_at``).

Why not Faust tables (the first version): every merge wrote a changelog record, and Faust drains
its producer buffer one record at a time, so a 10,000-advisor morning in a 120 s window had its
states 80 s (median) behind Meta's deliveries. The book in PostgreSQL is also shared, so a
delivery failed over to another number's partition keeps one set of facts with two workers.

Records that do not decode go to their topic's dead-letter topic and are acknowledged.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import faust
from psycopg_pool import AsyncConnectionPool

from bus.sink import OutRecord
from schemas.catalogue import DELIVERY_STATE, INTENTS, NUMBER_PARTITIONS, RESULTS, STATUSES
from streams.context import StreamContext
from streams.delivery import state as ds
from streams.delivery.batch import merge_batch
from streams.retrying import retry_in_place

log = logging.getLogger("dawn.delivery_state")

INPUTS = (INTENTS.name, RESULTS.name, STATUSES.name)
TAKE = 1000
TAKE_WITHIN_S = 0.2


def register(app: faust.App, ctx: StreamContext) -> None:
    if not ctx.database_url:
        raise ValueError("the delivery-state agent needs a database_url: its book is in PostgreSQL")
    database_url = ctx.database_url
    take = int(ctx.options.get("delivery_take", TAKE))
    within = float(ctx.options.get("delivery_take_within_s", TAKE_WITHIN_S))
    inputs = app.topic(*INPUTS, key_type=bytes, value_type=bytes, partitions=NUMBER_PARTITIONS)

    async def decode(events: Sequence[Any]) -> list[tuple[str, dict[str, Any]]]:
        """The decoded records of ``events`` with their topic; the rest are dead-lettered."""
        records = []
        for event in events:
            message = event.message
            record, dead = ctx.codec.decode_or_dead_letter(
                message.topic, event.value, key=event.key, partition=message.partition,
                offset=message.offset, stage="delivery_state",
            )
            if dead is None:
                records.append((message.topic, record))
                continue
            log.warning("undecodable record on %s -> dlq: %s", message.topic, dead["error"])
            letter = OutRecord(f"{message.topic}.dlq", event.key,
                               ctx.codec.encode(f"{message.topic}.dlq", dead))
            await retry_in_place(lambda letter=letter: ctx.sink.send([letter]),
                                 what="producing a delivery record's dead letter", log=log)
        return records

    async def settle(pool: AsyncConnectionPool, records: Sequence[tuple[str, dict[str, Any]]]) -> None:
        """Merge, publish what changed, then commit (one attempt; the caller retries)."""
        async with pool.connection() as conn, conn.transaction():
            merged = await merge_batch(conn, records)
            now = ctx.now()
            await ctx.batched_sink.send([
                OutRecord(DELIVERY_STATE.name, d.delivery_id.encode(),
                          ctx.codec.encode(DELIVERY_STATE.name, ds.to_record(d, now)))
                for d in merged.changed if ds.publishable(d)])

    @app.agent(inputs, name="delivery-state")
    async def track(stream: faust.StreamT) -> None:
        pool = AsyncConnectionPool(database_url, min_size=1, max_size=2, open=False)
        await pool.open(wait=True)
        try:
            async for events in stream.noack_take(take, within=within):
                records = await decode(events)
                if records:
                    await retry_in_place(lambda records=records: settle(pool, records),
                                         what="settling a batch of delivery records", log=log)
                for event in events:
                    await stream.ack(event)
        finally:
            await pool.close()
