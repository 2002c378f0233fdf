"""``dawn schedule``: plan and publish one morning, at 05:59:00 IST or at once.

The production entry point for the scheduler (run it daily from cron or a job runner before
05:59 IST); ``dawn run`` calls the same ``run_scheduler`` with a compressed window starting now.
Like ``dawn worker`` it never starts a broker or database itself.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import time
from datetime import UTC, date, datetime, timedelta

from rich.console import Console

from dawn.embedded.client_profile import consumer_config, ordered_batched_producer_config
from dawn.metrics_server import MetricsServer
from dawn.settings import Settings
from dawn.topics import ensure_topics
from producers.kafka_io import TIMEOUT_S, KafkaConfigs, ProduceError
from producers.scheduler.assignment import SenderNumber
from producers.scheduler.budget import Budget
from producers.scheduler.capacity import TIERS
from producers.scheduler.metrics import SchedulerMetrics
from producers.scheduler.publish import PartialPublish
from producers.scheduler.run import CapacityError, OverBudget, run_scheduler
from producers.scheduler.summary import PlanSummary, print_summary
from producers.scheduler.window import IST, PLAN_AT, WINDOW_SECONDS, Window, plan_at
from schemas.codec import Codec
from store.migrations import apply_migrations
from whatsapp.client import CloudApiClient

#: How long ``--metrics-port`` keeps serving after the plan: a few scrape intervals.
METRICS_LINGER_S = 30.0
#: The exit code of a publish Kafka did not complete: sysexits' EX_TEMPFAIL, "try again later",
#: so a job runner can tell "run me again" from a refused morning (1).
EXIT_RUN_AGAIN = 75


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("schedule", help="plan the morning and publish its delivery intents")
    p.add_argument("--bootstrap", help="Kafka bootstrap servers (default: KAFKA_BOOTSTRAP_SERVERS)")
    p.add_argument("--database-url", help="PostgreSQL URL (default: DATABASE_URL)")
    p.add_argument("--graph-base-url", help="Cloud API base URL (default: GRAPH_API_BASE_URL)")
    p.add_argument("--embedded-broker", action="store_true",
                   help="apply the embedded broker's client profile (intents up to 200 a batch)")
    p.add_argument("--numbers", default="", metavar="ID[:MPS],...",
                   help="sender numbers until wa.numbers.health has records (rate: DAWN_DEFAULT_MPS)")
    p.add_argument("--date", type=date.fromisoformat,
                   help="IST date of the morning (default: the next 05:59 IST)")
    p.add_argument("--now", action="store_true",
                   help="start the window now instead of waiting for 05:59:00 IST")
    p.add_argument("--window", type=float, default=WINDOW_SECONDS, metavar="SECONDS",
                   help="with --now: the window length, the grace scaled with it (default 300)")
    p.add_argument("--tier", choices=list(TIERS),
                   help="the portfolio's messaging tier (default: as wa.numbers.health reports it)")
    p.add_argument("--prestage", action="store_true",
                   help="per-advisor packs: brand and upload every advisor's images for the morning "
                        "now (by 05:59:00 IST at the latest), publishing nothing; start it when "
                        "`dawn plan --branded` says")
    p.add_argument("--ack-timeout", type=_positive_seconds, default=TIMEOUT_S, metavar="SECONDS",
                   help="give the publish up when Kafka acknowledges no intent for this long "
                        f"(default {TIMEOUT_S:g}); the publish itself takes as long as its size needs")
    p.add_argument("--metrics-port", type=int, default=0,
                   help="serve Prometheus /metrics (behind DAWN_OPS_TOKEN) on this port (default off)")
    p.add_argument("--metrics-host", default="127.0.0.1", help="address of /metrics (127.0.0.1)")
    p.set_defaults(handler=run)


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value > 0:
        raise argparse.ArgumentTypeError("must be more than 0 seconds")
    return value


def budget_of(settings: Settings) -> Budget:
    return Budget(settings.prices_inr, settings.budget_daily_inr, settings.budget_monthly_inr)


def parse_numbers(text: str, default_mps: float) -> list[SenderNumber]:
    """``"111:80,222"`` -> numbers; a number without a rate gets ``default_mps``."""
    out = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        pnid, _, mps = item.partition(":")
        try:
            out.append(SenderNumber(pnid, float(mps) if mps else default_mps))
        except ValueError:
            raise SystemExit(f"dawn schedule: --numbers: {item!r} is not ID or ID:MPS") from None
    return out


def next_morning(now: datetime) -> date:
    """The IST date whose 05:59:00 is next (today's until it has passed)."""
    today = now.astimezone(IST).date()
    return today if now < plan_at(today) else today + timedelta(days=1)


def run(args: argparse.Namespace, settings: Settings) -> int:
    bootstrap = args.bootstrap or settings.kafka_bootstrap_servers
    database_url = args.database_url or (settings.database_url.reveal() if settings.database_url else None)
    if not bootstrap or not database_url:
        raise SystemExit("dawn schedule needs KAFKA_BOOTSTRAP_SERVERS and DATABASE_URL (or the flags)")
    now = datetime.now(UTC)
    if args.prestage:
        run_date = args.date or next_morning(now)
        window, start_at = Window.for_date(run_date), None
        if plan_at(run_date) <= now:
            raise SystemExit(f"dawn schedule --prestage: 05:59 IST of {run_date} has passed")
    elif args.now:
        window, start_at = Window.compressed(now, args.window), None
    else:
        run_date = args.date or next_morning(now)
        window, start_at = Window.for_date(run_date), plan_at(run_date)
        if window.end <= now:
            raise SystemExit(f"dawn schedule: the window of {run_date} has passed; use --now to send "
                             "a morning that starts now")
    apply_migrations(database_url)
    ensure_topics(bootstrap)
    kafka = KafkaConfigs(ordered_batched_producer_config(bootstrap, args.embedded_broker),
                         consumer_config(bootstrap, "dawn-scheduler", args.embedded_broker))
    console = Console()
    metrics = SchedulerMetrics()
    with contextlib.ExitStack() as serving:
        if args.metrics_port:
            serving.enter_context(MetricsServer(metrics, settings.ops_token.reveal(),
                                                args.metrics_host, args.metrics_port))
        if start_at is not None:
            console.print(f"waiting for {PLAN_AT} IST on {window.run_date()} to plan", style="dim")
        try:
            summary = asyncio.run(_schedule(args, settings, kafka, database_url, window, start_at))
        except CapacityError as refused:
            metrics.planned(refused.summary, published=False)
            print_summary(refused.summary, console)
            if isinstance(refused, OverBudget):
                for line in [*refused.check.lines(), *refused.check.problems]:
                    console.print(line, style="bold red")
            console.print("nothing was published", style="bold red")
            _linger(args)
            return 1
        except (PartialPublish, ProduceError) as unfinished:  # Kafka stopped acknowledging
            again = "" if isinstance(unfinished, PartialPublish) else \
                "; run `dawn schedule` again to publish the morning"
            print(f"dawn schedule: {unfinished}{again}", file=sys.stderr)
            return EXIT_RUN_AGAIN
        metrics.planned(summary, published=True)
        print_summary(summary, console)
        if summary.prestage is not None and summary.prestage.advisors:
            console.print(f"pre-staging: {summary.prestage.to_json()}")
        _linger(args)
    return 0


def _linger(args: argparse.Namespace) -> None:
    """With metrics on, stay up long enough for Prometheus to scrape the morning's figures."""
    if args.metrics_port:
        time.sleep(METRICS_LINGER_S)


async def _schedule(args: argparse.Namespace, settings: Settings, kafka: KafkaConfigs,
                    database_url: str, window: Window, start_at: datetime | None) -> PlanSummary:
    async with CloudApiClient(args.graph_base_url or settings.graph_api_base_url,
                              settings.graph_api_version, settings.whatsapp_access_token.reveal()) as client:
        return await run_scheduler(
            kafka=kafka, database_url=database_url, uploader=client, window=window,
            numbers=parse_numbers(args.numbers, settings.default_mps),
            codec=Codec(schema_registry_url=settings.schema_registry_url),
            reference_mps=settings.default_mps, tier=args.tier, start_at=start_at,
            show_progress=True, branded_dir=settings.run_dir / "branded",
            prestage_only=args.prestage,
            prestage_deadline=plan_at(window.run_date()) if args.prestage else None,
            budget=budget_of(settings), ack_timeout=args.ack_timeout,
        )
