"""The questions ops and compliance ask of the audit trail, as SQL (repeated in the README).

Status webhooks do not carry the advisor or the run date, only the delivery id Meta echoes back
(callback data), so every question starts from the deliveries of an advisor or a day and joins
statuses on delivery id or wamid. Month bounds on those joins let PostgreSQL skip partitions:
statuses of a morning arrive within days of it.
"""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import dict_row

#: Final state of a delivery from all its facts: a later read or delivered proves delivery even
#: after a failure; otherwise a failure beats sent.
_FINAL_STATE = """
CASE WHEN bool_or(status = 'READ') THEN 'READ'
     WHEN bool_or(status = 'DELIVERED') THEN 'DELIVERED'
     WHEN bool_or(status = 'FAILED') THEN 'FAILED'
     WHEN bool_or(status = 'SENT') THEN 'SENT'
     WHEN bool_or(status IN ('ACCEPTED', 'HELD')) THEN 'ACCEPTED'
     WHEN bool_or(status = 'SKIPPED') THEN 'SKIPPED'
     ELSE 'QUEUED' END"""

#: Months a morning's statuses can fall in.
_MONTHS = "month BETWEEN date_trunc('month', %(day)s::date)::date " \
          "AND date_trunc('month', %(day)s::date + 7)::date"

TIMELINE_SQL = """
WITH deliveries AS (
    SELECT DISTINCT delivery_id FROM audit_events
    WHERE advisor_id = %(advisor_id)s AND delivery_id IS NOT NULL
      AND (%(day)s::date IS NULL OR run_date = %(day)s::date)
)
SELECT occurred_at, record_type, status, delivery_id, attempt, phone_number_id, wamid,
       error_code, template_name, approval_id, event_id
FROM audit_events
WHERE delivery_id IN (SELECT delivery_id FROM deliveries)
   OR (advisor_id = %(advisor_id)s AND record_type = 'Advisor'
       AND (%(day)s::date IS NULL
            OR (occurred_at AT TIME ZONE 'Asia/Kolkata')::date = %(day)s::date))
ORDER BY occurred_at,
         array_position(ARRAY['Advisor', 'DeliveryIntent', 'SendResult', 'StatusEvent',
                              'DeliveryState'], record_type),
         event_id
"""

DAY_BY_STATE_SQL = f"""
WITH deliveries AS (
    SELECT DISTINCT delivery_id FROM audit_events
    WHERE run_date = %(day)s AND record_type = 'DeliveryIntent'
), steps AS (
    SELECT delivery_id, status FROM audit_events
    WHERE record_type IN ('SendResult', 'StatusEvent') AND {_MONTHS}
      AND delivery_id IN (SELECT delivery_id FROM deliveries)
), final AS (
    SELECT d.delivery_id, {_FINAL_STATE} AS state
    FROM deliveries d LEFT JOIN steps s USING (delivery_id) GROUP BY d.delivery_id
)
SELECT state, count(*) AS deliveries FROM final GROUP BY state ORDER BY state
"""  # noqa: S608 - only constant fragments are interpolated

DAY_BY_NUMBER_SQL = """
SELECT phone_number_id,
       count(*) FILTER (WHERE status IN ('ACCEPTED', 'HELD')) AS accepted,
       count(*) FILTER (WHERE status = 'FAILED') AS failed,
       count(*) AS attempts
FROM audit_events
WHERE run_date = %(day)s AND record_type = 'SendResult'
GROUP BY phone_number_id ORDER BY phone_number_id
"""

DAY_BY_TEMPLATE_SQL = """
SELECT template_name, approval_id, count(DISTINCT delivery_id) AS deliveries
FROM audit_events
WHERE run_date = %(day)s AND record_type = 'DeliveryIntent'
GROUP BY template_name, approval_id ORDER BY template_name, approval_id
"""

DAY_FAILURES_SQL = f"""
WITH deliveries AS (
    SELECT DISTINCT delivery_id FROM audit_events
    WHERE run_date = %(day)s AND record_type = 'DeliveryIntent'
)
SELECT error_code, count(*) AS failures
FROM audit_events
WHERE record_type IN ('SendResult', 'StatusEvent') AND {_MONTHS} AND error_code IS NOT NULL
  AND delivery_id IN (SELECT delivery_id FROM deliveries)
GROUP BY error_code ORDER BY failures DESC, error_code
"""  # noqa: S608 - only constant fragments are interpolated

EXPORT_SQL = f"""
WITH sends AS (
    SELECT delivery_id, attempt, advisor_id, phone_number_id, wamid, occurred_at AS sent_at
    FROM audit_events
    WHERE run_date = %(day)s AND record_type = 'SendResult' AND status IN ('ACCEPTED', 'HELD')
), intents AS (
    SELECT DISTINCT ON (delivery_id, attempt) delivery_id, attempt, recipient, template_name,
           record ->> 'template_language' AS template_language, record ->> 'pack_id' AS pack_id,
           approval_id
    FROM audit_events
    WHERE run_date = %(day)s AND record_type = 'DeliveryIntent'
    ORDER BY delivery_id, attempt, occurred_at
), statuses AS (
    SELECT wamid, {_FINAL_STATE} AS final_status, max(occurred_at) AS last_status_at
    FROM audit_events
    WHERE record_type = 'StatusEvent' AND {_MONTHS} AND wamid IN (SELECT wamid FROM sends)
    GROUP BY wamid
)
SELECT s.sent_at, s.advisor_id, i.recipient, s.phone_number_id AS from_number_id,
       i.template_name, i.template_language, i.pack_id, i.approval_id, s.wamid, s.delivery_id,
       s.attempt, coalesce(st.final_status, 'ACCEPTED') AS final_status, st.last_status_at
FROM sends s
LEFT JOIN intents i USING (delivery_id, attempt)
LEFT JOIN statuses st USING (wamid)
ORDER BY s.sent_at, s.delivery_id
"""  # noqa: S608 - only constant fragments are interpolated


def timeline(conn: psycopg.Connection, advisor_id: str, day: date | None = None) -> list[dict[str, Any]]:
    """One advisor's consent changes and deliveries (intent, attempts, statuses), in time order."""
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(TIMELINE_SQL, {"advisor_id": advisor_id, "day": day})
        return cur.fetchall()


def day_summary(conn: psycopg.Connection, day: date) -> dict[str, list[dict[str, Any]]]:
    """A morning in numbers: deliveries by final state, sends by number and template, failures."""
    out: dict[str, list[dict[str, Any]]] = {}
    with conn.cursor(row_factory=dict_row) as cur:
        for name, sql in (("by_state", DAY_BY_STATE_SQL), ("by_number", DAY_BY_NUMBER_SQL),
                          ("by_template", DAY_BY_TEMPLATE_SQL), ("failures", DAY_FAILURES_SQL)):
            cur.execute(sql, {"day": day})
            out[name] = cur.fetchall()
    return out


def export_day(conn: psycopg.Connection, day: date, path: Path) -> int:
    """Write a regulator's CSV of a day's accepted sends; returns the number of rows."""
    with conn.cursor() as cur, path.open("w", newline="", encoding="utf-8") as out:
        cur.execute(EXPORT_SQL, {"day": day})
        writer = csv.writer(out)
        writer.writerow([c.name for c in cur.description or ()])
        count = 0
        for row in cur:
            writer.writerow(["" if v is None else v.isoformat() if hasattr(v, "isoformat") else v
                             for v in row])
            count += 1
    return count
