"""``dawn advisors import FILE.csv`` (or ``--demo N``): the advisor registry and its opt-ins.

Besides an inbound START, this is the only way anyone is opted in, so the file is the consent
evidence: each advisor's consent source and evidence record the file name and line.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, datetime
from pathlib import Path

from confluent_kafka import Producer
from rich.console import Console

from dawn.commands.services import NoBroker, NoDatabase, resolve_bootstrap, resolve_database_url
from dawn.embedded.client_profile import producer_config
from dawn.settings import Settings
from ops.tokens import mint_advisor_token
from producers.intake.advisors_csv import ImportedRow, read_file
from producers.intake.advisors_import import import_rows, publish
from producers.intake.demo_advisors import demo_advisors
from schemas.codec import Codec
from store.migrations import apply_migrations


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("advisors", help="import advisors and their consent")
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    imp = actions.add_parser("import", help="import a CSV (see README for columns) or demo advisors")
    source = imp.add_mutually_exclusive_group(required=True)
    source.add_argument("file", nargs="?", type=Path, help="CSV file")
    source.add_argument("--demo", type=int, metavar="N", help="import N made-up, opted-in advisors")
    imp.add_argument("--seed", type=int, default=0, help="seed of --demo")
    imp.add_argument("--bootstrap", metavar="HOST:PORT", help="Kafka (default: environment, dawn up)")
    imp.add_argument("--database-url", help="PostgreSQL (default: DATABASE_URL, dawn up)")
    imp.set_defaults(handler=run_import)
    tok = actions.add_parser("token", help="mint an advisor's WebSocket token (their deliveries only)")
    tok.add_argument("advisor_id", metavar="ID", help="the advisor the token is for")
    tok.add_argument("--days", type=float, default=7.0, help="days until it expires (7)")
    tok.set_defaults(handler=run_token)


def run_token(args: argparse.Namespace, settings: Settings) -> int:
    """Print the token, and nothing else, so it can be piped to whatever hands it over."""
    if not settings.advisor_token_secret:
        print("dawn advisors token: DAWN_ADVISOR_TOKEN_SECRET is not set", file=sys.stderr)
        return 2
    if args.days <= 0:
        print("dawn advisors token: --days must be > 0", file=sys.stderr)
        return 2
    try:
        token = mint_advisor_token(args.advisor_id, settings.advisor_token_secret.reveal(),
                                   ttl_s=args.days * 86400)
    except ValueError as exc:
        print(f"dawn advisors token: {exc}", file=sys.stderr)
        return 2
    print(token)
    return 0


def run_import(args: argparse.Namespace, settings: Settings) -> int:
    console = Console()
    try:
        bootstrap = resolve_bootstrap(args.bootstrap, settings)
        database_url = resolve_database_url(args.database_url, settings)
    except (NoBroker, NoDatabase) as exc:
        console.print(f"[red]{exc}[/red]")
        return 2
    now = datetime.now(UTC)
    if args.demo is not None:
        rows = [ImportedRow(a, now, 0) for a in demo_advisors(args.demo, args.seed)]
        evidence, errors = f"demo seed {args.seed}", []
    else:
        rows, errors = read_file(args.file)
        evidence = args.file.name
    for error in errors:
        console.print(f"[yellow]line {error.line}: {error.message}[/yellow]")
    apply_migrations(database_url)
    records = asyncio.run(import_rows(database_url, rows, source="import", evidence=evidence, at=now))
    producer = Producer(producer_config(bootstrap, settings.embedded_kafka))
    unacked = publish(producer, Codec(settings.schema_registry_url), records)
    console.print(f"imported {len(rows)} advisors, {len(errors)} bad rows; "
                  f"published {len(records) - unacked} Advisor records")
    return 1 if errors or unacked else 0
