"""Which consent events were already acted on and confirmed, so replays change and say nothing twice.

Kafka redelivers after a crash or rebalance (at-least-once), and Meta repeats webhooks. The event
is claimed in the same transaction as the consent change it causes; the confirmation reply is
marked after it went out, so a crash between the two re-sends the reply at most once more rather
than never.
"""

from __future__ import annotations

import psycopg


async def claim(conn: psycopg.AsyncConnection, event_id: str, advisor_id: str | None,
                action: str) -> bool:
    """True the first time ``event_id`` is seen; False on every replay."""
    cur = await conn.execute(
        "INSERT INTO consent_events (event_id, advisor_id, action) VALUES (%s, %s, %s) "
        "ON CONFLICT (event_id) DO NOTHING RETURNING event_id",
        (event_id, advisor_id, action),
    )
    return await cur.fetchone() is not None


async def needs_confirmation(conn: psycopg.AsyncConnection, event_id: str) -> bool:
    """True while the reply to a claimed command has not been recorded as sent."""
    cur = await conn.execute(
        "SELECT 1 FROM consent_events WHERE event_id = %s AND confirmed_at IS NULL",
        (event_id,),
    )
    return await cur.fetchone() is not None


async def mark_confirmed(conn: psycopg.AsyncConnection, event_id: str) -> None:
    await conn.execute(
        "UPDATE consent_events SET confirmed_at = clock_timestamp() WHERE event_id = %s",
        (event_id,),
    )
