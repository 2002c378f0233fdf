"""Webhooks back to the callback URL, the way Meta sends them.

Updates are batched (up to ``batch_size`` per POST, Meta's 1,000 at most; a due update may wait
``batch_wait_s`` for others to share its POST, as Meta's batching does, which spares the receiver
one request per status at a high rate), signed with ``X-Hub-Signature-256`` over the
exact bytes sent, and retried with exponential backoff until the callback answers 200. Duplicates
and reordering are injected when the update is scheduled, so what a receiver sees is out of order
and repeated the way Meta's webhooks are. The sandbox signs with its own few lines of HMAC rather
than the client package's helper, so a receiver's verification is checked against an independent
implementation.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import random
from collections import Counter, deque
from dataclasses import dataclass
from typing import Any

import httpx

from sandbox.clock import Clock
from sandbox.config import NumberConfig, WebhookConfig
from sandbox.scheduler import Scheduler

log = logging.getLogger("dawn.sandbox.webhooks")

#: Fields whose updates ride in one ``messages``-style change per business number.
_PER_NUMBER = ("statuses", "messages", "user_preferences")


@dataclass(slots=True)
class Update:
    """One item of a webhook: a status, an inbound message, or a whole WABA-level change."""

    kind: str  # "statuses" | "messages" | "user_preferences" | a WABA-level field name
    number: NumberConfig | None
    item: dict[str, Any]
    contact: dict[str, Any] | None = None


@dataclass(slots=True)
class Posting:
    raw: bytes
    signature: str
    updates: int
    attempt: int = 0


def sign(raw: bytes, app_secret: str) -> str:
    return "sha256=" + hmac.new(app_secret.encode(), raw, hashlib.sha256).hexdigest()


def encode(payload: dict[str, Any], escape_unicode: bool) -> bytes:
    """The bytes to send. Meta escapes non-ASCII as ``\\uXXXX`` and ``/`` as ``\\/``; receivers that
    re-serialise before hashing fail on exactly these, so the sandbox sends them that way."""
    if escape_unicode:
        return json.dumps(payload, separators=(",", ":")).replace("/", "\\/").encode("ascii")
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def build_payload(waba_id: str, updates: list[Update], now: float) -> dict[str, Any]:
    """One webhook body: per-number ``messages`` changes, then any WABA-level changes."""
    per_number: dict[tuple[str, str], dict[str, Any]] = {}
    changes: list[dict[str, Any]] = []
    waba_changes: list[dict[str, Any]] = []
    for update in updates:
        if update.kind not in _PER_NUMBER:
            waba_changes.append({"value": update.item, "field": update.kind})
            continue
        assert update.number is not None
        field = "user_preferences" if update.kind == "user_preferences" else "messages"
        key = (field, update.number.id)
        value = per_number.get(key)
        if value is None:
            value = {"messaging_product": "whatsapp",
                     "metadata": {"display_phone_number": update.number.display_phone_number,
                                  "phone_number_id": update.number.id}}
            per_number[key] = value
            changes.append({"value": value, "field": field})
        if update.contact is not None:
            value.setdefault("contacts", []).append(update.contact)
        value.setdefault(update.kind, []).append(update.item)
    entries: list[dict[str, Any]] = []
    if changes:
        entries.append({"id": waba_id, "changes": changes})
    if waba_changes:
        entries.append({"id": waba_id, "time": int(now), "changes": waba_changes})
    return {"object": "whatsapp_business_account", "entry": entries}


class Outbox:
    """Schedules updates, batches the due ones and posts them with one shared HTTP client."""

    def __init__(self, config: WebhookConfig, waba_id: str, clock: Clock, rng: random.Random,
                 scheduler: Scheduler, stats: Counter[str]) -> None:
        self.config = config
        self.waba_id = waba_id
        self.clock = clock
        self.rng = rng
        self.scheduler = scheduler
        self.stats = stats
        #: Due updates with the clock reading when they became due.
        self.ready: deque[tuple[float, Update]] = deque()
        self.retries: list[Posting] = []
        self.waiting = 0
        self.in_flight = 0
        self.posts_in_flight = 0
        self._wake_at: float | None = None
        self.client: httpx.AsyncClient | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def enabled(self) -> bool:
        return bool(self.config.callback_url)

    def pending(self) -> int:
        """Updates not yet acknowledged by the callback (scheduled, batched or in flight)."""
        return self.waiting + len(self.ready) + sum(p.updates for p in self.retries) + self.in_flight

    def idle(self) -> bool:
        """Nothing batched, awaiting a retry slot or in flight (scheduled updates aside)."""
        return not self.ready and not self.retries and self.in_flight == 0

    def schedule(self, update: Update, due: float, disorder: bool = True) -> None:
        """Queue ``update`` for ``due``; ``disorder`` lets status updates be duplicated and
        overtaken as configured (template and account events are sent once, in order)."""
        if not self.enabled:
            return
        cfg = self.config
        if disorder and cfg.reorder_rate and self.rng.random() < cfg.reorder_rate:
            due += cfg.reorder_delay_s
        self._at(due, update)
        if disorder and cfg.duplicate_rate and self.rng.random() < cfg.duplicate_rate:
            self.stats["duplicates_injected"] += 1
            self._at(due + self.rng.uniform(*cfg.duplicate_delay_s), update)

    def _at(self, due: float, update: Update) -> None:
        self.waiting += 1

        def release() -> None:
            self.waiting -= 1
            self.ready.append((self.clock(), update))

        self.scheduler.at(due, release)

    def pump(self) -> None:
        """Start posting what is due, within ``concurrency`` posts at a time."""
        if self.client is None:
            return
        while self.posts_in_flight < self.config.concurrency and (self.retries or self._batch_due()):
            posting = self.retries.pop(0) if self.retries else self._next_posting()
            self.in_flight += posting.updates
            self.posts_in_flight += 1
            task = asyncio.create_task(self._post(posting))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _batch_due(self) -> bool:
        """A POST's worth is ready, or the oldest ready update has waited ``batch_wait_s`` (then
        the scheduler is asked to wake the loop when it will have)."""
        if not self.ready:
            return False
        wait = self.config.batch_wait_s
        if wait <= 0 or len(self.ready) >= self.config.batch_size:
            return True
        due = self.ready[0][0] + wait
        if due <= self.clock():
            return True
        if self._wake_at != due:
            self._wake_at = due
            self.scheduler.at(due, lambda: None)  # the loop pumps again after every due job
        return False

    def _next_posting(self) -> Posting:
        ready = self.ready
        batch = [ready.popleft()[1] for _ in range(min(self.config.batch_size, len(ready)))]
        if self.config.reorder_rate:
            self.rng.shuffle(batch)
        raw = encode(build_payload(self.waba_id, batch, self.clock()), self.config.escape_unicode)
        return Posting(raw, sign(raw, self.config.app_secret), len(batch))

    async def _post(self, posting: Posting) -> None:
        assert self.client is not None and self.config.callback_url
        self.stats["posts"] += 1
        try:
            response = await self.client.post(
                self.config.callback_url, content=posting.raw,
                headers={"Content-Type": "application/json",
                         "X-Hub-Signature-256": posting.signature})
            ok = response.status_code == 200
        except httpx.HTTPError as exc:
            log.debug("webhook post failed: %s", exc)
            ok = False
        finally:
            self.in_flight -= posting.updates
            self.posts_in_flight -= 1
            if self.scheduler.wake is not None:
                self.scheduler.wake.set()  # a slot is free: let the loop post the next batch
        if ok:
            self.stats["updates_delivered"] += posting.updates
            return
        self.stats["failed_posts"] += 1
        posting.attempt += 1
        if posting.attempt >= self.config.retry_max_attempts:
            self.stats["updates_given_up"] += posting.updates
            log.warning("webhook batch of %d updates given up after %d attempts",
                        posting.updates, posting.attempt)
            return
        delay = min(self.config.retry_max_s, self.config.retry_base_s * 2 ** (posting.attempt - 1))
        self.waiting += posting.updates

        def retry() -> None:
            self.waiting -= posting.updates
            self.retries.append(posting)

        self.scheduler.at(self.clock() + delay, retry)

    async def start(self) -> None:
        self.client = httpx.AsyncClient(
            timeout=self.config.timeout_s,
            limits=httpx.Limits(max_connections=self.config.concurrency))

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.client is not None:
            await self.client.aclose()
            self.client = None
