"""The dashboard's ASGI app: the ops page and its event stream, and the advisor WebSocket.

Everything with data on it is behind a check: the page, its event stream and its JSON behind the
ops token (:mod:`consumers.dashboard.auth`), the advisor socket behind the advisor's own signed
token. The static files (the page's script and styles) hold no data and are public.
"""

from __future__ import annotations

import threading
import time
from importlib import resources
from typing import Any, Protocol

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.websockets import WebSocket

from consumers.dashboard import auth
from consumers.dashboard.advisor_hub import AdvisorHub
from consumers.dashboard.advisor_ws import advisor_socket
from consumers.dashboard.board import OpsBoard
from consumers.dashboard.sse import view_events

STATIC = resources.files("consumers.dashboard") / "static"

_LOGIN_HINT = """<!doctype html><title>dawn ops</title>
<body style="font-family:sans-serif;margin:3em">
<h1>dawn ops dashboard</h1><p>Open the login link printed by <code>dawn run</code> or
<code>dawn dashboard</code> (<code>/login?token=&lt;DAWN_OPS_TOKEN&gt;</code>).</p></body>"""


class Feed(Protocol):
    """What the app needs of the Kafka side (:class:`consumers.dashboard.feed.KafkaFeed`)."""

    board: OpsBoard
    hub: AdvisorHub
    lock: threading.Lock

    def status(self) -> dict[str, Any]: ...


class _ViewCache:
    """One view computed per change (or per second, for the clock-driven parts) for all clients."""

    def __init__(self, feed: Feed) -> None:
        self._feed = feed
        self._key: tuple[Any, ...] | None = None
        self._view: dict[str, Any] = {}
        self._version = 0

    def __call__(self) -> tuple[int, dict[str, Any]]:
        status = self._feed.status()
        with self._feed.lock:
            key = (self._feed.board.version, int(time.time()), status["connected"])
            if key != self._key:
                self._key = key
                self._view = {**self._feed.board.view(), "feed": status}
                self._version += 1
            return self._version, self._view


def create_app(feed: Feed, *, ops_token: str, advisor_secret: str = "",
               closing: threading.Event | None = None) -> Starlette:
    """The app; setting ``closing`` ends its event streams (before the server stops)."""
    view = _ViewCache(feed)
    closing = closing or threading.Event()

    async def index(request: Request) -> Response:
        if not auth.ops_authorised(request, ops_token):
            return HTMLResponse(_LOGIN_HINT, status_code=401)
        return HTMLResponse((STATIC / "index.html").read_text(encoding="utf-8"),
                            headers={"cache-control": "no-store"})

    async def login(request: Request) -> Response:
        return auth.login(request, ops_token)

    async def events(request: Request) -> Response:
        if not auth.ops_authorised(request, ops_token):
            return PlainTextResponse("forbidden", status_code=403)
        return StreamingResponse(view_events(view, request.is_disconnected, closing),
                                 media_type="text/event-stream",
                                 headers={"cache-control": "no-store", "x-accel-buffering": "no"})

    async def snapshot(request: Request) -> Response:
        if not auth.ops_authorised(request, ops_token):
            return PlainTextResponse("forbidden", status_code=403)
        return JSONResponse(view()[1])

    async def advisor(websocket: WebSocket) -> None:
        await advisor_socket(websocket, feed.hub, advisor_secret)

    async def healthz(_request: Request) -> Response:
        return PlainTextResponse("ok")

    return Starlette(routes=[
        Route("/", index), Route("/login", login), Route("/events", events),
        Route("/api/view", snapshot), Route("/healthz", healthz),
        WebSocketRoute("/advisor/ws", advisor),
        Mount("/static", StaticFiles(directory=str(STATIC)), name="static"),
    ])
