"""The reconcile agent: status webhooks prove which claimed sends Meta took.

Every status carries ``biz_opaque_callback_data`` (our delivery id). Any status for a delivery is
proof it was sent, so its ledger row becomes ACCEPTED with that wamid: a claim left without an
outcome by a crash or a timeout is then never resent. Idempotent, so duplicated and reordered
webhooks are harmless; statuses without callback data are not ours to reconcile.

Every status, ours or not, also advances its number's watermark (:func:`store.send_ledger.note_statuses`):
the newest gateway receive time processed and the largest stamp-to-gateway delay seen today. That
is the evidence the ledger needs before it lets an unknown claim be sent again: statuses received
well after ours would have arrived have gone through this agent, and ours was not among them.

A database (or DLQ produce) error is retried in place (:func:`settle_statuses`): letting it out of
the loop would restart the agent with the batch counted as processed, losing the proof of sending,
and the watermark would move past a claim whose proof was lost: a resend.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any

import faust
from psycopg_pool import AsyncConnectionPool

from schemas.catalogue import STATUSES
from store.send_ledger import mark_accepted, note_statuses
from streams.app import catalogue_channel
from streams.context import StreamContext
from streams.retrying import retry_in_place

log = logging.getLogger("dawn.reconcile")

Proof = tuple[str, str | None, datetime]
Stamp = tuple[str, datetime, datetime]  # (phone_number_id, Meta's stamp, gateway received at)

TAKE = 500
TAKE_WITHIN_S = 0.1


async def settle_statuses(
    pool: AsyncConnectionPool, proofs: Sequence[Proof], *,
    mark: Callable[[Any, Sequence[Proof]], Awaitable[object]] = mark_accepted,
    sleep: Callable[[float], Awaitable[object]] | None = None,
    stamps: Sequence[Stamp] = (), processed_at: datetime | None = None,
    sent: Sequence[tuple[str, datetime]] = (),
) -> None:
    """Mark ``proofs`` accepted and advance the numbers' watermarks with ``stamps``, in one
    transaction (proofs first: a watermark must never run ahead of the proofs it covers),
    retrying (with backoff) until PostgreSQL took them."""
    if not proofs and not stamps:
        return

    async def step() -> None:
        async with pool.connection() as conn, conn.transaction():
            if proofs:
                await mark(conn, proofs)
            if stamps:
                await note_statuses(conn, stamps, processed_at or max(p[2] for p in proofs), sent)

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
                stamps: list[Stamp] = []
                sent: list[tuple[str, datetime]] = []  # our deliveries' "sent" stamps
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
                    else:
                        if status["callback_data"]:
                            proofs.append((status["callback_data"], status["wamid"], ctx.now()))
                            if status["status"] == "SENT":
                                sent.append((status["callback_data"], status["timestamp"]))
                        if status["phone_number_id"]:
                            stamps.append((status["phone_number_id"], status["timestamp"],
                                           status["received_at"]))
                await settle_statuses(pool, proofs, stamps=stamps, processed_at=ctx.now(), sent=sent)
        finally:
            await pool.close()

    return reconcile
