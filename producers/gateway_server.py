"""Running the gateway in-process: uvicorn in a thread on a free loopback port.

Tests and ``dawn run`` need a real HTTP gateway next to everything else in one process, reachable
at ``.url`` as soon as the ``with`` block starts and fully stopped (Kafka flushed) when it ends.
"""

from __future__ import annotations

import threading
import time

import uvicorn
from starlette.types import ASGIApp

from dawn.embedded.ports import free_port
from producers.gateway import create_app
from producers.gateway_config import GatewayConfig

START_TIMEOUT_S = 15.0


class UvicornThread:
    """Any ASGI app served by uvicorn in a daemon thread on a free loopback port."""

    def __init__(self, app: ASGIApp, host: str = "127.0.0.1", port: int | None = None) -> None:
        self.host = host
        self.port = port or free_port()
        self._server = uvicorn.Server(uvicorn.Config(
            app, host=host, port=self.port, log_level="warning", access_log=False, lifespan="on",
        ))
        self._thread = threading.Thread(target=self._server.run, name="uvicorn", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> UvicornThread:
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"server did not start on {self.url}")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout=START_TIMEOUT_S)

    def __enter__(self) -> UvicornThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class GatewayServer(UvicornThread):
    """``with GatewayServer(config) as gw: httpx.post(gw.webhook_url, ...)``."""

    def __init__(self, config: GatewayConfig, host: str = "127.0.0.1", port: int | None = None) -> None:
        super().__init__(create_app(config), host, port)

    @property
    def webhook_url(self) -> str:
        return f"{self.url}/webhooks/whatsapp"

    def __enter__(self) -> GatewayServer:
        self.start()
        return self
