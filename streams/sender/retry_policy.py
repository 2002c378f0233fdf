"""From a failed send to what the sender does next, by the Cloud API error taxonomy.

The taxonomy (``whatsapp.errors``) says what an error *means*; this module adds the brief's rules
on top: at most :data:`MAX_ATTEMPTS` attempts per message, jitter on every backoff so retries of
one burst do not come back as another burst, and a timeout treated as "maybe sent" (reconcile
first) rather than as a failure.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from enum import StrEnum

from whatsapp.errors import Action, ErrorPolicy, retry_delay

MAX_ATTEMPTS = 3
JITTER = 0.25  # +-25 %


class Next(StrEnum):
    RETRY = "retry"  # a new intent, attempt + 1, after ``delay_s``
    FAILOVER = "failover"  # the number is stopped: re-key to another healthy number
    RECONCILE = "reconcile"  # outcome unknown: wait for a status webhook, then maybe resend
    FAIL = "fail"  # final


@dataclass(frozen=True, slots=True)
class Decision:
    next: Next
    delay_s: float = 0.0
    lower_rate: bool = False
    dead_letter: bool = False


def decide(policy: ErrorPolicy, *, maybe_sent: bool, attempt: int,
           max_attempts: int = MAX_ATTEMPTS, rng: random.Random | None = None) -> Decision:
    """What to do after attempt ``attempt`` (1-based) failed with ``policy``.

    ``maybe_sent`` (a read timeout, a dropped connection, a 5xx without a Graph error) means Meta
    may have taken the message: resending now could send it twice, so it goes to reconciliation,
    on the last attempt too: it may have been delivered, so it is not FAILED until the ledger has
    evidence Meta did not take it (then the engine fails it without another call).
    """
    more = attempt < max_attempts
    if maybe_sent:
        return Decision(Next.RECONCILE)
    if policy.action is Action.STOP_NUMBER:
        return Decision(Next.FAILOVER)
    if policy.action is Action.DEAD_LETTER:
        return Decision(Next.FAIL, dead_letter=True)
    delay = retry_delay(policy, attempt - 1)
    lower = policy.action is Action.LOWER_RATE
    if delay is None or policy.action is Action.RETRY_24H or not more:
        return Decision(Next.FAIL, lower_rate=lower)
    jitter = 1 + (rng or random).uniform(-JITTER, JITTER)
    return Decision(Next.RETRY, delay_s=delay * jitter, lower_rate=lower)
