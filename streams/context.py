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
    #: confluent-kafka producer configs for the agents' outputs: :attr:`sink` (results, intents,
    #: dead letters) and :attr:`batched_sink` (delivery states; dawn.embedded.client_profile).
    producer_config: dict[str, Any] = field(default_factory=dict, repr=False)
    batched_producer_config: dict[str, Any] = field(default_factory=dict, repr=False)
    _rates: NumberRates | None = field(default=None, repr=False)
    _sinks: dict[str, KafkaSink] = field(default_factory=dict, repr=False)

    @property
    def rates(self) -> NumberRates:
        """The process's per-number limiters: every agent sending from a number shares one."""
        if self._rates is None:
            self._rates = NumberRates.from_options(self.options, self.monotonic)
        return self._rates

    @property
    def sink(self) -> KafkaSink:
        """The process's producer for results, intents and dead letters (bus.sink): one per
        worker, made on first use, its acknowledgements awaited by the agent that produced."""
        return self._sink("sink", self.producer_config)

    @property
    def batched_sink(self) -> KafkaSink:
        """The process's producer for delivery states, whose readers never trust end offsets, so it
        may write several records a batch on the embedded broker."""
        return self._sink("batched", self.batched_producer_config or self.producer_config)

    def _sink(self, name: str, config: dict[str, Any]) -> KafkaSink:
        if name not in self._sinks:
            if not config:
                raise ValueError("this worker has no producer config for its agents' outputs")
            self._sinks[name] = KafkaSink(config, SINK_ACK_TIMEOUT_S)
        return self._sinks[name]
