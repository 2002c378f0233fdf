"""The error taxonomy: every code of the Cloud API facts maps to the action the facts prescribe."""

from __future__ import annotations

import logging
import re

import pytest

from whatsapp.errors import POLICIES, Action, classify, pair_rate_backoff, retry_delay

# Section 3 of the project's Cloud API facts ("Error codes and what to do"), transcribed as is.
FACTS_SECTION_3 = """
| 0, 190 | auth / token expired (HTTP 401) | halt all sending, alert |
| 3, 10, 200-299, 131005 | permission / capability | permanent config error, alert |
| 4, 80007 | app or WABA API-call rate limit | retry with backoff |
| 130429 | throughput exceeded | retry shortly, lower that number's rate |
| 131056 | pair rate limit | retry that recipient after 4^X s |
| 131057 | number in maintenance (throughput upgrade) | retry after ~60 s |
| 1, 2, 131000, 131016, 133004, HTTP 5xx, timeouts | transient | retry with exponential backoff |
| 131008, 131009, 132000, 132005, 132012, 131051, 135000 | malformed request | permanent (bug), dead-letter |
| 131021, 131026 | recipient is sender / undeliverable | permanent for that recipient |
| 131031, 131042, 368 | account locked / payment / policy block | stop that number, fail over, alert |
| 131048 | spam rate limit: the portfolio's messaging limit, shared by every number \
| hold on that number, retry later, alert |
| 131045, 133010 | number not registered | stop that number, alert |
| 131047 | outside 24 h window (free-form) | use a template |
| 131049 | per-user marketing limit | no retry for 24 h |
| 131050 | user stopped marketing messages | never retry, suppress |
| 132001 | template/language missing or not approved | fall back to another template or language |
| 132015 / 132016 | template paused / disabled | rotate to a spare template |
| 130472 | user in an experiment | terminal for this send |
"""

# What each row's "class" column means as an Action, and whether it alerts: where the facts say
# "alert", plus bugs (dead-letter) and template trouble, which ops must see the same morning.
EXPECTED_BY_CLASS: dict[str, tuple[Action, bool]] = {
    "halt all sending, alert": (Action.HALT_ALL, True),
    "permanent config error, alert": (Action.CONFIG_ERROR, True),
    "retry with backoff": (Action.RETRY_BACKOFF, False),
    "retry shortly, lower that number's rate": (Action.LOWER_RATE, False),
    "retry that recipient after 4^X s": (Action.RETRY_PAIR, False),
    "retry after ~60 s": (Action.RETRY_AFTER, False),
    "retry with exponential backoff": (Action.RETRY_BACKOFF, False),
    "permanent (bug), dead-letter": (Action.DEAD_LETTER, True),
    "permanent for that recipient": (Action.FAIL_RECIPIENT, False),
    "stop that number, fail over, alert": (Action.STOP_NUMBER, True),
    "stop that number, alert": (Action.STOP_NUMBER, True),
    # The fleet issue: 131048 is a portfolio condition, so a failover would meet it again.
    "hold on that number, retry later, alert": (Action.HOLD_PORTFOLIO, True),
    "use a template": (Action.USE_TEMPLATE, False),
    "no retry for 24 h": (Action.RETRY_24H, False),
    "never retry, suppress": (Action.SUPPRESS_RECIPIENT, False),
    "fall back to another template or language": (Action.FALLBACK_TEMPLATE, True),
    "rotate to a spare template": (Action.ROTATE_TEMPLATE, True),
    "terminal for this send": (Action.TERMINAL, False),
}


def _facts_rows() -> list[tuple[list[int], str]]:
    rows = []
    for line in FACTS_SECTION_3.strip().splitlines():
        codes_cell, _meaning, klass = (cell.strip() for cell in line.strip("|").split("|"))
        codes: list[int] = []
        for token in re.split(r"[,/]", codes_cell):
            token = token.strip()
            if m := re.fullmatch(r"(\d+)-(\d+)", token):
                codes.extend(range(int(m[1]), int(m[2]) + 1))
            elif token.isdigit():
                codes.append(int(token))
        rows.append((codes, klass))
    return rows


FACT_CODES = [(code, klass) for codes, klass in _facts_rows() for code in codes]


def test_the_transcription_has_every_row_and_class() -> None:
    rows = _facts_rows()
    assert len(rows) == 18  # the facts' 17, with 131048 split out (a portfolio condition)
    assert {klass for _, klass in rows} == set(EXPECTED_BY_CLASS)
    assert len(FACT_CODES) == len({code for code, _ in FACT_CODES}) == 137


@pytest.mark.parametrize(("code", "klass"), FACT_CODES, ids=[str(c) for c, _ in FACT_CODES])
def test_every_facts_code_maps_to_its_action(code: int, klass: str) -> None:
    action, alert = EXPECTED_BY_CLASS[klass]
    policy = classify(code)
    assert policy.action is action
    assert policy.alert is alert
    assert code in POLICIES


def test_the_table_holds_exactly_the_facts_codes() -> None:
    """No code slipped in without being in the facts, none of the facts is missing."""
    assert set(POLICIES) == {code for code, _ in FACT_CODES}


@pytest.mark.parametrize(
    ("code", "http_status", "action"),
    [
        (130429, 400, Action.LOWER_RATE),  # throughput comes back as HTTP 400, not 429
        (190, 401, Action.HALT_ALL),
        (131056, 400, Action.RETRY_PAIR),
        (131050, 500, Action.SUPPRESS_RECIPIENT),  # a known code wins over any status
    ],
)
def test_the_code_decides_not_the_http_status(code: int, http_status: int, action: Action) -> None:
    assert classify(code, http_status).action is action


def test_timeouts_and_server_errors_without_a_code_back_off() -> None:
    for policy in (classify(None), classify(None, 502), classify(999999, 503), classify(None, 429)):
        assert policy.action is Action.RETRY_BACKOFF
        assert policy.transient


def test_unknown_code_is_dead_lettered_with_one_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="dawn.whatsapp"):
        first = classify(987654, 400)
        again = classify(987654, 400)
    assert first.action is again.action is Action.DEAD_LETTER
    assert first.alert and not first.transient
    assert len([r for r in caplog.records if "987654" in r.getMessage()]) == 1


def test_only_platform_failures_are_transient() -> None:
    """Transient failures trip a number's breaker; recipient and template errors must not."""
    transient = {code for code, policy in POLICIES.items() if policy.transient}
    assert transient == {4, 80007, 130429, 131057, 1, 2, 131000, 131016, 133004}


def test_pair_rate_backoff_is_four_to_the_attempt() -> None:
    assert [pair_rate_backoff(x) for x in range(4)] == [1.0, 4.0, 16.0, 64.0]
    assert pair_rate_backoff(-3) == 1.0
    assert pair_rate_backoff(10_000) < float("inf")


def test_retry_delay_follows_each_action() -> None:
    assert retry_delay(classify(131056), 2) == 16.0
    assert retry_delay(classify(131057), 0) == 60.0
    assert retry_delay(classify(131049), 0) == 24 * 3600.0
    assert retry_delay(classify(130429), 5) == 1.0
    assert [retry_delay(classify(131000), a) for a in range(3)] == [1.0, 2.0, 4.0]
    assert retry_delay(classify(131000), 50) == 60.0
    for final in (131050, 131026, 132015, 190, 131008):
        assert retry_delay(classify(final), 0) is None


def test_actions_serialise_as_lower_case_names() -> None:
    """Action values go into Avro records (SendResult.action) as e.g. retry_backoff."""
    assert all(action.value == action.name.lower() for action in Action)
