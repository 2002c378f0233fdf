"""The sender's steps, one at a time and without a broker, database or network.

The oracles are the rules the engine's docstrings promise: one copy per delivery is sent and the
others wait behind it; a claim the ledger refuses is never sent; a "maybe sent" error waits for
reconciliation instead of being retried; a stopped number's intents move, unsent, to a healthy one.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from store.send_ledger import Claim, State, Verdict
from streams.sender import outcomes
from streams.sender.copies import Copies
from streams.sender.failover import failover_target, hand_over
from streams.sender.items import Item
from streams.sender.retry_policy import Decision, Next
from whatsapp.client import CloudApiError
from whatsapp.responses import SendAccepted

NOW = datetime(2026, 11, 26, 6, 0, tzinfo=UTC)
GRACE = timedelta(seconds=30)


def item(delivery_id: str = "d1", attempt: int = 1, number: str = "pn-a") -> Item:
    intent: dict[str, Any] = {
        "delivery_id": delivery_id, "attempt": attempt, "run_date": "2026-11-26",
        "advisor_id": "adv-1", "phone_number_id": number, "template_name": "daily_pack",
        "send_at": NOW, "deadline": NOW + timedelta(hours=3), "last_error_code": None,
        "created_at": NOW,
    }
    return Item(intent)


def claim(verdict: Verdict, **kw: Any) -> Claim:
    token = uuid.uuid4() if verdict is Verdict.SEND else None
    return Claim("d1", verdict, token, **kw)


# -- copies ---------------------------------------------------------------------------------------

def test_one_copy_per_delivery_is_sent_and_the_rest_wait_behind_it() -> None:
    copies = Copies()
    a, b, c = item("d1"), item("d1"), item("d2")
    out = copies.dedupe([a, b, c])
    assert out.send == [a, c] and out.later == [] and out.held == 1
    late = item("d1")
    again = copies.dedupe([late])
    assert again.send == [] and again.held == 1, "a copy arriving while d1 is in flight waits"
    assert copies.release(a) == [b, late]
    assert "d1" not in copies and copies.release(a) == [], "releasing twice gives nothing"


def test_the_highest_attempt_in_a_batch_is_the_one_sent() -> None:
    copies = Copies()
    old, new = item("d1", 1), item("d1", 2)
    out = copies.dedupe([old, new])
    assert out.send == [new]
    assert copies.release(new) == [old]


def test_a_follow_up_of_the_copy_in_flight_is_looked_at_later_not_parked() -> None:
    copies = Copies()
    first = item("d1", 1)
    copies.dedupe([first])
    retry = item("d1", 2)
    out = copies.dedupe([retry])
    assert out.send == [] and out.later == [retry] and out.held == 0
    assert copies.release(first) == []


def test_a_hand_over_arriving_before_its_original_settles_is_not_taken_for_a_copy() -> None:
    """A hand-over keeps the attempt but names another number; read back before the original
    is settled it must come back later, not be acknowledged unsent behind the original (found
    by the fleet's RED-number morning: an advisor never got the pack)."""
    copies = Copies()
    original = item("d1", 1, "pn-a")
    copies.dedupe([original])
    moved = item("d1", 1, "pn-b")
    out = copies.dedupe([moved])
    assert out.later == [moved] and out.held == 0
    assert copies.release(original) == []


def test_releasing_a_copy_that_is_not_the_registered_one_keeps_the_registration() -> None:
    copies = Copies()
    first, second = item("d1"), item("d1")
    copies.dedupe([first])
    copies.dedupe([second])
    assert copies.release(second) == []
    assert "d1" in copies


# -- outcomes -------------------------------------------------------------------------------------

@pytest.mark.parametrize("verdict,detail", [(Verdict.SENT, "already sent"),
                                            (Verdict.FINAL, "already failed"),
                                            (Verdict.NO_CONSENT, "no consent")])
def test_a_refused_claim_is_skipped_with_its_reason_and_never_followed_up(verdict: Verdict,
                                                                         detail: str) -> None:
    done = outcomes.finish_unsent(item(), claim(verdict), now=NOW, grace=GRACE)
    assert done.result is not None and done.result["outcome"] == "SKIPPED"
    assert done.result["error_detail"] == detail
    assert done.follow_ups == [] and done.outcome is None


def test_a_stale_replay_is_only_acknowledged() -> None:
    done = outcomes.finish_unsent(item(), claim(Verdict.STALE), now=NOW, grace=GRACE)
    assert done.result is None and done.follow_ups == [] and done.outcome is None


def test_an_unknown_claim_comes_back_at_the_ledgers_retry_time_with_the_same_attempt() -> None:
    retry_at = NOW + timedelta(seconds=12)
    done = outcomes.finish_unsent(item(attempt=2), claim(Verdict.UNKNOWN, retry_at=retry_at),
                                  now=NOW, grace=GRACE)
    [follow] = done.follow_ups
    assert follow["send_at"] == retry_at and follow["attempt"] == 2
    assert done.outcome is None, "an unknown claim is not settled by the sender"
    assert not done.give_up


def test_an_unknown_claim_past_its_deadline_is_given_up_never_resent() -> None:
    late = NOW + timedelta(hours=3)
    done = outcomes.finish_unsent(item(), claim(Verdict.UNKNOWN, retry_at=late), now=late, grace=GRACE)
    assert done.give_up and done.follow_ups == [] and done.outcome is None


def test_accepted_and_held_answers_are_proofs_of_sending() -> None:
    c = claim(Verdict.SEND)
    done = outcomes.accepted(item(), c, SendAccepted("wamid.1", "91", "91", "accepted", 9.0), now=NOW)
    assert done.outcome is not None and done.outcome.state is State.ACCEPTED
    held = outcomes.accepted(item(), c, SendAccepted("wamid.1", "91", "91", "held_for_quality_assessment",
                                                     9.0), now=NOW)
    assert held.outcome is not None and held.outcome.state is State.HELD


def test_a_maybe_sent_error_waits_for_reconciliation_and_records_no_outcome() -> None:
    error = CloudApiError("timed out", maybe_sent=True)
    done = outcomes.after_error(item(), claim(Verdict.SEND), error, Decision(Next.RECONCILE),
                                now=NOW, grace=GRACE, failover_to=None)
    assert done.outcome is None, "the claim stays open: Meta may have taken it"
    [follow] = done.follow_ups
    assert follow["send_at"] == NOW + GRACE


def test_a_retry_settles_the_claim_as_retrying_with_the_next_attempt() -> None:
    error = CloudApiError("busy", code=131016, http_status=400)
    done = outcomes.after_error(item(), claim(Verdict.SEND), error, Decision(Next.RETRY, delay_s=4),
                                now=NOW, grace=GRACE, failover_to=None)
    assert done.outcome is not None and done.outcome.state is State.RETRYING
    [follow] = done.follow_ups
    assert follow["attempt"] == 2 and follow["send_at"] == NOW + timedelta(seconds=4)


def test_failover_without_a_healthy_number_is_a_final_failure() -> None:
    error = CloudApiError("blocked", code=131031, http_status=400)
    moved = outcomes.after_error(item(), claim(Verdict.SEND), error, Decision(Next.FAILOVER),
                                 now=NOW, grace=GRACE, failover_to="pn-b")
    assert moved.follow_ups[0]["phone_number_id"] == "pn-b"
    stuck = outcomes.after_error(item(), claim(Verdict.SEND), error, Decision(Next.FAILOVER),
                                 now=NOW, grace=GRACE, failover_to=None)
    assert stuck.outcome is not None and stuck.outcome.state is State.FAILED
    assert stuck.follow_ups == []


def test_an_abandoned_claim_is_given_back_and_its_attempt_comes_back_soon() -> None:
    given = claim(Verdict.SEND)
    done = outcomes.abandoned(item(attempt=2), given, "too old", now=NOW)
    assert done.outcome is not None and done.outcome.state is State.RELEASED
    assert done.outcome.token == given.token  # only our own claim is given back
    [follow] = done.follow_ups
    assert follow["attempt"] == 2 and NOW < follow["send_at"] <= NOW + timedelta(seconds=2)


# -- failover -------------------------------------------------------------------------------------

def test_failover_target_is_stable_and_never_a_stopped_number() -> None:
    numbers = ("pn-a", "pn-b", "pn-c")
    for n in range(200):
        intent = {"delivery_id": f"d{n}", "phone_number_id": "pn-a"}
        target = failover_target(intent, numbers, {"pn-a"})
        assert target in ("pn-b", "pn-c")
        assert target == failover_target(intent, numbers, {"pn-a"})
    assert failover_target({"delivery_id": "d1", "phone_number_id": "pn-a"}, numbers, set(numbers)) is None
    # never back to a number the delivery has left, even one that looks healthy here
    moved = {"delivery_id": "d1", "phone_number_id": "pn-c", "tried_numbers": ["pn-b"]}
    assert failover_target(moved, numbers, {"pn-a"}) is None


def test_hand_over_moves_the_intent_unsent_with_the_same_attempt() -> None:
    done = hand_over(item(attempt=2), "pn-b", now=NOW)
    [follow] = done.follow_ups
    assert follow["phone_number_id"] == "pn-b" and follow["attempt"] == 2
    assert done.outcome is None
    failed = hand_over(item(), None, now=NOW)
    assert failed.result is not None and failed.result["outcome"] == "FAILED"


# -- lane -----------------------------------------------------------------------------------------

async def test_a_lane_takes_what_is_due_in_chunks_and_drops_moved_partitions() -> None:
    import asyncio

    from streams.rates import NumberRates
    from streams.sender.lane import Lane

    rate = NumberRates(lambda _n: 10.0).get("pn-a")
    lane = Lane("pn-a", rate, asyncio.Semaphore(1), client=None)  # type: ignore[arg-type]
    moved = Item(item("moved").intent, source="elsewhere")
    lane.push(moved, NOW - timedelta(seconds=1))
    for n in range(20):
        lane.push(item(f"d{n}"), NOW)
    lane.push(item("later"), NOW + timedelta(minutes=5))
    owned = lambda source: source != "elsewhere"  # noqa: E731
    first, dropped = lane.take_due(NOW, owned)
    assert dropped == 1 and len(first) == lane.chunk() == 8, lane.bucket.rate
    assert [i.delivery_id for i in first] == [f"d{n}" for n in range(8)], "ties keep arrival order"
    second, _ = lane.take_due(NOW, owned)
    third, _ = lane.take_due(NOW, owned)
    assert len(second) + len(third) == 12
    assert lane.take_due(NOW, owned) == ([], 0), "nothing else is due"
    assert len(lane.heap) == 1


def test_a_lost_answer_on_the_last_attempt_is_reconciled_not_failed() -> None:
    from streams.sender.retry_policy import decide
    from whatsapp.errors import classify

    assert decide(classify(None, None), maybe_sent=True, attempt=3, max_attempts=3).next is Next.RECONCILE
    disproved = outcomes.out_of_attempts(item(attempt=4), claim(Verdict.SEND), now=NOW, max_attempts=3)
    assert disproved.outcome is not None and disproved.outcome.state is State.FAILED
    assert disproved.follow_ups == []


# -- settle ---------------------------------------------------------------------------------------

async def test_a_failed_flush_is_retried_from_the_failed_step_without_repeating_follow_ups() -> None:
    from streams.sender.settle import Progress, Settler

    class FlakyResults:
        def __init__(self) -> None:
            self.intents_out: list[dict[str, Any]] = []
            self.results_out: list[dict[str, Any]] = []
            self.fail = 2

        async def intents(self, records: Any) -> None:
            self.intents_out += records

        async def results(self, records: Any) -> None:
            if self.fail:
                self.fail -= 1
                raise RuntimeError("results topic unavailable")
            self.results_out += records

        async def dead_letters(self, records: Any) -> None:
            raise AssertionError("no dead letters here")

    acked: list[str] = []
    settled: list[Item] = []

    async def ack(source: object) -> None:
        acked.append(str(source))

    emit = FlakyResults()
    settler = Settler(pool=None, emit=emit, ack=ack, settled=settled.append,  # type: ignore[arg-type]
                      released=lambda _n: None, now=lambda: NOW)
    batch = [outcomes.deferred(Item(item(f"d{n}").intent, source=f"src{n}"), "pn-a", wait_s=5, now=NOW)
             for n in range(3)]
    progress = Progress()
    for _ in range(2):
        with pytest.raises(RuntimeError):
            await settler.flush(batch, progress)
    await settler.flush(batch, progress)
    assert len(emit.intents_out) == 3, "follow-ups produced once, not once per try"
    assert len(emit.results_out) == 3 and acked == ["src0", "src1", "src2"]
    assert len(settled) == 3


# -- stop expiry ----------------------------------------------------------------------------------

def test_a_stopped_number_is_tried_again_once_its_stop_expires() -> None:
    import asyncio

    from streams.rates import NumberRates
    from streams.sender.lane import Lane

    rate = NumberRates(lambda _n: 10.0).get("pn-a")
    lane = Lane("pn-a", rate, asyncio.Semaphore(1), client=None)  # type: ignore[arg-type]
    assert not lane.stopped(0.0)
    lane.stopped_until = 900.0
    assert lane.stopped(899.9)
    assert not lane.stopped(900.0), "a stop is not for the life of the process"
    assert not lane.stopped(0.0), "and once expired it stays expired"
