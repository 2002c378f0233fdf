"""A number's lane: its intents ordered by ``send_at``, its limiter, in-flight bound and client.

Intents are held in memory, unacknowledged, until their ``send_at`` (Faust commits only the
contiguous acknowledged offsets), so the consumer keeps polling and heartbeating while a lane
waits; waits are bounded ticks, never a sleep until a far ``send_at``.

80 mps at 100-300 ms per call needs about 24 in flight (Little's law), so the default in-flight
bound is 32. One client per lane rather than one for the worker: httpcore's connection pool does
work quadratic in its connection count on every request, and one pool of ~100 connections for
three numbers was measured to spend most of the worker's CPU there (throughput fell to a quarter
of the allowed rate at 150 ms latency); pools of one lane's size do not.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from streams.limiter import SendRateLimiter
from streams.rates import NumberRate
from streams.sender.items import Item
from streams.sender.options import TICK_S
from whatsapp.client import CloudApiClient

log = logging.getLogger("dawn.sender")
_seq = itertools.count()  # ties in send_at are served in arrival order


@dataclass(eq=False)
class Lane:
    phone_number_id: str
    rate: NumberRate  # shared with every agent of this process sending from the number
    in_flight: asyncio.Semaphore
    client: CloudApiClient
    heap: list[tuple[datetime, int, Item]] = field(default_factory=list)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    stopped_until: float | None = None  # monotonic time; the number cannot send until then
    claim_failures: int = 0
    task: asyncio.Task[None] | None = None
    health_seen: Mapping[str, Any] | None = None  # the health record the bucket's rate follows

    @property
    def bucket(self) -> SendRateLimiter:
        return self.rate.limiter

    def stopped(self, monotonic: float) -> bool:
        """Stopped numbers are tried again after their stop expires (a new morning, a fixed
        account): the breaker's half-open probe then decides, instead of a flag kept for the
        life of the process."""
        if self.stopped_until is not None and monotonic >= self.stopped_until:
            self.stopped_until = None
        return self.stopped_until is not None

    def push(self, item: Item, send_at: datetime) -> None:
        """Queue ``item``; wake the lane only if it is now the first due (the lane's sleep ends
        at the first due anyway), so intents arriving one by one do not cut its gathering short."""
        if not self.heap or send_at < self.heap[0][0]:
            self.wake.set()
        heapq.heappush(self.heap, (send_at, next(_seq), item))

    def follow_health(self, record: Mapping[str, Any] | None) -> None:
        """Take the number's allowed rate from a new health record (a throttle, a recovery step).
        Only a new record moves the bucket, so a rate the lane lowered itself after a 130429 is
        not undone by a record that predates it; a stop (0 mps) is the caller's to act on."""
        if record is None or record is self.health_seen:
            return
        self.health_seen = record
        if record["allowed_mps"] > 0 and record["allowed_mps"] != self.rate.allowed:
            log.info("number %s now allowed %.1f mps (%s)", self.phone_number_id,
                     record["allowed_mps"], record.get("reason"))
            self.rate.allowed = record["allowed_mps"]  # the pace aims below it (streams.rates)

    def chunk(self) -> int:
        """Claim about a tick's worth of sends at once: enough to batch, little to strand."""
        return max(8, int(self.bucket.rate * TICK_S) + 1)

    def take_due(self, now: datetime, owned: Callable[[Any], bool]) -> tuple[list[Item], int]:
        """Pop up to a chunk of items due at ``now``; also drop items whose partition moved to
        another worker (it reads them again). Returns (due items, how many were dropped)."""
        dropped = 0
        out: list[Item] = []
        while self.heap and (not owned(self.heap[0][2].source) or
                             (self.heap[0][0] <= now and len(out) < self.chunk())):
            item = heapq.heappop(self.heap)[2]
            if owned(item.source):
                out.append(item)
            else:
                dropped += 1
        return out, dropped

    async def wait(self, now: datetime) -> None:
        """Sleep until the next item is due, an earlier one is pushed, or a tick passed.

        Not longer: gathering what falls due over 50 ms into one claim saved ledger work, but sent
        the gathered intents at the limiter's catch-up pace, and at 80 mps with Meta-like latency
        the sandbox then counted a few 130429s (seen once in two full test runs)."""
        wait = TICK_S if not self.heap else min(TICK_S, (self.heap[0][0] - now).total_seconds())
        self.wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.wake.wait(), max(wait, 0.001))
