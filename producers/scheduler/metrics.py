"""The scheduler's Prometheus metrics, set from the plan's summary once it is published (or
refused): a morning is one event, so there is nothing to count on a hot path."""

from __future__ import annotations

import time

from ops.metrics import ServiceMetrics
from producers.scheduler.summary import PlanSummary


class SchedulerMetrics(ServiceMetrics):
    def __init__(self) -> None:
        super().__init__("scheduler")
        self.runs = self.counter("dawn_scheduler_runs")
        self.eligible = self.gauge("dawn_scheduler_eligible")
        self.intents = self.counter("dawn_scheduler_intents")
        self.last_run = self.gauge("dawn_scheduler_last_run_timestamp_seconds")

    def planned(self, summary: PlanSummary, *, published: bool) -> None:
        self.runs.labels("published" if published else "refused").inc()
        self.eligible.set(summary.eligible)
        if published:
            for load in summary.numbers:
                self.intents.labels(load.phone_number_id).inc(load.planned)
            self.last_run.set(time.time())
