"""``dawn plan``: what a morning of N advisors on K numbers would look like, without sending.

It runs the scheduler's own planner on made-up advisors, so the capacity answer (numbers and tier
needed) is the one the real morning would give, not a separate formula that could drift from it.
"""

from __future__ import annotations

import argparse
import asyncio
from datetime import UTC, date, datetime, time
from typing import Any

import psycopg
from confluent_kafka import KafkaException
from rich.console import Console

from dawn.commands.fleet import latest_health
from dawn.commands.services import NoBroker, NoDatabase, resolve_bootstrap, resolve_database_url
from dawn.embedded.client_profile import consumer_config, producer_config
from dawn.settings import Settings
from producers.identity import identity_of, identity_problems
from producers.kafka_io import KafkaConfigs
from producers.scheduler.assignment import SenderNumber
from producers.scheduler.budget import Budget
from producers.scheduler.capacity import TIERS
from producers.scheduler.fleet import healthy_numbers, portfolio_tier
from producers.scheduler.plan import plan_morning
from producers.scheduler.prestage import (
    BENCH_RATES,
    PrestageRates,
    estimate_seconds,
    measured_rates,
    must_start,
)
from producers.scheduler.summary import print_summary
from producers.scheduler.window import IST, WINDOW_SECONDS, Window, plan_at
from schemas.codec import Codec
from store import advisors as advisor_store
from store.advisors import AdvisorRow
from store.spend import billed_since
from store.templates import load_all_sync

_PLACEHOLDER_SHA = "0" * 64


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("plan", help="print the morning plan for N advisors on K numbers, sending nothing")
    p.add_argument("--advisors", type=int, metavar="N",
                   help="eligible advisors (with --branded and a database: default the real ones)")
    p.add_argument("--numbers", type=int, default=3, metavar="K", help="healthy sender numbers (3)")
    p.add_argument("--mps", type=float, default=None,
                   help="allowed messages/s per number (default DAWN_DEFAULT_MPS, 80)")
    p.add_argument("--window", type=float, default=WINDOW_SECONDS, metavar="SECONDS",
                   help="send window length; the brief's is 300 (05:59:30-06:04:30 IST)")
    p.add_argument("--tier", choices=list(TIERS), help="the portfolio's messaging tier, to check it")
    p.add_argument("--fleet", action="store_true",
                   help="plan on the live fleet of wa.numbers.health (roles, rates, daily caps, "
                        "hot spares, the portfolio tier) instead of K made-up numbers")
    p.add_argument("--bootstrap", help="with --fleet: Kafka bootstrap servers (default: "
                                       "KAFKA_BOOTSTRAP_SERVERS or a running dawn up)")
    p.add_argument("--date", type=date.fromisoformat, help="IST date of the morning (default today)")
    p.add_argument("--branded", action="store_true",
                   help="per-advisor packs (3 branded images each): how long pre-staging takes and "
                        "when it must start; with a database, who cannot be branded")
    p.add_argument("--template", metavar="NAME[,BACKUP,...]",
                   help="the pack's EN template and its backups: the plan picks the day's primary "
                        "as the scheduler does and warns when Meta may pace it (new, just "
                        "unpaused, not GREEN), from the templates agent's states")
    p.add_argument("--database-url", help="PostgreSQL with the advisors, measured pre-staging rates, "
                                          "template states and the month's spend so far (default "
                                          "DATABASE_URL, else a running dawn up)")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    identities: list[AdvisorRow] | None = None
    rates = BENCH_RATES
    if args.branded:
        identities, measured = _from_database(args, settings)
        rates = measured or rates
        if args.advisors is None and identities is not None:
            args.advisors = len(identities)
    if args.advisors is None:
        raise SystemExit("dawn plan: --advisors is required (or --branded with a database)")
    if args.advisors < 0 or args.numbers < 0 or args.window <= 0:
        raise SystemExit("dawn plan: --advisors and --numbers must be >= 0 and --window > 0")
    mps = args.mps if args.mps is not None else settings.default_mps
    run_date = args.date or datetime.now(UTC).astimezone(IST).date()
    window = Window.compressed(Window.for_date(run_date).start, args.window)
    names = [n for n in (args.template or "-").split(",") if n]
    pack = {
        "pack_id": "plan-preview", "approval_id": "-", "run_date": run_date,
        "variants": [{"language": "EN", "template_name": names[0], "template_language": "en",
                      "image_url": "-", "image_sha256": _PLACEHOLDER_SHA,
                      "backups": [{"template_name": n, "template_language": "en"} for n in names[1:]]}],
    }
    approved, paced = _template_states(args, settings) if args.template else (None, None)
    advisors = [
        AdvisorRow(advisor_id=f"A{i:07d}", name="-", phone=None, user_id=f"u{i}", language="EN",
                   consent_state="OPTED_IN", marketing_suppressed=False, sticky_sender=None)
        for i in range(args.advisors)
    ]
    numbers = [SenderNumber(f"number-{k + 1}", mps) for k in range(args.numbers)]
    tier = args.tier
    if args.fleet:
        health = _fleet_health(args, settings)
        numbers = healthy_numbers(health, [])
        tier = tier or portfolio_tier(health)
    plan = plan_morning(window=window, packs=[pack], advisors=advisors, numbers=numbers,
                        created_at=datetime.now(UTC), reference_mps=mps, tier=tier,
                        approved=approved, paced=paced)
    console = Console()
    print_summary(plan.summary, console)
    if args.branded:
        _print_prestage(console, args, run_date, rates, identities)
    check = Budget(settings.prices_inr, settings.budget_daily_inr, settings.budget_monthly_inr).check(
        plan.summary.intents, _billed_this_month(args, settings, run_date))
    for line in check.lines():
        console.print(line)
    for problem in check.problems:
        console.print(f"problem: {problem}", style="bold red")
    return 0 if plan.summary.ok and check.ok else 1


def _billed_this_month(args: argparse.Namespace, settings: Settings,
                       run_date: date) -> dict[str, int] | None:
    """The month's billed messages from the audit trail, when there is a database to ask."""
    try:
        url = resolve_database_url(args.database_url, settings)
    except NoDatabase:
        return None
    since = datetime.combine(run_date.replace(day=1), time(), IST)

    async def read() -> dict[str, int]:
        async with await psycopg.AsyncConnection.connect(url, connect_timeout=5) as conn:
            return await billed_since(conn, since)

    try:
        return asyncio.run(read())
    except psycopg.Error as exc:
        Console(stderr=True).print(f"[yellow]month-to-date spend unknown: {exc}[/yellow]")
        return None


def _fleet_health(args: argparse.Namespace, settings: Settings) -> list[dict[str, Any]]:
    """The newest health record per number, as the scheduler would read them."""
    try:
        bootstrap = resolve_bootstrap(args.bootstrap, settings)
        embedded = not settings.kafka_bootstrap_servers
        kafka = KafkaConfigs(producer_config(bootstrap, embedded),
                             consumer_config(bootstrap, "dawn-plan", embedded))
        return latest_health(kafka, Codec(settings.schema_registry_url))
    except (NoBroker, KafkaException, TimeoutError) as exc:
        raise SystemExit(f"dawn plan --fleet: {exc}") from None


def _from_database(args: argparse.Namespace, settings: Settings
                   ) -> tuple[list[AdvisorRow] | None, PrestageRates | None]:
    """The eligible advisors and the last measured rates, when a database is there to ask."""
    try:
        url = resolve_database_url(args.database_url, settings)
    except NoDatabase:
        if args.database_url:
            raise
        return None, None

    async def read() -> tuple[list[AdvisorRow], PrestageRates | None]:
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            return await advisor_store.eligible(conn), await measured_rates(conn)

    try:
        return asyncio.run(read())
    except psycopg.Error as exc:
        raise SystemExit(f"dawn plan: cannot read advisors: {exc}") from None


def _print_prestage(console: Console, args: argparse.Namespace, run_date: date,
                    rates: PrestageRates, identities: list[AdvisorRow] | None) -> None:
    images = 3 * args.advisors
    seconds = estimate_seconds(images, rates, args.numbers)
    deadline = plan_at(run_date)
    start = must_start(deadline, seconds)
    console.print(
        f"pre-staging {images:,} images ({args.advisors:,} advisors x 3): about "
        f"{seconds / 60:.1f} min at {rates.renders_per_s:.0f} renders/s and "
        f"{rates.uploads_per_s_per_number:.0f} uploads/s per number on {args.numbers} "
        f"number(s) ({rates.source}); to finish by {deadline.astimezone(IST):%H:%M} IST with a 25% "
        f"margin it must start by [bold]{start.astimezone(IST):%H:%M} IST[/bold] "
        "(unchanged advisors cost nothing: renders and media ids are cached)")
    if identities is None:
        return
    missing = {a.advisor_id: identity_problems(identity_of(a)) for a in identities}
    missing = {a: p for a, p in missing.items() if p}
    if missing:
        console.print(f"[yellow]{len(missing)} advisor(s) cannot be branded and would get the "
                      "unbranded pack; fix their identity before the morning:[/yellow]")
        for advisor_id, problems in sorted(missing.items())[:20]:
            console.print(f"  {advisor_id}: {'; '.join(problems)}")
        if len(missing) > 20:
            console.print(f"  ... and {len(missing) - 20} more")


def _template_states(args: argparse.Namespace, settings: Settings,
                     ) -> tuple[set[tuple[str, str]] | None, dict[tuple[str, str], str] | None]:
    """(approved, paced with why) from the templates agent's states; (None, None) when no
    database is reachable: the plan then trusts the pack as the scheduler would."""
    try:
        database_url = resolve_database_url(args.database_url, settings)
        with psycopg.connect(database_url, connect_timeout=5) as conn:
            rows = load_all_sync(conn)
    except (NoDatabase, psycopg.Error) as exc:
        Console(stderr=True).print(f"[yellow]template states unknown ({exc}); pacing not checked[/yellow]")
        return None, None
    if not rows:
        return None, None
    now = datetime.now(UTC)
    approved = {(r.name, r.language) for r in rows if r.status == "APPROVED"}
    paced = {(r.name, r.language): reason for r in rows
             if r.status == "APPROVED" and (reason := r.pacing(now)) is not None}
    return approved, paced
