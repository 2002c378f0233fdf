"""An A/B test of two templates, end to end (issue 12): advisors are split deterministically between
two arms whose templates the sandbox reads at different rates; the worker sends over HTTP, the
webhooks come back (duplicated and reordered) through the gateway, the audit sink writes the trail
into PostgreSQL, and ``dawn templates ab-report`` names the better arm with its interval."""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import psycopg
import pytest

from consumers.audit.ab_report import ab_report
from consumers.audit.sink import AuditSink
from dawn import cli
from dawn.embedded.client_profile import consumer_config, producer_config
from dawn.embedded.stack import Stack
from dawn.gateway_server import GatewayServer
from producers.scheduler.template_choice import ab_arm
from sandbox.config import SandboxConfig, TemplateConfig, WebhookConfig
from sandbox.server import SandboxServer
from tests import sender_morning as m

pytestmark = pytest.mark.slow

N = 400
ARMS = [{"arm": "A", "template_name": "pack_arm_a", "template_language": "en", "weight": 1},
        {"arm": "B", "template_name": "pack_arm_b", "template_language": "en", "weight": 1}]
READ_RATES = {"pack_arm_a": 0.15, "pack_arm_b": 0.6}


@pytest.fixture(scope="module")
def gateway(stack: Stack, topics: list) -> Iterator[GatewayServer]:
    with m.morning_gateway(stack) as gw:
        yield gw


def test_ab_report_names_the_arm_read_more_with_its_interval(
    stack: Stack, gateway: GatewayServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = SandboxConfig(
        webhooks=WebhookConfig(callback_url=gateway.webhook_url, app_secret=m.APP_SECRET,
                               read_delay_s=(0.2, 2.0), duplicate_rate=0.2, reorder_rate=0.2),
        templates=[TemplateConfig(name=n, read_rate=r) for n, r in READ_RATES.items()])
    pack_ids: list[str] = []

    def arm_of(advisor_id: str) -> dict:
        pack_id = advisor_id.split("-")[0] + "-pack"
        pack_ids.append(pack_id)
        arm = ab_arm(ARMS, advisor_id, pack_id)
        return {"template_name": arm["template_name"], "ab_arm": arm["arm"]}

    morning = m.seed(stack.database_url, stack.kafka_bootstrap, stack.embedded_kafka, tmp_path,
                     n=N, spread_s=3.0, intent_fields=arm_of)
    sink = AuditSink(consumer_config(stack.kafka_bootstrap, f"ab-{uuid.uuid4().hex[:8]}",
                                     stack.embedded_kafka),
                     producer_config(stack.kafka_bootstrap, stack.embedded_kafka), stack.database_url,
                     batch_wait_s=0.2)
    sink_thread = threading.Thread(target=sink.run, daemon=True)  # what `dawn audit sink` runs
    sink_thread.start()
    run_date = datetime.now(m.IST).date()
    try:
        with SandboxServer(config) as sandbox:
            worker = m.start_worker(stack.kafka_bootstrap, stack.database_url, sandbox.base_url,
                                    stack.embedded_kafka, f"ab-{uuid.uuid4().hex[:8]}",
                                    tmp_path / "worker.log", {"grace_s": 8.0})
            try:
                m.wait_until_all_accepted(sandbox.base_url, morning.eligible, 120, worker)
                time.sleep(3.0)  # every read status is due within 2.5 s of delivery
                entries = [e for e in m.ledger(sandbox.base_url)["entries"]
                           if e["callback_data"] in set(morning.eligible)]
            finally:
                worker.terminate()
                worker.wait(30)
            # the outside witness: what the sandbox says each arm's advisors did
            reads = Counter(e["template"] for e in entries if e["outcome"] == "read")
            deadline = time.monotonic() + 90
            while True:
                with psycopg.connect(stack.database_url) as conn:
                    report = ab_report(conn, run_date, pack_ids[0])
                got = {a.template: a.read for a in report.arms}
                if got == dict(reads) and sum(a.delivered for a in report.arms) == N:
                    break
                assert time.monotonic() < deadline, f"audit trail never caught up: {got} vs {reads}"
                time.sleep(1.0)
    finally:
        sink.stop_event.set()
        sink_thread.join(30)

    by_arm = {a.arm: a for a in report.arms}
    assert sum(a.planned for a in report.arms) == N and by_arm["A"].planned > N / 4
    assert all(a.sent == a.delivered == a.planned for a in report.arms)
    assert report.winner is not None and report.winner.arm == "B"
    b, a = by_arm["B"], by_arm["A"]
    assert b.read_ci[0] > a.read_ci[1]  # the intervals do not overlap at these rates and sizes
    assert 0.45 < b.read_rate < 0.75 and 0.05 < a.read_rate < 0.27
    assert b.median_read_s is not None
    assert cli.main(["templates", "ab-report", run_date.isoformat(), "--pack", pack_ids[0],
                     "--database-url", stack.database_url]) == 0
    out = capsys.readouterr().out
    assert "winner: arm B (pack_arm_b)" in out and f"{b.read_rate:.1%} [{b.read_ci[0]:.1%}" in out
