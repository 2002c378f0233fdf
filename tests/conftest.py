"""Shared fixtures: one real PostgreSQL for the whole test session, a real broker per module.

They are started by the test run itself from the pip-installed wheels (or taken from
KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL when those are set), exactly as ``dawn run`` does.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import replace
from pathlib import Path

import pytest

from dawn.embedded.broker import EmbeddedBroker
from dawn.embedded.stack import Stack
from dawn.settings import Settings
from dawn.topics import TopicReport, ensure_topics


@contextmanager
def embedded_run_dir() -> Iterator[Path]:
    """A fresh run dir for embedded services, which the embedded PostgreSQL's server user can traverse.

    As root, PostgreSQL runs as an unprivileged user; the data of a run dir that user cannot
    traverse is kept in a shared directory instead, where it outlives the test until a later start
    removes it. So the run dir is outside pytest's temporary root (kept at mode 0700) and has the
    mode a run dir made by mkdir has, and its data is deleted with it.
    """
    with tempfile.TemporaryDirectory(prefix="dawn-test-", ignore_cleanup_errors=True) as path:
        os.chmod(path, 0o755)  # noqa: S103 - as mkdir would make it
        yield Path(path)


@pytest.fixture
def fresh_run_dir() -> Iterator[Path]:
    """An empty run dir of this test alone, for a test that starts its own embedded services."""
    with embedded_run_dir() as path:
        yield path


@pytest.fixture(scope="session")
def postgres_stack() -> Iterator[Stack]:
    """The embedded PostgreSQL, one for the whole session (every test keys its rows uniquely)."""
    with ExitStack() as cleanup:
        run_dir = Path(os.environ.get("DAWN_TEST_RUN_DIR") or cleanup.enter_context(embedded_run_dir()))
        yield cleanup.enter_context(Stack.start(Settings.from_env(), run_dir=run_dir, kafka=False))


@pytest.fixture(scope="module")
def stack(postgres_stack: Stack) -> Iterator[Stack]:
    """The session's PostgreSQL and an embedded broker of this test module's own.

    A broker per module, not per session: a worker started with a new group reads its topics from
    the beginning, so on one broker shared by the whole run the late tests' workers replayed every
    earlier test's records first (a ten-second test took seventy at the end of the suite). A broker
    starts in milliseconds. With KAFKA_BOOTSTRAP_SERVERS set, that broker is shared instead.
    """
    settings = postgres_stack.settings
    if settings.kafka_bootstrap_servers:
        yield replace(postgres_stack, kafka_bootstrap=settings.kafka_bootstrap_servers)
        return
    with embedded_run_dir() as run_dir:
        broker = EmbeddedBroker.start(run_dir)
        try:
            yield replace(postgres_stack, kafka_bootstrap=broker.bootstrap, broker=broker)
        finally:
            broker.stop()


@pytest.fixture(scope="module")
def bootstrap(stack: Stack) -> str:
    return stack.kafka_bootstrap


@pytest.fixture(scope="session")
def database_url(postgres_stack: Stack) -> str:
    return postgres_stack.database_url


@pytest.fixture(scope="module")
def topics(bootstrap: str) -> list[TopicReport]:
    """Every catalogue topic, created once per broker, as `dawn up` does before anything produces."""
    reports = ensure_topics(bootstrap)
    assert all(r.ok for r in reports), [r for r in reports if not r.ok]
    return reports
