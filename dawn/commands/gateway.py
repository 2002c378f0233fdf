"""``dawn gateway``: the webhook gateway in the foreground, served by uvicorn.

Kafka is ``KAFKA_BOOTSTRAP_SERVERS`` (a real Kafka: client defaults) or else the broker of a running
``dawn up`` (embedded: the embedded client profile). It refuses to start without the app secret.
With ``WHATSAPP_WABA_ID`` and ``WHATSAPP_ACCESS_TOKEN`` set it reads the WABA's numbers from the
Graph API (``GRAPH_API_BASE_URL``) to name the number of a ``phone_number_quality_update``;
``--number DISPLAY=ID`` adds or overrides an entry.
"""

from __future__ import annotations

import argparse

import uvicorn
from rich.console import Console

from dawn import endpoints
from dawn.embedded.client_profile import gateway_producer_config
from dawn.settings import Settings
from producers.gateway.app import create_app
from producers.gateway.config import GatewayConfig, GatewayConfigError
from producers.gateway.numbers import Fetch, graph_fetch
from whatsapp.client import CloudApiClient


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("gateway", help="serve the WhatsApp webhook gateway (Meta -> Kafka)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8080, help="port to listen on (default 8080)")
    p.add_argument("--number", action="append", default=[], metavar="DISPLAY=ID",
                   help="a business number's display number and phone_number_id (repeatable)")
    p.set_defaults(handler=run)


def _numbers(pairs: list[str]) -> dict[str, str] | None:
    out: dict[str, str] = {}
    for pair in pairs:
        display, sep, number_id = pair.partition("=")
        if not sep or not display.strip() or not number_id.strip():
            return None
        out[display.strip()] = number_id.strip()
    return out


def run(args: argparse.Namespace, settings: Settings) -> int:
    console = Console(stderr=True)
    if settings.kafka_bootstrap_servers:
        bootstrap, embedded = settings.kafka_bootstrap_servers, False
    else:
        running = endpoints.read(settings.run_dir.resolve())
        if running is None:
            console.print("no Kafka: set KAFKA_BOOTSTRAP_SERVERS or start `dawn up` first", style="red")
            return 2
        bootstrap, embedded = running.kafka_bootstrap, True
    numbers = _numbers(args.number)
    if numbers is None:
        console.print("--number takes DISPLAY=ID, e.g. --number 15550783881=106540352242922",
                      style="red")
        return 2
    fetch: Fetch | None = None
    token = settings.whatsapp_access_token.reveal()
    if settings.whatsapp_waba_id and token:
        client = CloudApiClient(settings.graph_api_base_url, settings.graph_api_version, token)
        fetch = graph_fetch(client, settings.whatsapp_waba_id)
    try:
        config = GatewayConfig(
            app_secret=settings.whatsapp_app_secret.reveal(),
            verify_token=settings.whatsapp_verify_token.reveal(),
            ops_token=settings.ops_token.reveal(),
            kafka=gateway_producer_config(bootstrap, embedded),
            schema_registry_url=settings.schema_registry_url,
            numbers=numbers, numbers_fetch=fetch,
            database_url=settings.database_url.reveal() if settings.database_url else None,
        )
    except GatewayConfigError as exc:
        console.print(str(exc), style="red")
        return 2
    console.print(f"gateway on http://{args.host}:{args.port}/webhooks/whatsapp -> kafka {bootstrap}")
    uvicorn.run(create_app(config), host=args.host, port=args.port, log_level="warning",
                access_log=False)
    return 0
