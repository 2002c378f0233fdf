"""The sender's engine: per-number lanes that claim, send and settle intents in small batches.

Why it is shaped like this:

- Intents are held in memory, unacknowledged, until their ``send_at`` (Faust commits only the
  contiguous acknowledged offsets), so the consumer keeps polling and heartbeating while a lane
  waits; waits are bounded ticks, never a sleep until a far ``send_at``.
- Each number has a lane: a heap by ``send_at``, a rate limiter, a bound on requests in flight
  and its own Cloud API client. 80 mps at 100-300 ms per call needs about 24 in flight (Little's
  law), so the default bound is 32. One client per lane rather than one for the worker: httpcore's
  connection pool does work quadratic in its connection count on every request, and one pool of
  ~100 connections for three numbers was measured to spend most of the worker's CPU there
  (throughput fell to a quarter of the allowed rate at 150 ms latency); pools of one lane's size
  do not.
- A lane claims what is due in one ledger transaction before any HTTP call; outcomes are collected
  by one flusher that, per tick: produces follow-up intents (retries, reconcile waits, failovers)
  and dead letters, then records outcomes in PostgreSQL in one transaction, then produces the send
  results, and only then acknowledges the original records. A crash anywhere in that order
  either repeats work the ledger recognises or loses nothing.
- One HTTP call per delivery at a time: the ledger hands out one claim per delivery id, and copies
  of an intent (a re-run scheduler, records Faust reads again after a rebalance) that show up in the
  same batch, or while the first copy is in flight, are settled with it, unsent (see ``_sending``).
- The ledger's safety assumes the call goes out soon after the claim: media are staged before
  claiming, and a claim older than ``claim_max_age`` (half the grace by default) when its turn comes,
  or whose partition moved away meanwhile, is not sent (see :meth:`Sender._send`).
- A circuit breaker per number (:mod:`whatsapp.breaker`) counts every outcome; while it is open no
  call goes to that number and its due intents are deferred, unclaimed and without using up an
  attempt, to the end of the cool-down; half-open lets one probe out.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
import zlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from psycopg_pool import AsyncConnectionPool

from schemas.catalogue import INTENTS
from schemas.codec import dead_letter
from store.send_ledger import (
    DEFAULT_GRACE,
    Claim,
    ClaimRequest,
    Outcome,
    State,
    Verdict,
    claim_batch,
    record_outcomes,
)
from streams.sender.limiter import SendRateLimiter
from streams.sender.media import MediaResolver, MediaUnavailable
from streams.sender.records import after, follow_up, send_result
from streams.sender.retry_policy import MAX_ATTEMPTS, Decision, Next, decide
from whatsapp.breaker import BreakerRegistry, BreakerState
from whatsapp.client import CloudApiClient, CloudApiError, SendAccepted
from whatsapp.errors import Action
from whatsapp.payloads import TemplateMessage

log = logging.getLogger("dawn.sender")

TICK_S = 0.25  # longest a lane or the flusher sleeps before looking again
FLUSH_MAX = 500


@dataclass(frozen=True)
class SenderOptions:
    """Knobs read from the stream context's options (see :meth:`from_options`)."""

    mps: float = 80.0
    mps_by_number: dict[str, float] = field(default_factory=dict)
    in_flight: int = 32
    grace: timedelta = DEFAULT_GRACE
    max_attempts: int = MAX_ATTEMPTS
    numbers: tuple[str, ...] = ()  # every sender number, for failover
    max_pending: int = 20_000  # intents held in memory before the stream is slowed
    claim_max_age: timedelta | None = None  # None: half the grace
    breaker_failures: int = 5  # consecutive transient failures that open a number's breaker
    breaker_cool_down_s: float = 30.0

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> SenderOptions:
        return cls(
            mps=float(options.get("mps", cls.mps)),
            mps_by_number={k: float(v) for k, v in dict(options.get("mps_by_number", {})).items()},
            in_flight=int(options.get("in_flight", cls.in_flight)),
            grace=timedelta(seconds=float(options.get("grace_s", DEFAULT_GRACE.total_seconds()))),
            max_attempts=int(options.get("max_attempts", MAX_ATTEMPTS)),
            numbers=tuple(options.get("numbers", ())),
            max_pending=int(options.get("max_pending", cls.max_pending)),
            claim_max_age=(timedelta(seconds=float(options["claim_max_age_s"]))
                           if options.get("claim_max_age_s") is not None else None),
            breaker_failures=int(options.get("breaker_failures", cls.breaker_failures)),
            breaker_cool_down_s=float(options.get("breaker_cool_down_s", cls.breaker_cool_down_s)),
        )

    @property
    def max_claim_age(self) -> timedelta:
        """How old a claim may be when its HTTP call goes out; older ones are not sent."""
        return self.claim_max_age if self.claim_max_age is not None else self.grace / 2


class Emitter(Protocol):
    """Where the sender's records go; awaiting a call means the broker acknowledged them."""

    async def intents(self, records: Sequence[dict[str, Any]]) -> None: ...
    async def results(self, records: Sequence[dict[str, Any]]) -> None: ...
    async def dead_letters(self, records: Sequence[dict[str, Any]]) -> None: ...


@dataclass(eq=False)
class Item:
    """One intent and the handle that acknowledges its source record."""

    intent: dict[str, Any]
    source: Any = None  # the Faust event; acknowledged through Sender's ``ack``
    key: bytes | None = None  # the source record, kept for a dead letter
    value: bytes | None = None
    partition: int = -1
    offset: int = -1


@dataclass(eq=False)
class Done:
    """An item whose fate is decided, waiting for the flusher."""

    item: Item
    outcome: Outcome | None = None
    result: dict[str, Any] | None = None
    follow_ups: list[dict[str, Any]] = field(default_factory=list)
    dead_letter: str | None = None


@dataclass(eq=False)
class Sending:
    """The copy of a delivery being claimed or sent, and copies of it that arrived meanwhile."""

    item: Item
    copies: list[Item] = field(default_factory=list)


@dataclass(eq=False)
class Lane:
    phone_number_id: str
    bucket: SendRateLimiter
    in_flight: asyncio.Semaphore
    client: CloudApiClient
    heap: list[tuple[datetime, int, Item]] = field(default_factory=list)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    stopped: bool = False
    claim_failures: int = 0
    task: asyncio.Task[None] | None = None


class Sender:
    """Owns the lanes, the flusher and the shared client. One per worker process."""

    def __init__(
        self, *, pool: AsyncConnectionPool, make_client: Callable[[int], CloudApiClient], emit: Emitter,
        ack: Callable[[Any], Awaitable[object]], now: Callable[[], datetime],
        monotonic: Callable[[], float], options: SenderOptions,
        owned: Callable[[Any], bool] = lambda _source: True,
    ) -> None:
        self._pool = pool
        self._make_client = make_client
        self._emit = emit
        self._ack = ack
        self._now = now
        self._monotonic = monotonic
        self._options = options
        self._owned = owned
        self._media = MediaResolver(pool, now)
        self._lanes: dict[str, Lane] = {}
        self._seq = itertools.count()
        self._done: list[Done] = []
        self._done_wake = asyncio.Event()
        self._pending = 0
        self._room = asyncio.Event()
        self._room.set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._flusher: asyncio.Task[None] | None = None
        self._reconciling_since = now()
        #: delivery_id -> the copy being claimed/sent, from the lane taking it until its outcome
        #: is flushed; later copies wait here and are acknowledged after it, never sent.
        self._sending: dict[str, Sending] = {}
        self._breakers = BreakerRegistry(options.breaker_failures, options.breaker_cool_down_s,
                                         clock=monotonic)

    def lane_stats(self) -> list[tuple[str, float, int, str]]:
        """(number, limiter rate, requests in flight, breaker state) per lane, for the metrics
        scrape: it runs on another thread, so this only copies and reads, and costs sends nothing."""
        breakers = self._breakers.states()
        return [(number, lane.bucket.rate,
                 self._options.in_flight - lane.in_flight._value,  # the semaphore's free slots
                 str(breakers.get(number, "closed")))
                for number, lane in list(self._lanes.items())]

    def reassigned(self) -> None:
        """Partitions were (re)assigned: the reconcile agent starts reading statuses that piled
        up while nobody owned them, so unknown claims get a fresh grace before any resend."""
        self._reconciling_since = self._now()

    # -- intake -----------------------------------------------------------------------------

    async def submit(self, items: Sequence[Item]) -> None:
        """Queue items on their lanes; waits (in bounded ticks) while too many are held."""
        if self._flusher is None:
            self._flusher = asyncio.create_task(self._flush_loop(), name="sender-flush")
        for item in items:
            self._pending += 1
            lane = self._lane(item.intent["phone_number_id"])
            if lane.stopped:
                self._finish_failover(item, lane)
                continue
            heapq.heappush(lane.heap, (item.intent["send_at"], next(self._seq), item))
            lane.wake.set()
        while self._pending >= self._options.max_pending:
            self._room.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._room.wait(), TICK_S)

    def _lane(self, phone_number_id: str) -> Lane:
        lane = self._lanes.get(phone_number_id)
        if lane is None:
            rate = self._options.mps_by_number.get(phone_number_id, self._options.mps)
            lane = Lane(phone_number_id, SendRateLimiter(rate, clock=self._monotonic),
                        asyncio.Semaphore(self._options.in_flight),
                        self._make_client(self._options.in_flight))
            lane.task = asyncio.create_task(self._run_lane(lane), name=f"lane-{phone_number_id}")
            self._lanes[phone_number_id] = lane
        return lane

    # -- lanes ------------------------------------------------------------------------------

    async def _run_lane(self, lane: Lane) -> None:
        while True:
            try:
                batch = self._dedupe(await self._due(lane))
                if lane.stopped:
                    for item in batch:
                        self._finish_failover(item, lane)
                    continue
                batch = self._gate(lane, batch)
                if batch:
                    await self._claim_and_send(lane, batch)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("lane %s failed a tick; its intents stay unacknowledged", lane.phone_number_id)
                await asyncio.sleep(TICK_S)

    def _chunk(self, lane: Lane) -> int:
        """Claim about a tick's worth of sends at once: enough to batch, little to strand."""
        return max(8, int(lane.bucket.rate * TICK_S) + 1)

    async def _due(self, lane: Lane) -> list[Item]:
        while True:
            while lane.heap and not self._owned(lane.heap[0][2].source):
                heapq.heappop(lane.heap)  # its partition moved to another worker, which rereads it
                self._release(1)
            now = self._now()
            if lane.heap and lane.heap[0][0] <= now:
                out = []
                while lane.heap and lane.heap[0][0] <= now and len(out) < self._chunk(lane):
                    item = heapq.heappop(lane.heap)[2]
                    if self._owned(item.source):
                        out.append(item)
                    else:
                        self._release(1)
                if out:
                    return out
                continue
            wait = TICK_S if not lane.heap else min(TICK_S, (lane.heap[0][0] - now).total_seconds())
            lane.wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(lane.wake.wait(), max(wait, 0.001))

    def _dedupe(self, batch: list[Item]) -> list[Item]:
        """Keep one copy per delivery id: the batch's highest attempt, unless a copy is already
        being claimed or sent. The others wait in ``_sending`` and are acknowledged, unsent, once
        that copy's outcome is flushed. A copy with a higher attempt than the one in flight is a
        follow-up of it (a retry or a hand-over), not a duplicate, and is kept."""
        best: dict[str, Item] = {}
        for item in batch:
            delivery_id = item.intent["delivery_id"]
            held = best.get(delivery_id)
            if held is None or item.intent["attempt"] > held.intent["attempt"]:
                best[delivery_id] = item
        out: list[Item] = []
        copies: list[Item] = []
        for item in batch:
            delivery_id = item.intent["delivery_id"]
            sending = self._sending.get(delivery_id)
            if sending is not None and sending.item is not item:
                if item.intent["attempt"] <= sending.item.intent["attempt"]:
                    sending.copies.append(item)
                else:
                    self._requeue(item)  # a follow-up of the copy in flight: look again later
            elif best[delivery_id] is item:
                self._sending[delivery_id] = Sending(item)
                out.append(item)
            else:
                copies.append(item)
        for item in copies:
            self._sending[item.intent["delivery_id"]].copies.append(item)
        if len(out) < len(batch):
            log.info("%d copies of intents held back behind the copy being sent",
                     len(batch) - len(out))
        return out

    def _requeue(self, item: Item) -> None:
        """Put an item back on its lane's heap, to be looked at again next tick."""
        lane = self._lane(item.intent["phone_number_id"])
        heapq.heappush(lane.heap, (max(item.intent["send_at"], self._now() + timedelta(seconds=TICK_S)),
                                   next(self._seq), item))
        lane.wake.set()

    def _unregister(self, item: Item, *, settled: bool) -> None:
        """``item`` is done with: acknowledge its copies after it when its outcome is ``settled``,
        else put them back to be looked at on their own."""
        sending = self._sending.get(item.intent["delivery_id"])
        if sending is None or sending.item is not item:
            return
        del self._sending[item.intent["delivery_id"]]
        for copy in sending.copies:
            if settled:
                self._queue(Done(copy))
            else:
                self._requeue(copy)

    def _gate(self, lane: Lane, batch: list[Item]) -> list[Item]:
        """What the number's breaker lets through now: all (closed), one probe (half-open) or
        nothing (open). The rest is deferred to the end of the cool-down, unclaimed."""
        breaker = self._breakers.get(lane.phone_number_id)
        if breaker.state is BreakerState.CLOSED:
            return batch
        passed = batch[:1] if breaker.allow() else []
        for item in batch[len(passed):]:
            self._finish_deferred(item, lane, breaker.cool_down_remaining())
        return passed

    def _finish_deferred(self, item: Item, lane: Lane, wait_s: float) -> None:
        intent, now = item.intent, self._now()
        send_at = max(intent["send_at"], after(now, max(wait_s, TICK_S)))
        self._queue(Done(
            item, result=send_result(intent, "RETRYING", at=now, action="breaker_open",
                                     error_detail=f"number {lane.phone_number_id} circuit open"),
            follow_ups=[follow_up(intent, at=now, send_at=send_at, next_attempt=False)]))

    async def _stage_media(self, lane: Lane, batch: list[Item]) -> None:
        """Upload missing header images before claiming, so a claim is not held during an upload.
        Failures are left to :meth:`_send`, which meets them again and settles the intent."""
        for sha in sorted({i.intent["image_sha256"] for i in batch}):
            try:
                await self._media.media_id(lane.client, lane.phone_number_id, sha)
            except Exception as error:  # settled per intent in _send
                log.debug("staging image %s for %s failed: %s", sha, lane.phone_number_id, error)

    async def _claim_and_send(self, lane: Lane, batch: list[Item]) -> None:
        await self._stage_media(lane, batch)
        requests = [
            ClaimRequest(i.intent["delivery_id"], i.intent["advisor_id"], i.intent["attempt"],
                         lane.phone_number_id)
            for i in batch
        ]
        claimed_at = self._now()
        try:
            async with self._pool.connection() as conn:
                claims = await claim_batch(conn, requests, now=claimed_at,
                                           grace=self._options.grace,
                                           reconciling_since=self._reconciling_since)
        except asyncio.CancelledError:
            raise
        except Exception as error:  # the database is away: keep the intents, back off
            lane.claim_failures += 1
            if lane.claim_failures == 1:
                log.exception("claiming %d intents of %s failed; they are tried again",
                              len(batch), lane.phone_number_id)
            elif lane.claim_failures % 20 == 0:
                log.error("claims for %s still failing after %d tries (%s)", lane.phone_number_id,
                          lane.claim_failures, error)
            for item in batch:
                self._unregister(item, settled=False)
                self._requeue(item)
            await asyncio.sleep(min(5.0, TICK_S * 2 ** min(lane.claim_failures - 1, 5)))
            return
        lane.claim_failures = 0
        for item in batch:
            claim = claims[item.intent["delivery_id"]]
            if claim.verdict is not Verdict.SEND or claim.token is None:
                self._finish_unsent(item, claim)
                continue
            await lane.bucket.acquire()
            await lane.in_flight.acquire()
            task = asyncio.create_task(self._send(lane, item, claim, claimed_at))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _finish_unsent(self, item: Item, claim: Claim) -> None:
        intent, now = item.intent, self._now()
        if claim.verdict is Verdict.STALE:
            self._queue(Done(item))
        elif claim.verdict is Verdict.UNKNOWN:
            retry_at = claim.retry_at or after(now, self._options.grace.total_seconds())
            self._queue(Done(
                item, result=send_result(intent, "RETRYING", at=now, action="reconcile"),
                follow_ups=[follow_up(intent, at=now, send_at=retry_at, next_attempt=False)],
            ))
        else:
            detail = {Verdict.SENT: "already sent", Verdict.FINAL: "already failed",
                      Verdict.NO_CONSENT: "no consent"}[claim.verdict]
            self._queue(Done(item, result=send_result(
                intent, "SKIPPED", at=now, wamid=claim.wamid, error_detail=detail)))

    def _finish_failover(self, item: Item, lane: Lane) -> None:
        """A pending intent of a stopped number: hand it, unsent, to another number."""
        intent, now = item.intent, self._now()
        target = self._failover_target(intent["delivery_id"])
        if target is None:
            self._queue(Done(item, result=send_result(
                intent, "FAILED", at=now, action="stop_number", error_detail="no healthy number left")))
            return
        self._queue(Done(item, follow_ups=[follow_up(
            intent, at=now, send_at=max(now, intent["send_at"]), next_attempt=False,
            phone_number_id=target)]))

    def _failover_target(self, delivery_id: str) -> str | None:
        healthy = [n for n in self._options.numbers
                   if not (n in self._lanes and self._lanes[n].stopped)]
        if not healthy:
            return None
        return healthy[zlib.crc32(delivery_id.encode()) % len(healthy)]

    # -- one send -----------------------------------------------------------------------------

    async def _send(self, lane: Lane, item: Item, claim: Claim, claimed_at: datetime) -> None:
        intent = item.intent
        assert claim.token is not None
        breaker = self._breakers.get(lane.phone_number_id)
        try:
            media_id = await self._media.media_id(lane.client, lane.phone_number_id,
                                                  intent["image_sha256"])
            # Last look before the call: the claim's safety assumes the call follows it closely.
            if not self._owned(item.source):
                self._drop_unowned(item)
                return
            age = self._now() - claimed_at
            if age > self._options.max_claim_age or breaker.state is BreakerState.OPEN:
                reason = (f"claim {age.total_seconds():.1f} s old" if age > self._options.max_claim_age
                          else f"number {lane.phone_number_id} circuit open")
                self._queue(self._abandoned(item, claimed_at, reason))
                return
            accepted = await lane.client.send_template(
                lane.phone_number_id, intent["phone"] or intent["user_id"],
                TemplateMessage(intent["template_name"], intent["template_language"],
                                header_image_id=media_id, body_params=dict(intent["params"])),
                callback_data=intent["delivery_id"],
            )
        except CloudApiError as error:
            breaker.record(error.policy)
            self._queue(self._after_error(lane, item, claim, error))
        except MediaUnavailable as error:
            self._queue(self._not_sent(item, claim, State.FAILED, None, str(error), "dead_letter",
                                       dead_letter=True))
        except Exception as error:  # a bug or a bad record; never let it stop the lane
            log.exception("send of %s failed unexpectedly", intent["delivery_id"])
            self._queue(self._not_sent(item, claim, State.FAILED, None, f"{type(error).__name__}: {error}",
                                       "dead_letter", dead_letter=True))
        else:
            breaker.record(None)
            self._queue(self._accepted(item, claim, accepted))
        finally:
            lane.in_flight.release()

    def _drop_unowned(self, item: Item) -> None:
        """Its partition moved to another worker: not sent, not acknowledged. The new owner reads
        the intent again; the ledger shows it our claim, without an outcome, so it waits the grace
        (or a status webhook, which cannot come) and then claims and sends it itself."""
        log.info("intent %s not sent: its partition moved away after the claim",
                 item.intent["delivery_id"])
        self._unregister(item, settled=False)
        self._release(1)

    def _abandoned(self, item: Item, claimed_at: datetime, reason: str) -> Done:
        """Claimed but not sent (too late, or the number's breaker opened meanwhile). The claim
        stays in the ledger without an outcome, as after a timeout, but no attempt is counted: the
        follow-up keeps the attempt and comes back when the ledger lets it claim again (the grace
        after ``claimed_at``), then is sent."""
        intent, now = item.intent, self._now()
        log.warning("intent %s claimed but not sent (%s); it is claimed again after the grace",
                    intent["delivery_id"], reason)
        retry_at = max(now, claimed_at + self._options.grace)
        return Done(item, result=send_result(intent, "RETRYING", at=now, action="reconcile",
                                             error_detail=f"not sent: {reason}"),
                    follow_ups=[follow_up(intent, at=now, send_at=retry_at, next_attempt=False)])

    def _accepted(self, item: Item, claim: Claim, accepted: SendAccepted) -> Done:
        now = self._now()
        state = State.HELD if accepted.held else State.ACCEPTED
        assert claim.token is not None
        return Done(
            item,
            outcome=Outcome(claim.delivery_id, claim.token, state, now, wamid=accepted.wamid),
            result=send_result(item.intent, str(state), at=now, wamid=accepted.wamid,
                               wa_id=accepted.wa_id, latency_ms=accepted.latency_ms),
        )

    def _not_sent(self, item: Item, claim: Claim, state: State, code: int | None, detail: str,
                  action: str, *, follow_ups: list[dict[str, Any]] | None = None,
                  dead_letter: bool = False) -> Done:
        """FAILED for good (a DLQ record too when ``dead_letter``), or RETRYING with the retry
        intent in ``follow_ups``."""
        now = self._now()
        assert claim.token is not None
        return Done(
            item,
            outcome=Outcome(claim.delivery_id, claim.token, state, now, error_code=code),
            result=send_result(item.intent, str(state), at=now, error_code=code, error_detail=detail,
                               action=action),
            follow_ups=follow_ups or [],
            dead_letter=detail if dead_letter else None,
        )

    def _after_error(self, lane: Lane, item: Item, claim: Claim, error: CloudApiError) -> Done:
        intent, now = item.intent, self._now()
        decision: Decision = decide(error.policy, maybe_sent=error.maybe_sent,
                                    attempt=intent["attempt"], max_attempts=self._options.max_attempts)
        action = str(error.policy.action)
        detail = error.details or error.message
        if decision.lower_rate:
            log.warning("number %s hit its throughput limit; rate lowered to %.1f mps",
                        lane.phone_number_id, lane.bucket.lower())
        assert claim.token is not None
        if error.policy.action is Action.STOP_NUMBER:  # a 5xx with such a code included
            self._stop(lane, error)
        match decision.next:
            case Next.RECONCILE:
                return Done(item, result=send_result(
                    intent, "RETRYING", at=now, error_detail=detail, action="reconcile"),
                    follow_ups=[follow_up(intent, at=now, next_attempt=True,
                                          send_at=after(now, self._options.grace.total_seconds()))])
            case Next.RETRY:
                retry = follow_up(intent, at=now, send_at=after(now, decision.delay_s),
                                  next_attempt=True, error_code=error.code)
                return self._not_sent(item, claim, State.RETRYING, error.code, detail, action,
                                      follow_ups=[retry])
            case Next.FAILOVER:
                target = self._failover_target(intent["delivery_id"])
                if target is not None:
                    moved = follow_up(intent, at=now, send_at=now, next_attempt=True,
                                      error_code=error.code, phone_number_id=target)
                    return self._not_sent(item, claim, State.RETRYING, error.code, detail, action,
                                          follow_ups=[moved])
        if error.policy.alert:
            log.error("send of %s failed: %s", intent["delivery_id"], error)
        return self._not_sent(item, claim, State.FAILED, error.code, detail, action,
                              dead_letter=decision.dead_letter)

    def _stop(self, lane: Lane, error: CloudApiError) -> None:
        """The number cannot send (its breaker is open for the stop cool-down too): from now on
        its pending intents are handed over to healthy numbers (:meth:`_finish_failover`)."""
        if not lane.stopped:
            lane.stopped = True
            log.error("number %s stopped (%s); handing its intents over", lane.phone_number_id, error)
            lane.wake.set()

    # -- settling -------------------------------------------------------------------------------

    def _queue(self, done: Done) -> None:
        self._done.append(done)
        self._done_wake.set()

    def _release(self, n: int) -> None:
        self._pending -= n
        if self._pending < self._options.max_pending:
            self._room.set()

    async def _flush_loop(self) -> None:
        while True:
            if not self._done:
                self._done_wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._done_wake.wait(), TICK_S)
                continue
            batch, self._done = self._done[:FLUSH_MAX], self._done[FLUSH_MAX:]
            while True:
                try:
                    await self._flush(batch)
                    break
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("could not settle %d outcomes; retrying", len(batch))
                    await asyncio.sleep(1.0)
            self._release(len(batch))

    async def _flush(self, batch: list[Done]) -> None:
        follow_ups = [f for d in batch for f in d.follow_ups]
        if follow_ups:
            await self._emit.intents(follow_ups)
        dead = [
            dead_letter(INTENTS.name, d.item.value, d.dead_letter, key=d.item.key,
                        partition=d.item.partition, offset=d.item.offset, stage="sender")
            for d in batch if d.dead_letter is not None
        ]
        if dead:
            await self._emit.dead_letters(dead)
        outcomes = [d.outcome for d in batch if d.outcome is not None]
        if outcomes:
            async with self._pool.connection() as conn:
                await record_outcomes(conn, outcomes)
        results = [d.result for d in batch if d.result is not None]
        if results:
            await self._emit.results(results)
        for d in batch:
            if d.item.source is not None:
                await self._ack(d.item.source)
        for d in batch:  # copies that waited behind these are settled with them
            self._unregister(d.item, settled=True)

    async def aclose(self) -> None:
        """Stop the lanes and the flusher; unsettled intents stay unacknowledged for the next run."""
        tasks = [lane.task for lane in self._lanes.values() if lane.task is not None]
        tasks += list(self._tasks)
        if self._flusher is not None:
            tasks.append(self._flusher)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for lane in self._lanes.values():
            await lane.client.aclose()
