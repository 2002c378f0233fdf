"""The Cloud API client's wire (whatsapp.aiohttp_transport) over real sockets: what reaches the
server, and what each way of failing says about the send.

The oracle is the resend rule: only a failure before any byte of the request left (nothing
listening, no pool slot in time) may be "not sent"; a request the server read and then dropped or
never answered is "maybe sent", or the sender would send it twice. Each server here counts the
requests it read, so "not sent" is checked against what the server actually saw.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx
import pytest

from whatsapp.client import CloudApiClient, CloudApiError
from whatsapp.payloads import TemplateMessage

PN = "110000000000001"
PACK = TemplateMessage("daily_pack_v1", "en", header_image_link="https://example.com/p.jpg",
                       body_params={"advisor_name": "आशा"})
ANSWER = json.dumps({"messaging_product": "whatsapp", "contacts": [{"input": "919800000001",
                     "wa_id": "919800000001"}], "messages": [{"id": "wamid.ok"}]}).encode()


@dataclass
class Server:
    """A raw HTTP/1.1 server: ``mode`` ok (answers), close (reads, then hangs up) or hang (reads,
    never answers). ``requests`` holds each request it read: head and body."""

    mode: str = "ok"
    requests: list[tuple[bytes, bytes]] = field(default_factory=list)
    port: int = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length:")), 0)
                self.requests.append((head, await reader.readexactly(length)))
                if self.mode == "close":
                    break
                if self.mode == "hang":
                    await asyncio.sleep(30)
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                             b"Content-Length: %d\r\n\r\n%s" % (len(ANSWER), ANSWER))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    state = Server()
    running = await asyncio.start_server(state.handle, "127.0.0.1", 0)
    state.port = running.sockets[0].getsockname()[1]
    async with running:
        yield state
        running.close()


def client(port: int, **kwargs: object) -> CloudApiClient:
    return CloudApiClient(f"http://127.0.0.1:{port}", "v26.0", "token-1", **kwargs)  # type: ignore[arg-type]


async def test_the_request_arrives_whole_and_the_answer_is_read(server: Server) -> None:
    async with client(server.port) as api:
        for i in range(3):  # one kept-alive connection serves them in turn
            accepted = await api.send_template(PN, "919800000001", PACK, callback_data=f"d-{i}")
            assert accepted.wamid == "wamid.ok"
    assert len(server.requests) == 3
    head, body = server.requests[0]
    assert head.startswith(f"POST /v26.0/{PN}/messages HTTP/1.1".encode())
    assert b"authorization: bearer token-1" in head.lower()
    sent = json.loads(body)
    assert sent["biz_opaque_callback_data"] == "d-0" and sent["to"] == "919800000001"
    assert "आशा" in body.decode()


async def test_nothing_listening_is_not_sent() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, never listening: refused
        async with client(port) as api:
            with pytest.raises(CloudApiError) as caught:
                await api.send_template(PN, "919800000001", PACK)
    assert not caught.value.maybe_sent


async def test_a_request_read_then_dropped_is_maybe_sent(server: Server) -> None:
    server.mode = "close"
    async with client(server.port) as api:
        with pytest.raises(CloudApiError) as caught:
            await api.send_template(PN, "919800000001", PACK)
    assert len(server.requests) == 1, "the transport must not send a POST again"
    assert caught.value.maybe_sent


async def test_a_request_read_and_never_answered_is_maybe_sent(server: Server) -> None:
    server.mode = "hang"
    timeout = httpx.Timeout(connect=2.0, read=0.5, write=2.0, pool=2.0)
    async with client(server.port, timeout=timeout) as api:
        with pytest.raises(CloudApiError) as caught:
            await api.send_template(PN, "919800000001", PACK)
    assert len(server.requests) == 1
    assert caught.value.maybe_sent


async def test_no_pool_slot_in_time_is_not_sent(server: Server) -> None:
    server.mode = "hang"
    timeout = httpx.Timeout(connect=2.0, read=5.0, write=2.0, pool=0.3)
    async with client(server.port, timeout=timeout,
                      limits=httpx.Limits(max_connections=1)) as api:
        first = asyncio.create_task(api.send_template(PN, "919800000001", PACK))
        while not server.requests:
            await asyncio.sleep(0.01)
        with pytest.raises(CloudApiError) as caught:
            await api.send_template(PN, "919800000002", PACK)
        first.cancel()
    assert not caught.value.maybe_sent
    assert len(server.requests) == 1, "the request that found no slot reached the server"
