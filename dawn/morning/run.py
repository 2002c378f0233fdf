"""``dawn run``: one whole morning on one machine, from an empty run directory to an SLA verdict.

Everything is the real thing wired as production wires it: the broker and PostgreSQL, the webhook
gateway, two ``dawn worker`` OS processes (the agents that send, and those that follow what was
sent), the scheduler, with the sandbox standing in for graph.facebook.com. The morning's window
starts now and is the brief's 05:59:30-06:04:30 compressed to ``--window`` seconds, the 06:05
deadline scaled with it.

Every run gets a fresh run directory (and so a fresh embedded PostgreSQL) and a pack id of its own,
because delivery ids are deterministic per (advisor, pack, day): a second run on the same database
with the same pack would rightly send nothing.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from confluent_kafka import ConsumerGroupState, Producer
from confluent_kafka.admin import AdminClient
from rich.console import Console
from rich.live import Live

from dawn.dashboard_server import DashboardServer
from dawn.embedded.children import spawn, stop
from dawn.embedded.client_profile import (
    consumer_config,
    gateway_producer_config,
    ordered_batched_producer_config,
)
from dawn.embedded.stack import Stack
from dawn.gateway_server import GatewayServer
from dawn.morning.report import build_report, progress_view, summary_table
from dawn.morning.stages import read_stages
from dawn.morning.watch import DeliveryWatch
from dawn.morning.world import given_world, spare_ids, world
from dawn.settings import Secret, Settings
from dawn.topics import ensure_topics
from producers.gateway.config import GatewayConfig
from producers.intake.advisors_csv import ImportedRow
from producers.intake.advisors_import import import_rows, publish
from producers.intake.demo_advisors import demo_advisors
from producers.intake.demo_pack import DEMO_BACKUP, add_slot_images, write_demo_pack
from producers.intake.packs import publish_pack
from producers.kafka_io import KafkaConfigs, read_to_end
from producers.scheduler.assignment import SenderNumber
from producers.scheduler.budget import Budget
from producers.scheduler.run import run_scheduler
from producers.scheduler.window import WINDOW_SECONDS, Window
from sandbox.config import SandboxConfig
from sandbox.server import SandboxServer
from schemas.catalogue import NUMBERS_HEALTH
from schemas.codec import Codec
from store.migrations import apply_migrations
from store.send_ledger import DEFAULT_GRACE, unknown_deliveries
from streams.sla.policy import snapshot
from whatsapp.client import CloudApiClient

log = logging.getLogger("dawn.run")

WORKER_GROUP = "dawn"
#: The morning's two worker processes: (group, agents, log name). The agents that send (and the
#: consent replies, which share a number's pace with the packs in one process) in one; the agents
#: that follow what was sent in the other, so neither waits for the other's CPU: in one process the
#: sender's HTTP work held the delivery-state agent's input back by 25 s at 5,000 advisors. Each
#: is its own consumer group, so each gets every partition of the topics its agents read.
WORKERS: tuple[tuple[str, str, str], ...] = (
    (WORKER_GROUP, "sender,consent,templates,quality", "worker"),
    (f"{WORKER_GROUP}-track", "reconcile,delivery,sla", "worker-track"),
)
#: How long the worker may take to join its group before the window starts regardless.
WORKER_READY_TIMEOUT_S = 30.0
#: How long the window waits for the quality agent to publish the fleet.
FLEET_READY_TIMEOUT_S = 20.0
#: After the deadline: time for statuses stamped before it to reach the pipeline's state.
SETTLE_AFTER_DEADLINE_S = 3.0
#: The SLA agent's snapshot interval in a morning run: the dashboard moves every second.
SLA_INTERVAL_S = 1.0
#: The shortest grace a compressed morning gives Meta's "sent" status (the evidence rule still
#: waits twice the largest "sent" delay it has seen, whatever the grace).
MIN_GRACE_S = 5.0
#: How long the verdict waits for the dashboard to show the final SLA before stopping it.
DASHBOARD_CATCH_UP_S = 5.0


@dataclass(frozen=True)
class MorningOptions:
    advisors: int = 1000
    numbers: int = 3
    window_s: float = 300.0
    faults: str = "none"
    mps: float = 80.0
    seed: int = 0
    report: Path | None = None
    #: Per-advisor packs: three branded images per advisor in one carousel, pre-staged first.
    branded: bool = False
    dashboard_port: int = 0
    #: Keep the dashboard (and the broker it reads) up this long after the verdict.
    dashboard_linger_s: float = 0.0
    #: A whole sandbox world (``dawn sandbox --config`` JSON); its numbers and faults replace
    #: ``numbers``, ``mps`` and ``faults``.
    sandbox_config: SandboxConfig | None = None
    #: Read the morning's topics back before the broker stops and report every stage's counts,
    #: times and lags (dawn.morning.stages); costs seconds after the verdict, so only when asked.
    stages: bool = False


def run_morning(options: MorningOptions, settings: Settings, console: Console) -> dict[str, Any]:
    """Run one morning and return its report."""
    started = time.monotonic()
    run_dir = (settings.run_dir / "runs" / datetime.now(UTC).strftime("%Y%m%dT%H%M%S")).resolve()
    console.print(f"run directory [bold]{run_dir}[/bold]")
    with Stack.start(settings, run_dir=run_dir) as stack:
        embedded = stack.embedded_kafka
        problems = [r for r in ensure_topics(stack.kafka_bootstrap) if not r.ok]
        if problems:
            raise RuntimeError(f"catalogue topics are not right: {problems}")
        apply_migrations(stack.database_url)
        app_secret = secrets.token_hex(16)
        gateway_config = GatewayConfig(
            app_secret=Secret(app_secret), verify_token=Secret(secrets.token_hex(8)),
            ops_token=settings.ops_token,
            kafka=gateway_producer_config(stack.kafka_bootstrap, embedded),
            schema_registry_url=settings.schema_registry_url,
            database_url=stack.database_url,
        )
        with GatewayServer(gateway_config) as gateway:
            if options.sandbox_config is not None:  # an operator's world: every number a primary
                config = given_world(options.sandbox_config, callback_url=gateway.webhook_url,
                                     app_secret=app_secret)
                spares = []
            else:
                config = world(advisors=options.advisors, numbers=options.numbers, mps=options.mps,
                               faults=options.faults, callback_url=gateway.webhook_url,
                               app_secret=app_secret, seed=options.seed)
                spares = spare_ids(config, options.numbers)
            numbers = {n.id: n.mps for n in config.numbers}
            fleet = run_dir / "fleet.json"
            fleet.parent.mkdir(parents=True, exist_ok=True)
            fleet.write_text(json.dumps({"numbers": {n: {"role": "SPARE"} for n in spares}}))
            with SandboxServer(config) as sandbox, _dashboard(options, settings, stack,
                                                              numbers) as dashboard:
                # Printed, never logged: the link carries the ops token.
                console.print(f"dashboard [bold]{dashboard.login_url}[/bold]")
                report = _morning(options, settings, console, stack, sandbox, numbers,
                                  run_dir, started, dashboard)
                if options.dashboard_linger_s > 0:
                    time.sleep(options.dashboard_linger_s)
                return report


def _dashboard(options: MorningOptions, settings: Settings, stack: Stack,
               numbers: dict[str, float]) -> DashboardServer:
    """The ops dashboard for this morning: behind DAWN_OPS_TOKEN, or a token made for this run."""
    token = settings.ops_token.reveal() or secrets.token_urlsafe(24)
    return DashboardServer(stack.kafka_bootstrap, settings, ops_token=token,
                           embedded=stack.embedded_kafka, numbers=numbers,
                           port=options.dashboard_port)


def _dashboard_caught_up(dashboard: DashboardServer, report: dict[str, Any]) -> None:
    """Wait (briefly) until the page shows the verdict's SLA, so whoever watches sees the end."""
    deadline = time.monotonic() + DASHBOARD_CATCH_UP_S
    while time.monotonic() < deadline:
        sla = dashboard.view()["sla"]
        if sla and (sla["eligible"], sla["delivered_by_deadline"]) == (
                report["eligible"], report["delivered_by_deadline"]):
            return
        time.sleep(0.2)
    log.warning("the dashboard's SLA did not reach the verdict's in %.0f s", DASHBOARD_CATCH_UP_S)


def _morning(options: MorningOptions, settings: Settings, console: Console, stack: Stack,
             sandbox: SandboxServer, numbers: dict[str, float], run_dir: Path,
             started: float, dashboard: DashboardServer) -> dict[str, Any]:
    embedded = stack.embedded_kafka
    codec = Codec(settings.schema_registry_url)
    kafka = KafkaConfigs(
        producer=ordered_batched_producer_config(stack.kafka_bootstrap, embedded),
        consumer=consumer_config(stack.kafka_bootstrap, "dawn-run", embedded),
    )
    now = datetime.now(UTC)
    stamp = now.strftime("%H%M%S")
    marks = {"advisors": options.advisors, "seed_start": time.time()}
    _seed_advisors(options, stack, codec, kafka, now)
    marks["seed_end"] = time.time()
    pack = write_demo_pack(run_dir / "media", Window.compressed(now, options.window_s).run_date(),
                           approved_at=now, published_at=now, backup=DEMO_BACKUP)
    pack["pack_id"] = f"{pack['pack_id']}-{stamp}"
    if options.branded:
        add_slot_images(pack, run_dir / "media")
    publish_pack(kafka, pack, codec)
    console.print(f"seeded {options.advisors} advisors and pack {pack['pack_id']}")

    workers = _start_workers(options, settings, stack, sandbox, run_dir, embedded)
    watch = DeliveryWatch(stack.kafka_bootstrap, codec, embedded=embedded).start()
    try:
        _wait_for_workers(stack.kafka_bootstrap, workers)
        _wait_for_fleet(kafka, codec, set(numbers), workers)
        prestage = None
        if options.branded:
            # Ahead of the window, as production runs it before 05:59: render and upload every
            # advisor's images; the scheduler then finds them all in the caches.
            staged = asyncio.run(_schedule(
                kafka, stack, sandbox, numbers, Window.compressed(datetime.now(UTC), options.window_s),
                codec, run_dir, prestage_only=True))
            prestage = staged.prestage.to_json() if staged.prestage else None
            console.print(f"pre-staged: {prestage}")
        window = Window.compressed(datetime.now(UTC), options.window_s)
        budget = Budget(settings.prices_inr, settings.budget_daily_inr, settings.budget_monthly_inr)
        marks["plan_start"] = time.time()
        summary = asyncio.run(_schedule(kafka, stack, sandbox, numbers, window, codec, run_dir,
                                        budget=budget))
        marks["plan_end"] = time.time()
        console.print(f"planned {summary.intents} intents for {summary.eligible} eligible advisors "
                      f"on {len(summary.numbers)} numbers; window {window.seconds:.0f} s, deadline "
                      f"{window.deadline:%H:%M:%S} UTC")
        _follow(console, watch, sandbox, numbers, window, summary.intents, workers)
        snap = snapshot(window.run_date(), window.deadline, watch.tallies(), datetime.now(UTC))
        report = build_report(
            advisors=options.advisors, snapshot=snap, ledger=sandbox.sandbox.ledger_json(),
            numbers=numbers, window=window, wall_seconds=time.monotonic() - started,
            faults=options.faults, unknown=_unknown_since(stack.database_url, now),
        )
        if prestage is not None:
            report["prestage"] = prestage
        _dashboard_caught_up(dashboard, report)
        if options.stages:
            reading = time.monotonic()
            report["stages"] = read_stages(
                stack.kafka_bootstrap, embedded, codec, run_date=window.run_date(), marks=marks,
                accepted=[e.time for e in sandbox.sandbox.ledger.entries],
                window_start=window.start.timestamp())
            report["stages_read_s"] = round(time.monotonic() - reading, 1)
    finally:
        watch.stop()
        for worker in workers:
            stop(worker, worker.dawn_name)
    console.print(summary_table(report))
    return report


def _unknown_since(database_url: str, since: datetime) -> int:
    """Claims of this morning still without an outcome: the report's ``unknown`` line."""

    async def count() -> int:
        async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
            return len(await unknown_deliveries(conn, since))

    return asyncio.run(count())


def _seed_advisors(options: MorningOptions, stack: Stack, codec: Codec, kafka: KafkaConfigs,
                   now: datetime) -> None:
    rows = [ImportedRow(a, now, 0) for a in demo_advisors(options.advisors, options.seed)]
    records = asyncio.run(import_rows(stack.database_url, rows, source="import",
                                      evidence=f"dawn run demo seed {options.seed}", at=now))
    unacked = publish(Producer(dict(kafka.producer)), codec, records)
    if unacked:
        raise RuntimeError(f"{unacked} advisor records were not acknowledged by Kafka")


def compressed_grace_s(window_s: float) -> float:
    """The sender's grace for a morning of ``window_s`` seconds: the real morning's grace
    (``DEFAULT_GRACE`` for a 300 s window) scaled like every other clock of the compressed
    morning, so a lost answer late in a 120 s window can still be settled by evidence and resent
    before the deadline instead of staying unknown."""
    scaled = DEFAULT_GRACE.total_seconds() * window_s / WINDOW_SECONDS
    return max(MIN_GRACE_S, min(DEFAULT_GRACE.total_seconds(), scaled))


def _start_workers(options: MorningOptions, settings: Settings, stack: Stack,
                   sandbox: SandboxServer, run_dir: Path, embedded: bool) -> list[Any]:
    """Every process of :data:`WORKERS`, started (each named by ``dawn_name``, its log's name)."""
    return [_start_worker(options, settings, stack, sandbox, run_dir, embedded, group, agents, name)
            for group, agents, name in WORKERS]


def _start_worker(options: MorningOptions, settings: Settings, stack: Stack, sandbox: SandboxServer,
                  run_dir: Path, embedded: bool, group: str, agents: str, name: str):
    argv = [
        sys.executable, "-m", "dawn.cli", "worker",
        "--bootstrap", stack.kafka_bootstrap,
        "--graph-base-url", sandbox.base_url,
        "--app-id", group,
        "--agents", agents,
        "--mps", str(options.mps),
        "--numbers", ",".join(n.id for n in sandbox.sandbox.config.numbers),
        "--options", json.dumps({
            "mps_by_number": {n.id: n.mps for n in sandbox.sandbox.config.numbers},
            "sla_interval_s": SLA_INTERVAL_S, "grace_s": compressed_grace_s(options.window_s)}),
        "--data-dir", str(run_dir / name),
    ]
    if embedded:
        argv.append("--embedded-broker")
    # The database URL goes through the environment, not argv, where any local user could read it.
    # The quality agent lists the sandbox's numbers under its WABA every second and reads the
    # roles (the chaos world's hot spare) from the fleet file.
    env = {"DATABASE_URL": stack.database_url, "DAWN_RUN_DIR": str(run_dir),
           "DAWN_LOG_LEVEL": settings.log_level,
           # the templates agent's poller and the quality agent's listing of the numbers; the
           # quality agent reads the roles (the chaos world's hot spare) from the fleet file
           "WHATSAPP_WABA_ID": sandbox.sandbox.config.waba_id,
           "DAWN_FLEET_FILE": str(run_dir / "fleet.json"), "DAWN_QUALITY_POLL_S": "1"}
    process = spawn(argv, run_dir / "logs" / f"{name}.log", env=env)
    process.dawn_name = name  # named in the errors of _check_workers
    return process


def _check_workers(workers: list[Any]) -> None:
    """A worker that exited ends the morning with its log's name."""
    for worker in workers:
        if worker.poll() is not None:
            raise RuntimeError(f"the {worker.dawn_name} process exited with code {worker.returncode};"
                               f" see {worker.dawn_name}.log")


def _wait_for_fleet(kafka: KafkaConfigs, codec: Codec, numbers: set[str], workers: list[Any]) -> None:
    """Plan once the quality agent has published every number's health (roles, caps), so the
    spare is planned as a spare; after FLEET_READY_TIMEOUT_S the configured rates apply."""
    deadline = time.monotonic() + FLEET_READY_TIMEOUT_S
    while time.monotonic() < deadline:
        _check_workers(workers)
        seen = {s.record["phone_number_id"] for s in read_to_end(kafka, NUMBERS_HEALTH.name, codec)}
        if numbers <= seen:
            return
        time.sleep(0.5)
    log.warning("no health for every number after %.0f s; planning on the configured rates",
                FLEET_READY_TIMEOUT_S)


def _wait_for_workers(bootstrap: str, workers: list[Any]) -> None:
    """Start the window once every worker's group is STABLE, so its first seconds are not spent in
    the broker's group join. (The embedded broker describes a group's state but not its members.)"""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    groups = [group for group, _, _ in WORKERS]
    deadline = time.monotonic() + WORKER_READY_TIMEOUT_S
    while time.monotonic() < deadline:
        _check_workers(workers)
        try:
            described = admin.describe_consumer_groups(groups)
            if all(described[g].result(timeout=5).state == ConsumerGroupState.STABLE for g in groups):
                return
        except Exception as exc:  # not there yet, or the broker does not describe groups
            log.debug("worker group not ready: %s", exc)
        time.sleep(0.5)
    log.warning("the workers did not report an assignment in %.0f s; starting the window anyway",
                WORKER_READY_TIMEOUT_S)


async def _schedule(kafka: KafkaConfigs, stack: Stack, sandbox: SandboxServer,
                    numbers: dict[str, float], window: Window, codec: Codec, run_dir: Path,
                    prestage_only: bool = False, budget: Budget | None = None):
    client = CloudApiClient(sandbox.base_url)
    try:
        return await run_scheduler(
            kafka=kafka, database_url=stack.database_url, uploader=client, window=window,
            numbers=[SenderNumber(n, mps) for n, mps in numbers.items()], codec=codec,
            tier=sandbox.sandbox.config.limits.messaging_tier, branded_dir=run_dir / "branded",
            prestage_only=prestage_only, show_progress=prestage_only,
            # The early run has all the time it needs; the morning's own run must not hold the
            # window for uploads the early run left (the sender uploads those).
            prestage_deadline=window.deadline if prestage_only else None, budget=budget,
        )
    finally:
        await client.aclose()


def _follow(console: Console, watch: DeliveryWatch, sandbox: SandboxServer,
            numbers: dict[str, float], window: Window, planned: int, workers: list[Any]) -> None:
    """Show progress until the deadline has passed and settled, or every delivery is final."""
    end = window.deadline + timedelta(seconds=SETTLE_AFTER_DEADLINE_S)
    ledger = sandbox.sandbox.ledger
    with Live(console=console, refresh_per_second=2, transient=False) as live:
        while (now := datetime.now(UTC)) < end:
            counts = watch.counts()
            live.update(progress_view(counts, ledger, numbers, time.time(),
                                      (window.deadline - now).total_seconds()))
            final = counts.get("DELIVERED", 0) + counts.get("READ", 0) + counts.get("FAILED", 0)
            if planned and final >= planned and sandbox.sandbox.settled():
                break
            _check_workers(workers)
            time.sleep(0.5)
