"""The Starlette app: the Graph API routes, the ``/sandbox/`` control routes, and the background
loop (scheduled work and webhook delivery) tied to the app's lifespan."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from starlette.applications import Starlette

from sandbox.routes import control as routes_control
from sandbox.routes import messages as routes_messages
from sandbox.routes import nodes as routes_nodes
from sandbox.routes import templates as routes_templates
from sandbox.state import Sandbox


def build_app(sandbox: Sandbox) -> Starlette:
    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        stop = asyncio.Event()
        task = asyncio.create_task(sandbox.run(stop))
        try:
            yield
        finally:
            stop.set()
            if sandbox.scheduler.wake is not None:
                sandbox.scheduler.wake.set()
            await task

    # Control routes first: "/sandbox/ledger" would otherwise read as "/{version}/{node}".
    routes = [
        *routes_control.routes(sandbox),
        *routes_messages.routes(sandbox),
        *routes_templates.routes(sandbox),
        *routes_nodes.routes(sandbox),
    ]
    return Starlette(routes=routes, lifespan=lifespan)
