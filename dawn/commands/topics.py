"""``dawn topics create`` and ``dawn topics list``: the catalogue's topics on a running broker.

The embedded broker lives only as long as the ``dawn up`` that started it, so these commands never
start one: they talk to ``--bootstrap``, else ``KAFKA_BOOTSTRAP_SERVERS``, else the ``dawn up``
recorded in ``<run_dir>/endpoints.json``.
"""

from __future__ import annotations

import argparse
import sys

from confluent_kafka import KafkaException
from rich.console import Console
from rich.table import Table

from dawn import endpoints
from dawn.settings import Settings
from dawn.topics import TopicReport, cleanup_mismatch, cleanup_policies, ensure_topics, list_topics
from schemas.catalogue import ALL_TOPICS, BY_NAME


class NoBroker(RuntimeError):
    """Nothing says which Kafka to talk to."""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("topics", help="create or list the catalogue's Kafka topics")
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    for name, handler, text in (
        ("create", create, "create every catalogue topic that is missing (safe to repeat)"),
        ("list", show, "list the broker's topics and mark catalogue topics missing, short or "
                       "with the wrong cleanup policy"),
    ):
        action = actions.add_parser(name, help=text)
        action.add_argument("--bootstrap", metavar="HOST:PORT",
                            help="Kafka to use (default: KAFKA_BOOTSTRAP_SERVERS, else a running dawn up)")
        action.set_defaults(handler=handler)


def resolve_bootstrap(flag: str | None, settings: Settings) -> str:
    """The broker to talk to: the flag, the environment, then a running ``dawn up``."""
    if flag:
        return flag
    if settings.kafka_bootstrap_servers:
        return settings.kafka_bootstrap_servers
    running = endpoints.read(settings.run_dir.resolve())
    if running is not None:
        return running.kafka_bootstrap
    raise NoBroker(
        "no Kafka to talk to: pass --bootstrap HOST:PORT, set KAFKA_BOOTSTRAP_SERVERS, or start "
        f"`dawn up` (none is running with run dir {settings.run_dir})"
    )


def create(args: argparse.Namespace, settings: Settings) -> int:
    console = Console()
    try:
        bootstrap = resolve_bootstrap(args.bootstrap, settings)
        reports = ensure_topics(bootstrap)
    except (NoBroker, KafkaException) as exc:
        print(f"dawn topics create: {exc}", file=sys.stderr)
        return 2
    console.print(f"kafka {bootstrap}")
    print_reports(console, reports)
    return 0 if all(r.ok for r in reports) else 1


def show(args: argparse.Namespace, settings: Settings) -> int:
    console = Console()
    try:
        bootstrap = resolve_bootstrap(args.bootstrap, settings)
        partitions = list_topics(bootstrap)
        policies = cleanup_policies(bootstrap, sorted(partitions))
    except (NoBroker, KafkaException) as exc:
        print(f"dawn topics list: {exc}", file=sys.stderr)
        return 2
    table = Table("topic", "partitions", "cleanup", "catalogue", title=f"kafka {bootstrap}")
    problems = 0
    for name in sorted(set(partitions) | {t.name for t in ALL_TOPICS}):
        wanted = BY_NAME.get(name)
        have = partitions.get(name)
        if wanted is None:
            status = "[dim]not in catalogue[/dim]"
        elif have is None:
            status, problems = "[red]missing[/red]", problems + 1
        elif have < wanted.partitions:
            status, problems = f"[red]short: catalogue says {wanted.partitions}[/red]", problems + 1
        elif cleanup_mismatch(wanted, policies.get(name)):
            status, problems = f"[red]cleanup: catalogue says {wanted.cleanup_policy}[/red]", problems + 1
        else:
            status = "ok"
        table.add_row(name, "-" if have is None else str(have), policies.get(name, "-"), status)
    console.print(table)
    if problems:
        console.print(f"{problems} catalogue topic(s) missing, short or with the wrong cleanup policy: "
                      "`dawn topics create` adds missing ones; the others need an operator",
                      style="red")
    return 0 if not problems else 1


def print_reports(console: Console, reports: list[TopicReport]) -> None:
    """The outcome of creating the catalogue's topics, one row per topic."""
    table = Table("topic", "partitions", "outcome", "note")
    for r in reports:
        style = "" if r.ok else "red"
        table.add_row(r.name, "-" if r.partitions is None else str(r.partitions), str(r.outcome),
                      r.detail, style=style)
    console.print(table)
