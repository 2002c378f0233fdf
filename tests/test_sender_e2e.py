"""The sender end to end: real broker, real PostgreSQL, the sandbox and the gateway over real
HTTP, and ``dawn worker`` as its own OS process.

- a plain morning: every eligible delivery is accepted exactly once, never above 80 mps in any
  sliding second of arrivals, with latency jitter on (the sandbox allows no burst: zero 130429 and
  a peak <= 80 in its own ledger), advisors without consent are never sent to;
- the SIGKILL morning (issue 4): the worker is killed mid-morning, with accept-then-timeout faults
  on, and started again; every eligible advisor still ends with exactly one accepted message.
"""

from __future__ import annotations

import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from dawn.embedded.stack import Stack
from dawn.gateway_server import GatewayServer
from sandbox.config import FaultConfig, SandboxConfig, WebhookConfig
from sandbox.server import SandboxServer
from tests import sender_morning as m

pytestmark = pytest.mark.slow

#: Longer than the sandbox's "sent" webhook (<= 0.5 s) plus gateway and reconcile lag.
GRACE_S = 8.0


@pytest.fixture(scope="module")
def gateway(stack: Stack, topics: list) -> Iterator[GatewayServer]:
    with m.morning_gateway(stack, record_refusals=True) as gw:
        yield gw


def _sandbox(gateway: GatewayServer, faults: FaultConfig) -> SandboxServer:
    config = SandboxConfig(
        webhooks=WebhookConfig(callback_url=gateway.webhook_url, app_secret=m.APP_SECRET),
        faults=faults)
    return SandboxServer(config)


def test_every_intent_is_accepted_exactly_once_without_throttling(
    stack: Stack, gateway: GatewayServer, tmp_path: Path
) -> None:
    morning = m.seed(stack.database_url, stack.kafka_bootstrap, stack.embedded_kafka, tmp_path,
                     n=600, ineligible=12)
    faults = FaultConfig(latency_median_ms=100.0, latency_p99_ms=300.0)
    with _sandbox(gateway, faults) as sandbox:
        worker = m.start_worker(stack.kafka_bootstrap, stack.database_url, sandbox.base_url,
                                stack.embedded_kafka, f"e2e-{uuid.uuid4().hex[:8]}",
                                tmp_path / "worker.log", {"grace_s": GRACE_S})
        try:
            doc = m.wait_until_all_accepted(sandbox.base_url, morning.eligible, 180, worker)
            time.sleep(1.0)  # a late duplicate would show by now
            doc = m.ledger(sandbox.base_url)
        finally:
            worker.terminate()
            worker.wait(30)
    accepted = m.accepted_per_delivery(doc, morning.all)
    assert set(accepted) == set(morning.eligible)
    assert max(accepted.values()) == 1
    assert doc["throttled_130429"] == 0
    assert all(peak <= 80 for peak in doc["peak_mps"].values()), doc["peak_mps"]
    states = m.ledger_states(stack.database_url, morning.all)
    assert states == {"ACCEPTED": len(morning.eligible)}


def test_sigkill_mid_morning_still_sends_each_advisor_exactly_once(
    stack: Stack, gateway: GatewayServer, tmp_path: Path
) -> None:
    morning = m.seed(stack.database_url, stack.kafka_bootstrap, stack.embedded_kafka, tmp_path,
                     n=1200, spread_s=4.0)
    faults = FaultConfig(latency_median_ms=100.0, latency_p99_ms=300.0,
                         accept_then_timeout_rate=0.02, timeout_hold_s=1.0)
    app_id = f"kill-{uuid.uuid4().hex[:8]}"
    log = tmp_path / "worker.log"
    options = {"grace_s": GRACE_S}
    with _sandbox(gateway, faults) as sandbox:
        first = m.start_worker(stack.kafka_bootstrap, stack.database_url, sandbox.base_url,
                               stack.embedded_kafka, app_id, log, options)
        try:
            deadline = time.monotonic() + 120
            while len(m.accepted_per_delivery(m.ledger(sandbox.base_url), morning.eligible)) < 400:
                assert time.monotonic() < deadline, "the first worker never got going"
                assert first.poll() is None, "the first worker died on its own"
                time.sleep(0.2)
            first.send_signal(signal.SIGKILL)
            first.wait(10)
            killed_at = len(m.accepted_per_delivery(m.ledger(sandbox.base_url), morning.eligible))
            second = m.start_worker(stack.kafka_bootstrap, stack.database_url, sandbox.base_url,
                                    stack.embedded_kafka, app_id, log, options)
            try:
                m.wait_until_all_accepted(sandbox.base_url, morning.eligible, 240, second)
                time.sleep(GRACE_S + 2)  # past every grace: a wrongful resend would show now
                doc = m.ledger(sandbox.base_url)
            finally:
                second.terminate()
                second.wait(30)
        finally:
            if first.poll() is None:
                first.kill()
    accepted = m.accepted_per_delivery(doc, morning.eligible)
    assert killed_at < len(morning.eligible), "the kill came after the morning was over"
    assert set(accepted) == set(morning.eligible)
    doubles = [d for d, n in accepted.items() if n > 1]
    assert not doubles, f"{len(doubles)} advisors got the pack twice: {doubles[:5]}"
    assert doc["faults"].get("accept_then_timeout", 0) > 0
    assert doc["throttled_130429"] == 0
    assert all(peak <= 80 for peak in doc["peak_mps"].values()), doc["peak_mps"]
