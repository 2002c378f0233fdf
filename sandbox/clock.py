"""The sandbox's notion of now: any callable returning epoch seconds.

Every limit, delay and scheduled fault reads this clock and never ``time.time`` directly, so a test
can freeze or jump time (a 24 h messaging window, a 6 s pair-rate interval) instead of sleeping.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

Clock = Callable[[], float]


class ManualClock:
    """A clock that moves only when told to. Safe to advance from a test thread while the sandbox
    reads it from the server thread."""

    def __init__(self, start: float | None = None) -> None:
        self._now = time.time() if start is None else start
        self._lock = threading.Lock()

    def __call__(self) -> float:
        return self._now

    def advance(self, seconds: float) -> float:
        if seconds < 0:
            raise ValueError("a clock does not go backwards")
        with self._lock:
            self._now += seconds
            return self._now
