"""The sender and reconcile agents' loops survive a failing step: it is retried in place, so held
intents are not dropped and statuses are not counted as processed before the ledger has them."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from store.migrations import apply_migrations
from store.send_ledger import ClaimRequest, claim_batch, mark_accepted
from streams.sender.agent import intake
from streams.sender.reconcile import settle_statuses

T0 = datetime(2026, 11, 23, 0, 29, tzinfo=UTC)


@pytest.fixture(scope="module")
def migrated(database_url: str) -> str:
    apply_migrations(database_url)
    return database_url


class Sleeps:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


async def test_a_failing_ledger_write_is_retried_until_the_proof_is_in(migrated: str) -> None:
    delivery_id = f"d-{uuid.uuid4().hex[:12]}"
    async with await psycopg.AsyncConnection.connect(migrated, autocommit=True) as conn:
        await conn.execute("INSERT INTO advisors (advisor_id, name, phone, language, consent_state)"
                           " VALUES ('adv-agents', 'A', '919800000009', 'EN', 'OPTED_IN')"
                           " ON CONFLICT (advisor_id) DO NOTHING")
        await claim_batch(conn, [ClaimRequest(delivery_id, "adv-agents", 1, "pn-1")], now=T0)
    failures = [psycopg.OperationalError("server closed the connection"),
                psycopg.OperationalError("connection refused")]

    async def flaky_mark(conn: Any, proofs: Sequence[Any]) -> Any:
        if failures:
            raise failures.pop(0)
        return await mark_accepted(conn, proofs)

    sleeps = Sleeps()
    async with AsyncConnectionPool(migrated, min_size=1, max_size=1, open=False,
                                   kwargs={"autocommit": True}) as pool:
        await settle_statuses(pool, [(delivery_id, "wamid.x", T0)], mark=flaky_mark, sleep=sleeps)
        async with pool.connection() as conn:
            cur = await conn.execute("SELECT state, wamid FROM send_ledger WHERE delivery_id = %s",
                                     (delivery_id,))
            assert await cur.fetchone() == ("ACCEPTED", "wamid.x")
    assert len(sleeps.delays) == 2 and sleeps.delays[1] > sleeps.delays[0], "backs off"


@dataclass
class Message:
    value: bytes
    key: bytes | None = b"pn-a"
    partition: int = 0
    offset: int = 0


@dataclass
class Event:
    message: Message


class FakeCodec:
    def decode_or_dead_letter(self, topic: str, value: bytes, **kw: Any) -> tuple[Any, Any]:
        if value == b"bad":
            return None, {"value": value, "error": "undecodable"}
        return {"delivery_id": value.decode(), "phone_number_id": "pn-a"}, None


class FlakyEmitter:
    """Its dead-letter produce times out twice before the broker acknowledges."""

    def __init__(self) -> None:
        self.failures = 2
        self.dead: list[dict[str, Any]] = []

    async def dead_letters(self, records: Sequence[dict[str, Any]]) -> None:
        if self.failures:
            self.failures -= 1
            raise TimeoutError("produce timed out")
        self.dead += records


class Engine:
    def __init__(self) -> None:
        self.items: list[Any] = []

    async def submit(self, items: Sequence[Any]) -> None:
        self.items += items


async def test_a_failing_produce_does_not_take_the_sender_loop_down() -> None:
    emitter, engine, acked, sleeps = FlakyEmitter(), Engine(), [], Sleeps()

    async def ack(event: Any) -> None:
        acked.append(event)

    events = [Event(Message(b"d-1", offset=1)), Event(Message(b"bad", offset=2)),
              Event(Message(b"d-3", offset=3))]
    await intake(events, codec=FakeCodec(), emitter=emitter, ack=ack,  # type: ignore[arg-type]
                 engine=engine, sleep=sleeps)  # type: ignore[arg-type]
    assert [r["error"] for r in emitter.dead] == ["undecodable"]
    assert acked == [events[1]], "the dead letter is acknowledged once it is out"
    assert [i.intent["delivery_id"] for i in engine.items] == ["d-1", "d-3"]
    assert len(sleeps.delays) == 2
