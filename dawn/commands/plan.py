"""``dawn plan``: what a morning of N advisors on K numbers would look like, without sending.

It runs the scheduler's own planner on made-up advisors, so the capacity answer (numbers and tier
needed) is the one the real morning would give, not a separate formula that could drift from it.
"""

from __future__ import annotations

import argparse
from datetime import UTC, date, datetime

import psycopg
from rich.console import Console

from dawn.commands.services import NoDatabase, resolve_database_url
from dawn.settings import Settings
from producers.scheduler.assignment import SenderNumber
from producers.scheduler.capacity import TIERS
from producers.scheduler.plan import plan_morning
from producers.scheduler.summary import print_summary
from producers.scheduler.window import IST, WINDOW_SECONDS, Window
from store.advisors import AdvisorRow
from store.templates import load_all_sync

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
    p.add_argument("--template", metavar="NAME[,BACKUP,...]",
                   help="the pack's EN template and its backups: the plan picks the day's primary "
                        "as the scheduler does and warns when Meta may pace it (new, just "
                        "unpaused, not GREEN), from the templates agent's states")
    p.add_argument("--database-url", help="PostgreSQL holding the template states "
                                          "(default: DATABASE_URL, dawn up)")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
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
    plan = plan_morning(window=window, packs=[pack], advisors=advisors, numbers=numbers,
                        created_at=datetime.now(UTC), reference_mps=mps, tier=args.tier,
                        approved=approved, paced=paced)
    print_summary(plan.summary, Console())
    return 0 if plan.summary.ok else 1


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
