"""The sender's engine: per-number lanes that claim, send and settle intents in small batches.

It composes the steps of this package, each testable on its own:

- :mod:`~streams.sender.lane`: a number's intents by ``send_at``, its limiter, in-flight bound and
  client; a lane takes what is due in bounded ticks.
- :mod:`~streams.sender.copies`: one HTTP call per delivery at a time. The ledger hands out one
  claim per delivery id, and copies of an intent (a re-run scheduler, records Faust reads again
  after a rebalance) that show up in the same batch, or while the first copy is in flight, are
  settled with it, unsent.
- breaker gating: a circuit breaker per number (:mod:`whatsapp.breaker`) counts every outcome;
  while it is open no call goes to that number and its due intents are handed over, unclaimed and
  without using up an attempt, to a healthy number (the spare last), or deferred to the end of the
  cool-down when there is none; half-open lets one probe out. A number in maintenance (131057
  opens the breaker for its minute) so does not pile its share of the morning up for later.
- claiming: a lane claims what is due in one ledger transaction before any HTTP call. The
  ledger's safety assumes the call goes out soon after the claim: media are staged before
  claiming, and a claim older than ``claim_max_age`` (half the grace by default) when its turn
  comes, or whose partition moved away meanwhile, is not sent (see :meth:`Sender._send`); the
  too-old one is given back to the ledger (RELEASED) and claimed again.
- :mod:`~streams.sender.outcomes`: pure decisions from a verdict, an answer or an error to what is
  written where; :mod:`~streams.sender.failover` for stopped numbers.
- :mod:`~streams.sender.settle`: the flusher, the only step that acknowledges records, in the
  order intents, DLQ, PostgreSQL, results, ack.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from psycopg_pool import AsyncConnectionPool

from store.number_pace import load_pace, save_pace
from store.send_ledger import Claim, ClaimRequest, State, Verdict, claim_batch
from streams.health_view import HealthView
from streams.marketing_route import MarketingRoute
from streams.rates import NumberRates, PaceConfig
from streams.rotation import TemplateBook
from streams.sender import outcomes
from streams.sender.copies import Copies
from streams.sender.failover import failover_target, hand_over
from streams.sender.items import Done, Emitter, Item
from streams.sender.lane import Lane
from streams.sender.media import MediaResolver, MediaUnavailable, images_of
from streams.sender.options import TICK_S, SenderOptions
from streams.sender.records import follow_up
from streams.sender.retry_policy import decide
from streams.sender.settle import Settler
from whatsapp.breaker import BreakerRegistry, BreakerState
from whatsapp.client import CloudApiClient, CloudApiError, SendAccepted
from whatsapp.errors import Action
from whatsapp.payloads import TemplateMessage

__all__ = ["Item", "Sender", "SenderOptions"]

log = logging.getLogger("dawn.sender")


class Sender:
    """Owns the lanes, the flusher and the shared client. One per worker process."""

    def __init__(
        self, *, pool: AsyncConnectionPool, make_client: Callable[[int], CloudApiClient], emit: Emitter,
        ack: Callable[[Any], Awaitable[object]], now: Callable[[], datetime],
        monotonic: Callable[[], float], options: SenderOptions,
        owned: Callable[[Any], bool] = lambda _source: True, templates: TemplateBook | None = None,
        health: HealthView | None = None, rates: NumberRates | None = None,
    ) -> None:
        self._pool = pool
        self._make_client = make_client
        self._now = now
        self._monotonic = monotonic
        self._options = options
        self._owned = owned
        #: Every number's health as the quality agent publishes it; lanes consult it each tick.
        self._health = health or HealthView()
        self._media = MediaResolver(pool, now)
        self._templates = templates or TemplateBook(now)
        self._marketing = MarketingRoute(options.marketing_messages, now)
        self._rates = rates or NumberRates(
            options.rate_of, clock=monotonic,
            config=PaceConfig(options.recover_s, options.handover_s, options.in_flight))
        self._lanes: dict[str, Lane] = {}
        self._pending = 0
        self._room = asyncio.Event()
        self._room.set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._flusher: asyncio.Task[None] | None = None
        self._copies = Copies()
        self._settler = Settler(pool=pool, emit=emit, ack=ack, settled=self._settled,
                                released=self._release, now=now)
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

    # -- intake -----------------------------------------------------------------------------

    async def submit(self, items: Sequence[Item]) -> None:
        """Queue items on their lanes; waits (in bounded ticks) while too many are held."""
        if self._flusher is None:
            self._flusher = asyncio.create_task(self._settler.run(), name="sender-flush")
        for item in items:
            self._pending += 1
            lane = self._lane(item.intent["phone_number_id"])
            if lane.stopped(self._monotonic()):
                self._hand_over(item)
                continue
            lane.push(item, item.intent["send_at"])
        while self._pending >= self._options.max_pending:
            self._room.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._room.wait(), TICK_S)

    def _lane(self, phone_number_id: str) -> Lane:
        lane = self._lanes.get(phone_number_id)
        if lane is None:
            lane = Lane(phone_number_id, self._rates.get(phone_number_id),
                        asyncio.Semaphore(self._options.in_flight),
                        self._make_client(self._options.in_flight))
            lane.task = asyncio.create_task(self._run_lane(lane), name=f"lane-{phone_number_id}")
            self._lanes[phone_number_id] = lane
        return lane

    # -- lanes ------------------------------------------------------------------------------

    async def _run_lane(self, lane: Lane) -> None:
        await self._load_pace(lane)
        while True:
            try:
                batch = self._dedupe(await self._due(lane))
                lane.follow_health(self._health.get(lane.phone_number_id))
                if lane.stopped(self._monotonic()) or not self._health.can_send(lane.phone_number_id):
                    for item in batch:
                        self._hand_over(item)
                    continue
                batch = self._gate(lane, batch)
                if batch:
                    await self._claim_and_send(lane, batch)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("lane %s failed a tick; its intents stay unacknowledged", lane.phone_number_id)
                await asyncio.sleep(TICK_S)

    async def _due(self, lane: Lane) -> list[Item]:
        while True:
            now = self._now()
            items, dropped = lane.take_due(now, self._owned)
            self._release(dropped)  # their partitions moved to another worker, which rereads them
            if items:
                return items
            await lane.wait(now)

    def _dedupe(self, batch: list[Item]) -> list[Item]:
        deduped = self._copies.dedupe(batch)
        for item in deduped.later:
            self._requeue(item)  # a follow-up of the copy in flight: look again later
        if len(deduped.send) < len(batch):
            log.info("%d copies of intents held back behind the copy being sent",
                     len(batch) - len(deduped.send))
        return deduped.send

    def _requeue(self, item: Item) -> None:
        """Put an item back on its lane's heap, to be looked at again next tick."""
        send_at = max(item.intent["send_at"], self._now() + timedelta(seconds=TICK_S))
        self._lane(item.intent["phone_number_id"]).push(item, send_at)

    def _unregister(self, item: Item, *, settled: bool) -> None:
        """``item`` is done with: acknowledge its copies after it when its outcome is ``settled``,
        else put them back to be looked at on their own."""
        for copy in self._copies.release(item):
            if settled:
                self._queue(Done(copy))
            else:
                self._requeue(copy)

    def _settled(self, item: Item) -> None:
        self._unregister(item, settled=True)

    def _gate(self, lane: Lane, batch: list[Item]) -> list[Item]:
        """What the number's breaker lets through now: all (closed), one probe (half-open) or
        nothing (open). The rest goes, unclaimed, to a healthy number, or waits for the end of
        the cool-down when there is none."""
        breaker = self._breakers.get(lane.phone_number_id)
        if breaker.state is BreakerState.CLOSED:
            return batch
        passed = batch[:1] if breaker.allow() else []
        stopped = self._stopped()
        for item in batch[len(passed):]:
            target = failover_target(item.intent, self._options.numbers, stopped, self._health)
            if target is not None:  # a healthy number sends it now, not this one a minute late
                self._queue(hand_over(item, target, now=self._now()))
            else:
                self._queue(outcomes.deferred(item, lane.phone_number_id,
                                              wait_s=breaker.cool_down_remaining(), now=self._now()))
        return passed

    async def _stage_media(self, lane: Lane, batch: list[Item]) -> None:
        """Upload missing header images before claiming, so a claim is not held during an upload.
        Failures are left to :meth:`_send`, which meets them again and settles the intent."""
        for sha in sorted({sha for i in batch for sha in images_of(i.intent)}):
            try:
                await self._media.media_id(lane.client, lane.phone_number_id, sha)
            except Exception as error:  # settled per intent in _send
                log.debug("staging image %s for %s failed: %s", sha, lane.phone_number_id, error)

    async def _claim_and_send(self, lane: Lane, batch: list[Item]) -> None:
        await self._stage_media(lane, batch)
        requests = [
            ClaimRequest(i.intent["delivery_id"], i.intent["advisor_id"], i.intent["attempt"],
                         lane.phone_number_id, i.intent["template_name"])
            for i in batch
        ]
        claimed_at = self._now()
        try:
            async with self._pool.connection() as conn:
                claims = await claim_batch(conn, requests, now=claimed_at,
                                           grace=self._options.grace)
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
            claim = claims[item.delivery_id]
            if claim.verdict is not Verdict.SEND or claim.token is None:
                self._queue(outcomes.finish_unsent(item, claim, now=self._now(),
                                                   grace=self._options.grace))
                continue
            if item.intent["attempt"] > self._options.max_attempts:  # a lost last answer, disproved
                self._queue(outcomes.out_of_attempts(item, claim, now=self._now(),
                                                     max_attempts=self._options.max_attempts))
                continue
            await lane.rate.acquire()
            await lane.in_flight.acquire()
            task = asyncio.create_task(self._send(lane, item, claim, claimed_at))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    # -- failover -----------------------------------------------------------------------------

    def _stopped(self) -> set[str]:
        """Numbers that take no hand-over now: stopped, or their breaker open (in maintenance)."""
        return {n for n, lane in self._lanes.items()
                if lane.stopped(self._monotonic())
                or self._breakers.get(n).state is BreakerState.OPEN}

    def _hand_over(self, item: Item) -> None:
        """A pending intent of a stopped number: hand it, unsent, to another number."""
        target = failover_target(item.intent, self._options.numbers, self._stopped(), self._health)
        self._queue(hand_over(item, target, now=self._now()))

    def _stop(self, lane: Lane, error: CloudApiError) -> None:
        """The number cannot send: for ``stop_s`` its pending intents are handed over to healthy
        numbers (:meth:`_hand_over`); then it is tried again, behind its breaker."""
        if not lane.stopped(self._monotonic()):
            lane.stopped_until = self._monotonic() + self._options.stop_s
            log.error("number %s stopped for %.0f s (%s); handing its intents over",
                      lane.phone_number_id, self._options.stop_s, error)
            lane.wake.set()

    # -- one send -----------------------------------------------------------------------------

    async def _message(self, lane: Lane, intent: dict[str, Any]) -> TemplateMessage:
        """The template message of an intent: a media card carousel of the advisor's branded
        images when it names card images, else the single-image template."""
        ids = [await self._media.media_id(lane.client, lane.phone_number_id, sha)
               for sha in images_of(intent)]
        if intent.get("card_images"):
            return TemplateMessage(intent["template_name"], intent["template_language"],
                                   body_params=dict(intent["params"]), card_image_ids=ids)
        return TemplateMessage(intent["template_name"], intent["template_language"],
                               header_image_id=ids[0], body_params=dict(intent["params"]))

    async def _send(self, lane: Lane, item: Item, claim: Claim, claimed_at: datetime) -> None:
        # A template known to be paused, disabled, RED or missing is swapped for the pack's next
        # usable backup before the call (streams.rotation); results then name the one sent.
        intent = item.intent = self._templates.resolve(item.intent)
        assert claim.token is not None
        breaker = self._breakers.get(lane.phone_number_id)
        try:
            message = await self._message(lane, intent)
            # Last look before the call: the claim's safety assumes the call follows it closely.
            if not self._owned(item.source):
                self._drop_unowned(item)
                return
            age = self._now() - claimed_at
            if age > self._options.max_claim_age or breaker.state is BreakerState.OPEN:
                reason = (f"claim {age.total_seconds():.1f} s old" if age > self._options.max_claim_age
                          else f"number {lane.phone_number_id} circuit open")
                log.warning("intent %s claimed but not sent (%s); the claim is given back",
                            item.delivery_id, reason)
                self._queue(outcomes.abandoned(item, claim, reason, now=self._now()))
                return
            dispatched = self._monotonic()
            try:
                answer = await self._send_template(lane, intent, message)
            finally:
                lane.rate.observe(self._monotonic() - dispatched)
        except CloudApiError as error:
            breaker.record(error.policy)
            self._queue(self._after_error(lane, item, claim, error))
        except MediaUnavailable as error:
            self._queue(outcomes.not_sent(item, claim, State.FAILED, None, str(error), "dead_letter",
                                          now=self._now(), dead_letter=True))
        except Exception as error:  # a bug or a bad record; never let it stop the lane
            log.exception("send of %s failed unexpectedly", intent["delivery_id"])
            self._queue(outcomes.not_sent(item, claim, State.FAILED, None,
                                          f"{type(error).__name__}: {error}", "dead_letter",
                                          now=self._now(), dead_letter=True))
        else:
            breaker.record(None)
            self._queue(outcomes.accepted(item, claim, answer, now=self._now()))
        finally:
            lane.in_flight.release()

    async def _send_template(self, lane: Lane, intent: dict[str, Any],
                             message: TemplateMessage) -> SendAccepted:
        """One call, through the Marketing Messages API when the template is MARKETING and the
        setting asks for it, else (or when that edge certainly did not take it) ``/messages``."""
        to = intent["phone"] or intent["user_id"]
        if self._marketing.use(lane.phone_number_id, self._templates.category(intent)):
            try:
                return await lane.client.send_template(lane.phone_number_id, to, message,
                                                       callback_data=intent["delivery_id"],
                                                       marketing_api=True)
            except CloudApiError as error:
                if not self._marketing.fall_back(lane.phone_number_id, error):
                    raise
        return await lane.client.send_template(lane.phone_number_id, to, message,
                                               callback_data=intent["delivery_id"])

    def _drop_unowned(self, item: Item) -> None:
        """Its partition moved to another worker: not sent, not acknowledged. The new owner reads
        the intent again; the ledger shows it our claim, without an outcome, so it waits for the
        evidence that it was not sent (the number's watermark passing it) and then claims and
        sends it itself."""
        log.info("intent %s not sent: its partition moved away after the claim", item.delivery_id)
        self._unregister(item, settled=False)
        self._release(1)

    def _after_error(self, lane: Lane, item: Item, claim: Claim, error: CloudApiError) -> Done:
        """Decide on a failed call, and do what the decision asks of the number."""
        decision = decide(error.policy, maybe_sent=error.maybe_sent,
                          attempt=item.intent["attempt"], max_attempts=self._options.max_attempts)
        if decision.lower_rate:
            log.warning("number %s hit its throughput limit; rate lowered to %.1f mps",
                        lane.phone_number_id, lane.rate.lower())
            self._spawn(self._save_pace(lane))
        if error.policy.action is Action.STOP_NUMBER:  # a 5xx with such a code included
            self._stop(lane, error)
        if error.policy.action in (Action.ROTATE_TEMPLATE, Action.FALLBACK_TEMPLATE):
            rotated = self._templates.rotate(item.intent, error.code)
            if rotated is not None:  # same delivery id, next attempt, the pack's next backup
                now = self._now()
                retry = follow_up(rotated, at=now, send_at=now, next_attempt=True, error_code=error.code)
                return outcomes.not_sent(item, claim, State.RETRYING, error.code,
                                         error.details or error.message, "rotate_template",
                                         now=now, follow_ups=[retry])
        done = outcomes.after_error(
            item, claim, error, decision, now=self._now(), grace=self._options.grace,
            failover_to=failover_target(item.intent, self._options.numbers, self._stopped(),
                                        self._health))
        if error.policy.alert and done.outcome is not None and done.outcome.state is State.FAILED:
            log.error("send of %s failed: %s", item.delivery_id, error)
        return done

    # -- settling -------------------------------------------------------------------------------

    def _queue(self, done: Done) -> None:
        self._settler.queue(done)

    def _release(self, n: int) -> None:
        self._pending -= n
        if self._pending < self._options.max_pending:
            self._room.set()

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

    # -- a number's lowered rate, kept across owners ------------------------------------------

    async def _load_pace(self, lane: Lane) -> None:
        """Start from the cap the number's previous owner lowered to, if any (best effort: the
        database being away only means starting from the allowed rate)."""
        try:
            async with self._pool.connection() as conn:
                stored = await load_pace(conn, lane.phone_number_id)
        except asyncio.CancelledError:
            raise
        except Exception as error:
            log.warning("could not read the stored rate of %s: %s", lane.phone_number_id, error)
            return
        if stored is not None:
            cap, lowered_at = stored
            lane.rate.restore(cap, (self._now() - lowered_at).total_seconds())

    async def _save_pace(self, lane: Lane) -> None:
        try:
            async with self._pool.connection() as conn:
                await save_pace(conn, lane.phone_number_id, lane.rate.lowered(), self._now())
        except Exception as error:
            log.warning("could not store the lowered rate of %s: %s", lane.phone_number_id, error)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
