"""The SQL migration runner against the real embedded PostgreSQL, each test in a database of its own."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from store.migrations import MigrationError, apply_migrations

MIGRATIONS = {
    "0001_log.sql": "CREATE TABLE applied_log (n serial PRIMARY KEY, version integer NOT NULL);"
                    " INSERT INTO applied_log (version) VALUES (1);",
    # Numbered without padding on purpose: 9 must run before 10, whatever the file names sort as.
    "9_second.sql": "INSERT INTO applied_log (version) VALUES (9);",
    "10_third.sql": "ALTER TABLE applied_log ADD COLUMN note text;"
                    " INSERT INTO applied_log (version) VALUES (10);",
}


@pytest.fixture
def db(database_url: str) -> Iterator[str]:
    """A fresh, empty database on the session's PostgreSQL, dropped afterwards."""
    name = f"migrations_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    try:
        yield make_conninfo(database_url, dbname=name)
    finally:
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def sql_dir(tmp_path: Path) -> Path:
    for name, sql in MIGRATIONS.items():
        (tmp_path / name).write_text(sql, encoding="utf-8")
    return tmp_path


def _log(conninfo: str) -> list[int]:
    with psycopg.connect(conninfo) as conn:
        return [v for (v,) in conn.execute("SELECT version FROM applied_log ORDER BY n")]


def test_applies_every_migration_once_in_version_order(db: str, sql_dir: Path) -> None:
    assert apply_migrations(db, sql_dir) == [1, 9, 10]
    assert _log(db) == [1, 9, 10]
    with psycopg.connect(db) as conn:
        rows = conn.execute("SELECT version, name FROM schema_migrations ORDER BY version").fetchall()
    assert rows == [(1, "log"), (9, "second"), (10, "third")]


def test_running_again_applies_nothing(db: str, sql_dir: Path) -> None:
    apply_migrations(db, sql_dir)
    assert apply_migrations(db, sql_dir) == []
    assert _log(db) == [1, 9, 10]


def test_a_new_migration_is_applied_alone(db: str, sql_dir: Path) -> None:
    apply_migrations(db, sql_dir)
    (sql_dir / "0011_fourth.sql").write_text("INSERT INTO applied_log (version) VALUES (11);")
    assert apply_migrations(db, sql_dir) == [11]
    assert _log(db) == [1, 9, 10, 11]


def test_a_changed_applied_migration_is_refused(db: str, sql_dir: Path) -> None:
    apply_migrations(db, sql_dir)
    (sql_dir / "9_second.sql").write_text("INSERT INTO applied_log (version) VALUES (99);")
    with pytest.raises(MigrationError, match="9_second changed after it was applied"):
        apply_migrations(db, sql_dir)
    assert _log(db) == [1, 9, 10]


def test_a_failing_migration_leaves_nothing_half_applied(db: str, sql_dir: Path) -> None:
    (sql_dir / "0011_broken.sql").write_text(
        "INSERT INTO applied_log (version) VALUES (11); SELECT * FROM no_such_table;")
    with pytest.raises(psycopg.errors.UndefinedTable):
        apply_migrations(db, sql_dir)
    assert _log(db) == [1, 9, 10]  # the earlier ones stay; 11's insert was rolled back with it
    (sql_dir / "0011_broken.sql").write_text("INSERT INTO applied_log (version) VALUES (11);")
    assert apply_migrations(db, sql_dir) == [11]


def test_concurrent_appliers_apply_each_migration_exactly_once(db: str, sql_dir: Path) -> None:
    appliers = 4
    start = threading.Barrier(appliers)
    results: list[list[int]] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            start.wait(timeout=30)
            results.append(apply_migrations(db, sql_dir))
        except BaseException as exc:  # collected and asserted on below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(appliers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert sorted(v for applied in results for v in applied) == [1, 9, 10]
    assert _log(db) == [1, 9, 10]
