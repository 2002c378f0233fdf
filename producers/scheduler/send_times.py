"""When each first attempt on one number is sent.

A number's sends are spread over whole seconds counted from the window start: every second gets the
same share (the remainder goes to randomly chosen seconds) and inside a second the sends sit in
evenly spaced slots with random jitter. So each number stays under its per-second budget in every
second, nothing bunches at the window start (which would look like a burst to Meta and to the
sender's rate limiter), and the seeded RNG makes the same morning plan the same times twice.
Times are whole milliseconds because DeliveryIntent.send_at is timestamp-millis.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta


def spread_send_times(
    count: int, per_second: int, seconds: int, start: datetime, rng: random.Random
) -> list[datetime]:
    """``count`` instants in [start, start + seconds), at most ``per_second`` in any whole second.

    Sorted ascending. ValueError when they cannot fit; the capacity check should have said so first.
    """
    if count > per_second * seconds:
        raise ValueError(f"{count} sends do not fit {seconds} s at {per_second} per second")
    if count == 0:
        return []
    base, extra = divmod(count, seconds)
    fuller = set(rng.sample(range(seconds), extra))
    times: list[datetime] = []
    for second in range(seconds):
        k = base + (second in fuller)
        for slot in range(k):
            millis = int((slot + rng.random()) / k * 1000)
            times.append(start + timedelta(milliseconds=second * 1000 + millis))
    return times
