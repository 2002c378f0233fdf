"""Writing audit rows to PostgreSQL: COPY into a staging table, then one idempotent INSERT.

COPY is the fast way in, but it cannot skip rows that are already there; INSERT ... ON CONFLICT DO
NOTHING can. Copying a batch into a temporary table and moving it with one INSERT ... SELECT gets
both: bulk speed and "a replay adds nothing". The whole batch is one transaction, so the caller
may commit its Kafka offsets as soon as :meth:`AuditWriter.write` returns, and not before.

When PostgreSQL is unreachable :meth:`AuditWriter.write` keeps retrying the same batch with
capped exponential backoff, reconnecting each time; nothing is dropped and, since the insert is
idempotent, a batch that committed just before the connection broke is harmless to write again.

A row PostgreSQL refuses as data (``DataError``: a value its types cannot hold; NULs are already
replaced by :mod:`consumers.audit.rows`) must not stop the sink for good, since a restart would
read the same batch and fail again. The batch is then written row by row, each in a savepoint, and
every refused row is filed in ``audit_rejects`` with the reason instead.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from datetime import date
from typing import Any

import psycopg

from consumers.audit.rows import COLUMNS, REJECT_COLUMNS, AuditRow, clean_text, reject_row

log = logging.getLogger("dawn.audit")

_STAGES = {"audit_events": ("audit_stage", COLUMNS), "audit_rejects": ("audit_reject_stage", REJECT_COLUMNS)}


#: (refused audit_events row, reason) -> the audit_rejects row to file instead.
RejectOf = Callable[[AuditRow, str], AuditRow]


def reject_of_row(row: AuditRow, error: str) -> AuditRow:
    """An audit_rejects row for a refused audit_events row: its record as UTF-8 JSON bytes."""
    record: Any = row[COLUMNS.index("record")]
    return reject_row(row[COLUMNS.index("topic")], None, str(record).encode("utf-8"), error,
                      partition=row[COLUMNS.index("source_partition")],
                      offset=row[COLUMNS.index("source_offset")],
                      produced_at_ms=int(row[COLUMNS.index("occurred_at")].timestamp() * 1000))


class AuditWriter:
    """One PostgreSQL connection writing audit batches; reconnects on its own."""

    def __init__(self, database_url: str, *, backoff_s: float = 0.5, max_backoff_s: float = 5.0,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.database_url = database_url
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.sleep = sleep
        self._conn: psycopg.Connection | None = None
        self._months: set[tuple[str, date]] = set()

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _connection(self) -> psycopg.Connection:
        if self._conn is None or self._conn.closed:
            conn = psycopg.connect(self.database_url, connect_timeout=5)
            for table, (stage, _) in _STAGES.items():
                conn.execute(
                    f"CREATE TEMP TABLE IF NOT EXISTS {stage} "  # table names are constants
                    f"(LIKE {table} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
                )
            conn.commit()
            self._conn = conn
        return self._conn

    def write(self, rows: Sequence[AuditRow], rejects: Sequence[AuditRow] = (),
              stop: threading.Event | None = None, reject_of: RejectOf = reject_of_row) -> int:
        """Write a batch, retrying until it commits; returns the rows that were new.

        Rows refused as data go to ``audit_rejects`` as ``reject_of`` makes them (see the module
        doc). Returns -1 only when ``stop`` is set while PostgreSQL is still unreachable: the batch
        was not written and its offsets must not be committed.
        """
        delay = self.backoff_s
        one_by_one = False
        while True:
            try:
                if one_by_one:
                    return self._write_one_by_one(rows, rejects, reject_of)
                return self._write_once(rows, rejects)
            except psycopg.DataError as exc:
                if one_by_one:
                    raise  # a reject row refused: nothing left to file it in
                log.error("PostgreSQL refused a row of the batch of %d (%s); writing it row by row",
                          len(rows) + len(rejects), str(exc).strip().splitlines()[0])
                one_by_one = True  # the failed transaction was rolled back as a whole
                continue
            except psycopg.OperationalError as exc:
                self.close()
                if stop is not None and stop.is_set():
                    return -1
                log.warning("PostgreSQL unavailable (%s); retrying the batch of %d in %.1f s",
                            str(exc).strip().splitlines()[0] if str(exc) else type(exc).__name__,
                            len(rows) + len(rejects), delay)
                self.sleep(delay)
                delay = min(delay * 2, self.max_backoff_s)

    def _write_once(self, rows: Sequence[AuditRow], rejects: Sequence[AuditRow]) -> int:
        conn = self._connection()
        months = {("audit_events", r[1]) for r in rows} | {("audit_rejects", r[1]) for r in rejects}
        with conn.transaction():
            self._ensure_months(conn, months)
            inserted = self._copy_insert(conn, "audit_events", rows)
            self._copy_insert(conn, "audit_rejects", rejects)
        self._months |= months  # only once committed: a rolled-back partition does not exist
        return inserted

    def _write_one_by_one(self, rows: Sequence[AuditRow], rejects: Sequence[AuditRow],
                          reject_of: RejectOf) -> int:
        conn = self._connection()
        inserted = 0
        refused: list[AuditRow] = []
        names = ", ".join(COLUMNS)
        marks = ", ".join(["%s"] * len(COLUMNS))
        with conn.transaction():
            self._ensure_months(conn, {("audit_events", r[1]) for r in rows})
            for row in rows:
                try:
                    with conn.transaction(), conn.cursor() as cur:  # a savepoint per row
                        cur.execute(f"INSERT INTO audit_events ({names}) VALUES ({marks}) "  # noqa: S608
                                    "ON CONFLICT DO NOTHING", row)
                        inserted += cur.rowcount
                except psycopg.DataError as exc:
                    error = clean_text(f"{type(exc).__name__}: {str(exc).strip()}")
                    log.error("audit row %s refused, filed in audit_rejects: %s", row[0], error)
                    refused.append(reject_of(row, error))
            all_rejects = [*rejects, *refused]
            months = {("audit_rejects", r[1]) for r in all_rejects}
            self._ensure_months(conn, months)
            self._copy_insert(conn, "audit_rejects", all_rejects)
        self._months |= months | {("audit_events", r[1]) for r in rows}
        return inserted

    def _ensure_months(self, conn: psycopg.Connection, months: set[tuple[str, date]]) -> None:
        for table, month in sorted(months - self._months):
            conn.execute("SELECT audit_ensure_month(%s, %s)", (table, month))

    def ensure_months(self, table: str, months: set[date]) -> None:
        """Create partitions ahead of the records that will need them."""
        wanted = {(table, m) for m in months}
        conn = self._connection()
        with conn.transaction():
            self._ensure_months(conn, wanted)
        self._months |= wanted

    @staticmethod
    def _copy_insert(conn: psycopg.Connection, table: str, rows: Sequence[AuditRow]) -> int:
        if not rows:
            return 0
        stage, columns = _STAGES[table]
        names = ", ".join(columns)
        with conn.cursor() as cur:
            with cur.copy(f"COPY {stage} ({names}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            cur.execute(
                f"INSERT INTO {table} ({names}) SELECT {names} FROM {stage} "  # noqa: S608 - constants
                "ON CONFLICT DO NOTHING"
            )
            return cur.rowcount
