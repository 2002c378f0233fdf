"""``dawn run --stages`` and ``bench/morning_scale.py``: the per-stage figures from synthetic
timestamps, with the expected values worked out by hand from the definitions (counts, first and
last, records/s between them, the peak second, lags against each stage's input), and one tiny
real morning through the bench."""

from __future__ import annotations

import math
import re
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench.morning_scale import Sample, broker_writes, classify, cpu_between, stage_rows
from dawn.morning.stages import Span, percentile, read_stages, summarise
from schemas.catalogue import DELIVERY_STATE, INTENTS, RESULTS, SLA, STATUSES

ROOT = Path(__file__).resolve().parent.parent
DAY = date(2026, 11, 26)
T0 = 1_800_000_000.0  # the window's start


def at(seconds: float) -> datetime:
    return datetime.fromtimestamp(T0 + seconds, UTC)


def test_summarise_counts_times_rate_peak_and_lags() -> None:
    span = Span()
    for i, lag in enumerate([0.1, 0.2, 0.3, 0.4, 2.0]):
        span.add(T0 + 10 + i * 0.2, lag, size=100)  # 5 records in one second of the epoch
    span.add(T0 + 15, None, size=200)
    entry = summarise(span, T0)
    assert entry["count"] == 6
    assert (entry["first_s"], entry["last_s"]) == (10.0, 15.0)
    assert entry["per_s"] == 1.0  # 5 intervals over 5 s
    assert entry["peak_per_s"] == 5
    assert entry["lag_s"] == {"p50": 0.3, "p99": 2.0, "max": 2.0}
    assert entry["value_bytes"] == round(700 / 6)
    assert summarise(Span(), T0) == {"count": 0}


@given(st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=200), st.floats(0.01, 100))
def test_percentile_is_the_nearest_rank(values: list[float], q: float) -> None:
    """The smallest value with at least q% of the values at or below it."""
    p = percentile(values, q)
    assert p in values
    assert sum(v <= p for v in values) >= math.ceil(q / 100 * len(values))
    assert sum(v < p for v in values) < math.ceil(q / 100 * len(values))


def _fake_topics() -> dict[str, list[tuple[float, int, dict]]]:
    other_day = date(2026, 11, 25)
    return {
        INTENTS.name: [(T0 + 1.0, 500, {"run_date": DAY}), (T0 + 1.1, 500, {"run_date": DAY}),
                       (T0 + 0.5, 500, {"run_date": other_day})],
        RESULTS.name: [(T0 + 3.0, 200, {"run_date": DAY, "sent_at": at(2.5)}),
                       (T0 + 4.0, 200, {"run_date": DAY, "sent_at": at(3.9)})],
        STATUSES.name: [(T0 + 5.0, 600, {"timestamp": at(3.0)}),
                        (T0 + 9.0, 600, {"timestamp": at(4.0)})],
        DELIVERY_STATE.name: [
            (T0 + 3.5, 150, {"run_date": DAY, "delivery_id": "a", "state": "ACCEPTED",
                             "delivered_at": None}),
            (T0 + 6.0, 150, {"run_date": DAY, "delivery_id": "a", "state": "DELIVERED",
                             "delivered_at": at(5.0)}),
            (T0 + 7.0, 150, {"run_date": DAY, "delivery_id": "b", "state": "READ",
                             "delivered_at": at(4.5)}),  # delivered and read in one update
            (T0 + 8.0, 150, {"run_date": DAY, "delivery_id": "a", "state": "READ",
                             "delivered_at": at(5.0)}),
        ],
        SLA.name: [(T0 + 6.5, 120, {"run_date": DAY, "delivered": 1}),
                   (T0 + 10.0, 120, {"run_date": DAY, "delivered": 2}),
                   (T0 + 11.0, 120, {"run_date": other_day, "delivered": 7})],
    }


def test_read_stages_from_synthetic_topics() -> None:
    topics = _fake_topics()

    def reader(bootstrap, embedded, topic, partitions, codec):
        return iter(topics[topic])

    marks = {"advisors": 2, "seed_start": T0 - 10, "seed_end": T0 - 8, "plan_start": T0,
             "plan_end": T0 + 1.6}
    stages = read_stages("unused", True, None, run_date=DAY, marks=marks,
                         accepted=[T0 + 2.5, T0 + 3.9], window_start=T0, reader=reader)
    assert stages["seed"]["count"] == 2 and stages["seed"]["per_s"] == 1.0
    # planning ends at the first intent handed to Kafka; the publish when the scheduler returned
    assert (stages["plan"]["first_s"], stages["plan"]["last_s"], stages["plan"]["count"]) == (0.0, 1.0, 2)
    assert (stages["publish"]["first_s"], stages["publish"]["last_s"]) == (1.0, 1.6)
    assert stages["publish"]["count"] == 2  # the other morning's intent is not this one's
    assert stages["send"]["count"] == 2 and stages["send"]["first_s"] == 2.5
    assert stages["results"]["lag_s"]["max"] == pytest.approx(0.5)
    assert stages["statuses"]["lag_s"]["max"] == pytest.approx(5.0)  # 9.0 - 4.0
    # state: only the record that made a delivery DELIVERED has a lag (6.0 - 5.0)
    assert stages["state"]["count"] == 4
    assert stages["state"]["lag_s"] == {"p50": 1.0, "p99": 1.0, "max": 1.0}
    # sla: deliveries reached the state topic at 6.0 (a) and 7.0 (b): the snapshot counting 1
    # trails the 1st by 0.5 s, the one counting 2 the 2nd by 3 s
    assert stages["sla"]["count"] == 2
    assert stages["sla"]["lag_s"]["p50"] == pytest.approx(0.5)
    assert stages["sla"]["lag_s"]["max"] == pytest.approx(3.0)


def test_stage_rows_ratios_and_broker_writes() -> None:
    stages = {
        "publish": {"count": 100, "per_s": 500.0, "first": T0, "last": T0 + 1, "peak_per_s": 400},
        "statuses": {"count": 300, "per_s": 100.0, "first": T0 + 2, "last": T0 + 5},
        "results": {"count": 100, "per_s": 50.0, "first": T0 + 1, "last": T0 + 3},
        "seed": {"count": 100, "per_s": 1000.0},
    }
    ceiling = {"ordered_batched": 1000.0, "batched": 2000.0, "one_per_batch": 10.0}
    rows = {r["stage"]: r for r in stage_rows(stages, ceiling)}
    assert rows["publish"]["ratio"] == 0.5 and rows["publish"]["peak_ratio"] == 0.4
    assert rows["statuses"]["ratio"] == 0.05  # the statuses' own profile's ceiling
    assert rows["state"]["ratio"] is None and rows["state"]["count"] == 0
    writes = broker_writes(stages)
    assert writes["count"] == 500 and writes["per_s"] == 100.0  # seed is not a broker stage here


def test_cpu_between_differences_the_nearest_samples() -> None:
    def sample(t: float, broker: float, worker: float, busy: float) -> Sample:
        return Sample(T0 + t, {"broker": broker, "worker": worker, "dawn run": 1.0}, {},
                      machine_busy_s=busy, machine_total_s=2 * t)

    samples = [sample(0, 0, 0, 0), sample(10, 2, 5, 10), sample(20, 6, 11, 18), sample(30, 7, 12, 20)]
    cpu = cpu_between(samples, T0 + 10, T0 + 20)
    assert cpu["seconds"] == 10
    assert cpu["processes"]["broker"] == {"cpu_s": 4, "core_pct": 40.0, "share_pct": 40.0}
    assert cpu["processes"]["worker"]["share_pct"] == 60.0
    assert cpu["processes"]["dawn run"]["cpu_s"] == 0
    assert cpu["machine_busy_pct"] == 40.0  # 8 busy of 20 core-seconds


def test_classify_processes() -> None:
    assert classify(10, 10, "python", "python -m dawn.cli run") == "dawn run"
    assert classify(11, 10, "tansu", "/x/bin/tansu broker") == "broker"
    assert classify(12, 10, "postgres", "/x/bin/postgres -D d") == "postgres"
    assert classify(13, 10, "python", "python -m dawn.cli worker --bootstrap b --app-id dawn") == "worker"
    assert classify(15, 10, "python",
                    "python -m dawn.cli worker --bootstrap b --app-id dawn-track") == "tracker"
    assert classify(14, 10, "sh", "sh -c true") == "other"


@pytest.mark.slow
def test_bench_on_a_tiny_morning() -> None:
    """The whole bench on a real ``dawn run`` (200 advisors, 20 s window): every stage is printed
    with a positive throughput and ratio, and the processes' CPU and memory."""
    done = subprocess.run(
        [sys.executable, "-m", "bench.morning_scale", "--advisors", "200", "--window", "20",
         "--ceiling-records", "2000"],
        cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    for stage in ("seed", "plan", "publish", "send", "results", "statuses", "state", "sla"):
        row = re.search(rf"^{stage}\s+([\d,]+)\s+([\d,]+)\s+([\d.]+)", out, re.M)
        assert row, f"no {stage} row in:\n{out}"
        count, per_s, ratio = (float(v.replace(",", "")) for v in row.groups())
        assert count > 0 and per_s > 0 and ratio > 0, row.group(0)
    assert re.search(r"^audit\s+not run", out, re.M)
    for process in ("broker", "postgres", "worker", "tracker", "dawn run"):
        assert re.search(rf"^{process}\s+[\d.]+\s+[\d.]+\s+[\d.]+%", out, re.M), process
    memory = re.search(r"peak resident memory: broker ([\d,]+) MB, postgres ([\d,]+) MB, "
                       r"worker ([\d,]+) MB, tracker ([\d,]+) MB, dawn run ([\d,]+) MB", out)
    assert memory and all(int(v.replace(",", "")) > 0 for v in memory.groups()), out
