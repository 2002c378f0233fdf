"""The morning run: read what may be sent, plan it, pre-stage media, publish the intents.

Runs at 05:59:00 IST (``plan_at``) on the injected clock, or at once for ``dawn run``. Nothing is
published unless the whole plan fits: a half-published morning would leave ops guessing who was
left out, while a refusal names the numbers or tier to add. Intents go to ``wa.delivery.intents``
keyed by sender number and in send_at order, because the sender works through a partition in
order: produced number by number, a partition shared by two numbers would hold the second number's
first sends behind the whole morning of the first. Running it again for the same morning plans the
same delivery ids and publishes only those not in the topic yet (producers.scheduler.publish), so
a publish Kafka stopped acknowledging part way is completed by a second run; the sender's ledger
(store.send_ledger) turns any copy that still happens into no second send.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, time
from pathlib import Path
from typing import Any

import httpx
import psycopg

from producers.intake.packs import approved_packs
from producers.kafka_io import TIMEOUT_S, KafkaConfigs, produce_all, read_to_end
from producers.scheduler.assignment import SenderNumber
from producers.scheduler.budget import Budget, BudgetCheck
from producers.scheduler.capacity import PlanPolicy
from producers.scheduler.fleet import (
    approved_templates,
    falling_numbers,
    healthy_numbers,
    paced_templates,
    portfolio_tier,
)
from producers.scheduler.media import MediaUploader, fetch_image, stage_media
from producers.scheduler.plan import plan_morning
from producers.scheduler.prestage import (
    brand_intents,
    branded_sources,
    record_rates,
    upload_all,
)
from producers.scheduler.publish import publish_intents
from producers.scheduler.summary import PlanSummary
from producers.scheduler.window import IST, Window
from schemas.catalogue import ADVISORS, NUMBERS_HEALTH, TEMPLATES
from schemas.codec import Codec
from store import advisors as advisor_store
from store import spend
from store.recipients import recent_recipients

log = logging.getLogger("dawn.scheduler")


class CapacityError(RuntimeError):
    """The plan does not fit the healthy numbers or the messaging tier; nothing was published."""

    def __init__(self, summary: PlanSummary) -> None:
        super().__init__("; ".join(summary.problems))
        self.summary = summary


class OverBudget(CapacityError):
    """The plan fits the numbers but not the budget; nothing was published. ``check`` has the figures."""

    def __init__(self, summary: PlanSummary, check: BudgetCheck) -> None:
        RuntimeError.__init__(self, "; ".join(check.problems))
        self.summary = summary
        self.check = check


def utc_now() -> datetime:
    return datetime.now(UTC)


async def run_scheduler(
    *,
    kafka: KafkaConfigs,
    database_url: str,
    uploader: MediaUploader,
    window: Window,
    numbers: Sequence[SenderNumber] = (),
    codec: Codec | None = None,
    policy: PlanPolicy | None = None,
    reference_mps: float = 80.0,
    tier: str | None = None,
    seed: int | None = None,
    start_at: datetime | None = None,
    now: Callable[[], datetime] = utc_now,
    sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    http: httpx.AsyncClient | None = None,
    show_progress: bool = False,
    branded_dir: Path = Path(".dawn") / "branded",
    prestage_only: bool = False,
    prestage_deadline: datetime | None = None,
    budget: Budget | None = None,
    ack_timeout: float = TIMEOUT_S,
) -> PlanSummary:
    """Plan and publish one morning; returns its summary, or raises CapacityError before publishing.

    Per-advisor packs are branded and their images uploaded first (producers.scheduler.prestage),
    by ``prestage_deadline`` (default: the window's start) so the window is never held.
    ``prestage_only`` stops there and publishes nothing: the early run that makes the 05:59 one
    find every render and media id in the caches. The summary's ``prestage`` says what it did.

    ``numbers`` are the configured senders (used at their given rate) until ``wa.numbers.health``
    has records; ``tier`` overrides the tier those records report. ``start_at`` (e.g.
    ``window.plan_at(date)``) waits on ``now``/``sleep`` first; None starts at once. With a
    ``budget``, a plan that would cost more than it allows raises OverBudget, publishing nothing.
    When Kafka acknowledges nothing for ``ack_timeout`` seconds while intents are outstanding,
    PartialPublish (producers.scheduler.publish) says how many are in the topic; running this
    again for the morning publishes the rest.
    """
    codec = codec or Codec()
    if start_at is not None:
        while (wait := (start_at - now()).total_seconds()) > 0:
            await sleep(wait)
    run_date = window.run_date()
    packs = await asyncio.to_thread(approved_packs, kafka, run_date, codec)
    health = [s.record for s in await asyncio.to_thread(read_to_end, kafka, NUMBERS_HEALTH.name, codec)]
    templates = [s.record for s in await asyncio.to_thread(read_to_end, kafka, TEMPLATES.name, codec)]
    senders = healthy_numbers(health, numbers)

    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        eligible = await advisor_store.eligible(conn)
        recent = await recent_recipients(conn, now())
        plan = plan_morning(
            window=window, packs=packs, advisors=eligible, numbers=senders, created_at=now(),
            approved=approved_templates(templates), paced=paced_templates(templates),
            conservative_numbers=falling_numbers(health),
            policy=policy, reference_mps=reference_mps,
            tier=tier or portfolio_tier(health), seed=seed, recent_recipients=recent,
        )
        summary = plan.summary
        log.info("planned %s: %d eligible, %d pack(s), %d intents on %d number(s)", run_date,
                 summary.eligible, summary.packs, summary.intents, len(summary.numbers))
        for warning in summary.warnings:
            log.warning("%s", warning)
        if not summary.ok:
            raise CapacityError(summary)
        if budget is not None:
            month_start = datetime.combine(run_date.replace(day=1), time(), IST)
            check = budget.check(summary.intents, await spend.billed_since(conn, month_start))
            if not check.ok:
                raise OverBudget(summary, check)
        variants = {v["image_sha256"]: v for p in packs for v in p["variants"]}
        async with _http_client(http) as client:
            prestage = await brand_intents(
                conn, plan.intents, packs, {a.advisor_id: a for a in eligible},
                approved_templates(templates), branded_dir,
                lambda url: fetch_image(url, client), show_progress=show_progress)
            needs = {(i["phone_number_id"], i["image_sha256"]) for i in plan.intents} - prestage.needs
            await stage_media(conn, uploader, [(n, variants[s]) for n, s in sorted(needs)], now(), client)
        if prestage.needs:
            sources = await branded_sources(conn, {s for _, s in prestage.needs})
            await upload_all(conn, uploader, prestage.needs, sources, now,
                             prestage_deadline or window.start, prestage,
                             show_progress=show_progress)
            await record_rates(conn, prestage, len(senders), now())
        summary = replace(summary, warnings=summary.warnings + prestage.warnings(), prestage=prestage)
        async with conn.transaction():
            await advisor_store.set_sticky_senders(conn, plan.sticky_updates)
        # The compacted advisors topic is the data team's copy of the registry: a new sticky
        # sender is a change to the advisor like any other.
        sticky_records = await advisor_store.advisor_records(conn, plan.sticky_updates)

    if sticky_records:
        await asyncio.to_thread(produce_all, kafka, ADVISORS.name, [
            (r["advisor_id"], codec.encode(ADVISORS.name, r)) for r in sticky_records
        ])
    if prestage_only:
        return summary
    await publish_intents(kafka, database_url, codec, run_date, plan.intents, now=now,
                          ack_timeout=ack_timeout, show_progress=show_progress)
    return summary


@contextlib.asynccontextmanager
async def _http_client(given: httpx.AsyncClient | None) -> AsyncIterator[httpx.AsyncClient]:
    """The caller's httpx client as is, or a fresh one closed afterwards."""
    if given is not None:
        yield given
        return
    async with httpx.AsyncClient(timeout=30.0) as owned:
        yield owned
