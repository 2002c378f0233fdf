"""The A/B report of a morning's template test, from the audit trail.

Each advisor's arm is on the intent the scheduler wrote (``ab_arm``, deterministic per advisor and
pack), so the report needs nothing but the audit rows: per arm, how many were sent (accepted or
held by Meta), delivered, read, the median time from acceptance to read, and how many advisors
opted out (STOP or a marketing suppression) within ``optout_days`` after their send. Rates carry
Wilson 95 % intervals; the best arm by read rate (read / delivered) is compared with the runner-up
by a two-proportion z-test, and named the winner only when the difference is significant.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import psycopg

from consumers.audit.stats import ZTest, two_proportion_z, wilson

AB_ARMS = """
WITH arms AS (
    SELECT DISTINCT ON (delivery_id) delivery_id, advisor_id, record ->> 'ab_arm' AS arm,
           record ->> 'template_name' AS template
    FROM audit_events
    WHERE run_date = %(day)s AND record_type = 'DeliveryIntent' AND record ->> 'ab_arm' IS NOT NULL
      AND (%(pack_id)s::text IS NULL OR record ->> 'pack_id' = %(pack_id)s)
    ORDER BY delivery_id, attempt, occurred_at),
sent AS (
    SELECT delivery_id, min(occurred_at) AS sent_at FROM audit_events
    WHERE record_type = 'SendResult' AND status IN ('ACCEPTED', 'HELD')
      AND delivery_id IN (SELECT delivery_id FROM arms)
    GROUP BY delivery_id),
statuses AS (
    SELECT delivery_id, bool_or(status IN ('DELIVERED', 'READ')) AS delivered,
           min(occurred_at) FILTER (WHERE status = 'READ') AS read_at
    FROM audit_events
    WHERE record_type = 'StatusEvent' AND delivery_id IN (SELECT delivery_id FROM arms)
    GROUP BY delivery_id),
optouts AS (
    SELECT a.delivery_id FROM arms a JOIN sent s USING (delivery_id)
    WHERE EXISTS (
        SELECT 1 FROM audit_events e
        WHERE e.record_type = 'Advisor' AND e.advisor_id = a.advisor_id
          AND e.occurred_at > s.sent_at
          AND e.occurred_at <= s.sent_at + make_interval(days => %(optout_days)s)
          AND (e.status LIKE 'STOPPED%%' OR e.status LIKE '%%suppressed%%')))
SELECT a.arm, min(a.template) AS template, count(*) AS planned, count(s.delivery_id) AS sent,
       count(*) FILTER (WHERE st.delivered OR st.read_at IS NOT NULL) AS delivered,
       count(st.read_at) AS read,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM st.read_at - s.sent_at))
           AS median_read_s,
       count(o.delivery_id) AS opted_out
FROM arms a
LEFT JOIN sent s USING (delivery_id)
LEFT JOIN statuses st USING (delivery_id)
LEFT JOIN optouts o USING (delivery_id)
GROUP BY a.arm ORDER BY a.arm
"""


@dataclass(frozen=True)
class Arm:
    arm: str
    template: str
    planned: int
    sent: int
    delivered: int
    read: int
    median_read_s: float | None
    opted_out: int

    @property
    def delivered_rate(self) -> float:
        return self.delivered / self.sent if self.sent else 0.0

    @property
    def delivered_ci(self) -> tuple[float, float]:
        return wilson(self.delivered, self.sent)

    @property
    def read_rate(self) -> float:
        return self.read / self.delivered if self.delivered else 0.0

    @property
    def read_ci(self) -> tuple[float, float]:
        return wilson(self.read, self.delivered)

    @property
    def optout_rate(self) -> float:
        return self.opted_out / self.sent if self.sent else 0.0

    @property
    def optout_ci(self) -> tuple[float, float]:
        return wilson(self.opted_out, self.sent)


@dataclass(frozen=True)
class AbReport:
    arms: list[Arm]
    best: Arm | None  # highest read rate
    runner_up: Arm | None
    test: ZTest | None  # best vs runner-up, read / delivered

    @property
    def winner(self) -> Arm | None:
        """The best arm when its read rate is significantly higher (p < 0.05), else None."""
        return self.best if self.test is not None and self.test.significant() else None


def compare(arms: list[Arm]) -> AbReport:
    ranked = sorted(arms, key=lambda a: a.read_rate, reverse=True)
    if len(ranked) < 2:
        return AbReport(arms, ranked[0] if ranked else None, None, None)
    best, second = ranked[0], ranked[1]
    return AbReport(arms, best, second,
                    two_proportion_z(best.read, best.delivered, second.read, second.delivered))


def ab_report(conn: psycopg.Connection, day: date, pack_id: str | None = None,
              optout_days: int = 7) -> AbReport:
    rows = conn.execute(AB_ARMS, {"day": day, "pack_id": pack_id, "optout_days": optout_days}).fetchall()
    return compare([Arm(r[0], r[1], r[2], r[3], r[4], r[5],
                        None if r[6] is None else float(r[6]), r[7]) for r in rows])
