"""The quality agent: the owner of ``wa.numbers.health``.

It merges three signals into the health state machine (streams.quality.monitor): a poll of the
WABA's numbers on the Graph API (``GET /{waba-id}/phone_numbers`` with quality, status, throughput
and messaging tier, plus each number's ``health_status``) every ``quality_poll_s`` seconds, the
account webhooks on ``wa.account.events`` and every number's send results on ``wa.send.results``.
Records go to ``wa.numbers.health`` when a number's standing changes and alerts to ``ops.alerts``
when a playbook step is taken.

Both inputs are followed with tails (streams.tail), not Faust agents: the monitor must see every
number's results, whichever worker owns their partitions. So run the quality agent in ONE worker
(``dawn worker --agents quality,...``; the compose file has one worker): two would each publish.
On start it reads its own compacted topic back, so a restart keeps roles, "since" instants and
recoveries under way instead of announcing the whole fleet as new.

Options (``ctx.options``): ``waba_id`` (without it the agent does not start), ``fleet_file``,
``quality_poll_s`` (60), ``quality_policy`` (HealthPolicy fields, e.g. a compressed ``recovery_s`` for tests).
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import faust
import httpx

from schemas.catalogue import ACCOUNT, ALERTS, NUMBERS_HEALTH, RESULTS
from streams.app import catalogue_channel
from streams.context import StreamContext
from streams.quality.fleet import Fleet
from streams.quality.monitor import HealthPolicy, Monitor, NumberSnapshot, Update
from streams.tail import broker_bootstrap, follow
from whatsapp.client import CloudApiClient, CloudApiError

log = logging.getLogger("dawn.quality")

DEFAULT_POLL_S = 60.0
#: A poll that does not answer quickly is abandoned and tried again soon: a hung listing must not
#: hide a number turning RED for the client's whole send timeout.
POLL_TIMEOUT_S = 3.0
RETRY_POLL_S = 1.0
SEED_QUIET_S = 2.0  # reading our own topic back: done once it is quiet this long


def register(app: faust.App, ctx: StreamContext) -> None:
    waba_id = ctx.options.get("waba_id")
    if not waba_id:
        # Without the WABA there is no fleet to list: the configured numbers and rates apply as
        # they are (a development stack without WHATSAPP_WABA_ID).
        log.warning("quality agent not started: no WABA id (WHATSAPP_WABA_ID) to list numbers under")
        return
    fleet_file = ctx.options.get("fleet_file")
    fleet = Fleet.load(Path(fleet_file) if fleet_file else None)
    policy = HealthPolicy.from_options({"standard_mps": ctx.options.get("mps", 80.0),
                                        **ctx.options.get("quality_policy", {})})
    poll_s = float(ctx.options.get("quality_poll_s", DEFAULT_POLL_S))
    health = catalogue_channel(app, NUMBERS_HEALTH.name)
    alerts = catalogue_channel(app, ALERTS.name)
    monitor = Monitor(fleet, policy)
    lock = asyncio.Lock()  # one signal at a time: the monitor is not re-entrant

    async def publish(update: Update) -> None:
        for record in update.records:
            await health.send(key=record["phone_number_id"].encode(),
                              value=ctx.codec.encode(NUMBERS_HEALTH.name, record))
        for alert in update.alerts:
            log.warning("%s: %s", alert["kind"], alert["message"])
            await alerts.send(key=alert["kind"].encode(), value=ctx.codec.encode(ALERTS.name, alert))

    async def signal(apply: Any) -> None:
        """Apply one signal and publish what it changed. A failure is logged and the signal
        dropped: the next poll restates every number, so the agent must not stop on one."""
        try:
            async with lock:
                await publish(apply(monitor, ctx.now()))
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("a quality signal could not be applied; the next poll restates the fleet")

    @app.task
    async def quality() -> None:
        bootstrap = broker_bootstrap(app)
        await _seed(monitor, bootstrap, ctx)
        limits = httpx.Limits(max_connections=4, max_keepalive_connections=4)
        async with CloudApiClient(ctx.graph_base_url, ctx.graph_version, ctx.access_token,
                                  limits=limits, timeout=httpx.Timeout(POLL_TIMEOUT_S)) as client:
            tails = [
                asyncio.create_task(follow(bootstrap, ACCOUNT.name, ctx.codec, from_start=False,
                                           on_record=lambda r: signal(
                                               lambda m, now: m.account_event(r, now)))),
                asyncio.create_task(follow(bootstrap, RESULTS.name, ctx.codec, from_start=False,
                                           on_record=lambda r: signal(
                                               lambda m, now: m.send_result(r, now)))),
            ]
            try:
                while True:
                    snapshots = await poll_numbers(client, waba_id)
                    if snapshots is not None:
                        await signal(lambda m, now, s=snapshots: m.poll(s, now))
                    else:
                        await signal(lambda m, now: m.tick(now))
                    await asyncio.sleep(poll_s if snapshots is not None else min(poll_s, RETRY_POLL_S))
            finally:
                for tail in tails:
                    tail.cancel()
                await asyncio.gather(*tails, return_exceptions=True)


async def poll_numbers(client: CloudApiClient, waba_id: str) -> list[NumberSnapshot] | None:
    """The WABA's numbers as the Graph API shows them now; None when the API did not answer
    (the monitor then keeps what it knew: an outage of the Graph API is not a fleet change)."""
    try:
        numbers = await client.list_phone_numbers(waba_id)
        verdicts = await asyncio.gather(*(client.health_status(n.id) for n in numbers),
                                        return_exceptions=True)
    except (CloudApiError, httpx.HTTPError) as error:
        log.warning("polling the numbers of the WABA failed: %s", error)
        return None
    return [
        NumberSnapshot(n.id, n.display_phone_number, n.quality_rating, n.status, n.throughput_level,
                       n.messaging_limit_tier,
                       None if isinstance(v, BaseException) else v.can_send_message)
        for n, v in zip(numbers, verdicts, strict=True)
    ]


async def _seed(monitor: Monitor, bootstrap: str, ctx: StreamContext) -> None:
    """Read our own compacted topic back so a restart continues where the last run stopped."""
    seen: list[dict[str, Any]] = []
    last = [ctx.monotonic()]

    def keep(record: dict[str, Any]) -> None:
        seen.append(record)
        last[0] = ctx.monotonic()

    task = asyncio.create_task(follow(bootstrap, NUMBERS_HEALTH.name, ctx.codec, on_record=keep,
                                      from_start=True))
    try:
        while ctx.monotonic() - last[0] < SEED_QUIET_S:
            await asyncio.sleep(0.2)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    monitor.restore(seen)
    log.info("quality agent resumed %d number(s) from %s", len(monitor.published), NUMBERS_HEALTH.name)

