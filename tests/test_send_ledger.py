"""The send ledger against a real PostgreSQL: claims, outcomes, unknown outcomes, reconciliation.

The state machine at the end is the guarantee itself: under any interleaving of claims, sends,
lost outcomes, crashes, status webhooks of any lateness, refused (503) webhooks Meta retries much
later and paced templates whose statuses come hours late, no delivery is accepted by "Meta" twice.
The only assumption is the documented one: a status is late by no more than the grace beyond the
largest lag already seen that day for its number, unless the gateway refused it or its template
is paced (then it may be late by any amount).
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
    GATEWAY_REORDER,
    ClaimRequest,
    Outcome,
    State,
    Verdict,
    claim_batch,
    give_up,
    mark_accepted,
    note_paced,
    note_refused,
    note_statuses,
    note_taken,
    record_outcomes,
    unknown_deliveries,
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


def _req(delivery_id: str, attempt: int = 1, advisor: str = OPTED_IN, number: str = "pn-1",
         template: str = "daily_pack") -> ClaimRequest:
    return ClaimRequest(delivery_id, advisor, attempt, number, template)


def _number() -> str:
    """A number of its own, so one test's watermark is not another's evidence."""
    return f"pn-{uuid.uuid4().hex[:10]}"


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


async def test_an_unknown_claim_is_never_resent_because_time_passed(conn: psycopg.AsyncConnection) -> None:
    d, n = _new_id(), _number()
    first = (await claim_batch(conn, [_req(d, number=n)], now=T0, grace=GRACE))[d]
    assert first.verdict is Verdict.SEND
    for later in (timedelta(seconds=3), GRACE * 3, timedelta(hours=5)):
        replay = (await claim_batch(conn, [_req(d, number=n)], now=T0 + later, grace=GRACE))[d]
        assert replay.verdict is Verdict.UNKNOWN, f"resent after {later} with no evidence"


async def test_an_unknown_claim_is_resent_once_later_statuses_of_its_number_went_through(
    conn: psycopg.AsyncConnection,
) -> None:
    d, n = _new_id(), _number()
    first = (await claim_batch(conn, [_req(d, number=n)], now=T0, grace=GRACE))[d]
    # statuses of the number, stamped just inside claim + grace: not yet evidence
    await note_statuses(conn, [(n, T0 + GRACE - timedelta(seconds=1), T0 + GRACE)], T0 + GRACE)
    early = (await claim_batch(conn, [_req(d, number=n)], now=T0 + GRACE, grace=GRACE))[d]
    assert early.verdict is Verdict.UNKNOWN
    # received past claim + grace + the 1 s delay seen (+ the gateway's reorder window): any
    # status of ours would be through by now
    at = T0 + GRACE + timedelta(seconds=1) + GATEWAY_REORDER
    await note_statuses(conn, [(n, at, at)], at)
    late = (await claim_batch(conn, [_req(d, number=n)], now=at, grace=GRACE))[d]
    assert late.verdict is Verdict.SEND and late.token != first.token
    # the first claim's late failure must not settle the new claim
    await record_outcomes(conn, [Outcome(d, first.token, State.FAILED, T0 + GRACE, error_code=1)])
    cur = await conn.execute("SELECT state, claim_token FROM send_ledger WHERE delivery_id = %s", (d,))
    assert await cur.fetchone() == ("CLAIMED", late.token)


async def test_webhooks_meta_delivers_late_raise_the_bar_by_that_delay(
    conn: psycopg.AsyncConnection,
) -> None:
    """Statuses reaching the gateway 60 s after Meta stamped them: the watermark must pass
    claim + grace + 60 s, or a status of ours still on its way could be the proof."""
    d, n = _new_id(), _number()
    await claim_batch(conn, [_req(d, number=n)], now=T0, grace=GRACE)
    delay = timedelta(seconds=60)
    stamped = T0 + GRACE + timedelta(seconds=4)
    await note_statuses(conn, [(n, stamped, stamped + delay)], stamped + delay)
    assert (await claim_batch(conn, [_req(d, number=n)], now=stamped + delay,
                              grace=GRACE))[d].verdict is Verdict.UNKNOWN
    at = T0 + GRACE + delay + GATEWAY_REORDER
    await note_statuses(conn, [(n, at, at)], at)
    assert (await claim_batch(conn, [_req(d, number=n)], now=at, grace=GRACE))[d].verdict is Verdict.SEND


async def test_our_own_backlog_is_no_lasting_delay(conn: psycopg.AsyncConnection) -> None:
    """A reconcile agent that was stopped processes old statuses late: that is our lag, not
    Meta's, and once it caught up the watermark is current again."""
    d, n = _new_id(), _number()
    await claim_batch(conn, [_req(d, number=n)], now=T0, grace=GRACE)
    backlog = T0 + timedelta(seconds=1)
    caught_up = T0 + timedelta(minutes=10)
    await note_statuses(conn, [(n, backlog, backlog)], caught_up)
    at = T0 + GRACE + GATEWAY_REORDER
    await note_statuses(conn, [(n, at, at)], caught_up)
    verdict = (await claim_batch(conn, [_req(d, number=n)], now=caught_up, grace=GRACE))[d].verdict
    assert verdict is Verdict.SEND


async def test_a_slow_sent_stamp_raises_the_bar_by_twice_the_delay_seen(
    conn: psycopg.AsyncConnection,
) -> None:
    """Meta stamped "sent" 20 s after our claim on this number today: a lost answer's status may
    be stamped that late (twice that, for the tail not seen yet), so silence before it is no proof."""
    seen, lost, n = _new_id(), _new_id(), _number()
    await claim_batch(conn, [_req(seen, number=n)], now=T0, grace=GRACE)
    stamped = T0 + timedelta(seconds=20)
    await mark_accepted(conn, [(seen, "wamid.s", stamped)])
    await note_statuses(conn, [(n, stamped, stamped)], stamped, sent=[(seen, stamped)])
    c = T0 + timedelta(seconds=21)
    await claim_batch(conn, [_req(lost, number=n)], now=c, grace=GRACE)
    for s_after, verdict in ((39, Verdict.UNKNOWN), (40, Verdict.SEND)):
        at = c + timedelta(seconds=s_after) + GATEWAY_REORDER
        await note_statuses(conn, [(n, at, at)], at)
        assert (await claim_batch(conn, [_req(lost, number=n)], now=at, grace=GRACE))[lost].verdict is verdict


async def test_a_held_message_released_hours_later_does_not_raise_the_bar(
    conn: psycopg.AsyncConnection,
) -> None:
    held, lost, n = _new_id(), _new_id(), _number()
    c = (await claim_batch(conn, [_req(held, number=n)], now=T0, grace=GRACE))[held]
    await record_outcomes(conn, [Outcome(held, c.token, State.HELD, T0, wamid="wamid.h")])
    released = T0 + timedelta(hours=2)
    await note_statuses(conn, [(n, released, released)], released, sent=[(held, released)])
    await claim_batch(conn, [_req(lost, number=n, template="other")], now=released, grace=GRACE)
    at = released + GRACE + GATEWAY_REORDER
    await note_statuses(conn, [(n, at, at)], at)
    assert (await claim_batch(conn, [_req(lost, number=n, template="other")], now=at,
                              grace=GRACE))[lost].verdict is Verdict.SEND


async def test_a_refused_webhook_of_the_number_holds_every_unknown_claim_until_it_is_retried(
    conn: psycopg.AsyncConnection,
) -> None:
    d, n = _new_id(), _number()
    await claim_batch(conn, [_req(d, number=n)], now=T0, grace=GRACE)
    event = f"wamid.{d}:sent:1"
    await note_refused(conn, [(event, n, T0 + timedelta(seconds=1))], T0 + timedelta(seconds=2))
    far = T0 + timedelta(hours=1)
    await note_statuses(conn, [(n, far, far)], far)
    assert (await claim_batch(conn, [_req(d, number=n)], now=far, grace=GRACE))[d].verdict is Verdict.UNKNOWN
    await note_taken(conn, [event])
    assert (await claim_batch(conn, [_req(d, number=n)], now=far, grace=GRACE))[d].verdict is Verdict.SEND


async def test_a_paced_template_is_never_resent_on_silence(conn: psycopg.AsyncConnection) -> None:
    d, n, template = _new_id(), _number(), f"paced_{uuid.uuid4().hex[:6]}"
    await claim_batch(conn, [_req(d, number=n, template=template)], now=T0, grace=GRACE)
    await note_paced(conn, [template], T0 - timedelta(hours=1))
    far = T0 + timedelta(hours=2)
    await note_statuses(conn, [(n, far, far)], far)
    again = (await claim_batch(conn, [_req(d, number=n, template=template)], now=far, grace=GRACE))[d]
    assert again.verdict is Verdict.UNKNOWN


async def test_a_claim_given_up_is_listed_for_ops_and_a_late_status_still_proves_it(
    conn: psycopg.AsyncConnection,
) -> None:
    d, n = _new_id(), _number()
    await claim_batch(conn, [_req(d, number=n)], now=T0, grace=GRACE)
    await give_up(conn, [d], T0 + timedelta(hours=3))
    listed = {row[0]: row for row in await unknown_deliveries(conn, since=T0 - timedelta(seconds=1))}
    assert listed[d][4] == "UNKNOWN" and listed[d][2] == n
    assert await mark_accepted(conn, [(d, "wamid.late", T0 + timedelta(hours=4))]) == {d}
    assert d not in {row[0] for row in await unknown_deliveries(conn)}


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


async def test_a_released_claim_is_claimed_again_by_its_attempt_and_only_ours_is_released(
        conn: psycopg.AsyncConnection) -> None:
    """A claim given back before any call needs no evidence; someone else's claim is not given
    back by a stale token."""
    d = _new_id()
    first = (await claim_batch(conn, [_req(d)], now=T0))[d]
    await record_outcomes(conn, [Outcome(d, uuid.uuid4(), State.RELEASED, T0)])  # not our token
    assert (await claim_batch(conn, [_req(d)], now=T0 + GRACE))[d].verdict is Verdict.UNKNOWN
    await record_outcomes(conn, [Outcome(d, first.token, State.RELEASED, T0)])
    again = (await claim_batch(conn, [_req(d)], now=T0 + timedelta(seconds=1)))[d]
    assert again.verdict is Verdict.SEND and again.token != first.token
    # the second claim is open again: a copy of the same attempt waits for evidence
    assert (await claim_batch(conn, [_req(d)], now=T0 + timedelta(seconds=2)))[d].verdict \
        is Verdict.UNKNOWN


async def test_an_accept_wins_over_a_recorded_failure(conn: psycopg.AsyncConnection) -> None:
    """Accept-then-timeout: the worker saw an error, Meta took it; the webhook must win."""
    d = _new_id()
    c = (await claim_batch(conn, [_req(d)], now=T0))[d]
    await record_outcomes(conn, [Outcome(d, c.token, State.RETRYING, T0, error_code=1)])
    await mark_accepted(conn, [(d, "wamid.x", T0)])
    assert (await claim_batch(conn, [_req(d, 2)], now=T0))[d].verdict is Verdict.SENT


# -- the guarantee, as a state machine ------------------------------------------------------------

DELIVERIES = 2
SLACK_S = 2  # the worker makes its HTTP call within this long of claiming (bucket + in-flight wait)


class LedgerMachine(RuleBasedStateMachine):
    """Claims, sends, lost outcomes, crashes and webhooks in any order; Meta's count per delivery
    is the sandbox ledger's ``accepted`` count, and it must never exceed one.

    Webhooks are not bounded by the grace: a status of ours is late by up to the grace beyond the
    largest lag the machine has let the ledger see (the documented assumption), by any amount when
    the gateway refused it (the refusal is recorded, Meta retries much later) or when the template
    is paced. Other traffic of the number moves its watermark with lags of its own.
    """

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.conn = self.loop.run_until_complete(
            psycopg.AsyncConnection.connect(LedgerMachine.database_url, autocommit=True))
        prefix = uuid.uuid4().hex[:8]
        self.ids = [f"sm-{prefix}-{i}" for i in range(DELIVERIES)]
        self.number = f"pn-sm-{prefix}"
        self.template = f"t-sm-{prefix}"
        self.now = T0
        self.in_flight: list[tuple[str, uuid.UUID, int, datetime]] = []
        self.accepted_by_meta = dict.fromkeys(self.ids, 0)
        self.webhooks: list[tuple[datetime, str, datetime, str | None]] = []  # due, d, stamp, refused id
        self.seen_lag = 0.0  # the largest lag the ledger has been shown (the world's own record)

    def run(self, coro):  # type: ignore[no-untyped-def]
        return self.loop.run_until_complete(coro)

    def _req(self, d: str, attempt: int) -> ClaimRequest:
        return ClaimRequest(d, OPTED_IN, attempt, self.number, self.template)

    def _process(self, stamp: datetime, d: str | None = None, refused: str | None = None) -> None:
        if refused is not None:
            self.run(note_taken(self.conn, [refused]))
        if d is not None:
            self.run(mark_accepted(self.conn, [(d, f"w-{d}", self.now)]))
        sent = [(d, stamp)] if d is not None else []
        self.run(note_statuses(self.conn, [(self.number, stamp, self.now)], self.now, sent))
        self.seen_lag = max(self.seen_lag, (self.now - stamp).total_seconds())

    @initialize(paced=st.booleans())
    def seed(self, paced: bool) -> None:
        self.run(_seed_advisors(self.conn))
        self.paced = paced
        if paced:
            self.run(note_paced(self.conn, [self.template], T0 - timedelta(minutes=5)))

    @rule(i=st.integers(0, DELIVERIES - 1), attempt=st.integers(1, 3))
    def claim(self, i: int, attempt: int) -> None:
        d = self.ids[i]
        c = self.run(claim_batch(self.conn, [self._req(d, attempt)], now=self.now, grace=GRACE))[d]
        if c.verdict is Verdict.SEND:
            assert c.token is not None
            self.in_flight.append((d, c.token, attempt, self.now))

    @precondition(lambda self: self.in_flight)
    @rule(data=st.data(), recorded=st.booleans(), late=st.sampled_from([0.0, 0.3, 0.9, 1.0]),
          refused=st.booleans(), far_s=st.sampled_from([0, 60, 600, 7200]))
    def meta_accepts(self, data: st.DataObject, recorded: bool, late: float, refused: bool,
                     far_s: int) -> None:
        d, token, _attempt, _claimed = self.in_flight.pop(data.draw(st.integers(0, len(self.in_flight) - 1)))
        self.accepted_by_meta[d] += 1
        stamp = self.now + timedelta(seconds=1)
        refused_id = None
        if refused:  # the gateway answered 503 when Meta first posted it; Meta retries far later
            refused_id = f"{d}:{self.accepted_by_meta[d]}:{uuid.uuid4().hex[:6]}"
            self.run(note_refused(self.conn, [(refused_id, self.number, stamp)], stamp))
            delay = float(far_s)
        elif self.paced:
            delay = float(far_s)
        else:
            delay = late * (GRACE.total_seconds() + self.seen_lag)
        self.webhooks.append((stamp + timedelta(seconds=delay), d, stamp, refused_id))
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

    @rule(lag_s=st.sampled_from([0, 5, 30, 60, 120]))
    def other_traffic(self, lag_s: int) -> None:
        """A status of another message of the number, stamped ``lag_s`` ago, is processed now."""
        self._process(self.now - timedelta(seconds=lag_s))

    @rule(seconds=st.sampled_from([1, 5, 10, 15, 60, 300, 900]))
    def time_passes(self, seconds: int) -> None:
        target = self.now + timedelta(seconds=seconds)
        if self.in_flight:  # a claim is sent within SLACK_S of it; time cannot jump past that
            target = min(target, min(c for *_, c in self.in_flight) + timedelta(seconds=SLACK_S))
        for due, d, stamp, refused in sorted(w for w in self.webhooks if w[0] <= target):
            self.now = max(self.now, due)
            self._process(stamp, d, refused)
            self.webhooks.remove((due, d, stamp, refused))
        self.now = max(self.now, target)

    @invariant()
    def never_two_accepted_sends(self) -> None:
        assert all(n <= 1 for n in self.accepted_by_meta.values()), self.accepted_by_meta

    def teardown(self) -> None:
        self.run(self.conn.close())
        self.loop.close()


def test_no_interleaving_sends_a_delivery_twice(migrated: str) -> None:
    LedgerMachine.database_url = migrated  # type: ignore[attr-defined]
    machine = settings(max_examples=300, stateful_step_count=30, deadline=None)(LedgerMachine)
    machine.TestCase().runTest()
