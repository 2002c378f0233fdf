"""The delivery-state agent's book in PostgreSQL: batches of any size and order, two workers at
once, and a batch rolled back after it published, all end where one pure fold of every record ends.

The oracle is :func:`tests.test_delivery_state.replay` (the in-memory merge, whose order and
duplicate independence that module proves), never the code under test.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterable

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.catalogue import INTENTS, RESULTS, STATUSES
from streams.delivery import state as ds
from streams.delivery.batch import merge_batch
from tests.isolation import fresh_database
from tests.test_delivery_state import morning, replay

TOPIC = {"intent": INTENTS.name, "result": RESULTS.name, "status": STATUSES.name}


@pytest.fixture(scope="module")
def book_url(database_url: str) -> str:
    return fresh_database(database_url, "book")


def renamed(events: Iterable[tuple[str, dict]], tag: str) -> list[tuple[str, dict]]:
    """``events`` with every delivery id and wamid made unique to ``tag``: one database serves
    every example, and no example may see another's deliveries."""
    out = []
    for kind, record in events:
        record = dict(record)
        for field in ("delivery_id", "callback_data", "wamid"):
            if record.get(field):
                record[field] = f"{tag}-{record[field]}"
        out.append((kind, record))
    return out


def as_topics(events: Iterable[tuple[str, dict]]) -> list[tuple[str, dict]]:
    return [(TOPIC[kind], record) for kind, record in events]


async def merge(url: str, events: list[tuple[str, dict]]) -> list[ds.Delivery]:
    async with await psycopg.AsyncConnection.connect(url) as conn, conn.transaction():
        return (await merge_batch(conn, as_topics(events))).changed


async def stored(url: str, tag: str) -> dict[str, ds.Delivery]:
    async with await psycopg.AsyncConnection.connect(url) as conn:
        cur = await conn.execute("SELECT delivery_id, doc FROM delivery_book WHERE delivery_id LIKE %s",
                                 (f"{tag}-%",))
        return {i: ds.from_json(doc) for i, doc in await cur.fetchall()}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_batches_of_any_split_and_order_store_and_publish_what_one_fold_gives(
        book_url: str, data: st.DataObject) -> None:
    tag = uuid.uuid4().hex[:10]
    events = renamed(morning(), tag)
    events = data.draw(st.permutations(events + data.draw(st.lists(st.sampled_from(events), max_size=6))))
    cuts = sorted(data.draw(st.sets(st.integers(1, len(events) - 1), max_size=6)))
    batches = [events[a:b] for a, b in zip([0, *cuts], [*cuts, len(events)], strict=True)]

    published: dict[str, ds.Delivery] = {}
    for batch in batches:
        for delivery in asyncio.run(merge(book_url, batch)):
            published[delivery.delivery_id] = delivery

    expected = replay(events)
    assert asyncio.run(stored(book_url, tag)) == expected
    # every change was published, so the last published value of each delivery is its final one
    assert published == expected


def test_two_workers_merging_the_same_deliveries_at_once_lose_no_fact(book_url: str) -> None:
    """Two connections merge overlapping halves of a morning concurrently, in opposite orders:
    each batch reads before the other writes unless the rows are locked."""

    async def rounds() -> None:
        for _ in range(15):
            tag = uuid.uuid4().hex[:10]
            events = renamed(morning(), tag)
            first, second = events[0::2], list(reversed(events[1::2]))
            await asyncio.gather(merge(book_url, first), merge(book_url, second))
            assert await stored(book_url, tag) == replay(events)

    asyncio.run(rounds())


def test_two_workers_adding_facts_to_deliveries_already_in_the_book_lose_none(book_url: str) -> None:
    """The same race on deliveries the book already holds (their intents merged first): here the
    rows exist, so only the lock taken when they are read keeps one batch from writing over the
    other's facts."""

    async def rounds() -> None:
        for _ in range(15):
            tag = uuid.uuid4().hex[:10]
            events = renamed(morning(), tag)
            intents = [e for e in events if e[0] == "intent"]
            rest = [e for e in events if e[0] != "intent"]
            await merge(book_url, intents)
            await asyncio.gather(merge(book_url, rest[0::2]), merge(book_url, list(reversed(rest[1::2]))))
            assert await stored(book_url, tag) == replay(events)

    asyncio.run(rounds())


def test_a_batch_rolled_back_after_it_published_is_published_again(book_url: str) -> None:
    """The agent publishes before it commits: a crash in between must publish the change again
    when the records are read again, not find it already merged and stay silent."""
    tag = uuid.uuid4().hex[:10]
    events = renamed(morning(), tag)

    async def scenario() -> tuple[list[ds.Delivery], list[ds.Delivery], list[ds.Delivery]]:
        async with await psycopg.AsyncConnection.connect(book_url) as conn:
            with pytest.raises(RuntimeError):
                async with conn.transaction():
                    lost = (await merge_batch(conn, as_topics(events))).changed
                    raise RuntimeError("the worker died before the commit")
            async with conn.transaction():
                again = (await merge_batch(conn, as_topics(events))).changed
            async with conn.transaction():
                replayed = (await merge_batch(conn, as_topics(events))).changed
        return lost, again, replayed

    lost, again, replayed = asyncio.run(scenario())
    assert lost == again and {d.delivery_id for d in again} == set(replay(events))
    assert replayed == []  # once committed, the same records change nothing and publish nothing
    assert asyncio.run(stored(book_url, tag)) == replay(events)

