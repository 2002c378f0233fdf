"""Versioned SQL migrations for dawn's PostgreSQL tables (send ledger, consent, audit).

Files ``store/sql/NNNN_name.sql`` apply in order of their number (not of their file name, so a
``10_`` after a ``9_`` is still applied last), once each, under an advisory lock so two
processes starting together do not race; a file changed after it was applied is refused, because
the database would no longer match what the repository says it is.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

import psycopg

log = logging.getLogger("dawn.migrations")

SQL_DIR = Path(__file__).parent / "sql"
_LOCK_KEY = 0x64617764  # any constant shared by every dawn process


class MigrationError(RuntimeError):
    """The database does not match the migrations in the repository."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def available(sql_dir: Path = SQL_DIR) -> list[Migration]:
    out = []
    for path in sorted(sql_dir.glob("*.sql")):
        number, _, name = path.stem.partition("_")
        if not number.isdigit():
            raise MigrationError(f"migration file {path.name} must start with a number")
        out.append(Migration(int(number), name, path.read_text(encoding="utf-8")))
    versions = [m.version for m in out]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"two migrations share a version number: {versions}")
    return sorted(out, key=lambda m: m.version)


def apply_migrations(conninfo: str, sql_dir: Path = SQL_DIR) -> list[int]:
    """Apply what is not applied yet; returns the versions applied now."""
    applied_now: list[int] = []
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
        try:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version integer PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,"
                " applied_at timestamptz NOT NULL DEFAULT now())"
            )
            done = {
                v: c for v, c in conn.execute("SELECT version, checksum FROM schema_migrations")
            }
            for migration in available(sql_dir):
                if migration.version in done:
                    if done[migration.version] != migration.checksum:
                        raise MigrationError(
                            f"migration {migration.version}_{migration.name} changed after it was "
                            "applied; add a new migration instead of editing an old one"
                        )
                    continue
                with conn.transaction():
                    conn.execute(migration.sql)
                    conn.execute(
                        "INSERT INTO schema_migrations (version, name, checksum) VALUES (%s, %s, %s)",
                        (migration.version, migration.name, migration.checksum),
                    )
                log.info("applied migration %04d_%s", migration.version, migration.name)
                applied_now.append(migration.version)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))
    return applied_now
