"""Who the portfolio messaged in the rolling 24 h: what its messaging limit counts.

Meta's messaging limit (the tier) is on unique recipients of business-initiated messages in any
24 h, across every number of the business portfolio. The send ledger knows every advisor Meta took
a message for and when, so the scheduler can count yesterday's late sends and other mornings'
recipients against today's tier before it plans, instead of learning of the limit from 131048s.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import psycopg

WINDOW = timedelta(hours=24)


async def recent_recipients(conn: psycopg.AsyncConnection, now: datetime) -> set[str]:
    """Advisor ids with a message accepted (or held) by Meta in the 24 h before ``now``."""
    cur = await conn.execute(
        "SELECT DISTINCT advisor_id FROM send_ledger"
        " WHERE state IN ('ACCEPTED', 'HELD') AND outcome_at > %s AND outcome_at <= %s",
        (now - WINDOW, now))
    return {row[0] for row in await cur.fetchall()}
