"""The reconcile agent: status webhooks prove which claimed sends Meta took.

Every status carries ``biz_opaque_callback_data`` (our delivery id). Any status for a delivery is
proof it was sent, so its ledger row becomes ACCEPTED with that wamid: a claim left without an
outcome by a crash or a timeout is then never resent. Idempotent, so duplicated and reordered
webhooks are harmless; statuses without callback data are not ours to reconcile.

A database (or DLQ produce) error is retried in place (:func:`settle_statuses`): letting it out of
the loop would restart the agent with the batch counted as processed, losing the proof of sending,
and the claim would be resent after the grace.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any

import faust
from psycopg_pool import AsyncConnectionPool

from schemas.catalogue import STATUSES
from store.send_ledger import mark_accepted
from streams.app import catalogue_channel
from streams.context import StreamContext
from streams.retrying import retry_in_place

log = logging.getLogger("dawn.reconcile")

Proof = tuple[str, str | None, datetime]

TAKE = 500
TAKE_WITHIN_S = 0.1


async def settle_statuses(
    pool: AsyncConnectionPool, proofs: Sequence[Proof], *,
    mark: Callable[[Any, Sequence[Proof]], Awaitable[object]] = mark_accepted,
    sleep: Callable[[float], Awaitable[object]] | None = None,
) -> None:
    """Mark ``proofs`` accepted, retrying (with backoff) until PostgreSQL took them."""
    if not proofs:
        return

    async def step() -> None:
        async with pool.connection() as conn:
            await mark(conn, proofs)

    kwargs = {} if sleep is None else {"sleep": sleep}
    await retry_in_place(step, what=f"marking {len(proofs)} deliveries accepted", log=log, **kwargs)


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
                proofs: list[Proof] = []
                for event in events:
                    m = event.message

                    async def decode(m: Any = m) -> tuple[Any, Any]:  # a registry outage raises
                        return ctx.codec.decode_or_dead_letter(
                            STATUSES.name, m.value, key=m.key, partition=m.partition,
                            offset=m.offset, stage="reconcile")

                    status, dead = await retry_in_place(decode, what="decoding a status", log=log)
                    if status is None:

                        async def to_dlq(key: Any = m.key, dead: Any = dead) -> None:
                            value = ctx.codec.encode(STATUSES.dlq.name, dead)
                            await (await dlq.send(key=key, value=value))

                        await retry_in_place(to_dlq, what="producing a status dead letter", log=log)
                    elif status["callback_data"]:
                        proofs.append((status["callback_data"], status["wamid"], ctx.now()))
                await settle_statuses(pool, proofs)
        finally:
            await pool.close()

    return reconcile
