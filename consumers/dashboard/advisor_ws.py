"""The advisor's WebSocket: their own deliveries' state changes, as they happen.

The token is the first thing checked: a browser cannot set headers on a WebSocket, so it comes as
``?token=`` (never logged) and names the advisor it was minted for; a missing, forged or expired
one closes the handshake with 1008 (policy violation) before anything is sent. The advisor is then
sent their deliveries' current states and every change after, each as one JSON message, from the
hub that the Kafka thread feeds, so only that advisor's records can reach the socket.
"""

from __future__ import annotations

import asyncio
import contextlib

from starlette.websockets import WebSocket, WebSocketDisconnect

from consumers.dashboard.advisor_hub import AdvisorHub
from ops.tokens import advisor_of

#: A ping this often keeps idle connections open through proxies.
PING_S = 20.0


async def advisor_socket(websocket: WebSocket, hub: AdvisorHub, secret: str) -> None:
    advisor = advisor_of(websocket.query_params.get("token"), secret)
    if advisor is None:
        await websocket.close(code=1008)
        return
    await websocket.accept()
    queue, present = hub.subscribe(advisor)
    closed: asyncio.Future | None = None
    try:
        await websocket.send_json({"type": "hello", "advisor_id": advisor})
        for event in present:
            await websocket.send_json({"type": "state", **event})
        closed = asyncio.ensure_future(_until_closed(websocket))
        while not closed.done():
            getter = asyncio.ensure_future(queue.get())
            done, _ = await asyncio.wait({getter, closed}, timeout=PING_S,
                                         return_when=asyncio.FIRST_COMPLETED)
            if getter in done:
                await websocket.send_json({"type": "state", **getter.result()})
            else:
                getter.cancel()
                if not done:
                    await websocket.send_json({"type": "ping"})
    except (WebSocketDisconnect, RuntimeError):
        pass  # the browser went away mid-send
    finally:
        hub.unsubscribe(advisor, queue)
        if closed is not None:
            closed.cancel()
        with contextlib.suppress(RuntimeError, WebSocketDisconnect):
            await websocket.close()


async def _until_closed(websocket: WebSocket) -> None:
    """Read (and ignore) what the client sends until it disconnects."""
    with contextlib.suppress(WebSocketDisconnect, RuntimeError):
        while True:
            await websocket.receive_text()
