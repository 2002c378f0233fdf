"""The services dawn needs, embedded or external, started and stopped as one.

Where ``KAFKA_BOOTSTRAP_SERVERS`` or ``DATABASE_URL`` is set the stack starts nothing for it and
hands out the configured address: that is how production runs the same code.
"""

from __future__ import annotations

import atexit
import logging
from dataclasses import dataclass, field
from pathlib import Path

from dawn.embedded.broker import EmbeddedBroker
from dawn.embedded.postgres import EmbeddedPostgres
from dawn.settings import Settings

log = logging.getLogger("dawn.embedded")


@dataclass
class Stack:
    """Addresses of the running Kafka and PostgreSQL, and the children we own."""

    settings: Settings
    kafka_bootstrap: str = ""
    database_url: str = field(default="", repr=False)  # may carry a password
    broker: EmbeddedBroker | None = None
    postgres: EmbeddedPostgres | None = None
    _stopped: bool = field(default=False, repr=False)

    @property
    def embedded_kafka(self) -> bool:
        return self.broker is not None

    @classmethod
    def start(cls, settings: Settings, run_dir: Path | None = None,
              kafka: bool = True, postgres: bool = True) -> Stack:
        run_dir = (run_dir or settings.run_dir).resolve()
        stack = cls(settings=settings)
        atexit.register(stack.stop)
        try:
            if kafka:
                if settings.kafka_bootstrap_servers:
                    stack.kafka_bootstrap = settings.kafka_bootstrap_servers
                else:
                    stack.broker = EmbeddedBroker.start(run_dir)
                    stack.kafka_bootstrap = stack.broker.bootstrap
            if postgres:
                if settings.database_url:
                    stack.database_url = settings.database_url.reveal()
                else:
                    stack.postgres = EmbeddedPostgres.start(run_dir)
                    stack.database_url = stack.postgres.url
        except BaseException:
            stack.stop()
            raise
        return stack

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        for child in (self.postgres, self.broker):
            if child is not None:
                try:
                    child.stop()
                except Exception:
                    log.exception("could not stop %s", type(child).__name__)

    def __enter__(self) -> Stack:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
