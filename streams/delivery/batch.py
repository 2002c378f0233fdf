"""Merging a batch of intents, results and statuses into the stored book, in one transaction.

A morning's delivery gets an intent, a result and two or three statuses within seconds. Merged
one record at a time, each would write the book and publish a state; merged a batch at a time,
a delivery costs one read, one write and one published state per batch it appears in, whatever
Meta repeats. The caller publishes :attr:`Merged.changed` before committing, so a crash between
the two republishes (same value) instead of leaving a change unpublished.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg

from schemas.catalogue import RESULTS, STATUSES
from store import delivery_book
from streams.delivery import state as ds
from streams.delivery.book import DeliveryBook


@dataclass(frozen=True)
class Merged:
    """The deliveries the batch changed, each once with its final value, in first-change order."""

    changed: list[ds.Delivery]


def _wamids(records: Sequence[tuple[str, dict[str, Any]]]) -> set[str]:
    return {record["wamid"] for topic, record in records
            if topic in (RESULTS.name, STATUSES.name) and record.get("wamid")}


def _named_ids(records: Sequence[tuple[str, dict[str, Any]]]) -> set[str]:
    """Delivery ids the records name themselves (statuses through their callback data)."""
    ids = set()
    for topic, record in records:
        named = record.get("callback_data") if topic == STATUSES.name else record["delivery_id"]
        if named:
            ids.add(named)
    return ids


async def merge_batch(conn: psycopg.AsyncConnection,
                      records: Sequence[tuple[str, dict[str, Any]]]) -> Merged:
    """Lock what ``records`` (decoded, with their topic) touch, merge them in order, save what
    changed. Runs inside the caller's transaction."""
    wamids = _wamids(records)
    known = await delivery_book.known_wamids(conn, wamids)
    ids = _named_ids(records) | {known[w] for w in wamids if w in known}
    locked = await delivery_book.lock(conn, ids, wamids)
    stored = {i: ds.from_json(doc) for i, doc in locked.deliveries.items() if doc is not None}
    waiting_before = {w: ds.from_json(doc) for w, doc in locked.waiting.items()}
    book = DeliveryBook(deliveries=dict(stored), wamids=dict(known), waiting=dict(waiting_before))
    order: dict[str, None] = {}
    for topic, record in records:
        for delivery in book.apply(topic, record):
            order.setdefault(delivery.delivery_id, None)
    changed = [book.deliveries[i] for i in order if book.deliveries[i] != stored.get(i)]
    waiting = {w: ds.to_json(d) for w, d in book.waiting.items() if waiting_before.get(w) != d}
    await delivery_book.save(
        conn,
        deliveries={d.delivery_id: ds.to_json(d) for d in changed},
        wamids={w: i for w, i in book.wamids.items() if w not in known},
        waiting=waiting,
        no_longer_waiting=[w for w in waiting_before if w not in book.waiting],
    )
    return Merged(changed)
