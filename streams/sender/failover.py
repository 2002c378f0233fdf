"""Failover: a stopped number's intents go, unsent, to a healthy number of the pool.

The target is a stable hash of the delivery id over the healthy numbers, so copies of one
delivery handed over by different ticks land on the same number (and its ledger claim).
"""

from __future__ import annotations

import zlib
from collections.abc import Collection, Sequence
from datetime import datetime

from streams.sender.items import Done, Item
from streams.sender.records import follow_up, send_result


def failover_target(delivery_id: str, numbers: Sequence[str], stopped: Collection[str]) -> str | None:
    """The healthy number ``delivery_id`` moves to, or None when every number is stopped."""
    healthy = [n for n in numbers if n not in stopped]
    if not healthy:
        return None
    return healthy[zlib.crc32(delivery_id.encode()) % len(healthy)]


def hand_over(item: Item, target: str | None, *, now: datetime) -> Done:
    """A pending intent of a stopped number: a follow-up on ``target``, same attempt, or a
    final failure when no healthy number is left."""
    intent = item.intent
    if target is None:
        return Done(item, result=send_result(intent, "FAILED", at=now, action="stop_number",
                                             error_detail="no healthy number left"))
    return Done(item, follow_ups=[follow_up(intent, at=now, send_at=max(now, intent["send_at"]),
                                            next_attempt=False, phone_number_id=target)])
