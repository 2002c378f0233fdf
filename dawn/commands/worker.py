"""``dawn worker``: the stream agents (sender, reconcile, consent, delivery state, SLA, quality) in
one process.

Configuration comes from the environment (KAFKA_BOOTSTRAP_SERVERS, DATABASE_URL, GRAPH_API_BASE_URL,
...) with flags to override; it never starts a broker or database itself, so it runs the same
against the embedded stack of ``dawn up``/``dawn run`` and against production. ``--embedded-broker``
applies the embedded broker's client profile and must be given exactly when the broker is the
embedded one.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from dawn.embedded.client_profile import (
    batched_producer_config,
    consumer_config,
    faust_config,
    ordered_batched_producer_config,
)
from dawn.metrics_server import MetricsServer
from dawn.settings import Settings
from dawn.topics import ensure_topics
from store.migrations import apply_migrations
from streams import worker
from streams.metrics import WorkerMetrics, consumer_lag
from streams.quality.fleet import Fleet, FleetFileError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("worker", help="run the stream agents (sender, reconcile, ...) until SIGTERM")
    p.add_argument("--bootstrap", help="Kafka bootstrap servers (default: KAFKA_BOOTSTRAP_SERVERS)")
    p.add_argument("--database-url", help="PostgreSQL URL (default: DATABASE_URL)")
    p.add_argument("--graph-base-url", help="Cloud API base URL (default: GRAPH_API_BASE_URL)")
    p.add_argument("--embedded-broker", action="store_true",
                   help="apply the embedded broker's client profile (batch sizes per topic, short "
                        "session timeout; dawn/embedded/client_profile.py)")
    p.add_argument("--app-id", default="dawn", help="Faust app id (the consumer group)")
    p.add_argument("--agents", default=",".join(worker.DEFAULT_AGENTS),
                   help=f"comma-separated agents, of: {', '.join(worker.AGENTS)}")
    p.add_argument("--mps", type=float, help="messages/s per number (default: DAWN_DEFAULT_MPS)")
    p.add_argument("--numbers", default="", help="comma-separated sender numbers, for failover")
    p.add_argument("--options", default="{}", help="JSON object of further agent options")
    p.add_argument("--data-dir", type=Path, help="Faust data directory (default: RUN_DIR/worker)")
    p.add_argument("--metrics-port", type=int, default=0,
                   help="serve Prometheus /metrics (behind DAWN_OPS_TOKEN) on this port (default off)")
    p.add_argument("--metrics-host", default="127.0.0.1", help="address of /metrics (127.0.0.1)")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    bootstrap = args.bootstrap or settings.kafka_bootstrap_servers
    database_url = args.database_url or (settings.database_url.reveal() if settings.database_url else None)
    if not bootstrap or not database_url:
        raise SystemExit("dawn worker needs KAFKA_BOOTSTRAP_SERVERS and DATABASE_URL (or the flags)")
    agents = tuple(a for a in args.agents.split(",") if a)
    unknown = [a for a in agents if a not in worker.AGENTS]
    if unknown:
        raise SystemExit(f"dawn worker: unknown agents {', '.join(unknown)} "
                         f"(known: {', '.join(worker.AGENTS)})")
    if set(agents) <= set(worker.TAIL_ONLY_AGENTS):
        # Faust refuses to start a consumer subscribed to no topic at all.
        raise SystemExit(f"dawn worker: {', '.join(agents)} follow their topics outside the consumer "
                         "group; run them beside at least one stream agent (e.g. --agents sla,quality)")
    options = json.loads(args.options)
    options.setdefault("mps", args.mps or settings.default_mps)
    if settings.whatsapp_waba_id:
        options.setdefault("waba_id", settings.whatsapp_waba_id)
    options.setdefault("marketing_messages", settings.marketing_messages)
    options.setdefault("approval_buffer_days", settings.template_buffer_days)
    if args.numbers:
        options["numbers"] = [n for n in args.numbers.split(",") if n]
    if settings.whatsapp_waba_id:
        options.setdefault("waba_id", settings.whatsapp_waba_id)
    if settings.fleet_file:
        try:  # a mistake in the fleet file is the operator's: say where, without a traceback
            Fleet.load(settings.fleet_file)
        except FleetFileError as error:
            raise SystemExit(f"dawn worker: {error}") from None
        options.setdefault("fleet_file", str(settings.fleet_file))
    options.setdefault("quality_poll_s", settings.quality_poll_s)
    config = worker.WorkerConfig(
        bootstrap=bootstrap,
        database_url=database_url,
        data_dir=args.data_dir or settings.run_dir / f"worker-{args.app_id}",
        app_id=args.app_id,
        agents=agents,
        graph_base_url=args.graph_base_url or settings.graph_api_base_url,
        graph_version=settings.graph_api_version,
        access_token=settings.whatsapp_access_token.reveal(),
        schema_registry_url=settings.schema_registry_url,
        options=options,
        producer=ordered_batched_producer_config(bootstrap, args.embedded_broker),
        batched_producer=batched_producer_config(bootstrap, args.embedded_broker),
    )
    prepare(config)
    config.data_dir.mkdir(parents=True, exist_ok=True)  # Faust makes only the last level
    if not args.metrics_port:
        worker.run(worker.build_app(config, faust_config(args.embedded_broker)), settings.log_level)
        return 0
    lag = consumer_lag(consumer_config(bootstrap, args.app_id, args.embedded_broker))
    metrics = WorkerMetrics(database_url=database_url, lag=lag)
    with MetricsServer(metrics, settings.ops_token.reveal(), args.metrics_host, args.metrics_port):
        worker.run(worker.build_app(config, faust_config(args.embedded_broker), metrics),
                   settings.log_level)
    return 0


def prepare(config: worker.WorkerConfig) -> None:
    """Tables and topics the agents rely on; safe to run from every worker at every start."""
    apply_migrations(config.database_url)
    failed = [r for r in ensure_topics(config.bootstrap) if not r.ok]
    if failed:
        raise SystemExit("topics not usable: " + "; ".join(f"{r.name}: {r.detail}" for r in failed))
