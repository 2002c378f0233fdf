"""Serving the sandbox (or any ASGI app) from a background thread, for tests and ``dawn run``.

The listening socket is bound before the thread starts, so the port is known and free the moment
``start()`` returns and two servers never race for one port.
"""

from __future__ import annotations

import socket
import threading
import time
from types import TracebackType
from typing import Any

import uvicorn

from sandbox.app import build_app
from sandbox.clock import Clock
from sandbox.config import SandboxConfig
from sandbox.state import Sandbox

_START_TIMEOUT_S = 15.0  # the gateway starts a Kafka producer in its lifespan


class UvicornThread:
    """Serve ``app`` with uvicorn on a loopback port in a daemon thread."""

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0) -> None:
        # IPPROTO_TCP explicitly: asyncio only sets TCP_NODELAY on sockets whose proto says TCP,
        # and without it Nagle meets delayed ACKs and every request costs ~40 ms.
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((host, port))
        self.host, self.port = self._sock.getsockname()[:2]
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on",
                                timeout_graceful_shutdown=1)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._sock]},
                                        name=f"uvicorn-{self.port}", daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> UvicornThread:
        self._thread.start()
        deadline = time.monotonic() + _START_TIMEOUT_S
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"server on {self.base_url} did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout=_START_TIMEOUT_S)
        self._sock.close()

    def __enter__(self) -> UvicornThread:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


class SandboxServer(UvicornThread):
    """The sandbox on a free loopback port: ``base_url`` for the client (without the version),
    ``sandbox`` for reading its state directly.

    >>> with SandboxServer(SandboxConfig(), clock=ManualClock()) as server:  # doctest: +SKIP
    ...     client = CloudApiClient(server.base_url)
    """

    def __init__(self, config: SandboxConfig | None = None, *, clock: Clock = time.time,
                 host: str = "127.0.0.1", port: int = 0) -> None:
        self.sandbox = Sandbox(config, clock=clock)
        super().__init__(build_app(self.sandbox), host, port)

    def __enter__(self) -> SandboxServer:
        self.start()
        return self
