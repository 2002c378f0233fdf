"""From what happened to one intent (a ledger verdict, an answer, an error) to its :class:`Done`.

Pure functions of their arguments (the clock is passed in), so each decision is tested alone
(``tests/test_sender_outcomes.py``). Side effects the decision asks for (lowering a number's rate,
stopping a number) are the engine's; these functions only say what to write where.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from store.send_ledger import Claim, Outcome, State, Verdict
from streams.sender.items import Done, Item
from streams.sender.options import TICK_S
from streams.sender.records import after, follow_up, send_result
from streams.sender.retry_policy import Decision, Next
from whatsapp.client import CloudApiError, SendAccepted

#: How soon a released claim comes back: after the flush that writes RELEASED (intents are
#: produced before PostgreSQL is written, so a follow-up read back sooner finds the claim open).
RELEASE_BACK_S = 1.0

_SKIPPED = {Verdict.SENT: "already sent", Verdict.FINAL: "already failed",
            Verdict.NO_CONSENT: "no consent"}


def finish_unsent(item: Item, claim: Claim, *, now: datetime, grace: timedelta) -> Done:
    """The ledger did not let ``item`` be claimed: drop a stale replay, wait for reconciliation
    of an unknown claim, or skip what is already sent, failed or without consent."""
    intent = item.intent
    if claim.verdict is Verdict.STALE:
        return Done(item)
    if claim.verdict is Verdict.UNKNOWN:
        if now >= intent["deadline"]:  # no evidence either way in time: ops decides, never resent
            return Done(item, give_up=True, result=send_result(
                intent, "RETRYING", at=now, action="unknown",
                error_detail="no evidence Meta took it or not by the deadline; not resent"))
        retry_at = claim.retry_at or after(now, grace.total_seconds())
        return Done(item, result=send_result(intent, "RETRYING", at=now, action="reconcile"),
                    follow_ups=[follow_up(intent, at=now, send_at=retry_at, next_attempt=False)])
    return Done(item, result=send_result(intent, "SKIPPED", at=now, wamid=claim.wamid,
                                         error_detail=_SKIPPED[claim.verdict]))


def deferred(item: Item, phone_number_id: str, *, wait_s: float, now: datetime) -> Done:
    """The number's breaker is open: come back, unclaimed and with the same attempt, after the
    cool-down."""
    intent = item.intent
    send_at = max(intent["send_at"], after(now, max(wait_s, TICK_S)))
    return Done(item, result=send_result(intent, "RETRYING", at=now, action="breaker_open",
                                         error_detail=f"number {phone_number_id} circuit open"),
                follow_ups=[follow_up(intent, at=now, send_at=send_at, next_attempt=False)])


def abandoned(item: Item, claim: Claim, reason: str, *, now: datetime) -> Done:
    """Claimed but not sent (too late, or the number's breaker opened meanwhile). No call went
    out under this claim, so it is given back (RELEASED, only while it is still ours) and the
    same attempt comes back after a tick to claim it again: there is nothing Meta could have
    taken, so no webhook evidence is needed."""
    intent = item.intent
    assert claim.token is not None
    return Done(item, outcome=Outcome(claim.delivery_id, claim.token, State.RELEASED, now),
                result=send_result(intent, "RETRYING", at=now, action="released",
                                   error_detail=f"not sent: {reason}"),
                follow_ups=[follow_up(intent, at=now, send_at=after(now, RELEASE_BACK_S),
                                      next_attempt=False)])


def accepted(item: Item, claim: Claim, answer: SendAccepted, *, now: datetime) -> Done:
    """Meta took the message (or holds it for pacing): the ledger's proof of sending."""
    assert claim.token is not None
    state = State.HELD if answer.held else State.ACCEPTED
    return Done(item, outcome=Outcome(claim.delivery_id, claim.token, state, now, wamid=answer.wamid),
                result=send_result(item.intent, str(state), at=now, wamid=answer.wamid,
                                   wa_id=answer.wa_id, latency_ms=answer.latency_ms),
                paced=item.intent["template_name"] if answer.held else None)


def out_of_attempts(item: Item, claim: Claim, *, now: datetime, max_attempts: int) -> Done:
    """The last attempt's answer was lost and the ledger now has evidence Meta did not take it:
    a final failure, without another call."""
    return not_sent(item, claim, State.FAILED, None,
                    f"not accepted after {max_attempts} attempts (the last one's answer was lost)",
                    "reconcile", now=now)


def not_sent(item: Item, claim: Claim, state: State, code: int | None, detail: str, action: str,
             *, now: datetime, follow_ups: list[dict[str, Any]] | None = None,
             dead_letter: bool = False) -> Done:
    """FAILED for good (a DLQ record too when ``dead_letter``), or RETRYING with the retry
    intent in ``follow_ups``."""
    assert claim.token is not None
    return Done(item, outcome=Outcome(claim.delivery_id, claim.token, state, now, error_code=code),
                result=send_result(item.intent, str(state), at=now, error_code=code,
                                   error_detail=detail, action=action),
                follow_ups=follow_ups or [], dead_letter=detail if dead_letter else None)


def after_error(item: Item, claim: Claim, error: CloudApiError, decision: Decision, *,
                now: datetime, grace: timedelta, failover_to: str | None) -> Done:
    """The call failed with ``error`` and the retry policy decided ``decision``: a reconcile
    wait (Meta may have taken it), a retry, a hand-over to ``failover_to``, or a final failure."""
    intent = item.intent
    action = str(error.policy.action)
    detail = error.details or error.message
    match decision.next:
        case Next.RECONCILE:
            return Done(item, result=send_result(intent, "RETRYING", at=now, error_detail=detail,
                                                 action="reconcile"),
                        follow_ups=[follow_up(intent, at=now, next_attempt=True,
                                              send_at=after(now, grace.total_seconds()))])
        case Next.RETRY:
            retry = follow_up(intent, at=now, send_at=after(now, decision.delay_s),
                              next_attempt=True, error_code=error.code)
            return not_sent(item, claim, State.RETRYING, error.code, detail, action, now=now,
                            follow_ups=[retry])
        case Next.FAILOVER if failover_to is not None:
            moved = follow_up(intent, at=now, send_at=now, next_attempt=True,
                              error_code=error.code, phone_number_id=failover_to)
            return not_sent(item, claim, State.RETRYING, error.code, detail, action, now=now,
                            follow_ups=[moved])
    return not_sent(item, claim, State.FAILED, error.code, detail, action, now=now,
                    dead_letter=decision.dead_letter)
