"""Fan-out of delivery state changes to the advisors watching them.

The Kafka thread calls :meth:`AdvisorHub.publish` for every delivery state; each connected advisor
has an asyncio queue on the server's loop, fed with ``call_soon_threadsafe`` so the thread never
blocks on a slow browser. Only changes are pushed: the compacted ``wa.delivery.state`` repeats a
delivery's latest state on replay, and an advisor should see ``DELIVERED`` once, not twice.
The hub remembers each advisor's latest state per delivery so a fresh connection starts from the
present instead of an empty screen. Queues are unbounded: an advisor has a handful of state
changes a morning, so a slow browser cannot make one grow.
"""

from __future__ import annotations

import asyncio
import threading
from collections import defaultdict
from datetime import datetime
from typing import Any

from consumers.dashboard.board import failure_reason


def advisor_event(record: dict[str, Any]) -> dict[str, Any]:
    """What an advisor's page is told about one of their deliveries."""
    state = record["state"]
    updated: datetime = record["updated_at"]
    return {
        "delivery_id": record["delivery_id"], "run_date": record["run_date"].isoformat(),
        "state": state, "attempts": record.get("attempts", 0),
        "error_code": record.get("error_code") if state == "FAILED" else None,
        "reason": failure_reason(record.get("error_code")) if state == "FAILED" else None,
        "at": int(updated.timestamp() * 1000),
    }


class AdvisorHub:
    """advisor id -> the queues of their open connections, and their deliveries' latest states."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscribers: dict[str, set[tuple[asyncio.AbstractEventLoop, asyncio.Queue]]] = (
            defaultdict(set))
        self._latest: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)

    def publish(self, record: dict[str, Any]) -> None:
        """Called from the Kafka thread for every DeliveryState record."""
        event = advisor_event(record)
        advisor = record["advisor_id"]
        with self._lock:
            previous = self._latest[advisor].get(event["delivery_id"])
            if previous is not None and previous["state"] == event["state"]:
                return
            self._latest[advisor][event["delivery_id"]] = event
            targets = list(self._subscribers.get(advisor, ()))
        for loop, queue in targets:
            loop.call_soon_threadsafe(queue.put_nowait, event)

    def subscribe(self, advisor: str) -> tuple[asyncio.Queue, list[dict[str, Any]]]:
        """A queue of ``advisor``'s future changes and their deliveries' current states."""
        queue: asyncio.Queue = asyncio.Queue()
        with self._lock:
            self._subscribers[advisor].add((asyncio.get_running_loop(), queue))
            present = sorted(self._latest.get(advisor, {}).values(), key=lambda e: e["at"])
        return queue, present

    def unsubscribe(self, advisor: str, queue: asyncio.Queue) -> None:
        with self._lock:
            subscribers = self._subscribers.get(advisor, set())
            for entry in [e for e in subscribers if e[1] is queue]:
                subscribers.discard(entry)
            if not subscribers:
                self._subscribers.pop(advisor, None)

