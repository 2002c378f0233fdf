"""The send ledger against a real PostgreSQL: claims, outcomes, unknown outcomes, reconciliation.

The state machine at the end is the guarantee itself: under any interleaving of claims, sends,
lost outcomes, crashes and status webhooks, no delivery is accepted by "Meta" twice, as long as a
webhook for an accepted send arrives within the grace (the documented assumption).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from store.migrations import apply_migrations
from store.send_ledger import (
    ClaimRequest,
    Outcome,
    State,
    Verdict,
    claim_batch,
    mark_accepted,
    record_outcomes,
)

T0 = datetime(2026, 11, 23, 0, 29, tzinfo=UTC)  # 05:59 IST
GRACE = timedelta(seconds=10)
OPTED_IN = "adv-ledger-in"
NO_CONSENT = "adv-ledger-none"


async def _seed_advisors(conn: psycopg.AsyncConnection) -> None:
    await conn.execute(
        "INSERT INTO advisors (advisor_id, name, phone, language, consent_state) VALUES"
        " (%s, 'In', '919800000001', 'EN', 'OPTED_IN'), (%s, 'None', '919800000002', 'EN', 'NONE')"
        " ON CONFLICT (advisor_id) DO NOTHING",
        (OPTED_IN, NO_CONSENT),
    )


@pytest.fixture(scope="module")
def migrated(database_url: str) -> str:
    apply_migrations(database_url)
    return database_url


@pytest.fixture
async def conn(migrated: str) -> AsyncIterator[psycopg.AsyncConnection]:
    async with await psycopg.AsyncConnection.connect(migrated, autocommit=True) as c:
        await _seed_advisors(c)
        yield c


def _req(delivery_id: str, attempt: int = 1, advisor: str = OPTED_IN) -> ClaimRequest:
    return ClaimRequest(delivery_id, advisor, attempt, "pn-1")


def _new_id() -> str:
    return f"d-{uuid.uuid4().hex[:12]}"


async def test_accepted_delivery_is_never_claimed_again(conn: psycopg.AsyncConnection) -> None:
    d = _new_id()
    claim = (await claim_batch(conn, [_req(d)], now=T0))[d]
    assert claim.verdict is Verdict.SEND and claim.token
    await record_outcomes(conn, [Outcome(d, claim.token, State.ACCEPTED, T0, wamid="wamid.1")])
    for attempt in (1, 2, 3):
        again = (await claim_batch(conn, [_req(d, attempt)], now=T0 + timedelta(hours=1)))[d]
        assert again.verdict is Verdict.SENT and again.wamid == "wamid.1"


async def test_consent_is_checked_at_claim_time(conn: psycopg.AsyncConnection) -> None:
    yes, no = _new_id(), _new_id()
    claims = await claim_batch(conn, [_req(yes), _req(no, advisor=NO_CONSENT)], now=T0)
    assert claims[yes].verdict is Verdict.SEND
    assert claims[no].verdict is Verdict.NO_CONSENT
    cur = await conn.execute("SELECT count(*) FROM send_ledger WHERE delivery_id = %s", (no,))
    assert (await cur.fetchone())[0] == 0


async def test_unknown_claim_waits_for_the_grace_then_may_resend(conn: psycopg.AsyncConnection) -> None:
    d = _new_id()
    first = (await claim_batch(conn, [_req(d)], now=T0, grace=GRACE))[d]
    assert first.verdict is Verdict.SEND
    # the worker died mid-send: the replayed intent finds a claim with no outcome
    replay = (await claim_batch(conn, [_req(d)], now=T0 + timedelta(seconds=3), grace=GRACE))[d]
    assert replay.verdict is Verdict.UNKNOWN and replay.retry_at == T0 + GRACE
    late = (await claim_batch(conn, [_req(d)], now=T0 + GRACE, grace=GRACE))[d]
    assert late.verdict is Verdict.SEND and late.token != first.token
    # the first claim's late failure must not settle the new claim
    await record_outcomes(conn, [Outcome(d, first.token, State.FAILED, T0 + GRACE, error_code=1)])
    cur = await conn.execute("SELECT state, claim_token FROM send_ledger WHERE delivery_id = %s", (d,))
    assert await cur.fetchone() == ("CLAIMED", late.token)


async def test_status_webhook_proves_an_unknown_claim_was_sent(conn: psycopg.AsyncConnection) -> None:
    d = _new_id()
    await claim_batch(conn, [_req(d)], now=T0, grace=GRACE)
    assert await mark_accepted(conn, [(d, "wamid.w", T0 + timedelta(seconds=1))]) == {d}
    assert await mark_accepted(conn, [(d, "wamid.w", T0 + timedelta(seconds=2))]) == set()
    after_grace = (await claim_batch(conn, [_req(d, 2)], now=T0 + GRACE * 3, grace=GRACE))[d]
    assert after_grace.verdict is Verdict.SENT and after_grace.wamid == "wamid.w"


async def test_retry_claims_only_the_next_attempt(conn: psycopg.AsyncConnection) -> None:
    d = _new_id()
    first = (await claim_batch(conn, [_req(d)], now=T0))[d]
    await record_outcomes(conn, [Outcome(d, first.token, State.RETRYING, T0, error_code=131000)])
    assert (await claim_batch(conn, [_req(d, 1)], now=T0))[d].verdict is Verdict.STALE
    second = (await claim_batch(conn, [_req(d, 2)], now=T0))[d]
    assert second.verdict is Verdict.SEND
    await record_outcomes(conn, [Outcome(d, second.token, State.FAILED, T0, error_code=131026)])
    assert (await claim_batch(conn, [_req(d, 3)], now=T0))[d].verdict is Verdict.FINAL


async def test_an_accept_wins_over_a_recorded_failure(conn: psycopg.AsyncConnection) -> None:
    """Accept-then-timeout: the worker saw an error, Meta took it; the webhook must win."""
    d = _new_id()
    c = (await claim_batch(conn, [_req(d)], now=T0))[d]
    await record_outcomes(conn, [Outcome(d, c.token, State.RETRYING, T0, error_code=1)])
    await mark_accepted(conn, [(d, "wamid.x", T0)])
    assert (await claim_batch(conn, [_req(d, 2)], now=T0))[d].verdict is Verdict.SENT


# -- the guarantee, as a state machine ------------------------------------------------------------

DELIVERIES = 3
SLACK_S = 2  # the worker makes its HTTP call within this long of claiming (bucket + in-flight wait)
WEBHOOK_MAX_S = int(GRACE.total_seconds()) - SLACK_S - 1  # assumption: sent webhook within grace


class LedgerMachine(RuleBasedStateMachine):
    """Claims, sends, lost outcomes, crashes and webhooks in any order; Meta's count per delivery
    is the sandbox ledger's ``accepted`` count, and it must never exceed one."""

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.conn = self.loop.run_until_complete(
            psycopg.AsyncConnection.connect(LedgerMachine.database_url, autocommit=True))
        prefix = uuid.uuid4().hex[:8]
        self.ids = [f"sm-{prefix}-{i}" for i in range(DELIVERIES)]
        self.now = T0
        self.in_flight: list[tuple[str, uuid.UUID, int, datetime]] = []
        self.accepted_by_meta = dict.fromkeys(self.ids, 0)
        self.webhooks: list[tuple[datetime, str]] = []

    def run(self, coro):  # type: ignore[no-untyped-def]
        return self.loop.run_until_complete(coro)

    @initialize()
    def seed(self) -> None:
        self.run(_seed_advisors(self.conn))

    @rule(i=st.integers(0, DELIVERIES - 1), attempt=st.integers(1, 3))
    def claim(self, i: int, attempt: int) -> None:
        d = self.ids[i]
        c = self.run(claim_batch(self.conn, [_req(d, attempt)], now=self.now, grace=GRACE))[d]
        if c.verdict is Verdict.SEND:
            assert c.token is not None
            self.in_flight.append((d, c.token, attempt, self.now))

    @precondition(lambda self: self.in_flight)
    @rule(data=st.data(), recorded=st.booleans(), webhook_s=st.integers(0, WEBHOOK_MAX_S))
    def meta_accepts(self, data: st.DataObject, recorded: bool, webhook_s: int) -> None:
        d, token, _attempt, _claimed = self.in_flight.pop(data.draw(st.integers(0, len(self.in_flight) - 1)))
        self.accepted_by_meta[d] += 1
        self.webhooks.append((self.now + timedelta(seconds=webhook_s), d))
        if recorded:  # else: accept-then-timeout, or killed before recording
            self.run(record_outcomes(self.conn, [Outcome(d, token, State.ACCEPTED, self.now, f"w-{d}")]))

    @precondition(lambda self: self.in_flight)
    @rule(data=st.data(), final=st.booleans())
    def meta_rejects(self, data: st.DataObject, final: bool) -> None:
        d, token, _attempt, _claimed = self.in_flight.pop(data.draw(st.integers(0, len(self.in_flight) - 1)))
        state = State.FAILED if final else State.RETRYING
        self.run(record_outcomes(self.conn, [Outcome(d, token, state, self.now, error_code=131000)]))

    @rule()
    def crash(self) -> None:
        self.in_flight.clear()  # claimed, never sent, never recorded

    @precondition(lambda self: self.webhooks)
    @rule(data=st.data())
    def webhook_arrives_early(self, data: st.DataObject) -> None:
        _due, d = self.webhooks.pop(data.draw(st.integers(0, len(self.webhooks) - 1)))
        self.run(mark_accepted(self.conn, [(d, f"w-{d}", self.now)]))

    @rule(seconds=st.integers(1, 15))
    def time_passes(self, seconds: int) -> None:
        target = self.now + timedelta(seconds=seconds)
        if self.in_flight:  # a claim is sent within SLACK_S of it; time cannot jump past that
            target = min(target, min(c for *_, c in self.in_flight) + timedelta(seconds=SLACK_S))
        for due, d in sorted(w for w in self.webhooks if w[0] <= target):
            self.run(mark_accepted(self.conn, [(d, f"w-{d}", due)]))
            self.webhooks.remove((due, d))
        self.now = max(self.now, target)

    @invariant()
    def never_two_accepted_sends(self) -> None:
        assert all(n <= 1 for n in self.accepted_by_meta.values()), self.accepted_by_meta

    def teardown(self) -> None:
        self.run(self.conn.close())
        self.loop.close()


def test_no_interleaving_sends_a_delivery_twice(migrated: str) -> None:
    LedgerMachine.database_url = migrated  # type: ignore[attr-defined]
    machine = settings(max_examples=60, stateful_step_count=40, deadline=None)(LedgerMachine)
    machine.TestCase().runTest()


async def test_a_restarted_worker_gives_reconciliation_a_full_grace(conn: psycopg.AsyncConnection) -> None:
    """Claimed before a crash, replayed long after: the statuses of the downtime are only now
    being read, so the resend waits a grace from the (re)assignment, not from the claim."""
    d = _new_id()
    await claim_batch(conn, [_req(d)], now=T0, grace=GRACE)
    restarted = T0 + GRACE * 5
    replay = (await claim_batch(conn, [_req(d)], now=restarted, grace=GRACE,
                                reconciling_since=restarted))[d]
    assert replay.verdict is Verdict.UNKNOWN and replay.retry_at == restarted + GRACE
    later = (await claim_batch(conn, [_req(d)], now=restarted + GRACE, grace=GRACE,
                               reconciling_since=restarted))[d]
    assert later.verdict is Verdict.SEND
