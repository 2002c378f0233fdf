"""``dawn report``: a morning's analytics from the audit trail in PostgreSQL.

Prints the headline figures; ``--html FILE`` writes the page with charts, ``--csv DIR`` one CSV per
table. Prices and the daily budget come from the settings (DAWN_PRICES_INR, DAWN_BUDGET_DAILY_INR).
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, date, datetime
from pathlib import Path

import psycopg
from rich.console import Console

from consumers.reports.build import build
from consumers.reports.csv_out import write_csvs
from consumers.reports.html import render
from consumers.reports.queries import fetch
from dawn.commands.services import NoDatabase, resolve_database_url
from dawn.settings import Settings
from producers.scheduler.window import IST


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="a morning's SLA, read rates, failures, quality and cost")
    p.add_argument("--date", type=date.fromisoformat, help="IST date of the morning (default today)")
    p.add_argument("--html", type=Path, metavar="FILE", help="write the report with charts here")
    p.add_argument("--csv", type=Path, metavar="DIR", help="write one CSV per table into DIR")
    p.add_argument("--json", action="store_true", help="print the whole report as JSON")
    p.add_argument("--database-url", help="PostgreSQL (default: DATABASE_URL, dawn up)")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    console = Console()
    try:
        url = resolve_database_url(args.database_url, settings)
    except NoDatabase as exc:
        console.print(f"[red]{exc}[/red]")
        return 2
    day = args.date or datetime.now(UTC).astimezone(IST).date()
    try:
        with psycopg.connect(url) as conn:
            tables = fetch(conn, day)
    except psycopg.Error as exc:
        console.print(f"[red]cannot read the audit trail: {exc}[/red]")
        return 1
    report = build(day, tables, prices=settings.prices_inr, budget_inr=settings.budget_daily_inr)
    if args.json:
        print(json.dumps(report, indent=2, default=str))
    sla, cost = report["sla"], report["cost"]
    console.print(f"{day}: {sla['delivered_by_deadline']} of {sla['eligible']} delivered by the "
                  f"deadline ({sla['sla_pct']:.2f}%), {sla['read']} read, {sla['failed']} failed; "
                  f"cost {cost['total_inr']:.2f} INR")
    if args.html:
        args.html.parent.mkdir(parents=True, exist_ok=True)
        args.html.write_text(render(report), encoding="utf-8")
        console.print(f"wrote {args.html}")
    if args.csv:
        for path in write_csvs(report, args.csv):
            console.print(f"wrote {path}")
    return 0
