"""A broker and a database of a test module's own, for tests whose records would otherwise be
read by (or steer) other tests on the session's shared broker and database."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg

from dawn.embedded.broker import EmbeddedBroker
from dawn.topics import ensure_topics
from store.migrations import apply_migrations


@contextmanager
def own_broker(run_dir: Path) -> Iterator[EmbeddedBroker]:
    """An embedded broker with every catalogue topic, stopped afterwards."""
    running = EmbeddedBroker.start(run_dir)
    try:
        assert all(r.ok for r in ensure_topics(running.bootstrap))
        yield running
    finally:
        running.stop()


def fresh_database(database_url: str, prefix: str) -> str:
    """A new, migrated database on the session's PostgreSQL; its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")  # a generated name, not input
    url = psycopg.conninfo.make_conninfo(database_url, dbname=name)
    apply_migrations(url)
    return url
