"""``dawn audit``: the sink that fills the audit trail, and the questions asked of it.

``sink`` runs in the foreground until Ctrl-C; ``advisor``, ``day`` and ``export`` read the trail;
``retention`` drops months older than five years. The SQL behind each is in
``consumers/audit/queries.py`` and in the README.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import signal
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path

import psycopg
from rich.console import Console
from rich.table import Table

from consumers.audit.metrics import AuditMetrics
from consumers.audit.queries import day_summary, export_day, timeline
from consumers.audit.retention import RETENTION_YEARS, apply_retention
from consumers.audit.rows import IST
from consumers.audit.sink import GROUP_ID, AuditSink
from dawn.commands.services import NoBroker, NoDatabase, resolve_bootstrap, resolve_database_url
from dawn.embedded.client_profile import consumer_config, producer_config
from dawn.metrics_server import MetricsServer
from dawn.settings import Settings
from schemas.codec import Codec
from store.migrations import apply_migrations
from whatsapp.privacy import mask_phones


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("audit", help="the audit trail: run the sink, ask it questions")
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    sink = actions.add_parser("sink", help="consume every dawn topic into PostgreSQL (foreground)")
    sink.add_argument("--bootstrap", metavar="HOST:PORT")
    sink.add_argument("--metrics-port", type=int, default=0,
                      help="serve Prometheus /metrics (behind DAWN_OPS_TOKEN) on this port (default off)")
    sink.add_argument("--metrics-host", default="127.0.0.1", help="address of /metrics (127.0.0.1)")
    sink.set_defaults(handler=run_sink)
    advisor = actions.add_parser("advisor", help="one advisor's timeline")
    advisor.add_argument("advisor_id")
    advisor.add_argument("--date", type=date.fromisoformat, help="only this run date (YYYY-MM-DD)")
    advisor.set_defaults(handler=run_advisor)
    day = actions.add_parser("day", help="a morning: counts by state, number, template, failure code")
    day.add_argument("date", type=date.fromisoformat)
    day.set_defaults(handler=run_day)
    export = actions.add_parser("export", help="a day's sends as CSV, for a regulator")
    export.add_argument("date", type=date.fromisoformat)
    export.add_argument("--csv", type=Path, required=True, metavar="FILE")
    export.set_defaults(handler=run_export)
    retention = actions.add_parser("retention", help=f"drop partitions older than {RETENTION_YEARS} years")
    retention.add_argument("--dry-run", action="store_true", help="only list what would be dropped")
    retention.set_defaults(handler=run_retention)
    for action in (sink, advisor, day, export, retention):
        action.add_argument("--database-url", help="PostgreSQL (default: DATABASE_URL, dawn up)")


def _database(args: argparse.Namespace, settings: Settings) -> str:
    url = resolve_database_url(args.database_url, settings)
    apply_migrations(url)
    return url


def run_sink(args: argparse.Namespace, settings: Settings) -> int:
    try:
        bootstrap = resolve_bootstrap(args.bootstrap, settings)
        url = resolve_database_url(args.database_url, settings)
    except (NoBroker, NoDatabase) as exc:
        Console().print(f"[red]{exc}[/red]")
        return 2
    embedded = settings.embedded_kafka
    metrics = AuditMetrics()
    sink = AuditSink(consumer_config(bootstrap, GROUP_ID, embedded), producer_config(bootstrap, embedded),
                     url, codec=Codec(settings.schema_registry_url), metrics=metrics)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: sink.stop())
    with contextlib.ExitStack() as serving:
        if args.metrics_port:
            serving.enter_context(MetricsServer(metrics, settings.ops_token.reveal(),
                                                args.metrics_host, args.metrics_port))
        sink.run()
    return 0


def _table(title: str, rows: list[dict], console: Console) -> None:
    """Phones are masked even here: a terminal is often shared, scrolled back or logged."""
    if not rows:
        console.print(f"{title}: none")
        return
    table = Table(title=title)
    for column in rows[0]:
        table.add_column(column)
    for row in rows:
        table.add_row(*[mask_phones("" if v is None else str(v)) for v in row.values()])
    console.print(table)


Query = Callable[[argparse.Namespace, psycopg.Connection, Console], int]
Handler = Callable[[argparse.Namespace, Settings], int]


def _on_database(*, autocommit: bool = False) -> Callable[[Query], Handler]:
    """A command handler from ``run(args, conn, console)``: finds PostgreSQL, applies the
    migrations and connects, or prints why it cannot and returns 2."""

    def wrap(run: Query) -> Handler:
        @functools.wraps(run)
        def handler(args: argparse.Namespace, settings: Settings) -> int:
            console = Console()
            try:
                url = _database(args, settings)
            except NoDatabase as exc:
                console.print(f"[red]{exc}[/red]")
                return 2
            with psycopg.connect(url, autocommit=autocommit) as conn:
                return run(args, conn, console)

        return handler

    return wrap


@_on_database()
def run_advisor(args: argparse.Namespace, conn: psycopg.Connection, console: Console) -> int:
    steps = timeline(conn, args.advisor_id, args.date)
    for step in steps:
        step["occurred_at"] = step["occurred_at"].astimezone(IST).isoformat(timespec="seconds")
    _table(f"advisor {args.advisor_id}", steps, console)
    return 0 if steps else 1


@_on_database()
def run_day(args: argparse.Namespace, conn: psycopg.Connection, console: Console) -> int:
    for name, rows in day_summary(conn, args.date).items():
        _table(f"{args.date} {name.replace('_', ' ')}", rows, console)
    return 0


@_on_database()
def run_export(args: argparse.Namespace, conn: psycopg.Connection, console: Console) -> int:
    count = export_day(conn, args.date, args.csv)
    console.print(f"wrote {count} sends of {args.date} to {args.csv}")
    return 0


@_on_database(autocommit=True)
def run_retention(args: argparse.Namespace, conn: psycopg.Connection, console: Console) -> int:
    today = datetime.now(UTC).astimezone(IST).date()
    old = apply_retention(conn, today, dry_run=args.dry_run)
    verb = "would drop" if args.dry_run else "dropped"
    for p in old:
        console.print(f"{verb} {p.name} ({p.month:%Y-%m})")
    console.print(f"{verb} {len(old)} partitions older than {RETENTION_YEARS} years")
    return 0
