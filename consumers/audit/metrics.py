"""The audit sink's Prometheus metrics, updated once per batch from its report."""

from __future__ import annotations

from typing import Protocol

from ops.metrics import ServiceMetrics


class Batch(Protocol):
    """What a batch report (consumers.audit.sink.BatchReport) tells the metrics."""

    read: int
    inserted: int
    rejected: int
    committed: bool


class AuditMetrics(ServiceMetrics):
    def __init__(self) -> None:
        super().__init__("audit")
        self.rows = self.counter("dawn_audit_rows")
        self.rejected = self.counter("dawn_audit_rejected")
        self.batches = self.counter("dawn_audit_batches")

    def batch(self, report: Batch) -> None:
        """One batch's report; an empty poll is not a batch."""
        if not report.read:
            return
        self.rows.inc(report.inserted)
        self.rejected.inc(report.rejected)
        self.batches.labels("true" if report.committed else "false").inc()
