"""Retention drops whole months older than five years, and only those."""

from __future__ import annotations

from datetime import date

import psycopg

from consumers.audit.retention import apply_retention, cutoff, partitions
from store.migrations import apply_migrations


def test_cutoff_keeps_five_full_years() -> None:
    assert cutoff(date(2026, 11, 22)) == date(2021, 11, 1)
    assert cutoff(date(2024, 2, 29)) == date(2019, 2, 1)


def test_retention_drops_only_expired_months(database_url: str) -> None:
    apply_migrations(database_url)
    with psycopg.connect(database_url, autocommit=True) as conn:
        for month in (date(2019, 1, 1), date(2021, 10, 1), date(2021, 11, 1)):
            for table in ("audit_events", "audit_rejects"):
                conn.execute("SELECT audit_ensure_month(%s, %s)", (table, month))
        today = date(2026, 11, 22)

        listed = apply_retention(conn, today, dry_run=True)
        assert {(p.table, p.month) for p in listed} >= {
            ("audit_events", date(2019, 1, 1)), ("audit_events", date(2021, 10, 1)),
            ("audit_rejects", date(2019, 1, 1)), ("audit_rejects", date(2021, 10, 1)),
        }
        assert all(p.month < date(2021, 11, 1) for p in listed)
        assert {p.name for p in listed} <= {p.name for p in partitions(conn)}  # dry run drops nothing

        dropped = apply_retention(conn, today)
        assert dropped == listed
        left = {p.name for p in partitions(conn)}
        assert "audit_events_2021_11" in left and "audit_rejects_2021_11" in left
        assert not {p.name for p in dropped} & left
