"""What the sandbox test modules share: one sandbox per module on a manual clock, a Cloud API
client for it, and its control endpoints. Import the fixtures by name into a test module."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from sandbox.clock import ManualClock
from sandbox.config import SandboxConfig
from sandbox.server import SandboxServer
from whatsapp.client import CloudApiClient

START = 1_767_225_600.0  # 2026-01-01 00:00 UTC


@pytest.fixture(scope="module")
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture(scope="module")
def server(clock: ManualClock) -> Iterator[SandboxServer]:
    with SandboxServer(clock=clock) as running:
        yield running


@pytest.fixture
async def client(server: SandboxServer) -> AsyncIterator[CloudApiClient]:
    async with CloudApiClient(server.base_url) as c:
        yield c


async def control(server: SandboxServer, method: str, path: str, body: Any = None,
                  **params: Any) -> dict[str, Any]:
    """``method /sandbox/path`` with ``body`` as JSON; raises on an error status."""
    async with httpx.AsyncClient() as http:
        response = await http.request(method, f"{server.base_url}/sandbox/{path}", json=body,
                                      params=params or None)
        response.raise_for_status()
        return response.json()


async def reset(server: SandboxServer, config: SandboxConfig) -> None:
    await control(server, "POST", "reset", config.to_dict())


async def ledger(server: SandboxServer, **params: Any) -> dict[str, Any]:
    return await control(server, "GET", "ledger", **params)
