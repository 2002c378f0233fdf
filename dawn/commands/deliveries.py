"""``dawn deliveries unknown``: sends nobody can prove Meta took or refused, for ops to decide.

A claim whose answer was lost is resent only on evidence that Meta did not take it (see the send
ledger); when the evidence never came before the deadline it stays here, UNKNOWN, never resent by
dawn. Ops can look at the advisor's chat, the audit trail or Meta's business manager, and resend
by hand if they must: a second message is their decision, not the pipeline's.
"""

from __future__ import annotations

import argparse
import asyncio
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import psycopg
from rich.console import Console
from rich.table import Table

from dawn.commands.services import NoDatabase, resolve_database_url
from dawn.settings import Settings
from store.migrations import apply_migrations
from store.send_ledger import unknown_deliveries

IST = ZoneInfo("Asia/Kolkata")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("deliveries", help="deliveries ops must look at")
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    unknown = actions.add_parser(
        "unknown", help="sends whose answer was lost and that nothing proves sent or not sent")
    unknown.add_argument("--date", type=date.fromisoformat,
                         help="only claims made on this IST date (YYYY-MM-DD); default: all")
    unknown.add_argument("--database-url", help="PostgreSQL (default: DATABASE_URL, dawn up)")
    unknown.set_defaults(handler=run_unknown)


def ist_day(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(0), IST)
    return start, start + timedelta(days=1)


async def _rows(url: str, day: date | None) -> list[tuple]:
    since, until = ist_day(day) if day else (None, None)
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        return await unknown_deliveries(conn, since, until)


def run_unknown(args: argparse.Namespace, settings: Settings) -> int:
    console = Console()
    try:
        url = resolve_database_url(args.database_url, settings)
    except NoDatabase as exc:
        console.print(f"[red]{exc}[/red]")
        return 2
    apply_migrations(url)
    rows = asyncio.run(_rows(url, args.date))
    if not rows:
        console.print("no unknown deliveries")
        return 0
    table = Table(title=f"{len(rows)} unknown deliveries (not resent; proof either way is missing)")
    for column in ("delivery", "advisor", "number", "attempt", "state", "claimed (IST)", "template"):
        table.add_column(column)
    for delivery_id, advisor_id, number, attempt, state, claimed_at, template in rows:
        table.add_row(delivery_id, advisor_id, number, str(attempt),
                      "given up" if state == "UNKNOWN" else "still looking",
                      claimed_at.astimezone(IST).isoformat(timespec="seconds"), template or "")
    console.print(table)
    return 0
