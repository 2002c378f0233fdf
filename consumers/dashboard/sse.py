"""Server-Sent Events: the board's view pushed to the page whenever it changes.

SSE rather than a WebSocket for the ops page: the flow is one way, browsers reconnect an
``EventSource`` by themselves (across a dashboard restart too) and it passes through HTTP proxies
unchanged. The stream sends the whole view at most every ``interval_s`` and only when something
changed, plus a comment line as a keep-alive so idle proxies do not cut it.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any

#: At most this often the page gets a new view (the charts are per second).
INTERVAL_S = 0.5
#: A keep-alive comment at least this often while nothing changes.
KEEPALIVE_S = 10.0


async def view_events(view: Callable[[], tuple[int, dict[str, Any]]],
                      disconnected: Callable[[], Any], closing: threading.Event, *,
                      interval_s: float = INTERVAL_S) -> AsyncIterator[str]:
    """``data:`` lines of the view, each time ``view()``'s version moves; ``view`` must be cheap
    and thread-safe (it is called on the server's loop). Ends when the client goes or the server
    is ``closing``, so a shutdown finishes streams instead of cancelling them."""
    sent_version = -1
    quiet = 0.0
    yield "retry: 2000\n\n"
    while not closing.is_set() and not await disconnected():
        version, data = view()
        if version != sent_version:
            sent_version = version
            quiet = 0.0
            yield f"data: {json.dumps(data, separators=(',', ':'))}\n\n"
        elif quiet >= KEEPALIVE_S:
            quiet = 0.0
            yield ": keep-alive\n\n"
        await asyncio.sleep(interval_s)
        quiet += interval_s
