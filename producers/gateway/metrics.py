"""Prometheus metrics of the gateway, in a registry of its own (names declared in ops.metrics).

A registry per app (not the process-global one) lets a test or ``dawn run`` host several gateways
in one process without "duplicated timeseries" errors.
"""

from __future__ import annotations

from ops.metrics import ServiceMetrics


class GatewayMetrics(ServiceMetrics):
    def __init__(self) -> None:
        super().__init__("gateway")
        self.requests = self.counter("dawn_gateway_requests")
        self.events = self.counter("dawn_gateway_events")
        self.latency = self.histogram("dawn_gateway_request_seconds")
