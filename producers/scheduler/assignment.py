"""Which sender number each advisor gets this morning.

Sticky first (Twilio's "sticky sender"): an advisor who always hears from the same number trusts it
and keeps one conversation thread, so they keep their number while it is healthy and has room.
Everyone else (new advisors, and those whose number is unhealthy or full) goes to the number with
the lowest planned share of its capacity, so numbers with different rates fill evenly. No number is
ever planned past its capacity; who does not fit is returned, not squeezed in.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class SenderNumber:
    """A business phone number the scheduler may plan sends on, and the rate it is allowed now."""

    phone_number_id: str
    allowed_mps: float
    role: str = "PRIMARY"
    daily_cap: int | None = None  # a warming number's or a spare's sends for the day; None: no cap


@dataclass(frozen=True)
class Assignment:
    """Advisor id -> phone_number_id, and the advisor ids that no number had room for."""

    senders: dict[str, str]
    unassigned: list[str]


def assign_senders(
    advisors: Iterable[tuple[str, str | None]],
    capacities: Mapping[str, int],
) -> Assignment:
    """Assign each (advisor_id, sticky_sender) to a number with room; ``capacities`` is per number.

    Deterministic for the same inputs whatever their order: advisors are taken by id, ties between
    equally loaded numbers go to the smaller phone_number_id.
    """
    ordered = sorted(advisors, key=lambda a: a[0])
    load = dict.fromkeys(capacities, 0)
    senders: dict[str, str] = {}
    rest: list[str] = []
    for advisor_id, sticky in ordered:
        if sticky in load and load[sticky] < capacities[sticky]:
            senders[advisor_id] = sticky
            load[sticky] += 1
        else:
            rest.append(advisor_id)
    heap = [(_share(load[n], capacities[n]), n) for n in capacities if capacities[n] > 0]
    heapq.heapify(heap)
    unassigned: list[str] = []
    for advisor_id in rest:
        while heap and load[heap[0][1]] >= capacities[heap[0][1]]:
            heapq.heappop(heap)
        if not heap:
            unassigned.append(advisor_id)
            continue
        _, number = heapq.heappop(heap)
        senders[advisor_id] = number
        load[number] += 1
        heapq.heappush(heap, (_share(load[number], capacities[number]), number))
    return Assignment(senders, unassigned)


def sticky_changes(
    advisors: Sequence[tuple[str, str | None]], senders: Mapping[str, str]
) -> dict[str, str]:
    """Advisors whose planned number differs from their recorded sticky sender: what to write back."""
    return {a: senders[a] for a, sticky in advisors if a in senders and senders[a] != sticky}


def _share(load: int, capacity: int) -> float:
    return load / capacity if capacity else float("inf")
