"""The SLA agent: delivery states in, ``ops.sla`` snapshots and ``ops.alerts`` out.

It keeps the latest tally of every delivery (a table keyed by delivery id, so a replayed state
record overwrites instead of counting twice) and each run date's deadline, read from the intents.
A timer publishes every live run date's snapshot every ``sla_interval_s`` seconds (ctx.options)
and an alert when a condition starts holding; run dates stay live until ``sla_linger_s`` after
their deadline, so late deliveries still show.

Limits: the snapshot covers the partitions this worker holds, so run one SLA worker; the alert
latch is in memory, so a restarted worker may repeat an alert that still holds (same alert_id).
"""

from __future__ import annotations

from datetime import timedelta

import faust

from schemas.catalogue import ALERTS, DELIVERY_STATE, INTENTS, SLA
from streams.context import StreamContext
from streams.sla import policy as sla
from streams.table_view import TableView

DEFAULT_INTERVAL_S = 5.0
DEFAULT_LINGER_S = 3600.0


def register(app: faust.App, ctx: StreamContext) -> None:
    interval = float(ctx.options.get("sla_interval_s", DEFAULT_INTERVAL_S))
    linger = timedelta(seconds=float(ctx.options.get("sla_linger_s", DEFAULT_LINGER_S)))
    policy = sla.SlaPolicy(**ctx.options.get("sla_policy", {}))
    states = app.topic(DELIVERY_STATE.name, key_type=bytes, value_type=bytes,
                       partitions=DELIVERY_STATE.partitions)
    intents = app.topic(INTENTS.name, key_type=bytes, value_type=bytes, partitions=INTENTS.partitions)
    snapshots = app.topic(SLA.name, key_type=bytes, value_type=bytes, partitions=SLA.partitions)
    alerts = app.topic(ALERTS.name, key_type=bytes, value_type=bytes, partitions=ALERTS.partitions)
    tallies = TableView(app.Table("sla-tallies", key_type=str, partitions=DELIVERY_STATE.partitions),
                        sla.Tally.to_json, sla.Tally.from_json)
    deadlines = app.Table("sla-deadlines", key_type=str, partitions=INTENTS.partitions)
    state_dlq = app.topic(DELIVERY_STATE.dlq.name, key_type=bytes, value_type=bytes, partitions=1)
    latch = sla.AlertLatch(set())

    @app.agent(states, name="sla-states")
    async def tally(stream: faust.StreamT) -> None:
        async for key, value in stream.items():
            record, dead = ctx.codec.decode_or_dead_letter(DELIVERY_STATE.name, value, key=key,
                                                           stage="sla")
            if dead is not None:
                await state_dlq.send(key=key, value=ctx.codec.encode(DELIVERY_STATE.dlq.name, dead))
                continue
            tallies[record["delivery_id"]] = sla.Tally.from_state(record)

    @app.agent(intents, name="sla-deadlines")
    async def learn_deadlines(stream: faust.StreamT) -> None:
        async for value in stream:
            # Undecodable intents are dead-lettered once, by the delivery-state agent.
            record, _ = ctx.codec.decode_or_dead_letter(INTENTS.name, value)
            if record is not None:
                deadlines[record["run_date"].isoformat()] = int(record["deadline"].timestamp() * 1000)

    @app.timer(interval, name="sla-snapshot")
    async def publish() -> None:
        now = ctx.now()
        for snap in sla.live_snapshots(now, deadlines, tallies.values(), linger, policy):
            await snapshots.send(key=snap["run_date"].isoformat().encode(),
                                 value=ctx.codec.encode(SLA.name, sla.snapshot_record(snap)))
            for alert in latch.update(snap["run_date"], sla.conditions(snap, policy), now):
                await alerts.send(key=alert["kind"].encode(), value=ctx.codec.encode(ALERTS.name, alert))

