"""The consent agent: STOP/START/PAUSE/RESUME, marketing preferences and 131050 failures.

One agent reads the three topics that can change consent, so changes to one advisor are applied
in the order the agent sees them. The work is done by :class:`ConsentProcessor`; the agent only
feeds it records and publishes what it returns (Advisor records, dead letters) after PostgreSQL
has committed.

Faust acks a record as soon as the loop body leaves it, whether it returned or raised (the ack
sits in a ``finally``), and a crashed agent is restarted past it. So the body must not raise while
the record's work is undone: :meth:`ConsentProcessor.handle_retrying` retries the database work in
place, waiting out an unreachable database for as long as it takes, and sends a record that keeps
failing otherwise to its topic's DLQ. Replays after a restart or rebalance are made harmless by
the processed-event ids kept in PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import faust

from schemas.catalogue import ACCOUNT, INBOUND, RESULTS
from streams.app import catalogue_channel
from streams.consent.processor import ConsentProcessor, open_pool
from streams.context import StreamContext
from streams.rates import NumberRates
from whatsapp.client import CloudApiClient

SOURCES = (INBOUND.name, ACCOUNT.name, RESULTS.name)


SendText = Callable[[str, str, str], Awaitable[object]]


def limited(rates: NumberRates, send_text: SendText) -> SendText:
    """``send_text`` behind each number's limiter: a confirmation is a message from the number
    like any pack, so it waits for the limiter the sender's lane in this process uses."""

    async def send(phone_number_id: str, to: str, body: str) -> object:
        await rates.get(phone_number_id).acquire()
        return await send_text(phone_number_id, to, body)

    return send


def register(app: faust.App, ctx: StreamContext) -> Any:
    """Add the consent agent to ``app``; needs ``ctx.database_url``."""
    if not ctx.database_url:
        raise ValueError("the consent agent needs a database_url: PostgreSQL is the consent record")
    database_url = ctx.database_url
    channel = app.topic(*SOURCES, key_type=bytes, value_type=bytes, internal=False)

    @app.agent(channel, name="dawn.consent")
    async def consent(stream: faust.StreamT) -> None:
        pool = await open_pool(database_url)
        client = CloudApiClient(ctx.graph_base_url, ctx.graph_version, ctx.access_token)
        processor = ConsentProcessor(pool, ctx.codec, limited(ctx.rates, client.send_text))
        try:
            async for event in stream.events():
                message = event.message
                for out in await processor.handle_retrying(message.topic, message.key,
                                                           message.value, message.partition,
                                                           message.offset):
                    await catalogue_channel(app, out.topic).send(key=out.key, value=out.value)
        finally:
            await client.aclose()
            await pool.close()

    return consent
