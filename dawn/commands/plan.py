"""``dawn plan``: what a morning of N advisors on K numbers would look like, without sending.

It runs the scheduler's own planner on made-up advisors, so the capacity answer (numbers and tier
needed) is the one the real morning would give, not a separate formula that could drift from it.
"""

from __future__ import annotations

import argparse
import asyncio
from datetime import UTC, date, datetime, time

import psycopg
from rich.console import Console

from dawn.commands.services import NoDatabase, resolve_database_url
from dawn.settings import Settings
from producers.scheduler.assignment import SenderNumber
from producers.scheduler.budget import Budget
from producers.scheduler.capacity import TIERS
from producers.scheduler.plan import plan_morning
from producers.scheduler.summary import print_summary
from producers.scheduler.window import IST, WINDOW_SECONDS, Window
from store.advisors import AdvisorRow
from store.spend import billed_since

_PLACEHOLDER_SHA = "0" * 64


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("plan", help="print the morning plan for N advisors on K numbers, sending nothing")
    p.add_argument("--advisors", type=int, required=True, metavar="N", help="eligible advisors")
    p.add_argument("--numbers", type=int, default=3, metavar="K", help="healthy sender numbers (3)")
    p.add_argument("--mps", type=float, default=None,
                   help="allowed messages/s per number (default DAWN_DEFAULT_MPS, 80)")
    p.add_argument("--window", type=float, default=WINDOW_SECONDS, metavar="SECONDS",
                   help="send window length; the brief's is 300 (05:59:30-06:04:30 IST)")
    p.add_argument("--tier", choices=list(TIERS), help="the portfolio's messaging tier, to check it")
    p.add_argument("--date", type=date.fromisoformat, help="IST date of the morning (default today)")
    p.add_argument("--database-url",
                   help="PostgreSQL for the month's spend so far (default: DATABASE_URL, dawn up)")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    if args.advisors < 0 or args.numbers < 0 or args.window <= 0:
        raise SystemExit("dawn plan: --advisors and --numbers must be >= 0 and --window > 0")
    mps = args.mps if args.mps is not None else settings.default_mps
    run_date = args.date or datetime.now(UTC).astimezone(IST).date()
    window = Window.compressed(Window.for_date(run_date).start, args.window)
    pack = {
        "pack_id": "plan-preview", "approval_id": "-", "run_date": run_date,
        "variants": [{"language": "EN", "template_name": "-", "template_language": "en",
                      "image_url": "-", "image_sha256": _PLACEHOLDER_SHA}],
    }
    advisors = [
        AdvisorRow(advisor_id=f"A{i:07d}", name="-", phone=None, user_id=f"u{i}", language="EN",
                   consent_state="OPTED_IN", marketing_suppressed=False, sticky_sender=None)
        for i in range(args.advisors)
    ]
    numbers = [SenderNumber(f"number-{k + 1}", mps) for k in range(args.numbers)]
    plan = plan_morning(window=window, packs=[pack], advisors=advisors, numbers=numbers,
                        created_at=datetime.now(UTC), reference_mps=mps, tier=args.tier)
    console = Console()
    print_summary(plan.summary, console)
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
