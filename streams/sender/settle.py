"""Settling: the last step, and the only one that acknowledges intent records.

Outcomes are collected by one flusher that, per batch, in this order:

1. produces follow-up intents (retries, reconcile waits, hand-overs),
2. produces dead letters,
3. records outcomes (and the evidence: paced templates, claims given up as UNKNOWN) in
   PostgreSQL in one transaction,
4. produces the send results,
5. and only then acknowledges the original records.

A crash anywhere in that order either repeats work the ledger recognises (a follow-up produced
twice is the same attempt of the same delivery: the ledger claims it once and drops the other as
stale) or loses nothing (an unacknowledged record is read again). A step that fails in a running
process is retried from that step on (:class:`Progress`): what already reached Kafka or PostgreSQL
is not written again, so a flaky results topic does not multiply follow-up intents.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from psycopg_pool import AsyncConnectionPool

from schemas.catalogue import INTENTS
from schemas.codec import dead_letter
from store.send_ledger import give_up, note_paced, record_outcomes
from streams.sender.items import Done, Emitter, Item
from streams.sender.options import FLUSH_MAX, TICK_S

log = logging.getLogger("dawn.sender")


@dataclass
class Progress:
    """How far one batch's flush got; a retry starts after the last step that went through."""

    intents: bool = False
    dead_letters: bool = False
    ledger: bool = False
    results: bool = False
    acked: int = 0


class Settler:
    """Queue of decided items and the flusher that writes them out in the documented order.

    ``settled(item)`` is called once an item is acknowledged (copies waiting behind it are then
    settled too); ``released(n)`` once ``n`` queued items left memory (backpressure room).
    """

    def __init__(self, *, pool: AsyncConnectionPool, emit: Emitter,
                 ack: Callable[[object], Awaitable[object]], settled: Callable[[Item], None],
                 released: Callable[[int], None], now: Callable[[], datetime],
                 retry_s: float = 1.0) -> None:
        self._pool = pool
        self._now = now
        self._emit = emit
        self._ack = ack
        self._settled = settled
        self._released = released
        self._retry_s = retry_s
        self._done: list[Done] = []
        self._wake = asyncio.Event()

    def queue(self, done: Done) -> None:
        self._done.append(done)
        self._wake.set()

    async def run(self) -> None:
        """Flush forever; a failed flush is retried until it went through."""
        while True:
            if not self._done:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), TICK_S)
                continue
            batch, self._done = self._done[:FLUSH_MAX], self._done[FLUSH_MAX:]
            progress = Progress()
            while True:
                try:
                    await self.flush(batch, progress)
                    break
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("could not settle %d outcomes; retrying", len(batch))
                    await asyncio.sleep(self._retry_s)
            self._released(len(batch))

    async def flush(self, batch: list[Done], progress: Progress | None = None) -> None:
        """Write ``batch`` out in the order in the module docstring, skipping the steps
        ``progress`` says are done (and recording each step there as it completes)."""
        p = progress or Progress()
        if not p.intents:
            follow_ups = [f for d in batch for f in d.follow_ups]
            if follow_ups:
                await self._emit.intents(follow_ups)
            p.intents = True
        if not p.dead_letters:
            dead = [
                dead_letter(INTENTS.name, d.item.value, d.dead_letter, key=d.item.key,
                            partition=d.item.partition, offset=d.item.offset, stage="sender")
                for d in batch if d.dead_letter is not None
            ]
            if dead:
                await self._emit.dead_letters(dead)
            p.dead_letters = True
        if not p.ledger:
            outcomes = [d.outcome for d in batch if d.outcome is not None]
            paced = [d.paced for d in batch if d.paced is not None]
            unknown = [d.item.delivery_id for d in batch if d.give_up]
            if outcomes or paced or unknown:
                async with self._pool.connection() as conn, conn.transaction():
                    await record_outcomes(conn, outcomes)
                    await note_paced(conn, paced, self._now())
                    await give_up(conn, unknown, self._now())
            p.ledger = True
        if not p.results:
            results = [d.result for d in batch if d.result is not None]
            if results:
                await self._emit.results(results)
            p.results = True
        while p.acked < len(batch):
            source = batch[p.acked].item.source
            if source is not None:
                await self._ack(source)
            p.acked += 1
        for d in batch:
            self._settled(d.item)
