"""A sender number's lowered rate, kept in PostgreSQL so it outlives the worker that lowered it.

After a 130429 the owning worker lowers the number's rate and lets it recover step by step
(:mod:`streams.rates`). When the number's partition moves, the new owner reads the cap and when
it was lowered, and carries on from there instead of starting at the full rate Meta just refused.
The number's health topic (``wa.numbers.health``) is where this belongs once that topic has an
owner; until then this one row per number is it.
"""

from __future__ import annotations

from datetime import datetime

import psycopg


async def load_pace(conn: psycopg.AsyncConnection, phone_number_id: str) -> tuple[float, datetime] | None:
    """(cap, lowered_at) of a number whose rate is lowered, else None."""
    cur = await conn.execute("SELECT cap_mps, lowered_at FROM number_pace WHERE phone_number_id = %s",
                             (phone_number_id,))
    row = await cur.fetchone()
    return (float(row[0]), row[1]) if row else None


async def save_pace(conn: psycopg.AsyncConnection, phone_number_id: str, cap: float | None,
                    at: datetime) -> None:
    """Record the number's lowered cap as of ``at``; None clears it (back at the allowed rate)."""
    if cap is None:
        await conn.execute("DELETE FROM number_pace WHERE phone_number_id = %s", (phone_number_id,))
        return
    await conn.execute(
        "INSERT INTO number_pace (phone_number_id, cap_mps, lowered_at) VALUES (%s, %s, %s)"
        " ON CONFLICT (phone_number_id) DO UPDATE SET cap_mps = EXCLUDED.cap_mps,"
        " lowered_at = EXCLUDED.lowered_at", (phone_number_id, cap, at))
