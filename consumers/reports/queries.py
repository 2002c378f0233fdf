"""The report's SQL over the audit trail: a row per delivery of the day, and three side tables.

As in consumers.audit.queries, a morning is the delivery ids its intents name; status webhooks
carry only the delivery id (callback data), so they are joined on it, within the months a morning's
statuses can fall in. A delivery counts as delivered at its first DELIVERED or READ status (a read
proves delivery), and as failed only if it was never delivered.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import psycopg
from psycopg.rows import dict_row

_MONTHS = ("month BETWEEN date_trunc('month', %(day)s::date)::date "
           "AND date_trunc('month', %(day)s::date + 7)::date")

_INTENTS = """
    SELECT DISTINCT ON (delivery_id) delivery_id, advisor_id, template_name, phone_number_id,
           record ->> 'language' AS language, record ->> 'template_language' AS template_language,
           (record ->> 'deadline')::timestamptz AS deadline, (record ->> 'send_at')::timestamptz AS send_at
    FROM audit_events
    WHERE run_date = %(day)s AND record_type = 'DeliveryIntent'
    ORDER BY delivery_id, attempt, occurred_at
"""

DELIVERIES_SQL = f"""
WITH intents AS ({_INTENTS}
), sends AS (
    SELECT DISTINCT ON (delivery_id) delivery_id, phone_number_id, wamid, occurred_at AS accepted_at
    FROM audit_events
    WHERE run_date = %(day)s AND record_type = 'SendResult' AND status IN ('ACCEPTED', 'HELD')
    ORDER BY delivery_id, occurred_at
), statuses AS (
    SELECT delivery_id,
           min(occurred_at) FILTER (WHERE status IN ('DELIVERED', 'READ')) AS delivered_at,
           bool_or(status = 'READ') AS read,
           bool_or(status = 'FAILED') AS failed
    FROM audit_events
    WHERE record_type = 'StatusEvent' AND {_MONTHS}
      AND delivery_id IN (SELECT delivery_id FROM intents)
    GROUP BY delivery_id
), refused AS (
    SELECT delivery_id, bool_or(status = 'FAILED') AS failed
    FROM audit_events
    WHERE run_date = %(day)s AND record_type = 'SendResult'
    GROUP BY delivery_id
)
SELECT i.delivery_id, i.advisor_id, i.template_name, i.language, i.template_language, i.deadline,
       i.send_at, coalesce(s.phone_number_id, i.phone_number_id) AS phone_number_id, s.wamid,
       s.accepted_at, st.delivered_at, coalesce(st.read, false) AS read,
       (st.delivered_at IS NULL AND (coalesce(st.failed, false) OR coalesce(r.failed, false)))
           AS failed
FROM intents i
LEFT JOIN sends s USING (delivery_id)
LEFT JOIN statuses st USING (delivery_id)
LEFT JOIN refused r USING (delivery_id)
ORDER BY i.delivery_id
"""  # noqa: S608 - only constant fragments are interpolated

FAILURES_SQL = f"""
WITH intents AS ({_INTENTS})
SELECT error_code, count(DISTINCT delivery_id) AS deliveries
FROM audit_events
WHERE record_type IN ('SendResult', 'StatusEvent') AND {_MONTHS} AND error_code IS NOT NULL
  AND delivery_id IN (SELECT delivery_id FROM intents)
GROUP BY error_code ORDER BY deliveries DESC, error_code
"""  # noqa: S608 - only constant fragments are interpolated

QUALITY_SQL = """
SELECT DISTINCT ON (phone_number_id, day)
       phone_number_id, (occurred_at AT TIME ZONE 'Asia/Kolkata')::date AS day,
       record ->> 'quality' AS quality, record ->> 'role' AS role
FROM audit_events
WHERE record_type = 'NumberHealth'
  AND month BETWEEN date_trunc('month', %(day)s::date - 29)::date
                AND date_trunc('month', %(day)s::date)::date
  AND (occurred_at AT TIME ZONE 'Asia/Kolkata')::date BETWEEN %(day)s::date - 29 AND %(day)s::date
ORDER BY phone_number_id, day, occurred_at DESC
"""

#: Each billable message once (Meta repeats its pricing on every status of a message).
BILLED_SQL = f"""
WITH intents AS ({_INTENTS})
SELECT category, type, count(*) AS messages FROM (
    SELECT DISTINCT ON (wamid) wamid,
           lower(coalesce(record -> 'pricing' ->> 'category', 'unknown')) AS category,
           lower(coalesce(record -> 'pricing' ->> 'type', 'unknown')) AS type
    FROM audit_events
    WHERE record_type = 'StatusEvent' AND {_MONTHS}
      AND delivery_id IN (SELECT delivery_id FROM intents)
      AND (record -> 'pricing' ->> 'billable')::boolean
    ORDER BY wamid, occurred_at
) billed
GROUP BY category, type ORDER BY category, type
"""  # noqa: S608 - only constant fragments are interpolated


def fetch(conn: psycopg.Connection, day: date) -> dict[str, list[dict[str, Any]]]:
    """Every table the report is built from, for the IST morning ``day``."""
    out: dict[str, list[dict[str, Any]]] = {}
    with conn.cursor(row_factory=dict_row) as cur:
        for name, sql in (("deliveries", DELIVERIES_SQL), ("failures", FAILURES_SQL),
                          ("quality", QUALITY_SQL), ("billed", BILLED_SQL)):
            cur.execute(sql, {"day": day})
            out[name] = cur.fetchall()
    return out
