"""Failover: a stopped number's intents go, unsent, to a healthy number of the pool.

The target is a stable hash of the delivery id over the healthy numbers, so copies of one
delivery handed over by different ticks land on the same number (and its ledger claim). It is
never a number the delivery has left (its ``tried_numbers``, which each hand-over extends), so a
moved intent cannot bounce back to a stopped number, whichever worker moves it next.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any

from streams.health_view import HealthView
from streams.sender.items import Done, Item
from streams.sender.records import follow_up, send_result


def failover_target(intent: Mapping[str, Any], numbers: Sequence[str], stopped: Collection[str],
                    health: HealthView | None = None) -> str | None:
    """The healthy number ``intent`` moves to, or None when no untried number can send.

    ``stopped`` are the numbers this worker saw fail; ``health`` adds what the quality agent
    says of every number (stopped ones, spares as the last resort, and the whole fleet as the pool
    when no ``numbers`` are configured)."""
    tried = [*(intent.get("tried_numbers") or ()), *stopped]
    return (health or HealthView()).failover_target(
        intent["delivery_id"], intent["phone_number_id"], tried, numbers)


def hand_over(item: Item, target: str | None, *, now: datetime) -> Done:
    """A pending intent of a stopped number: a follow-up on ``target``, same attempt, or a
    final failure when no healthy number is left."""
    intent = item.intent
    if target is None:
        return Done(item, result=send_result(intent, "FAILED", at=now, action="stop_number",
                                             error_detail="no healthy number left"))
    return Done(item, follow_ups=[follow_up(intent, at=now, send_at=max(now, intent["send_at"]),
                                            next_attempt=False, phone_number_id=target)])
