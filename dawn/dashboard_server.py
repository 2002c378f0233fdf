"""Running the ops dashboard: its Kafka feed and its web server, together.

Used by ``dawn dashboard`` (in the foreground) and ``dawn run`` (alongside the morning). It lives
in ``dawn/`` because it joins ``consumers/`` to the embedded-broker client profile and to the
uvicorn thread of ``sandbox/``, which only ``dawn/`` may import together.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from types import TracebackType
from urllib.parse import quote

from consumers.dashboard import sse
from consumers.dashboard.advisor_hub import AdvisorHub
from consumers.dashboard.app import create_app
from consumers.dashboard.board import OpsBoard
from consumers.dashboard.feed import KafkaFeed
from dawn.embedded.client_profile import consumer_config
from dawn.settings import Secret, Settings
from sandbox.server import UvicornThread
from schemas.codec import Codec


class DashboardServer:
    """``with DashboardServer(...) as d: print(d.login_url)``: the feed reading, the page served."""

    def __init__(self, bootstrap: str, settings: Settings, *, ops_token: str, embedded: bool,
                 numbers: Mapping[str, float] | None = None, host: str = "127.0.0.1",
                 port: int = 0, since_ms: int | None = None) -> None:
        if not ops_token:
            raise ValueError("the dashboard needs an ops token (DAWN_OPS_TOKEN)")
        self._ops_token = ops_token = _plain(ops_token)
        board = OpsBoard(numbers=numbers, prices_inr=settings.prices_inr,
                         budget_inr=settings.budget_daily_inr)
        self.feed = KafkaFeed(consumer_config(bootstrap, "dawn-dashboard", embedded),
                              Codec(settings.schema_registry_url), board, AdvisorHub(),
                              since_ms=since_ms)
        self._closing = threading.Event()
        self._server = UvicornThread(
            create_app(self.feed, ops_token=ops_token,
                       advisor_secret=_plain(settings.advisor_token_secret), closing=self._closing),
            host, port)

    @property
    def base_url(self) -> str:
        return self._server.base_url

    @property
    def login_url(self) -> str:
        """The link a person opens once: it carries the ops token, so print it, never log it."""
        return f"{self.base_url}/login?token={quote(self._ops_token, safe='')}"

    def view(self) -> dict:
        """The board as the page sees it (for ``dawn run`` to check the page caught up)."""
        with self.feed.lock:
            return self.feed.board.view()

    def __enter__(self) -> DashboardServer:
        self.feed.start()
        try:
            self._server.start()
        except BaseException:
            self.feed.stop()
            raise
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._closing.set()  # event streams end within their interval, before uvicorn's grace runs out
        time.sleep(sse.INTERVAL_S)
        self._server.stop()
        self.feed.stop()


def _plain(value: str) -> str:
    """A secret's real value as a plain ``str`` for the code that compares it."""
    return value.reveal() if isinstance(value, Secret) else value
