"""The dashboard outlives its broker: when the broker goes away the page is told (the view's feed
status, which the page shows as "broker unreachable: reconnecting"), and when a broker is back on
the same address the feed reconnects by itself and shows what is produced there."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from confluent_kafka import Producer

from dawn.dashboard_server import DashboardServer
from dawn.embedded.broker import EmbeddedBroker
from dawn.embedded.client_profile import producer_config
from dawn.settings import Settings
from dawn.topics import ensure_topics
from schemas.catalogue import SLA
from schemas.codec import Codec

TOKEN = "restart-test-token"
pytestmark = pytest.mark.slow


def view(dashboard: DashboardServer) -> dict[str, Any]:
    return httpx.get(f"{dashboard.base_url}/api/view",
                     headers={"authorization": f"Bearer {TOKEN}"}, timeout=5).json()


def wait_for(check: Any, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"never: {what}"
        time.sleep(0.2)


def snapshot(delivered: int) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {"run_date": date.today(), "deadline": now + timedelta(minutes=5), "taken_at": now,
            "eligible": 10, "accepted": 10, "sent": 10, "delivered": delivered,
            "delivered_by_deadline": delivered, "read": 0, "failed": 0,
            "sla_pct": delivered * 10.0, "failure_pct": 0.0, "failed_by_code": {},
            "sent_by_number": {}, "projected_miss": False}


def produce_sla(bootstrap: str, delivered: int) -> None:
    producer = Producer(producer_config(bootstrap, True))
    producer.produce(SLA.name, key=b"day", value=Codec(None).encode(SLA.name, snapshot(delivered)))
    assert producer.flush(10) == 0


def test_the_feed_says_the_broker_is_gone_and_reconnects_when_it_is_back(fresh_run_dir: Path) -> None:
    broker = EmbeddedBroker.start(fresh_run_dir)
    port = broker.port
    try:
        ensure_topics(broker.bootstrap)
        with DashboardServer(broker.bootstrap, Settings(), ops_token=TOKEN, embedded=True) as dashboard:
            produce_sla(broker.bootstrap, 3)
            wait_for(lambda: (view(dashboard)["sla"] or {}).get("delivered") == 3, "first snapshot")
            assert view(dashboard)["feed"]["connected"] is True

            broker.stop()
            wait_for(lambda: view(dashboard)["feed"]["connected"] is False, "disconnected shown")
            assert view(dashboard)["sla"]["delivered"] == 3  # the page keeps what it knew

            broker = EmbeddedBroker.start(fresh_run_dir, port=port)  # memory storage: empty again
            wait_for(lambda: view(dashboard)["feed"]["connected"] is True, "reconnected shown")
            ensure_topics(broker.bootstrap)
            produce_sla(broker.bootstrap, 7)
            wait_for(lambda: view(dashboard)["sla"]["delivered"] == 7, "a record after the restart")
            assert view(dashboard)["feed"]["reconnects"] >= 2
    finally:
        broker.stop()
