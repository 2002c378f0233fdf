"""``dawn dashboard``: the ops dashboard (and the advisor WebSocket) in the foreground.

Kafka is ``KAFKA_BOOTSTRAP_SERVERS`` or else the broker of a running ``dawn up``. It refuses to
start without ``DAWN_OPS_TOKEN``: a dashboard nobody can open, or everybody can, is worse than none.
It reads the last 12 hours of the event topics, enough for this morning and no replay of the week.
"""

from __future__ import annotations

import argparse
import signal
import threading
import time

from rich.console import Console

from dawn.commands.services import NoBroker, resolve_bootstrap
from dawn.dashboard_server import DashboardServer
from dawn.settings import Settings

LOOKBACK_MS = 12 * 3600 * 1000


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("dashboard", help="serve the live ops dashboard and the advisor WebSocket")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=None,
                   help="port to listen on (default DAWN_DASHBOARD_PORT, 8070)")
    p.add_argument("--bootstrap", metavar="HOST:PORT", help="Kafka (default: environment, dawn up)")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    console = Console()
    if not settings.ops_token:
        console.print("[red]DAWN_OPS_TOKEN is not set: the dashboard would have no way in[/red]")
        return 2
    try:
        bootstrap = resolve_bootstrap(args.bootstrap, settings)
    except NoBroker as exc:
        console.print(f"[red]{exc}[/red]")
        return 2
    port = settings.dashboard_port if args.port is None else args.port
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    try:
        server = DashboardServer(bootstrap, settings, ops_token=settings.ops_token,
                                 embedded=settings.embedded_kafka, host=args.host, port=port,
                                 since_ms=int(time.time() * 1000) - LOOKBACK_MS)
    except OSError as exc:
        console.print(f"[red]cannot listen on {args.host}:{port}: {exc.strerror}[/red]")
        return 2
    with server:
        console.print(f"dashboard {server.base_url}/ (log in once with "
                      f"{server.base_url}/login?token=<DAWN_OPS_TOKEN>)")
        try:
            while not stopping.wait(1.0):
                pass
        except KeyboardInterrupt:
            pass
    return 0
