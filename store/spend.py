"""What has been spent: billable messages by Meta pricing category since a time, from the audit
trail's status webhooks (each message once, however many statuses repeat its pricing).

The scheduler reads it to keep a morning inside the month's budget; it is a send decision, so it
sits with the other PostgreSQL reads the sending rests on.
"""

from __future__ import annotations

from datetime import datetime

import psycopg

BILLED_SINCE_SQL = """
SELECT category, count(*) FROM (
    SELECT DISTINCT ON (wamid) wamid,
           lower(coalesce(record -> 'pricing' ->> 'category', 'unknown')) AS category
    FROM audit_events
    WHERE record_type = 'StatusEvent' AND occurred_at >= %(since)s
      AND month >= date_trunc('month', %(since)s::timestamptz AT TIME ZONE 'Asia/Kolkata')::date
      AND (record -> 'pricing' ->> 'billable')::boolean
    ORDER BY wamid, occurred_at
) billed GROUP BY category
"""


async def billed_since(conn: psycopg.AsyncConnection, since: datetime) -> dict[str, int]:
    """Billable messages by pricing category since ``since``; empty without an audit trail."""
    try:
        async with conn.cursor() as cur:
            await cur.execute(BILLED_SINCE_SQL, {"since": since})
            return {category: n for category, n in await cur.fetchall()}
    except psycopg.errors.UndefinedTable:
        return {}
