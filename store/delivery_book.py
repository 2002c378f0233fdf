"""The delivery-state agent's book in PostgreSQL: merged facts per delivery, the wamid index and
statuses waiting for their wamid.

The agent works a batch of records at a time, inside one transaction: :func:`lock` loads and locks
everything the batch can touch, the agent merges in memory, :func:`save` writes back only what
changed, and the commit comes after the changed states are in Kafka. Rows are locked in key order
(new deliveries are inserted empty first so they lock like the rest), so two workers whose batches
share deliveries wait for each other instead of losing one's facts or deadlocking.

Documents are plain JSON here; what they mean is :mod:`streams.delivery.state`'s business.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg.types.json import Jsonb


@dataclass
class Locked:
    """What a batch may touch, as stored: documents by delivery id (None: never merged before)
    and the waiting status facts by wamid."""

    deliveries: dict[str, dict[str, Any] | None] = field(default_factory=dict)
    waiting: dict[str, dict[str, Any]] = field(default_factory=dict)


async def known_wamids(conn: psycopg.AsyncConnection, wamids: Iterable[str]) -> dict[str, str]:
    """delivery id by wamid, for the ``wamids`` already learned."""
    cur = await conn.execute("SELECT wamid, delivery_id FROM delivery_wamids WHERE wamid = ANY(%s)",
                             (sorted(set(wamids)),))
    return dict(await cur.fetchall())


async def lock(conn: psycopg.AsyncConnection, delivery_ids: Iterable[str],
               wamids: Iterable[str]) -> Locked:
    """Lock and load ``delivery_ids`` and the waiting facts of ``wamids`` (the index itself is
    read with :func:`known_wamids`, before, to find the ids); must run in a transaction, which
    holds the locks until the batch is settled."""
    ids = sorted(set(delivery_ids))
    wanted = sorted(set(wamids))
    locked = Locked()
    await conn.execute("INSERT INTO delivery_book (delivery_id) SELECT unnest(%s::text[]) ORDER BY 1"
                       " ON CONFLICT (delivery_id) DO NOTHING", (ids,))
    cur = await conn.execute("SELECT delivery_id, doc FROM delivery_book WHERE delivery_id = ANY(%s)"
                             " ORDER BY delivery_id FOR UPDATE", (ids,))
    locked.deliveries = dict(await cur.fetchall())
    cur = await conn.execute("SELECT wamid, doc FROM delivery_waiting WHERE wamid = ANY(%s)"
                             " ORDER BY wamid FOR UPDATE", (wanted,))
    locked.waiting = dict(await cur.fetchall())
    return locked


async def save(conn: psycopg.AsyncConnection, *, deliveries: Mapping[str, dict[str, Any]],
               wamids: Mapping[str, str], waiting: Mapping[str, dict[str, Any]],
               no_longer_waiting: Iterable[str]) -> None:
    """Write the batch's changes: merged documents, newly learned wamids (the first delivery id
    learned for a wamid stays), waiting facts, and the waits that ended. Every id the batch locked
    empty is one it names, so it is merged and written here."""
    async with conn.cursor() as cur:
        if deliveries:
            await cur.executemany(
                "UPDATE delivery_book SET doc = %s, updated_at = now() WHERE delivery_id = %s",
                [(Jsonb(doc), delivery_id) for delivery_id, doc in deliveries.items()])
        if wamids:
            await cur.executemany(
                "INSERT INTO delivery_wamids (wamid, delivery_id) VALUES (%s, %s)"
                " ON CONFLICT (wamid) DO NOTHING", list(wamids.items()))
        if waiting:
            await cur.executemany(
                "INSERT INTO delivery_waiting (wamid, doc) VALUES (%s, %s) ON CONFLICT (wamid)"
                " DO UPDATE SET doc = EXCLUDED.doc, updated_at = now()",
                [(wamid, Jsonb(doc)) for wamid, doc in waiting.items()])
        ended = sorted(set(no_longer_waiting))
        if ended:
            await cur.execute("DELETE FROM delivery_waiting WHERE wamid = ANY(%s)", (ended,))
