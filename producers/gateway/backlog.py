"""The gateway's record of status webhooks it refused, kept in PostgreSQL for the sender.

When Kafka does not confirm a webhook the gateway answers 503 and Meta retries it later, with
backoff. Until then a status proving that a lost send was accepted may be waiting at Meta, so the
send ledger must not treat the silence of that number as evidence (see :mod:`store.send_ledger`).
Each refused status is written here with its number; it is deleted when a retry of the same event
is produced. A gateway without a database records nothing, and says so at start: the sender then
has one piece of evidence less than it assumes.

Writes are best effort but never silent: the webhook is answered 503 either way (Meta retries), so
a failed write costs only the evidence, and is logged as an error.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from datetime import UTC, datetime

from psycopg_pool import AsyncConnectionPool

from producers.gateway.events import status_record
from store.send_ledger import note_refused, note_taken
from whatsapp.webhooks.events import StatusUpdate

log = logging.getLogger("dawn.gateway")

REFRESH_S = 1.0  # how stale this process's copy of the backlog's event ids may be


def status_event_id(s: StatusUpdate) -> str:
    """The event id the gateway gives the status's record, so a retry finds its refusal."""
    return str(status_record(s, 0)["event_id"])


def _stamp(s: StatusUpdate, fallback: datetime) -> datetime:
    try:
        return datetime.fromtimestamp(int(s.timestamp), UTC)
    except (TypeError, ValueError):
        return fallback


class Backlog:
    """Refused status events by id; ``refused`` on a 503, ``taken`` after a produce."""

    def __init__(self, database_url: str) -> None:
        self._pool = AsyncConnectionPool(database_url, min_size=1, max_size=2, open=False,
                                         kwargs={"autocommit": True})
        self._opened = False
        self._known: set[str] = set()
        self._refreshed = 0.0
        self._lock = asyncio.Lock()

    async def _ready(self) -> AsyncConnectionPool:
        if not self._opened:
            await self._pool.open(wait=True, timeout=5)
            self._opened = True
        return self._pool

    async def refused(self, statuses: Sequence[StatusUpdate], at: datetime) -> None:
        rows = [(status_event_id(s), s.phone_number_id or "", _stamp(s, at)) for s in statuses]
        if not rows:
            return
        try:
            pool = await self._ready()
            async with pool.connection() as conn:
                await note_refused(conn, rows, at)
            self._known.update(r[0] for r in rows)
        except Exception as exc:
            log.error("could not record %d refused statuses (unknown sends of their numbers may be "
                      "resent before Meta retries them): %s", len(rows), exc)

    async def taken(self, statuses: Sequence[StatusUpdate]) -> None:
        """Forget refused events that came back and are in Kafka now. Cheap when the backlog is
        empty: the set of refused ids is read at most once a second."""
        if not statuses:
            return
        try:
            pool = await self._ready()
            async with self._lock:
                if time.monotonic() - self._refreshed > REFRESH_S:
                    async with pool.connection() as conn:
                        cur = await conn.execute("SELECT event_id FROM webhook_backlog")
                        self._known = {row[0] for row in await cur.fetchall()}
                    self._refreshed = time.monotonic()
            back = [i for i in map(status_event_id, statuses) if i in self._known]
            if back:
                async with pool.connection() as conn:
                    await note_taken(conn, back)
                self._known.difference_update(back)
        except Exception as exc:
            log.error("could not clear retried statuses from the backlog: %s", exc)

    async def aclose(self) -> None:
        if self._opened:
            await self._pool.close()
