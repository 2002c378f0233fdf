"""What to do about each Cloud API error code, kept as one table rather than a chain of ifs.

Meta's advice is to build handling on ``code`` (plus ``error_data.details``), never on the title or
the HTTP status, so the table is keyed by code. The HTTP status only matters when the code is
unknown or absent (a proxy's 502, a timeout): then a 5xx or 429 is worth a backoff and anything
else is treated as a bug, because retrying an error we do not understand risks a retry storm that
costs quality rating.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType

log = logging.getLogger("dawn.whatsapp")


class Action(StrEnum):
    """What the sender should do next. Values are the lower-case names (they go into Avro records)."""

    RETRY_BACKOFF = "retry_backoff"
    RETRY_AFTER = "retry_after"
    RETRY_PAIR = "retry_pair"
    RETRY_24H = "retry_24h"
    LOWER_RATE = "lower_rate"
    STOP_NUMBER = "stop_number"
    HOLD_PORTFOLIO = "hold_portfolio"
    HALT_ALL = "halt_all"
    SUPPRESS_RECIPIENT = "suppress_recipient"
    FAIL_RECIPIENT = "fail_recipient"
    ROTATE_TEMPLATE = "rotate_template"
    FALLBACK_TEMPLATE = "fallback_template"
    USE_TEMPLATE = "use_template"
    DEAD_LETTER = "dead_letter"
    TERMINAL = "terminal"
    CONFIG_ERROR = "config_error"


@dataclass(frozen=True, slots=True)
class ErrorPolicy:
    """The decision for one error.

    ``transient`` means "the number or the platform may recover by itself": only those failures
    count towards a number's circuit breaker. A recipient or template error proves the number's
    path works, so it must not trip the breaker.
    """

    action: Action
    retry_after_s: float | None
    transient: bool
    alert: bool
    description: str


PAIR_RATE_BASE_S = 4.0
MAINTENANCE_RETRY_S = 60.0
THROUGHPUT_RETRY_S = 1.0
MARKETING_LIMIT_RETRY_S = 24 * 3600.0
PORTFOLIO_RETRY_S = 300.0
BACKOFF_BASE_S = 1.0
BACKOFF_CAP_S = 60.0
_MAX_EXPONENT = 12  # 4**12 s is ~194 days: far past any morning, and still a finite float

_HALT = ErrorPolicy(Action.HALT_ALL, None, False, True, "access token invalid or expired")
_CONFIG = ErrorPolicy(Action.CONFIG_ERROR, None, False, True, "missing permission or capability")
#: Public because it is the one transient policy about the app, not a number: a breaker ignores it.
API_RATE_LIMIT = ErrorPolicy(Action.RETRY_BACKOFF, None, True, False, "app or WABA API-call rate limit")
_THROUGHPUT = ErrorPolicy(Action.LOWER_RATE, THROUGHPUT_RETRY_S, True, False, "number throughput exceeded")
_PAIR = ErrorPolicy(Action.RETRY_PAIR, None, False, False, "pair rate limit for this recipient")
_MAINTENANCE = ErrorPolicy(
    Action.RETRY_AFTER, MAINTENANCE_RETRY_S, True, False, "number in maintenance (throughput upgrade)"
)
_TRANSIENT = ErrorPolicy(Action.RETRY_BACKOFF, None, True, False, "transient platform error")
_MALFORMED = ErrorPolicy(Action.DEAD_LETTER, None, False, True, "malformed request (a bug on our side)")
_RECIPIENT = ErrorPolicy(
    Action.FAIL_RECIPIENT, None, False, False, "recipient is the sender or undeliverable"
)
_NUMBER_BLOCKED = ErrorPolicy(
    Action.STOP_NUMBER, None, False, True, "account locked, payment, policy block or spam limit"
)
#: 131048: the business portfolio's messaging limit. Every number of the portfolio shares it, so
#: stopping the number and failing over only spreads the refusal; the intent waits on its number
#: (the limit is a rolling 24 h, or the tier rises) and ops is alerted to plan within the tier.
_PORTFOLIO_LIMIT = ErrorPolicy(
    Action.HOLD_PORTFOLIO, PORTFOLIO_RETRY_S, False, True, "portfolio messaging limit (all numbers)"
)
_NOT_REGISTERED = ErrorPolicy(Action.STOP_NUMBER, None, False, True, "number not registered")
_WINDOW_CLOSED = ErrorPolicy(Action.USE_TEMPLATE, None, False, False, "outside the 24 h service window")
_MARKETING_LIMIT = ErrorPolicy(
    Action.RETRY_24H, MARKETING_LIMIT_RETRY_S, False, False, "per-user marketing limit"
)
_STOPPED = ErrorPolicy(Action.SUPPRESS_RECIPIENT, None, False, False, "user stopped marketing messages")
_TEMPLATE_MISSING = ErrorPolicy(
    Action.FALLBACK_TEMPLATE, None, False, True, "template or language missing or not approved"
)
_TEMPLATE_PAUSED = ErrorPolicy(Action.ROTATE_TEMPLATE, None, False, True, "template paused or disabled")
_EXPERIMENT = ErrorPolicy(Action.TERMINAL, None, False, False, "user is in a Meta experiment")

#: Section 3 of the Cloud API facts, row by row: (codes, policy).
_ROWS: tuple[tuple[Iterable[int], ErrorPolicy], ...] = (
    ((0, 190), _HALT),
    ((3, 10, *range(200, 300), 131005), _CONFIG),
    ((4, 80007), API_RATE_LIMIT),
    ((130429,), _THROUGHPUT),
    ((131056,), _PAIR),
    ((131057,), _MAINTENANCE),
    ((1, 2, 131000, 131016, 133004), _TRANSIENT),
    ((131008, 131009, 132000, 132005, 132012, 131051, 135000), _MALFORMED),
    ((131021, 131026), _RECIPIENT),
    ((131031, 131042, 368), _NUMBER_BLOCKED),
    ((131048,), _PORTFOLIO_LIMIT),
    ((131045, 133010), _NOT_REGISTERED),
    ((131047,), _WINDOW_CLOSED),
    ((131049,), _MARKETING_LIMIT),
    ((131050,), _STOPPED),
    ((132001,), _TEMPLATE_MISSING),
    ((132015, 132016), _TEMPLATE_PAUSED),
    ((130472,), _EXPERIMENT),
)


def _build_table() -> MappingProxyType[int, ErrorPolicy]:
    table: dict[int, ErrorPolicy] = {}
    for codes, policy in _ROWS:
        for code in codes:
            if code in table:
                raise ValueError(f"error code {code} listed twice in the taxonomy")
            table[code] = policy
    return MappingProxyType(table)


#: code -> policy, read-only.
POLICIES = _build_table()

_TRANSPORT = ErrorPolicy(
    Action.RETRY_BACKOFF, None, True, False, "transport error or timeout (outcome may be unknown)"
)
_SERVER = ErrorPolicy(Action.RETRY_BACKOFF, None, True, False, "server error without a known code")
_UNKNOWN = ErrorPolicy(Action.DEAD_LETTER, None, False, True, "unknown error code")

_warned_unknown: set[tuple[int | None, int | None]] = set()


def classify(code: int | None, http_status: int | None = None) -> ErrorPolicy:
    """The policy for an error ``code`` (from a send response or a failed-status webhook).

    A known code decides alone. Without a known code, a 5xx or 429 backs off and no code at all
    (no response: a timeout or a dropped connection) backs off; anything else is dead-lettered with
    an alert and a warning logged once per code, so a new Meta code shows up without flooding logs.
    """
    if code is not None:
        policy = POLICIES.get(code)
        if policy is not None:
            return policy
    if code is None and http_status is None:
        return _TRANSPORT
    if http_status is not None and (http_status >= 500 or http_status == 429):
        return _SERVER
    key = (code, http_status)
    if key not in _warned_unknown:
        _warned_unknown.add(key)
        log.warning("unknown Cloud API error code %s (HTTP %s): dead-lettering", code, http_status)
    return _UNKNOWN


def pair_rate_backoff(attempt: int) -> float:
    """Seconds to wait before retrying a recipient after 131056: Meta's 4^X, X = 0, 1, 2..."""
    return PAIR_RATE_BASE_S ** min(max(attempt, 0), _MAX_EXPONENT)


def retry_delay(policy: ErrorPolicy, attempt: int) -> float | None:
    """Seconds before retry ``attempt`` (0-based) under ``policy``, or None when it is not a retry.

    One place for every retry schedule, so the sender and the sandbox agree on it. Backoff has no
    jitter here: callers spreading many retries add their own.
    """
    match policy.action:
        case Action.RETRY_PAIR:
            return pair_rate_backoff(attempt)
        case Action.RETRY_AFTER | Action.RETRY_24H | Action.LOWER_RATE | Action.HOLD_PORTFOLIO:
            return policy.retry_after_s
        case Action.RETRY_BACKOFF:
            exponent = min(max(attempt, 0), _MAX_EXPONENT)
            return min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2.0**exponent)
        case _:
            return None
