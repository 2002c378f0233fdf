"""Audit rows per second through the sink's write path, against a plain COPY of the same rows.

    python bench/audit_copy.py [--rows 100000] [--batch 5000]

The sink's path is staging COPY + INSERT ... ON CONFLICT DO NOTHING into the partitioned
``audit_events``, one transaction per batch (what makes replays free). The baseline COPYs the same
rows, in the same batches, straight into an equivalent partitioned table with the same indexes
and no conflict handling: the fastest way in, with no idempotency. Goal: ratio >= 0.7.
A third figure adds turning decoded records into rows (content ids, JSON) to the sink's path.
Kafka is not involved (no client profile applies); PostgreSQL is ``DATABASE_URL`` or an embedded
one started in a temporary directory.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

from consumers.audit.rows import COLUMNS, AuditRow, audit_row
from consumers.audit.writer import AuditWriter
from dawn.embedded.postgres import EmbeddedPostgres
from store.migrations import apply_migrations

RUN_DATE = date(2026, 11, 23)


def records(n: int) -> list[tuple[str, dict[str, Any]]]:
    """A morning's mix: per delivery an intent, a result and three statuses."""
    t0 = datetime(2026, 11, 23, 0, 30, tzinfo=UTC)
    out: list[tuple[str, dict[str, Any]]] = []
    i = 0
    while len(out) < n:
        delivery, number, phone = f"D{i:08d}", f"PN{i % 8}", f"9198{i:08d}"
        at = t0 + timedelta(milliseconds=i)
        out.append(("wa.delivery.intents", {
            "delivery_id": delivery, "run_date": RUN_DATE, "advisor_id": f"A{i:08d}", "phone": phone,
            "user_id": None, "pack_id": "pack-1", "approval_id": "APR-1", "language": "HI",
            "template_name": "daily_pack_hi", "template_language": "hi", "image_sha256": "ab" * 32,
            "params": {"advisor_name": "राहुल वर्मा"}, "phone_number_id": number, "send_at": at,
            "deadline": t0, "attempt": 1, "last_error_code": None, "created_at": at}))
        out.append(("wa.send.results", {
            "delivery_id": delivery, "attempt": 1, "run_date": RUN_DATE, "advisor_id": f"A{i:08d}",
            "phone_number_id": number, "outcome": "ACCEPTED", "wamid": f"wamid.{i}", "wa_id": phone,
            "error_code": None, "error_detail": None, "action": None, "latency_ms": 120,
            "template_name": "daily_pack_hi", "sent_at": at}))
        for n_status, status in enumerate(("SENT", "DELIVERED", "READ")):
            out.append(("wa.status.events", {
                "event_id": f"wamid.{i}:{status}", "waba_id": "W", "phone_number_id": number,
                "wamid": f"wamid.{i}", "status": status, "timestamp": at + timedelta(seconds=n_status),
                "recipient_id": phone, "recipient_user_id": None, "callback_data": delivery,
                "errors": [], "pricing": None, "received_at": at}))
        i += 1
    return out[:n]


def plain_copy(url: str, rows: list[AuditRow], batch: int) -> float:
    names = ", ".join(COLUMNS)
    with psycopg.connect(url) as conn:
        conn.execute("DROP TABLE IF EXISTS bench_plain")
        conn.execute("CREATE TABLE bench_plain (LIKE audit_events INCLUDING DEFAULTS INCLUDING INDEXES) "
                     "PARTITION BY RANGE (month)")
        conn.execute("SELECT audit_ensure_month('bench_plain', %s)", (RUN_DATE,))
        conn.commit()
        started = time.perf_counter()
        for i in range(0, len(rows), batch):
            with conn.cursor() as cur, cur.copy(f"COPY bench_plain ({names}) FROM STDIN") as copy:
                for row in rows[i:i + batch]:
                    copy.write_row(row)
            conn.commit()
        elapsed = time.perf_counter() - started
        conn.execute("DROP TABLE bench_plain")
        conn.commit()
    return len(rows) / elapsed


def _clear_audit(url: str) -> None:
    with psycopg.connect(url) as conn:
        conn.execute("DELETE FROM audit_events WHERE run_date = %s OR event_id LIKE 'status:wamid.%%'",
                     (RUN_DATE,))


def sink_path(url: str, rows: list[AuditRow], batch: int) -> float:
    _clear_audit(url)
    writer = AuditWriter(url)
    writer.ensure_months("audit_events", {RUN_DATE.replace(day=1)})
    started = time.perf_counter()
    for i in range(0, len(rows), batch):
        writer.write(rows[i:i + batch])
    elapsed = time.perf_counter() - started
    writer.close()
    return len(rows) / elapsed


def sink_path_with_rows(url: str, decoded: list[tuple[str, dict[str, Any]]], batch: int) -> float:
    _clear_audit(url)
    writer = AuditWriter(url)
    started = time.perf_counter()
    for i in range(0, len(decoded), batch):
        writer.write([audit_row(topic, record) for topic, record in decoded[i:i + batch]])
    elapsed = time.perf_counter() - started
    writer.close()
    return len(decoded) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=5000, help="rows per transaction (the sink's batch)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        pg = None if os.environ.get("DATABASE_URL") else EmbeddedPostgres.start(Path(tmp))
        url = os.environ.get("DATABASE_URL") or pg.url  # type: ignore[union-attr]
        try:
            apply_migrations(url)
            decoded = records(args.rows)
            rows = [audit_row(topic, record) for topic, record in decoded]
            plain_copy(url, rows[: args.batch], args.batch)  # warm up
            plain = plain_copy(url, rows, args.batch)
            sink = sink_path(url, rows, args.batch)
            full = sink_path_with_rows(url, decoded, args.batch)
            _clear_audit(url)
        finally:
            if pg is not None:
                pg.stop()
    print(f"rows: {args.rows}, batch: {args.batch}, PostgreSQL: {'external' if pg is None else 'embedded'}")
    print(f"plain COPY into an equivalent table : {plain:10,.0f} rows/s")
    print(f"sink write path (stage + ON CONFLICT): {sink:10,.0f} rows/s   "
          f"ratio {sink / plain:.2f} (goal >= 0.7)")
    print(f"sink path incl. record -> row        : {full:10,.0f} rows/s   ratio {full / plain:.2f}")


if __name__ == "__main__":
    main()
