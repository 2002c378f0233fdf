"""The reconcile agent: status webhooks prove which claimed sends Meta took.

Every status carries ``biz_opaque_callback_data`` (our delivery id). Any status for a delivery is
proof it was sent, so its ledger row becomes ACCEPTED with that wamid: a claim left without an
outcome by a crash or a timeout is then never resent. Idempotent, so duplicated and reordered
webhooks are harmless; statuses without callback data are not ours to reconcile.
"""

from __future__ import annotations

from typing import Any

import faust
from psycopg_pool import AsyncConnectionPool

from schemas.catalogue import STATUSES
from store.send_ledger import mark_accepted
from streams.app import catalogue_channel
from streams.context import StreamContext

TAKE = 500
TAKE_WITHIN_S = 0.1


def register(app: faust.App, ctx: StreamContext) -> Any:
    """Add the reconcile agent to ``app``; needs ``ctx.database_url``."""
    if not ctx.database_url:
        raise ValueError("the reconcile agent needs a database_url (the send ledger)")
    database_url = ctx.database_url
    dlq = catalogue_channel(app, STATUSES.dlq.name)

    @app.agent(catalogue_channel(app, STATUSES.name), name="dawn.reconcile")
    async def reconcile(stream: faust.StreamT) -> None:
        pool = AsyncConnectionPool(database_url, min_size=1, max_size=1, open=False,
                                   kwargs={"autocommit": True})
        await pool.open(wait=True)
        try:
            async for events in stream.take_events(TAKE, within=TAKE_WITHIN_S):
                proofs = []
                for event in events:
                    m = event.message
                    status, dead = ctx.codec.decode_or_dead_letter(
                        STATUSES.name, m.value, key=m.key, partition=m.partition, offset=m.offset,
                        stage="reconcile")
                    if status is None:
                        await (await dlq.send(key=m.key,
                                              value=ctx.codec.encode(STATUSES.dlq.name, dead)))
                    elif status["callback_data"]:
                        proofs.append((status["callback_data"], status["wamid"], ctx.now()))
                async with pool.connection() as conn:
                    await mark_accepted(conn, proofs)
        finally:
            await pool.close()

    return reconcile
