"""The templates agent: the owner of ``wa.templates``.

It merges two sources into one state per template language (:mod:`streams.templates.merge`):
template webhooks from ``wa.account.events`` (status, quality, category, components) and a poller
of ``GET /{waba-id}/message_templates`` every ``templates_poll_s`` seconds, which also catches
what a lost webhook never said. Each state is kept in PostgreSQL (``template_states``, read by
every sender worker and the commands) and published to the compacted ``wa.templates`` (read by
the scheduler); what ops must hear about (paused, disabled, rejected, RED, recategorised,
approval past the buffer) goes to ``ops.alerts``.

Options (``ctx.options``): ``waba_id`` (no poller without it), ``templates_poll_s`` (60),
``approval_buffer_days`` (3 business days; the brief allows 3-5), ``template_warm_days`` (2: how
long a new or unpaused template counts as paced).

Limits: the poller runs in every worker that has this agent (its writes are idempotent, its
alerts carry stable ids); an event and a poll are merged under one lock per process, so two
workers racing on one template can each write, the later write winning.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from datetime import datetime, timedelta
from typing import Any

import faust
from psycopg_pool import AsyncConnectionPool

from schemas.catalogue import ACCOUNT, ALERTS, TEMPLATES
from store import templates as store
from store.templates import DEFAULT_WARM, RETIRED_STATUSES, TemplateRow
from streams.app import catalogue_channel
from streams.context import StreamContext
from streams.templates import merge
from whatsapp.client import CloudApiClient, CloudApiError

log = logging.getLogger("dawn.templates")

DEFAULT_POLL_S = 60.0
DEFAULT_BUFFER_DAYS = 3.0
QUALITIES = ("GREEN", "YELLOW", "RED", "UNKNOWN")


def state_record(row: TemplateRow, now: datetime, warm: timedelta) -> dict[str, Any]:
    """The ``wa.templates`` value for ``row``."""
    pacing = row.pacing(now, warm)
    return {
        "name": row.name, "language": row.language, "template_id": row.template_id,
        "status": row.status, "quality": row.quality if row.quality in QUALITIES else "UNKNOWN",
        "category": row.category or "UNKNOWN", "paced": pacing is not None,
        "role": "RETIRED" if row.status in RETIRED_STATUSES else "PRIMARY",
        "reason": row.reason or (f"paced: {pacing}" if pacing else None), "updated_at": now,
    }


def alert_record(row: TemplateRow, change: merge.Change, evidence: datetime, now: datetime) -> dict[str, Any]:
    """An ``ops.alerts`` value; its id is stable per (kind, template, evidence), so a replayed
    webhook or a second poller raises the same alert, recognisably."""
    identity = f"{change.kind}\n{row.key}\n{evidence.isoformat()}"
    return {
        "alert_id": hashlib.sha256(identity.encode()).hexdigest()[:32], "kind": change.kind,
        "severity": change.severity, "subject": row.key, "message": change.message,
        "run_date": None,
        "details": {"template": row.name, "language": row.language, **change.details},
        "raised_at": now,
    }


def _same(a: TemplateRow | None, b: TemplateRow | None) -> bool:
    return a is not None and b is not None and a.with_(updated_at=None) == b.with_(updated_at=None)


def _visible(row: TemplateRow | None) -> tuple[object, ...] | None:
    """What a ``wa.templates`` record shows: a poll that only renews evidence times is not news."""
    if row is None:
        return None
    return (row.template_id, row.status, row.quality, row.category, row.reason,
            row.approved_at, row.unpaused_at)


def register(app: faust.App, ctx: StreamContext) -> Any:
    """Add the templates agent and its poller to ``app``; needs ``ctx.database_url``."""
    if not ctx.database_url:
        raise ValueError("the templates agent keeps template states in PostgreSQL: database_url needed")
    database_url = ctx.database_url
    poll_s = float(ctx.options.get("templates_poll_s", DEFAULT_POLL_S))
    buffer_days = float(ctx.options.get("approval_buffer_days", DEFAULT_BUFFER_DAYS))
    warm = timedelta(days=float(ctx.options.get("template_warm_days", DEFAULT_WARM.days)))
    waba_id = ctx.options.get("waba_id")
    account = catalogue_channel(app, ACCOUNT.name)
    states_out = catalogue_channel(app, TEMPLATES.name)
    alerts_out = catalogue_channel(app, ALERTS.name)
    dlq = catalogue_channel(app, ACCOUNT.dlq.name)
    lock = asyncio.Lock()
    pools: list[AsyncConnectionPool] = []

    async def pool() -> AsyncConnectionPool:
        if not pools:
            opened = AsyncConnectionPool(database_url, min_size=1, max_size=2, open=False,
                                         kwargs={"autocommit": True})
            await opened.open(wait=True)
            pools.append(opened)
        return pools[0]

    async def publish(row: TemplateRow, changes: list[merge.Change], evidence: datetime) -> None:
        now = ctx.now()
        futures = [await states_out.send(key=row.key.encode(), value=ctx.codec.encode(
            TEMPLATES.name, state_record(row, now, warm)))]
        for change in changes:
            log.log(logging.INFO if change.severity == "INFO" else logging.WARNING, "%s", change.message)
            futures.append(await alerts_out.send(key=change.kind.encode(), value=ctx.codec.encode(
                ALERTS.name, alert_record(row, change, evidence, now))))
        for future in futures:
            await future

    async def on_event(event: dict[str, Any]) -> None:
        who = merge.subject(event)
        async with lock, (await pool()).connection() as conn:
            row = None
            if who.name and who.language:
                row = await store.load(conn, who.name, who.language)
            elif who.template_id:
                row = await store.load_by_id(conn, who.template_id)
                if row is not None:
                    event = {**event, "template_name": row.name, "template_language": row.language}
            updated, changes = merge.apply_event(row, event, ctx.now())
            if updated is None or _same(row, updated):
                return
            await store.save(conn, updated)
        if changes or _visible(row) != _visible(updated):
            await publish(updated, changes, event["timestamp"])

    async def poll() -> None:
        async with CloudApiClient(ctx.graph_base_url, ctx.graph_version, ctx.access_token) as client:
            listed = await client.list_templates(waba_id)
        now = ctx.now()
        for info in listed:
            if not info.name or not info.language:
                continue
            async with lock, (await pool()).connection() as conn:
                row = await store.load(conn, info.name, info.language)
                updated, changes = merge.apply_listing(row, info, now)
                await store.save(conn, updated)
            if changes or _visible(row) != _visible(updated):
                await publish(updated, changes, now)
        async with lock, (await pool()).connection() as conn:
            for row in await store.load_all(conn):
                overdue = merge.approval_overdue(row, now, buffer_days)
                if overdue is not None:
                    flagged = row.with_(overdue_alerted=True, updated_at=now)
                    await store.save(conn, flagged)
                    await publish(flagged, [overdue], row.submitted_at or now)

    @app.agent(account, name="dawn.templates")
    async def templates(stream: faust.StreamT) -> None:
        async for key, value in stream.items():
            record, dead = ctx.codec.decode_or_dead_letter(ACCOUNT.name, value, key=key, stage="templates")
            if dead is not None:
                await dlq.send(key=key, value=ctx.codec.encode(ACCOUNT.dlq.name, dead))
                continue
            if record["field"] not in merge.TEMPLATE_FIELDS:
                continue
            try:
                await on_event(record)
            except Exception:  # a database hiccup: the poller repairs the state within a period
                log.exception("template event %s not merged; the poller will catch up",
                              record.get("event_id"))

    if waba_id:
        @app.timer(poll_s, name="dawn.templates.poll")
        async def poller() -> None:
            try:
                await poll()
            except CloudApiError as error:
                log.warning("listing templates failed: %s", error)
            except Exception:
                log.exception("template poll failed")
    else:
        log.warning("no waba_id: template states come from webhooks only (no poller)")

    @app.on_before_shutdown.connect
    async def close_pool(*_args: Any, **_kwargs: Any) -> None:
        for opened in pools:
            await opened.close()

    return templates
