"""The SLA agent: delivery states in, ``ops.sla`` snapshots and ``ops.alerts`` out.

It keeps the latest tally of every delivery (by delivery id, so a replayed state record overwrites
instead of counting twice), with each run date's counts kept as tallies change
(:mod:`streams.sla.live`: a snapshot does not recount the morning), and each run date's deadline,
read from the intents. The tallies are
in memory, fed by a tail of ``wa.delivery.state`` from its start (the topic is compacted: the
latest state of every delivery), and snapshots wait until the tail has read what was there when
it started, so a restarted worker does not publish a half-counted morning. They were a Faust table
first: its changelog wrote a record for every state record, and past 100 unflushed changelog
records Faust stops every stream of the worker until they drain one by one.
A timer publishes every live run date's snapshot every ``sla_interval_s`` seconds (ctx.options)
and an alert when a condition starts holding; run dates stay live until ``sla_linger_s`` after
their deadline, so late deliveries still show.

Limits: every worker running the agent reads every state and publishes the same snapshots; the
deadlines table holds the run dates of the intents on this worker's partitions. The alert latch is
in memory, so a restarted worker may repeat an alert that still holds (same alert_id).
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import faust

from schemas.catalogue import ALERTS, DELIVERY_STATE, INTENTS, SLA
from streams.context import StreamContext
from streams.sla import policy as sla
from streams.sla.live import LiveSla
from streams.tail import broker_bootstrap, follow

DEFAULT_INTERVAL_S = 5.0
DEFAULT_LINGER_S = 3600.0


def register(app: faust.App, ctx: StreamContext) -> None:
    interval = float(ctx.options.get("sla_interval_s", DEFAULT_INTERVAL_S))
    linger = timedelta(seconds=float(ctx.options.get("sla_linger_s", DEFAULT_LINGER_S)))
    policy = sla.SlaPolicy(**ctx.options.get("sla_policy", {}))
    intents = app.topic(INTENTS.name, key_type=bytes, value_type=bytes, partitions=INTENTS.partitions)
    snapshots = app.topic(SLA.name, key_type=bytes, value_type=bytes, partitions=SLA.partitions)
    alerts = app.topic(ALERTS.name, key_type=bytes, value_type=bytes, partitions=ALERTS.partitions)
    live = LiveSla(policy)
    deadlines = app.Table("sla-deadlines", key_type=str, partitions=INTENTS.partitions)
    latch = sla.AlertLatch(set())
    caught_up = asyncio.Event()

    def tally(record: dict[str, Any]) -> None:
        live.put(record["delivery_id"], sla.Tally.from_state(record))

    @app.task
    async def follow_states() -> None:
        await follow(broker_bootstrap(app), DELIVERY_STATE.name, ctx.codec, tally, from_start=True,
                     on_caught_up=caught_up.set)

    @app.agent(intents, name="sla-deadlines")
    async def learn_deadlines(stream: faust.StreamT) -> None:
        async for value in stream:
            # Undecodable intents are dead-lettered once, by the delivery-state agent.
            record, _ = ctx.codec.decode_or_dead_letter(INTENTS.name, value)
            if record is None:
                continue
            run_date, deadline = record["run_date"].isoformat(), int(record["deadline"].timestamp() * 1000)
            if deadlines.get(run_date) != deadline:  # every intent of a morning names the same one
                deadlines[run_date] = deadline

    @app.timer(interval, name="sla-snapshot")
    async def publish() -> None:
        if not caught_up.is_set():
            return
        now = ctx.now()
        for snap in live.snapshots(now, deadlines, linger):
            await snapshots.send(key=snap["run_date"].isoformat().encode(),
                                 value=ctx.codec.encode(SLA.name, sla.snapshot_record(snap)))
            for alert in latch.update(snap["run_date"], sla.conditions(snap, policy), now):
                await alerts.send(key=alert["kind"].encode(), value=ctx.codec.encode(ALERTS.name, alert))

