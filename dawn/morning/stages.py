"""Where a morning's time goes: each stage's record count, first and last time, and lag.

``dawn run --stages`` reads the morning's topics back before its broker stops and puts one entry
per stage in the report; ``bench/morning_scale.py`` turns them into throughput against the broker's
ceiling. Times are the producers' record timestamps (when each record was handed to its Kafka
client), the sandbox ledger's accept times for the sends, and the run's own clock around the
seeding and planning, all in seconds since the epoch. A stage's *lag* is how long after its input
existed each record was written, so a stage that falls behind shows a growing lag even when its
throughput looks like its input's:

- results: the send result's record against the send it reports (``sent_at``);
- statuses: the gateway's record against Meta's (the sandbox's) status time, so webhook batching,
  retries and the gateway's own queue all count;
- state: a DELIVERED state record against the delivery it reflects (``delivered_at``);
- sla: a snapshot counting D deliveries against the state record that made the D-th delivery
  (in the state topic's time order) delivered: how far the SLA agent trails the state.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from confluent_kafka import Consumer

from dawn.embedded.client_profile import consumer_config
from producers.kafka_io import messages_to_end
from schemas.catalogue import DELIVERY_STATE, INTENTS, RESULTS, SLA, STATUSES
from schemas.codec import Codec

log = logging.getLogger("dawn.run")

#: The stages in the order a delivery goes through them.
STAGES = ("seed", "plan", "publish", "send", "results", "statuses", "state", "sla")
#: How long the read-back waits for a next record before giving up on a topic's end.
READ_TIMEOUT_S = 30.0


@dataclass
class Span:
    """One stage's records: when each was written, how long after its input, and its size."""

    times: list[float] = field(default_factory=list)
    lags: list[float] = field(default_factory=list)
    value_bytes: int = 0

    def add(self, at: float, lag: float | None = None, size: int = 0) -> None:
        self.times.append(at)
        if lag is not None:
            self.lags.append(lag)
        self.value_bytes += size


def percentile(values: list[float], q: float) -> float:
    """The nearest-rank ``q`` percentile (0-100) of ``values`` (not empty)."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(q / 100 * len(ordered))))
    return ordered[rank - 1]


def peak_per_second(times: list[float]) -> int:
    """The most records in any one second (whole seconds since the epoch): a stage paced by its
    input spreads over the window, so its mean rate says little about what it can do."""
    counts: dict[int, int] = {}
    for at in times:
        counts[int(at)] = counts.get(int(at), 0) + 1
    return max(counts.values(), default=0)


def summarise(span: Span, window_start: float) -> dict[str, Any]:
    """A stage's report entry: count, first and last time (also as seconds after the window's
    start), records per second between them, lag percentiles and mean record size."""
    entry: dict[str, Any] = {"count": len(span.times)}
    if not span.times:
        return entry
    first, last = min(span.times), max(span.times)
    entry.update(first=round(first, 3), last=round(last, 3),
                 first_s=round(first - window_start, 3), last_s=round(last - window_start, 3),
                 per_s=round((len(span.times) - 1) / (last - first), 1) if last > first else None,
                 peak_per_s=peak_per_second(span.times))
    if span.lags:
        entry["lag_s"] = {"p50": round(percentile(span.lags, 50), 3),
                          "p99": round(percentile(span.lags, 99), 3),
                          "max": round(max(span.lags), 3)}
    if span.value_bytes:
        entry["value_bytes"] = round(span.value_bytes / len(span.times))
    return entry


def _seconds(at: datetime | None) -> float | None:
    return at.timestamp() if at is not None else None


def _lag(at: float, since: datetime | None) -> float | None:
    start = _seconds(since)
    return None if start is None else at - start


def records(bootstrap: str, embedded: bool, topic: str, partitions: int, codec: Codec,
            timeout: float = READ_TIMEOUT_S) -> Iterator[tuple[float, int, dict[str, Any]]]:
    """``(record timestamp in s, value size, decoded record)`` of ``topic`` from its start to its
    end (producers.kafka_io.messages_to_end): nothing committed, undecodable records skipped."""
    consumer = Consumer(consumer_config(bootstrap, "dawn-run-stages", embedded))
    try:
        for msg in messages_to_end(consumer, topic, range(partitions), timeout):
            record, _ = codec.decode_or_dead_letter(topic, msg.value())
            if record is not None:
                yield msg.timestamp()[1] / 1000, len(msg.value()), record
    finally:
        consumer.close()


def read_stages(bootstrap: str, embedded: bool, codec: Codec, *, run_date: Any,
                marks: dict[str, float], accepted: list[float], window_start: float,
                reader: Callable[..., Iterator[tuple[float, int, dict[str, Any]]]] = records,
                ) -> dict[str, dict[str, Any]]:
    """Every stage of the morning of ``run_date``. ``marks``: the run's clock (``time.time()``) at
    seed_start, seed_end, plan_start and plan_end, and the number of advisors; ``accepted``: the
    sandbox ledger's accept times."""
    spans = {name: Span() for name in STAGES}
    for at, size, intent in reader(bootstrap, embedded, INTENTS.name, INTENTS.partitions, codec):
        if intent["run_date"] == run_date:
            spans["publish"].add(at, size=size)
    spans["send"].times = list(accepted)
    for at, size, result in reader(bootstrap, embedded, RESULTS.name, RESULTS.partitions, codec):
        if result["run_date"] == run_date:
            spans["results"].add(at, _lag(at, result["sent_at"]), size)
    for at, size, status in reader(bootstrap, embedded, STATUSES.name, STATUSES.partitions, codec):
        spans["statuses"].add(at, _lag(at, status["timestamp"]), size)
    delivered: dict[str, float] = {}  # delivery id -> first state record showing it delivered
    for at, size, state in reader(bootstrap, embedded, DELIVERY_STATE.name, DELIVERY_STATE.partitions,
                                  codec):
        if state["run_date"] == run_date:
            reached = state["state"] == "DELIVERED"
            spans["state"].add(at, _lag(at, state["delivered_at"]) if reached else None, size)
            if state["delivered_at"] is not None:
                delivered[state["delivery_id"]] = min(at, delivered.get(state["delivery_id"], at))
    reached_at = sorted(delivered.values())
    for at, size, snap in reader(bootstrap, embedded, SLA.name, SLA.partitions, codec):
        if snap["run_date"] == run_date:
            count = min(snap["delivered"], len(reached_at))
            spans["sla"].add(at, at - reached_at[count - 1] if count else None, size)
    out = {name: summarise(span, window_start) for name, span in spans.items()}
    # Publishing: record timestamps are when each intent was handed to the client, so the publish
    # ends when the scheduler returned, every intent acknowledged.
    publish = spans["publish"].times
    if publish:
        out["publish"] = {**timed(len(publish), min(publish), max(max(publish), marks["plan_end"]),
                                  window_start), "value_bytes": out["publish"]["value_bytes"]}
    out["seed"] = timed(int(marks["advisors"]), marks["seed_start"], marks["seed_end"], window_start)
    # Planning: from the scheduler's start to its first intent handed to Kafka.
    out["plan"] = timed(len(publish), marks["plan_start"], min(publish) if publish else marks["plan_end"],
                        window_start)
    return out


def timed(count: int, start: float, end: float, window_start: float) -> dict[str, Any]:
    """A stage the run timed itself (seeding, planning): ``count`` items between two clock readings."""
    return {"count": count, "first": round(start, 3), "last": round(end, 3),
            "first_s": round(start - window_start, 3), "last_s": round(end - window_start, 3),
            "per_s": round(count / (end - start), 1) if end > start and count else None}
