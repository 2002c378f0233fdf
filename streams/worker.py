"""A dawn stream worker: one Faust app with a chosen list of agents, in its own OS process.

Agents are chosen by name from ``AGENTS`` (each the module holding one agent's ``register``) and
imported at start, so a missing or broken agent stops the worker at start with an ImportError
instead of a morning that silently never sends.
The command (``dawn worker``) applies migrations and creates the catalogue's topics before
building the app, because a worker that starts before its tables or topics exist either crashes or
lets Faust auto-create a topic with the wrong partition count.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import faust
import uvloop

from schemas.codec import Codec
from streams.app import create_app
from streams.context import StreamContext

log = logging.getLogger("dawn.worker")

#: Every agent by its name on the command line, and the module that registers it.
AGENTS: dict[str, str] = {
    "sender": "streams.sender.agent",
    "reconcile": "streams.sender.reconcile",
    "consent": "streams.consent.agent",
    "delivery": "streams.delivery.agent",
    "sla": "streams.sla.agent",
    "templates": "streams.templates.agent",
    "quality": "streams.quality.agent",
}
#: Agents that only follow topics with their own tails (streams.tail), so subscribe to nothing in
#: the Faust group: a worker cannot run them alone.
TAIL_ONLY_AGENTS: tuple[str, ...] = ("quality",)
#: Every agent a morning needs, in start order.
DEFAULT_AGENTS: tuple[str, ...] = tuple(AGENTS)


@dataclass(frozen=True)
class WorkerConfig:
    bootstrap: str
    database_url: str
    data_dir: Path
    app_id: str = "dawn"
    agents: tuple[str, ...] = DEFAULT_AGENTS
    graph_base_url: str = "https://graph.facebook.com"
    graph_version: str = "v26.0"
    access_token: str = ""
    schema_registry_url: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    #: confluent-kafka producer configs for the agents' outputs (StreamContext.sink, .batched_sink).
    producer: dict[str, Any] = field(default_factory=dict)
    batched_producer: dict[str, Any] = field(default_factory=dict)


def build_app(config: WorkerConfig, broker_profile: dict[str, Any], metrics: Any = None) -> faust.App:
    """The app with every configured agent registered. ``broker_profile`` is the embedded
    client profile when the embedded broker is used, else empty (see dawn.embedded.client_profile);
    ``metrics`` the worker's Prometheus metrics (streams.metrics.WorkerMetrics) if exported."""
    app = create_app(config.app_id, config.bootstrap, data_dir=config.data_dir,
                     broker_profile=broker_profile)
    ctx = StreamContext(
        codec=Codec(config.schema_registry_url),
        database_url=config.database_url,
        graph_base_url=config.graph_base_url,
        graph_version=config.graph_version,
        access_token=config.access_token,
        options=dict(config.options),
        metrics=metrics,
        # the fallback keeps the Java client's partitioner: re-produced intents must land on their
        # number's partition, as the scheduler's do (dawn.embedded.client_profile.producer_config)
        producer_config=dict(config.producer) or {"bootstrap.servers": config.bootstrap,
                                                   "partitioner": "murmur2_random"},
        batched_producer_config=dict(config.batched_producer),
    )
    for name in config.agents:
        importlib.import_module(AGENTS[name]).register(app, ctx)
    return app


def make_worker(app: faust.App, loglevel: str = "WARNING") -> faust.Worker:
    """Faust's worker, leaving logging as the process set it up.

    By default mode replaces the root logger's handlers when the worker starts, which would drop
    the handler that masks phone numbers in every log line (and Meta's error details can carry a
    recipient's number).
    """
    return faust.Worker(app, loglevel=loglevel, redirect_stdouts=False, quiet=True,
                        override_logging=False)


def run(app: faust.App, loglevel: str = "WARNING") -> None:
    """Run until SIGTERM/SIGINT; Faust's worker stops the agents and commits what was acked.

    On uvloop's event loop: a worker's time goes to the loop's own work (sockets, callbacks,
    timers) for every send, status and record, and uvloop does that work in C.
    """
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    make_worker(app, loglevel).execute_from_commandline()
