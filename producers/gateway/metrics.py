"""Prometheus metrics of the gateway, in a registry of its own.

A registry per app (not the process-global one) lets a test or ``dawn run`` host several gateways
in one process without "duplicated timeseries" errors.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.02, 0.035, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


@dataclass
class GatewayMetrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        self.requests = Counter(
            "dawn_gateway_requests", "Webhook requests by HTTP status code", ["code"],
            registry=self.registry,
        )
        self.events = Counter(
            "dawn_gateway_events", "Events acknowledged by Kafka, by topic", ["topic"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "dawn_gateway_request_seconds", "Webhook POST handling time, Kafka acknowledgement included",
            buckets=LATENCY_BUCKETS, registry=self.registry,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
