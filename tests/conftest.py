"""Shared fixtures: one real broker and one real PostgreSQL for the whole test session.

They are started by the test run itself from the pip-installed wheels (or taken from
KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL when those are set), exactly as ``dawn run`` does.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from dawn.embedded.stack import Stack
from dawn.settings import Settings


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The embedded Kafka and PostgreSQL, shared by every test that needs one."""
    run_dir = Path(os.environ.get("DAWN_TEST_RUN_DIR") or tmp_path_factory.mktemp("dawn-run"))
    with Stack.start(Settings.from_env(), run_dir=run_dir) as running:
        yield running


@pytest.fixture(scope="session")
def bootstrap(stack: Stack) -> str:
    return stack.kafka_bootstrap


@pytest.fixture(scope="session")
def database_url(stack: Stack) -> str:
    return stack.database_url
