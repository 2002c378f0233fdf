"""Every Prometheus metric dawn exports, by service, in one list; and one registry per service.

The names are here, not next to the code that updates them, so the Grafana dashboard, the alert
rules and the tests read one list (``METRICS``), and no two services can export the same name with
different meanings. A registry per service instance (not the process-global one) lets a test or
``dawn run`` host several services in one process.

Updates on hot paths are plain ``Counter.inc()`` calls (a lock and an add); anything that would
cost more to keep current (limiter rates, in-flight requests, breaker states, unknown claims,
consumer lag) is read when Prometheus scrapes, by a collector, so the send path pays nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

Kind = Literal["counter", "gauge", "histogram"]


@dataclass(frozen=True)
class Metric:
    name: str
    kind: Kind
    help: str
    labels: tuple[str, ...] = ()


#: Every metric, by the service that exports it.
METRICS: dict[str, tuple[Metric, ...]] = {
    "gateway": (
        Metric("dawn_gateway_requests", "counter", "Webhook requests by HTTP status code", ("code",)),
        Metric("dawn_gateway_events", "counter", "Events acknowledged by Kafka, by topic", ("topic",)),
        Metric("dawn_gateway_request_seconds", "histogram",
               "Webhook POST handling time, Kafka acknowledgement included"),
    ),
    "worker": (
        Metric("dawn_worker_sends", "counter",
               "Send results emitted, by sender number and outcome", ("number", "outcome")),
        Metric("dawn_worker_limiter_rate", "gauge",
               "Messages/s a number's rate limiter allows now", ("number",)),
        Metric("dawn_worker_in_flight", "gauge", "Cloud API requests in flight, by number",
               ("number",)),
        Metric("dawn_worker_breaker_open", "gauge",
               "1 when a number's circuit breaker is open or half-open, else 0", ("number", "state")),
        Metric("dawn_worker_unknown_claims", "gauge",
               "Sends claimed whose outcome is unknown (no answer, no webhook yet)"),
        Metric("dawn_worker_consumer_lag", "gauge",
               "Records not yet committed by the worker's group, by topic", ("topic",)),
    ),
    "scheduler": (
        Metric("dawn_scheduler_runs", "counter", "Mornings planned, by result", ("result",)),
        Metric("dawn_scheduler_eligible", "gauge", "Eligible advisors of the last plan"),
        Metric("dawn_scheduler_intents", "counter", "Delivery intents published, by sender number",
               ("number",)),
        Metric("dawn_scheduler_last_run_timestamp_seconds", "gauge",
               "When the last plan was published (Unix time)"),
    ),
    "audit": (
        Metric("dawn_audit_rows", "counter", "Rows written to the audit trail"),
        Metric("dawn_audit_rejected", "counter", "Records dead-lettered by the audit sink"),
        Metric("dawn_audit_batches", "counter", "Batches by whether their offsets were committed",
               ("committed",)),
    ),
}

LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.02, 0.035, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


def metric(service: str, name: str) -> Metric:
    """The declared metric, or a KeyError naming what the service declares."""
    for m in METRICS[service]:
        if m.name == name:
            return m
    raise KeyError(f"{service} declares no {name}; it has {[m.name for m in METRICS[service]]}")


class ServiceMetrics:
    """A service's registry, with its declared metrics made on demand and typed by declaration."""

    def __init__(self, service: str) -> None:
        self.service = service
        self.registry = CollectorRegistry()

    def counter(self, name: str) -> Counter:
        m = metric(self.service, name)
        assert m.kind == "counter", m
        return Counter(m.name, m.help, m.labels, registry=self.registry)

    def gauge(self, name: str) -> Gauge:
        m = metric(self.service, name)
        assert m.kind == "gauge", m
        return Gauge(m.name, m.help, m.labels, registry=self.registry)

    def histogram(self, name: str, buckets: tuple[float, ...] = LATENCY_BUCKETS) -> Histogram:
        m = metric(self.service, name)
        assert m.kind == "histogram", m
        return Histogram(m.name, m.help, m.labels, buckets=buckets, registry=self.registry)

    def at_scrape(self, name: str, read: Callable[[], Iterable[tuple[tuple[str, ...], float]]]) -> None:
        """A gauge whose samples ``read()`` gives when Prometheus scrapes: (label values, value)."""
        m = metric(self.service, name)
        self.registry.register(_ScrapeGauge(m, read))

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _ScrapeGauge(Collector):
    def __init__(self, m: Metric, read: Callable[[], Iterable[tuple[tuple[str, ...], float]]]) -> None:
        self._metric = m
        self._read = read

    def collect(self) -> Iterable[GaugeMetricFamily]:
        family = GaugeMetricFamily(self._metric.name, self._metric.help, labels=self._metric.labels)
        for labels, value in self._read():
            family.add_metric(list(labels), value)
        yield family

    def describe(self) -> Iterable[GaugeMetricFamily]:
        yield GaugeMetricFamily(self._metric.name, self._metric.help, labels=self._metric.labels)
