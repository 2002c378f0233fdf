"""What agents share at run time, built once per worker process and injected into ``register``."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bus.sink import KafkaSink
from schemas.codec import Codec
from streams.rates import NumberRates

#: How long an output record may wait for Kafka before the agent's step fails and is retried.
SINK_ACK_TIMEOUT_S = 30.0


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class StreamContext:
    """Dependencies of the agents.

    ``now`` is the one clock every agent reads (UTC-aware datetimes), so tests and ``dawn run`` can
    start a morning at any instant. ``options`` holds per-run knobs (rates, windows) that the worker
    reads from settings or the command line.
    """

    codec: Codec
    database_url: str | None = None
    graph_base_url: str = "https://graph.facebook.com"
    graph_version: str = "v26.0"
    access_token: str = ""
    now: Callable[[], datetime] = utc_now
    monotonic: Callable[[], float] = time.monotonic
    options: dict[str, Any] = field(default_factory=dict)
    #: The worker's Prometheus metrics (streams.metrics.WorkerMetrics), or None when not exported.
    metrics: Any = None
    #: confluent-kafka producer config for the agents' outputs that go through :attr:`sink`.
    producer_config: dict[str, Any] = field(default_factory=dict, repr=False)
    _rates: NumberRates | None = field(default=None, repr=False)
    _sink: KafkaSink | None = field(default=None, repr=False)

    @property
    def rates(self) -> NumberRates:
        """The process's per-number limiters: every agent sending from a number shares one."""
        if self._rates is None:
            self._rates = NumberRates.from_options(self.options, self.monotonic)
        return self._rates

    @property
    def sink(self) -> KafkaSink:
        """The process's producer for results, intents and delivery states (bus.sink): one per
        worker, made on first use, its acknowledgements awaited by the agent that produced."""
        if self._sink is None:
            if not self.producer_config:
                raise ValueError("this worker has no producer_config for its agents' outputs")
            self._sink = KafkaSink(self.producer_config, SINK_ACK_TIMEOUT_S)
        return self._sink
