"""Running the webhook gateway in-process, for tests, benchmarks and ``dawn run``.

The gateway is served by :class:`sandbox.server.UvicornThread` (socket bound before the thread
starts, TCP_NODELAY): reachable at ``base_url`` as soon as the ``with`` block starts and fully
stopped (Kafka flushed) when it ends. It lives here, not in ``producers/``, because only ``dawn/``
may import both ``producers/`` and ``sandbox/``.
"""

from __future__ import annotations

from bus.sink import KafkaSink
from producers.gateway.app import create_app
from producers.gateway.config import GatewayConfig
from sandbox.server import UvicornThread


class GatewayServer(UvicornThread):
    """``with GatewayServer(config) as gw: httpx.post(gw.webhook_url, ...)``."""

    def __init__(self, config: GatewayConfig, host: str = "127.0.0.1", port: int = 0,
                 sink: KafkaSink | None = None) -> None:
        super().__init__(create_app(config, sink), host, port)

    @property
    def webhook_url(self) -> str:
        return f"{self.base_url}/webhooks/whatsapp"

    def __enter__(self) -> GatewayServer:
        self.start()
        return self
