"""Which mornings the scheduler began to publish, and whether each publish completed.

The row is written before the first intent is produced, so "no row" proves no intent of that
morning is in ``wa.delivery.intents`` (from the scheduler; the sender's retries follow its
intents): the first run publishes without reading the topic, and only a second run for the
same morning pays for reading it back. ``published`` and ``completed_at`` are for people (ops,
``dawn schedule``'s message); the topic, not this table, decides what a second run publishes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import psycopg


@dataclass(frozen=True)
class IntentPublish:
    run_date: date
    started_at: datetime
    planned: int
    published: int
    completed_at: datetime | None


async def publish_of(conn: psycopg.AsyncConnection, run_date: date) -> IntentPublish | None:
    """The morning's publish so far, or None if it never began."""
    cur = await conn.execute(
        "SELECT run_date, started_at, planned, published, completed_at FROM intent_publishes"
        " WHERE run_date = %s", (run_date,))
    row = await cur.fetchone()
    return IntentPublish(*row) if row else None


async def begin(conn: psycopg.AsyncConnection, run_date: date, planned: int, at: datetime) -> None:
    """Record that a publish of ``run_date`` begins (again): before any intent is produced."""
    await conn.execute(
        "INSERT INTO intent_publishes (run_date, started_at, planned) VALUES (%s, %s, %s)"
        " ON CONFLICT (run_date) DO UPDATE SET started_at = EXCLUDED.started_at,"
        " planned = EXCLUDED.planned, completed_at = NULL",
        (run_date, at, planned))


async def finish(conn: psycopg.AsyncConnection, run_date: date, published: int,
                 completed_at: datetime | None) -> None:
    """How many of the morning's intents are in the topic; ``completed_at`` None if not all."""
    await conn.execute(
        "UPDATE intent_publishes SET published = %s, completed_at = %s WHERE run_date = %s",
        (published, completed_at, run_date))
