"""Which consent events were already acted on and confirmed, so replays change and say nothing twice.

Kafka redelivers after a crash or rebalance (at-least-once), and Meta repeats webhooks. The event
is claimed in the same transaction as the consent change it causes; the confirmation reply is
marked after it went out, so a crash between the two re-sends the reply at most once more rather
than never.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row


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


async def keep_unmatched(conn: psycopg.AsyncConnection, event_id: str, wa_id: str | None,
                         user_id: str | None, command: str, sent_at: datetime,
                         phone_number_id: str | None) -> None:
    """Keep a command from a contact no advisor has yet (see :func:`unmatched_since`)."""
    await conn.execute(
        "INSERT INTO unmatched_commands (event_id, wa_id, user_id, command, sent_at, phone_number_id) "
        "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (event_id) DO NOTHING",
        (event_id, wa_id, user_id, command, sent_at, phone_number_id),
    )


async def unmatched_since(conn: psycopg.AsyncConnection, wa_id: str | None, user_id: str | None,
                          since: datetime) -> list[dict[str, Any]]:
    """Commands kept from ``wa_id`` or ``user_id`` sent at or after ``since``, oldest first: what
    an advisor said from a new number before WhatsApp told us the number was theirs. Older ones
    were someone else's (a recycled number) and are never applied."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT event_id, wa_id, user_id, command, sent_at, phone_number_id FROM unmatched_commands "
            "WHERE ((%(wa_id)s::text IS NOT NULL AND wa_id = %(wa_id)s) "
            "    OR (%(user_id)s::text IS NOT NULL AND user_id = %(user_id)s)) "
            "AND sent_at >= %(since)s ORDER BY sent_at, event_id",
            {"wa_id": wa_id, "user_id": user_id, "since": since})
        return list(await cur.fetchall())
