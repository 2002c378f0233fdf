"""The services' /metrics, scraped over HTTP: behind the ops token, and with figures that match
what is true elsewhere (send results counted by number and outcome, lanes as the engine reports
them, unknown claims as the send ledger holds them, lag as the broker's offsets say)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import httpx
import psycopg
import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from prometheus_client.parser import text_string_to_metric_families

from consumers.audit.metrics import AuditMetrics
from consumers.audit.sink import BatchReport
from dawn.embedded.client_profile import consumer_config, producer_config
from dawn.metrics_server import MetricsServer
from store.migrations import apply_migrations
from streams.metrics import WorkerMetrics, consumer_lag

TOKEN = "metrics-test-token"


class Lanes:
    def __init__(self, rows: list[tuple[str, float, int, str]]) -> None:
        self.rows = rows

    def lane_stats(self) -> list[tuple[str, float, int, str]]:
        return self.rows


def scrape(server: MetricsServer) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    answer = httpx.get(f"{server.base_url}/metrics", headers={"authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 200
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(answer.text) for s in family.samples}


def test_metrics_need_the_ops_token() -> None:
    with MetricsServer(AuditMetrics(), TOKEN) as server:
        assert httpx.get(f"{server.base_url}/metrics").status_code == 403
        assert httpx.get(f"{server.base_url}/metrics",
                         headers={"authorization": "Bearer nope"}).status_code == 403
    with MetricsServer(AuditMetrics(), "") as server:  # no token configured: nobody
        assert httpx.get(f"{server.base_url}/metrics",
                         headers={"authorization": "Bearer x"}).status_code == 403


def test_worker_metrics_read_the_engine_the_ledger_and_the_broker(
        database_url: str, bootstrap: str, topics: object) -> None:
    apply_migrations(database_url)
    tag = uuid.uuid4().hex[:8]
    group = f"metrics-test-{tag}"
    # lag: 5 records on ops.alerts, the group committed 2 of them
    producer = Producer(producer_config(bootstrap, True))
    for i in range(5):
        producer.produce("ops.alerts", key=b"k", value=f"{tag}{i}".encode())
    assert producer.flush(10) == 0
    committer = Consumer(consumer_config(bootstrap, group, True))
    _, high = committer.get_watermark_offsets(TopicPartition("ops.alerts", 0), timeout=10, cached=False)
    committer.commit(offsets=[TopicPartition("ops.alerts", 0, high - 3)], asynchronous=False)
    committer.close()
    # unknown claims: three claimed rows with no outcome
    with psycopg.connect(database_url, autocommit=True) as conn:
        before = conn.execute("SELECT count(*) FROM send_ledger WHERE state = 'CLAIMED'").fetchone()[0]
        for i in range(3):
            conn.execute(
                "INSERT INTO send_ledger (delivery_id, advisor_id, attempt, phone_number_id, state, "
                "claim_token, claimed_at) VALUES (%s, %s, 1, 'PN1', 'CLAIMED', %s, %s)",
                (f"D{tag}{i}", f"A{tag}", uuid.uuid4(), datetime.now(UTC)))
    metrics = WorkerMetrics(database_url=database_url,
                            lag=consumer_lag(consumer_config(bootstrap, group, True)))
    metrics.watch_sender(Lanes([("PN1", 64.0, 3, "closed"), ("PN2", 80.0, 0, "open")]))
    metrics.count_results([{"phone_number_id": "PN1", "outcome": "ACCEPTED"}] * 4
                          + [{"phone_number_id": "PN2", "outcome": "FAILED"}])
    try:
        with MetricsServer(metrics, TOKEN) as server:
            got = scrape(server)
    finally:
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute("DELETE FROM send_ledger WHERE advisor_id = %s", (f"A{tag}",))
    assert got[("dawn_worker_sends_total", (("number", "PN1"), ("outcome", "ACCEPTED")))] == 4
    assert got[("dawn_worker_sends_total", (("number", "PN2"), ("outcome", "FAILED")))] == 1
    assert got[("dawn_worker_limiter_rate", (("number", "PN1"),))] == 64.0
    assert got[("dawn_worker_in_flight", (("number", "PN1"),))] == 3
    assert got[("dawn_worker_breaker_open", (("number", "PN2"), ("state", "open")))] == 1
    assert got[("dawn_worker_breaker_open", (("number", "PN1"), ("state", "closed")))] == 0
    assert got[("dawn_worker_unknown_claims", ())] == before + 3
    assert got[("dawn_worker_consumer_lag", (("topic", "ops.alerts"),))] == 3
    assert not any(name == "dawn_worker_consumer_lag" and labels != (("topic", "ops.alerts"),)
                   for name, labels in got)


@pytest.mark.parametrize(("read", "committed"), [(10, True), (0, True), (4, False)])
def test_audit_metrics_count_batches(read: int, committed: bool) -> None:
    metrics = AuditMetrics()
    metrics.batch(BatchReport(read, max(0, read - 1), 1 if read else 0, committed))
    with MetricsServer(metrics, TOKEN) as server:
        got = scrape(server)
    assert got.get(("dawn_audit_rows_total", ()), 0) == max(0, read - 1)
    batches = got.get(("dawn_audit_batches_total", (("committed", str(committed).lower()),)), 0)
    assert batches == (1 if read else 0)
