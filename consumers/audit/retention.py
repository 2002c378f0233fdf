"""Keeping the audit trail for five years, and not a month longer, by dropping whole partitions.

Dropping a monthly partition is instant and leaves no bloat, where a DELETE of a month of rows
would rewrite indexes and need a vacuum. A partition is dropped only when every day in it is older
than the retention period, so the trail always covers at least five full years.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date

import psycopg

log = logging.getLogger("dawn.audit")

RETENTION_YEARS = 5
PARTITIONED = ("audit_events", "audit_rejects")


@dataclass(frozen=True)
class Partition:
    table: str
    name: str
    month: date


def cutoff(today: date, years: int = RETENTION_YEARS) -> date:
    """First day still kept: the first of ``today``'s month, ``years`` years back."""
    return date(today.year - years, today.month, 1)


def partitions(conn: psycopg.Connection) -> list[Partition]:
    """Every monthly partition of the audit tables, oldest first."""
    rows = conn.execute(
        "SELECT parent.relname, child.relname, "
        "       substring(pg_get_expr(child.relpartbound, child.oid) FROM $$FROM \\('([0-9-]+)'\\)$$) "
        "FROM pg_inherits i JOIN pg_class parent ON parent.oid = i.inhparent "
        "JOIN pg_class child ON child.oid = i.inhrelid "
        "WHERE parent.relname = ANY(%s) ORDER BY 3, 1",
        (list(PARTITIONED),),
    ).fetchall()
    return [Partition(table, name, date.fromisoformat(start)) for table, name, start in rows if start]


def expired(conn: psycopg.Connection, today: date, years: int = RETENTION_YEARS) -> list[Partition]:
    """Partitions whose whole month lies before the cutoff."""
    first_kept = cutoff(today, years)
    return [p for p in partitions(conn) if p.month < first_kept]


def apply_retention(conn: psycopg.Connection, today: date, *, dry_run: bool = False,
                    years: int = RETENTION_YEARS) -> list[Partition]:
    """Drop expired partitions (or only list them with ``dry_run``); returns them."""
    old = expired(conn, today, years)
    if not dry_run:
        with conn.transaction():
            for p in old:
                conn.execute(psycopg.sql.SQL("DROP TABLE {}").format(psycopg.sql.Identifier(p.name)))
                log.info("dropped audit partition %s (%s)", p.name, p.month.isoformat())
    return old
