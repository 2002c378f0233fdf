"""Finding the Kafka and PostgreSQL a command should talk to, without ever starting them.

The flag wins, then the environment (``KAFKA_BOOTSTRAP_SERVERS``, ``DATABASE_URL``), then a running
``dawn up`` found through ``<run_dir>/endpoints.json``.
"""

from __future__ import annotations

from dawn import endpoints
from dawn.commands.topics import NoBroker, resolve_bootstrap
from dawn.settings import Settings

__all__ = ["NoBroker", "NoDatabase", "resolve_bootstrap", "resolve_database_url"]


class NoDatabase(RuntimeError):
    """Nothing says which PostgreSQL to talk to."""


def resolve_database_url(flag: str | None, settings: Settings) -> str:
    if flag:
        return flag
    if settings.database_url:
        return settings.database_url.reveal()
    running = endpoints.read(settings.run_dir.resolve())
    if running is not None:
        return running.database_url
    raise NoDatabase(
        "no PostgreSQL to talk to: pass --database-url, set DATABASE_URL, or start `dawn up` "
        f"(none is running with run dir {settings.run_dir})"
    )
