"""The simulated platform's state: numbers, templates, limits, ledger, webhook outbox, faults.

All of it is touched only from the server's event loop (routes and the background loop), so no
locks are needed; tests read it from their own thread and change it through HTTP.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
import random
import time
from itertools import count
from typing import Any

from sandbox.clock import Clock
from sandbox.config import FaultEvent, NumberConfig, RecipientRule, SandboxConfig
from sandbox.faults import Faults, resolve_faults
from sandbox.graph_errors import status_error
from sandbox.ledger import Ledger, LedgerEntry
from sandbox.limits import ArrivalWindow, PairRate, PerUserCount, RollingUnique
from sandbox.quality import QualityModel
from sandbox.recipients import Recipients
from sandbox.scheduler import Scheduler
from sandbox.templates import PAUSE_HOURS, Template, Templates
from sandbox.webhooks_out import Outbox, Update
from whatsapp.payloads import is_bsuid

log = logging.getLogger("dawn.sandbox")

#: How often the background loop looks at the clock when nothing is due sooner: a manual clock
#: that jumps is noticed within this many real seconds.
POLL_S = 0.02
_PAUSE_TITLES = ("FIRST_PAUSE", "SECOND_PAUSE")
_PRICING_CATEGORY = {"MARKETING": "marketing", "UTILITY": "utility",
                     "AUTHENTICATION": "authentication"}


class Sandbox:
    """One simulated business portfolio. ``config`` is the running config (numbers' quality and
    status and the fault profile change in it at run time); a reset returns to the config given."""

    def __init__(self, config: SandboxConfig | None = None, clock: Clock = time.time) -> None:
        self.clock = clock
        self.scheduler = Scheduler()
        self._ids = count(1)
        self._fault_generation = 0
        self._running = False
        self._build(config or SandboxConfig())

    def _build(self, config: SandboxConfig) -> None:
        self._given = copy.deepcopy(config)
        self.config = config = copy.deepcopy(config)
        now = self.clock()
        self.scheduler.clear()
        self.rng = random.Random(config.seed)
        self.ledger = Ledger()
        self.numbers: dict[str, NumberConfig] = {n.id: n for n in config.numbers}
        self.buckets = {n.id: ArrivalWindow(n.mps, config.limits.burst) for n in config.numbers}
        self.pairs = PairRate(config.limits.pair_interval_s, config.limits.pair_burst)
        self.unique = RollingUnique(config.limits.messaging_limit)
        self.marketing = PerUserCount()
        self.recipients = Recipients(config.recipients, config.seed)
        self.templates = Templates(config.templates)
        #: media id -> (uploading number, mime type, upload time)
        self.media: dict[str, tuple[str, str, float]] = {}
        #: media id -> (sha256, size) of the uploaded bytes, as Meta's ``GET /{media_id}`` reports
        self.media_files: dict[str, tuple[str, int]] = {}
        #: media id -> bytes, only with ``keep_media_bytes``
        self.media_bytes: dict[str, bytes] = {}
        #: resumable upload id -> (declared length, mime type); and the handles it produced
        self.uploads: dict[str, tuple[int, str]] = {}
        self.handles: set[str] = set()
        self.maintenance_until: dict[str, float] = {}
        #: (number, wa_id) -> end of the 24 h customer service window opened by an inbound message
        self.windows: dict[tuple[str, str], float] = {}
        self.faults = Faults(config.faults, self.rng)
        self.outbox = Outbox(config.webhooks, config.waba_id, self.clock, self.rng, self.scheduler,
                             self.ledger.webhooks)
        self.quality = QualityModel(config.quality, self.clock, self.rng,
                                    lambda name: self.config.faults.block_rate_of(name),
                                    self.waba_event, self.scheduler.at)
        self._schedule_events(config.faults.events, now)

    def new_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):012d}"

    # -- lifecycle ----------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """The background loop: runs what is due on the clock and posts due webhooks."""
        self.scheduler.wake = wake = asyncio.Event()
        await self.outbox.start()
        self._running = True
        try:
            while not stop.is_set():
                self.scheduler.run_due(self.clock())
                self.outbox.pump()
                nxt = self.scheduler.next_due()
                timeout = POLL_S if nxt is None else min(POLL_S, max(0.0, nxt - self.clock()))
                wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), timeout)
        finally:
            self._running = False
            await self.outbox.stop()

    def catch_up(self) -> None:
        """Run everything already due, so a request sees the state its clock reading implies
        (a fault due at t applies to a request at t, not at the loop's next tick)."""
        self.scheduler.run_due(self.clock())

    async def reset(self, config: SandboxConfig | None = None) -> None:
        """Back to a clean state under ``config``, or under the config last given."""
        await self.outbox.stop()
        self._build(config or self._given)
        if self._running:
            await self.outbox.start()

    # -- faults -------------------------------------------------------------------------------

    def apply_faults(self, data: dict[str, Any]) -> None:
        """Change the fault profile at run time. A new ``profile`` or ``events`` replaces the
        events still pending, counting ``after_s`` from now; other keys leave them be."""
        faults = resolve_faults(data, self.config.numbers, self.config.templates,
                                current=self.faults.config)
        self.config.check_targets(faults.events)
        self.config.faults = faults
        self.faults.config = faults
        if "events" in data or "profile" in data:
            self._schedule_events(faults.events, self.clock())

    def _schedule_events(self, events: list[FaultEvent], base: float) -> None:
        self._fault_generation += 1
        generation = self._fault_generation
        for event in events:
            self.scheduler.at(base + event.after_s,
                              lambda e=event: self._apply_event(e, generation))

    def _apply_event(self, event: FaultEvent, generation: int) -> None:
        if generation != self._fault_generation:
            return  # replaced by a later fault profile before it struck
        now = self.clock()
        log.info("fault: %s %s %s", event.kind, event.target, event.value)
        if event.kind == "template_pause":
            for template in self.templates.named(event.target, event.language):
                self.pause_template(template)
            return
        number = self.numbers[event.target]
        if event.kind == "maintenance":
            self.maintenance_until[number.id] = now + event.duration_s
        elif event.kind == "number_quality":
            # Meta's quality webhook no longer carries the rating: clients see this by polling.
            number.quality = event.value
        elif event.kind == "number_status":
            number.status = event.value
            if event.value in ("RESTRICTED", "FLAGGED"):
                self.waba_event("account_update", {
                    "phone_number": number.display_phone_number, "event": "ACCOUNT_RESTRICTION",
                    "restriction_info": [{"restriction_type": "RESTRICTED_BIZ_INITIATED_MESSAGING",
                                          "expiration": int(now + 24 * 3600)}]})

    # -- templates ----------------------------------------------------------------------------

    def waba_event(self, field: str, value: dict[str, Any]) -> None:
        """Queue an account or template update, ``account_delay_s`` late (two such updates may
        then arrive out of order, as Meta does not promise order either)."""
        low, high = self.config.webhooks.account_delay_s
        delay = self.rng.uniform(low, high) if high > 0 else 0.0
        self.outbox.schedule(Update(field, None, value), self.clock() + delay, disorder=False)

    def template_event(self, template: Template, event: str, **extra: Any) -> None:
        self.waba_event("message_template_status_update", {
            "event": event, "message_template_id": int(template.id),
            "message_template_name": template.name,
            "message_template_language": template.language, "reason": "NONE",
            "message_template_category": template.category, **extra})

    def pause_template(self, template: Template) -> None:
        """Low quality caught up with ``template``: paused 3 h, then 6 h, then disabled."""
        now = self.clock()
        if template.quality != "RED":
            self.waba_event("message_template_quality_update", {
                "previous_quality_score": template.quality, "new_quality_score": "RED",
                "message_template_id": int(template.id), "message_template_name": template.name,
                "message_template_language": template.language})
            template.quality = "RED"
        template.pause_count += 1
        if template.pause_count > len(PAUSE_HOURS):
            template.status = "DISABLED"
            self.template_event(template, "DISABLED", disable_info={"disable_date": int(now)})
            return
        hours = PAUSE_HOURS[template.pause_count - 1]
        template.status = "PAUSED"
        self.template_event(template, "PAUSED", other_info={
            "title": _PAUSE_TITLES[template.pause_count - 1],
            "description": f"Your WhatsApp message template has been paused for {hours} hours."})
        pause = template.pause_count

        def pause_over() -> None:
            if template.pause_count == pause and template.status == "PAUSED":
                self.unpause_template(template)

        self.scheduler.at(now + hours * 3600, pause_over)

    def unpause_template(self, template: Template) -> None:
        template.status = "APPROVED"
        self.template_event(template, "REINSTATED", other_info={
            "title": "UNPAUSE", "description": "Your WhatsApp message template has been unpaused."})

    def approve_later(self, template: Template) -> None:
        """Review ``template`` after ``template_approval_s``: rejected (INVALID_FORMAT) at the
        configured rate, else approved; either way a status webhook says so."""
        rejected = self.rng.random() < self.config.template_rejection_rate

        def approve() -> None:
            if template.status != "PENDING":
                return
            if rejected:
                template.status, template.reason = "REJECTED", "INVALID_FORMAT"
                self.template_event(template, "REJECTED", reason="INVALID_FORMAT")
            else:
                template.status = "APPROVED"
                self.template_event(template, "APPROVED")

        self.scheduler.at(self.clock() + self.config.template_approval_s, approve)

    # -- statuses -----------------------------------------------------------------------------

    def _status(self, entry: LedgerEntry, status: str, at: float,
                error: int | None = None) -> None:
        if not self.outbox.enabled:
            return  # no callback: skip building what nobody will receive
        item: dict[str, Any] = {"id": entry.wamid, "status": status, "timestamp": str(int(at))}
        # A BSUID send's statuses name the user by user id only, as Meta's do for username users.
        item["recipient_user_id" if is_bsuid(entry.wa_id) else "recipient_id"] = entry.wa_id
        if entry.callback_data is not None:
            item["biz_opaque_callback_data"] = entry.callback_data
        if error is not None:
            item["errors"] = [status_error(error)]
        elif entry.category is not None:
            item["pricing"] = {"billable": True, "pricing_model": "PMP", "type": "regular",
                               "category": _PRICING_CATEGORY[entry.category]}
        else:
            item["pricing"] = {"billable": False, "pricing_model": "PMP",
                               "type": "free_customer_service", "category": "service"}
        self.outbox.schedule(Update("statuses", self.numbers[entry.phone_number_id], item), at)

    def deliver(self, entry: LedgerEntry, rule: RecipientRule, failure: int | None,
                start: float) -> None:
        """Decide and schedule what happens to an accepted message from ``start`` on: a failed
        status, or sent -> delivered (late when the device is offline) -> maybe read."""
        cfg = self.config.webhooks
        rng = self.rng
        sent_at = start + rng.uniform(*cfg.sent_delay_s)
        if failure is not None:
            entry.outcome, entry.error_code = "failed", failure
            self._status(entry, "failed", sent_at, failure)
            return
        delay = cfg.delivered_delay_s if rule.online else cfg.offline_delay_s
        delivered_at = sent_at + rng.uniform(*delay)
        entry.delivered_at = delivered_at
        self._status(entry, "sent", sent_at)
        self._status(entry, "delivered", delivered_at)
        template = self.templates.variants.get((entry.template or "", entry.language or ""))
        read_rate = cfg.read_rate if template is None or template.read_rate is None else template.read_rate
        if rng.random() < read_rate:
            entry.outcome = "read"
            self._status(entry, "read", delivered_at + rng.uniform(*cfg.read_delay_s))
        else:
            entry.outcome = "delivered"

    def hold(self, entry: LedgerEntry, rule: RecipientRule, failure: int | None) -> None:
        """Pacing: release the held message later, or drop it with 132015."""
        def release() -> None:
            now = self.clock()
            if self.rng.random() < self.config.pacing.drop_rate:
                self.ledger.counts["dropped"] += 1
                entry.outcome, entry.error_code = "failed", 132015
                self._status(entry, "failed", now, 132015)
            else:
                self.ledger.counts["released"] += 1
                self.deliver(entry, rule, failure, now)

        self.scheduler.at(self.clock() + self.rng.uniform(*self.config.pacing.release_after_s),
                          release)

    # -- views --------------------------------------------------------------------------------

    def settled(self) -> bool:
        """Nothing is due on the clock and no webhook waits to be posted or acknowledged: what a
        test (or ``dawn run``) waits for after moving a manual clock."""
        due = self.scheduler.next_due()
        return (due is None or due > self.clock()) and self.outbox.idle()

    def ledger_json(self, entries: bool = True) -> dict[str, Any]:
        doc = self.ledger.to_json(self.outbox.pending(), entries)
        doc["unique_recipients_24h"] = self.unique.count(self.clock())
        doc["blocks"] = self.quality.blocks
        return doc
