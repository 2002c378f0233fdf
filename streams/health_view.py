"""Every number's latest health, as each worker sees it: what a sender lane asks before claiming.

Fed by a tail of ``wa.numbers.health`` (streams.tail) so it holds every number, not only those
whose partitions this worker owns: a failover target is chosen among all of them. A number without
a record is trusted (no owner has spoken yet: the configured numbers and rates apply), so a fleet
without a quality agent sends exactly as before.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Mapping
from typing import Any

#: Roles that may carry sends; STOPPED may not, PAUSED is kept out of new work.
SENDING_ROLES = frozenset({"PRIMARY", "SPARE", "WARMING"})


class HealthView:
    def __init__(self) -> None:
        self._records: dict[str, Mapping[str, Any]] = {}

    def update(self, record: Mapping[str, Any]) -> None:
        """A NumberHealth record; an older one than held (replays, reordering) is ignored."""
        held = self._records.get(record["phone_number_id"])
        if held is None or record["updated_at"] >= held["updated_at"]:
            self._records[record["phone_number_id"]] = record

    def get(self, phone_number_id: str) -> Mapping[str, Any] | None:
        return self._records.get(phone_number_id)

    def can_send(self, phone_number_id: str) -> bool:
        record = self._records.get(phone_number_id)
        return record is None or (record["role"] in SENDING_ROLES and record["allowed_mps"] > 0)

    def allowed_mps(self, phone_number_id: str) -> float | None:
        """The rate the number may send at now; None when nothing is known about it."""
        record = self._records.get(phone_number_id)
        return None if record is None else float(record["allowed_mps"])

    def failover_target(self, delivery_id: str, current: str, tried: Iterable[str],
                        configured: Iterable[str]) -> str | None:
        """Where a moved intent goes: a number that can send, is not ``current`` and was never
        tried by this delivery (so it cannot bounce back), spread by delivery id. Healthy
        primaries first; spares when they are all that is left. The pool is the ``configured``
        numbers when there are any (``--numbers``), else every number with a health record."""
        excluded = {current, *tried}
        configured = set(configured)
        pool = sorted((configured or set(self._records)) - excluded)
        usable = [n for n in pool if self.can_send(n)]
        if not usable:
            return None
        primaries = [n for n in usable if (self._records.get(n) or {}).get("role") != "SPARE"]
        choice = primaries or usable
        return choice[zlib.crc32(delivery_id.encode()) % len(choice)]
