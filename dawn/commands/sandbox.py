"""``dawn sandbox``: the simulated Cloud API in the foreground, for pointing a client or a whole
``dawn`` at by hand (``GRAPH_API_BASE_URL=http://127.0.0.1:8090``)."""

from __future__ import annotations

import argparse

import uvicorn
from rich.console import Console

from dawn.settings import Settings
from sandbox.app import build_app
from sandbox.config import SandboxConfig
from sandbox.loader import load_config_file
from sandbox.state import Sandbox


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sandbox", help="serve the simulated WhatsApp Cloud API until Ctrl-C")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8090, help="port to listen on (default 8090)")
    p.add_argument("--config", metavar="FILE",
                   help="sandbox config JSON (default: the built-in world; see sandbox/sample_config.json)")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    console = Console()
    config = load_config_file(args.config) if args.config else SandboxConfig()
    numbers = ", ".join(f"{n.id} ({n.mps:g} mps)" for n in config.numbers)
    console.print(f"graph api  [bold]http://{args.host}:{args.port}[/bold]  (version path: any vNN.N)")
    console.print(f"waba       {config.waba_id}   numbers {numbers}")
    console.print(f"faults     {config.faults.profile}   webhooks -> {config.webhooks.callback_url or 'off'}")
    console.print("control    /sandbox/config /sandbox/ledger /sandbox/faults /sandbox/reset", style="dim")
    uvicorn.run(build_app(Sandbox(config)), host=args.host, port=args.port,
                log_level=settings.log_level.lower(), access_log=False)
    return 0
