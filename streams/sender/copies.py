"""One HTTP call per delivery at a time: the registry of the copy being claimed or sent.

Copies of an intent turn up: a re-run scheduler produces it again, Faust hands out records again
after a rebalance. The ledger already gives out one claim per delivery id, but a copy arriving in
the same batch, or while the first is in flight, would be judged UNKNOWN by the ledger and turned
into a reconcile follow-up of its own. Instead the copy waits here behind the one being sent and
is acknowledged, unsent, once that copy's outcome is flushed (or looked at again on its own if the
first copy was put back unsettled).

Pure bookkeeping, no I/O: the engine acts on what these methods return.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from streams.sender.items import Item


@dataclass(eq=False)
class Sending:
    """The copy of a delivery being claimed or sent, and copies of it that arrived meanwhile."""

    item: Item
    copies: list[Item] = field(default_factory=list)


@dataclass(frozen=True)
class Deduped:
    """What :meth:`Copies.dedupe` made of a batch."""

    send: list[Item]  # one per delivery id, now registered as being sent
    later: list[Item]  # follow-ups of a copy in flight: to be looked at again next tick
    held: int  # copies parked behind the copy being sent


class Copies:
    """delivery_id -> the copy being claimed/sent, from the lane taking it until its outcome is
    flushed; later copies wait here and are acknowledged after it, never sent."""

    def __init__(self) -> None:
        self._sending: dict[str, Sending] = {}

    def __contains__(self, delivery_id: object) -> bool:
        return delivery_id in self._sending

    def __len__(self) -> int:
        return len(self._sending)

    def dedupe(self, batch: list[Item]) -> Deduped:
        """Keep one copy per delivery id: the batch's highest attempt, unless a copy is already
        being claimed or sent. A copy with a higher attempt than the one in flight is a follow-up
        of it (a retry or a hand-over), not a duplicate: it comes back in ``later``."""
        best: dict[str, Item] = {}
        for item in batch:
            held = best.get(item.delivery_id)
            if held is None or item.intent["attempt"] > held.intent["attempt"]:
                best[item.delivery_id] = item
        send: list[Item] = []
        later: list[Item] = []
        copies: list[Item] = []
        for item in batch:
            sending = self._sending.get(item.delivery_id)
            if sending is not None and sending.item is not item:
                if item.intent["attempt"] <= sending.item.intent["attempt"]:
                    sending.copies.append(item)
                else:
                    later.append(item)
            elif best[item.delivery_id] is item:
                self._sending[item.delivery_id] = Sending(item)
                send.append(item)
            else:
                copies.append(item)
        for item in copies:
            self._sending[item.delivery_id].copies.append(item)
        return Deduped(send, later, len(batch) - len(send) - len(later))

    def release(self, item: Item) -> list[Item]:
        """``item`` is done with: forget it and return the copies that waited behind it (none if
        ``item`` is not the registered copy)."""
        sending = self._sending.get(item.delivery_id)
        if sending is None or sending.item is not item:
            return []
        del self._sending[item.delivery_id]
        return sending.copies
