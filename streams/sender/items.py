"""What flows between the sender's steps: an intent with its source record, and its fate."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from store.send_ledger import Outcome


class Emitter(Protocol):
    """Where the sender's records go; awaiting a call means the broker acknowledged them."""

    async def intents(self, records: Sequence[dict[str, Any]]) -> None: ...
    async def results(self, records: Sequence[dict[str, Any]]) -> None: ...
    async def dead_letters(self, records: Sequence[dict[str, Any]]) -> None: ...


@dataclass(eq=False)
class Item:
    """One intent and the handle that acknowledges its source record."""

    intent: dict[str, Any]
    source: Any = None  # the Faust event; acknowledged through the settler's ``ack``
    key: bytes | None = None  # the source record, kept for a dead letter
    value: bytes | None = None
    partition: int = -1
    offset: int = -1

    @property
    def delivery_id(self) -> str:
        return str(self.intent["delivery_id"])


@dataclass(eq=False)
class Done:
    """An item whose fate is decided, waiting for the flusher: what to write where.

    ``outcome`` goes to the ledger, ``result`` to ``wa.delivery.results``, ``follow_ups`` (retry,
    reconcile wait, hand-over) to ``wa.delivery.intents``, ``dead_letter`` (a reason) to the DLQ.
    ``give_up`` and ``paced`` are evidence for the ledger (see :mod:`store.send_ledger`). A
    ``Done`` with none of them only acknowledges its record.
    """

    item: Item
    outcome: Outcome | None = None
    result: dict[str, Any] | None = None
    follow_ups: list[dict[str, Any]] = field(default_factory=list)
    dead_letter: str | None = None
    give_up: bool = False  # past its deadline with no evidence: the ledger marks it UNKNOWN
    paced: str | None = None  # a template Meta answered held_for_quality_assessment
