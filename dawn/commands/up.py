"""``dawn up``: the embedded stack in the foreground until Ctrl-C."""

from __future__ import annotations

import argparse
import signal
import threading

from rich.console import Console

from dawn.embedded.stack import Stack
from dawn.settings import Settings


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("up", help="start the embedded Kafka and PostgreSQL and wait for Ctrl-C")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    console = Console()
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    with Stack.start(settings) as stack:
        console.print(f"kafka      [bold]{stack.kafka_bootstrap}[/bold]")
        console.print(f"postgresql [bold]{stack.database_url}[/bold]")
        console.print("running; Ctrl-C stops everything", style="dim")
        stop.wait()
        console.print("stopping", style="dim")
    return 0
