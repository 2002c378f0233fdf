"""Work due at a time on the sandbox clock: status webhooks, held-message releases, template
approvals, scheduled faults.

Due times are clock readings rather than sleeps, so a test's manual clock releases a held message
an hour later the moment it jumps an hour, and a real clock runs everything on time.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
from collections.abc import Callable
from itertools import count

log = logging.getLogger("dawn.sandbox")


class Scheduler:
    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = count()
        self.wake: asyncio.Event | None = None

    def at(self, when: float, job: Callable[[], None]) -> None:
        earliest = self._heap[0][0] if self._heap else None
        heapq.heappush(self._heap, (when, next(self._seq), job))
        if self.wake is not None and (earliest is None or when < earliest):
            self.wake.set()

    def run_due(self, now: float) -> None:
        heap = self._heap
        while heap and heap[0][0] <= now:
            job = heapq.heappop(heap)[2]
            try:
                job()
            except Exception:  # one broken job must not stop the clock for everything else
                log.exception("sandbox job failed")

    def next_due(self) -> float | None:
        try:  # EAFP: a test thread may ask while the loop pops the last job
            return self._heap[0][0]
        except IndexError:
            return None

    def clear(self) -> None:
        self._heap.clear()
