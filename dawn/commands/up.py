"""``dawn up``: the embedded stack in the foreground until Ctrl-C, with every catalogue topic created.

Until the stack is up and its endpoints are written, Ctrl-C and SIGTERM raise KeyboardInterrupt, so
a start-up that is taking too long can be stopped: Stack.start and the ``with`` block stop whatever
was started, and the command exits 130. Only a running stack waits for the signal to set an event.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading

from confluent_kafka import KafkaException
from rich.console import Console

from dawn import endpoints
from dawn.commands.topics import print_reports
from dawn.embedded.stack import Stack
from dawn.settings import Settings, redact_url
from dawn.topics import ensure_topics


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("up", help="start the embedded Kafka and PostgreSQL and wait for Ctrl-C")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    console = Console()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.default_int_handler)
    run_dir = settings.run_dir.resolve()
    with Stack.start(settings, run_dir=run_dir) as stack:
        try:
            reports = ensure_topics(stack.kafka_bootstrap)
        except KafkaException as exc:
            print(f"dawn up: cannot create topics on {stack.kafka_bootstrap}: {exc}", file=sys.stderr)
            return 1
        database_url = redact_url(stack.database_url)
        console.print(f"kafka      [bold]{stack.kafka_bootstrap}[/bold]")
        console.print(f"postgresql [bold]{database_url}[/bold]")
        print_reports(console, reports)
        children = {name: child.process.pid for name, child in
                    (("broker", stack.broker), ("postgres", stack.postgres)) if child is not None}
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        written = endpoints.write(run_dir, endpoints.Endpoints(
            pid=os.getpid(), kafka_bootstrap=stack.kafka_bootstrap, database_url=database_url,
            children=children,
        ))
        try:
            console.print(f"endpoints  {written}", style="dim")
            console.print("running; Ctrl-C stops everything", style="dim")
            stop.wait()
            console.print("stopping", style="dim")
        finally:
            endpoints.remove(run_dir, os.getpid())
    return 0
