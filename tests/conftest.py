"""Shared fixtures: one real broker and one real PostgreSQL for the whole test session.

They are started by the test run itself from the pip-installed wheels (or taken from
KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL when those are set), exactly as ``dawn run`` does.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest

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
def stack() -> Iterator[Stack]:
    """The embedded Kafka and PostgreSQL, shared by every test that needs one."""
    with ExitStack() as cleanup:
        run_dir = Path(os.environ.get("DAWN_TEST_RUN_DIR") or cleanup.enter_context(embedded_run_dir()))
        yield cleanup.enter_context(Stack.start(Settings.from_env(), run_dir=run_dir))


@pytest.fixture(scope="session")
def bootstrap(stack: Stack) -> str:
    return stack.kafka_bootstrap


@pytest.fixture(scope="session")
def database_url(stack: Stack) -> str:
    return stack.database_url


@pytest.fixture(scope="session")
def topics(bootstrap: str) -> list[TopicReport]:
    """Every catalogue topic, created once per session, as `dawn up` does before anything produces."""
    reports = ensure_topics(bootstrap)
    assert all(r.ok for r in reports), [r for r in reports if not r.ok]
    return reports
