"""Retry a step in place until it succeeds, for agents whose records must not be acknowledged
before the step is done (a produce, a ledger write).

Letting the exception out of an agent's loop is worse than waiting: Faust restarts the agent, and
whatever the loop held (the sender's unsent intents, the reconcile agent's statuses, which Faust
may already count as processed) is dropped. So the step is retried with capped exponential
backoff, logging the first failure with its traceback, then one line every ``LOG_EVERY`` failures,
then one line when it recovers: a database outage of minutes does not flood the log.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")

BACKOFF_BASE_S = 0.5
BACKOFF_CAP_S = 10.0
LOG_EVERY = 10


async def retry_in_place(
    step: Callable[[], Awaitable[T]], *, what: str, log: logging.Logger,
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    base_s: float = BACKOFF_BASE_S, cap_s: float = BACKOFF_CAP_S,
) -> T:
    """``await step()`` until it returns; never raises except on cancellation."""
    failures = 0
    while True:
        try:
            result = await step()
        except asyncio.CancelledError:
            raise
        except Exception as error:
            failures += 1
            delay = min(cap_s, base_s * 2 ** min(failures - 1, 16))
            if failures == 1:
                log.exception("%s failed; retrying in place", what)
            elif failures % LOG_EVERY == 0:
                log.error("%s still failing after %d tries (%s: %s)", what, failures,
                          type(error).__name__, error)
            await sleep(delay)
            continue
        if failures:
            log.warning("%s succeeded after %d failed tries", what, failures)
        return result
