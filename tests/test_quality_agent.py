"""The quality agent end to end: ``dawn worker --agents quality`` as its own process, the real broker,
and the sandbox's Graph API over HTTP. The fleet comes from the sandbox's WABA listing and the fleet
file; quality changes are the sandbox's own (a fault event that lowers a number's rating, seen only
by polling, as with Meta), and every playbook step shows as a record and an ops.alerts record."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest

from dawn.embedded.stack import Stack
from sandbox.config import FaultConfig, QualityModelConfig, SandboxConfig
from sandbox.server import SandboxServer
from tests import sender_morning as m
from tests.quality_helpers import (
    Topics,
    fault,
    start_quality_worker,
    unique_numbers,
    wait_for,
    write_fleet,
)

pytestmark = pytest.mark.slow


def test_fleet_from_meta_then_throttle_stop_and_recovery_with_alerts(
    stack: Stack, topics: list, tmp_path: Path
) -> None:
    numbers = unique_numbers(3)
    a, b, spare = (n.id for n in numbers)
    waba = f"9{uuid.uuid4().int % 10**14:014d}"
    fleet = write_fleet(tmp_path / "fleet.json", {spare: {"role": "SPARE"}})
    read = Topics(stack.kafka_bootstrap, stack.embedded_kafka, [a, b, spare])
    with SandboxServer(SandboxConfig(waba_id=waba, numbers=numbers)) as sandbox:
        worker = start_quality_worker(stack.kafka_bootstrap, stack.database_url, sandbox.base_url,
                                      stack.embedded_kafka, f"q-{uuid.uuid4().hex[:8]}",
                                      tmp_path / "worker.log", waba_id=waba, fleet_file=fleet)
        try:
            fleet_seen = wait_for("the fleet", lambda: len(seen := read.latest()) == 3 and seen, 60,
                                  worker)
            assert {n: r["role"] for n, r in fleet_seen.items()} == {a: "PRIMARY", b: "PRIMARY",
                                                                      spare: "SPARE"}
            assert fleet_seen[a]["allowed_mps"] == 80.0 and fleet_seen[a]["quality"] == "GREEN"

            fault(sandbox.base_url, [{"after_s": 0, "kind": "number_quality", "target": b,
                                      "value": "YELLOW"}])
            wait_for("the throttle", lambda: read.latest()[b]["allowed_mps"] == 40.0, 20, worker)
            wait_for("the spare promoted", lambda: read.latest()[spare]["role"] == "PRIMARY", 10, worker)

            fault(sandbox.base_url, [{"after_s": 0, "kind": "number_quality", "target": b, "value": "RED"}])
            wait_for("the stop", lambda: read.latest()[b]["role"] == "STOPPED", 10, worker)
            assert read.latest()[b]["allowed_mps"] == 0

            fault(sandbox.base_url, [{"after_s": 0, "kind": "number_quality", "target": b,
                                      "value": "GREEN"}])
            wait_for("the full rate again", lambda: read.latest()[b]["allowed_mps"] == 80.0, 30, worker)
            wait_for("the spare released", lambda: read.latest()[spare]["role"] == "SPARE", 10, worker)
        finally:
            worker.terminate()
            worker.wait(30)
    # The unwind went up in steps: every rate b was allowed after the stop, in order.
    rates = [r["allowed_mps"] for r in read.health() if r["phone_number_id"] == b]
    after_stop = rates[rates.index(0.0):]
    assert after_stop == sorted(after_stop) and len(set(after_stop)) >= 4, after_stop
    kinds = [(x["kind"], x["subject"]) for x in read.alerts()]
    for expected in [("number_throttled", b), ("conservative_template", b), ("spare_promoted", spare),
                     ("number_stopped", b), ("number_recovering", b), ("number_recovered", b),
                     ("spare_released", spare)]:
        assert expected in kinds, (expected, kinds)
    assert kinds.count(("number_stopped", b)) == 1  # polled many times, alerted once


def test_quality_falling_by_blocks_alone_throttles_warms_the_spare_and_recovers(
    stack: Stack, topics: list, tmp_path: Path
) -> None:
    """No quality event is injected: recipients block 10 % of the template's sends, the sandbox's
    ratings follow, and the fleet steers by what the Graph API shows; then they stop blocking."""
    numbers = unique_numbers(3)
    a, b, spare = (n.id for n in numbers)
    waba = f"9{uuid.uuid4().int % 10**14:014d}"
    fleet = write_fleet(tmp_path / "fleet.json", {spare: {"role": "SPARE"}})
    read = Topics(stack.kafka_bootstrap, stack.embedded_kafka, [a, b, spare])
    config = SandboxConfig(
        waba_id=waba, numbers=numbers,
        faults=FaultConfig(block_rate_by_template={"daily_pack_v1": 0.1}),
        quality=QualityModelConfig(window_s=4.0, min_sends=20, yellow_at=0.04, red_at=0.5))
    with SandboxServer(config) as sandbox:
        worker = start_quality_worker(stack.kafka_bootstrap, stack.database_url, sandbox.base_url,
                                      stack.embedded_kafka, f"qb-{uuid.uuid4().hex[:8]}",
                                      tmp_path / "worker.log", waba_id=waba, fleet_file=fleet,
                                      agents="sender,reconcile,quality", numbers=[a, b, spare])
        try:
            wait_for("the fleet", lambda: len(read.latest()) == 3, 60, worker)
            morning = m.seed(stack.database_url, stack.kafka_bootstrap, stack.embedded_kafka,
                             tmp_path, n=500, numbers=(a, b), spread_s=25.0)
            wait_for("a throttle", lambda: any(r["allowed_mps"] == 40.0 for r in read.latest().values()),
                     60, worker)
            wait_for("the spare promoted", lambda: read.latest()[spare]["role"] == "PRIMARY", 10, worker)
            httpx.post(f"{sandbox.base_url}/sandbox/faults", json={"block_rate_by_template": {}},
                       timeout=10).raise_for_status()
            wait_for("the full rate again", lambda: all(
                r["allowed_mps"] == 80.0 and r["quality"] == "GREEN" and r["role"] != "STOPPED"
                for n, r in read.latest().items() if n != spare), 60, worker)
            wait_for("the spare released", lambda: read.latest()[spare]["role"] == "SPARE", 15, worker)
            doc = m.wait_until_all_accepted(sandbox.base_url, morning.eligible, 120, worker)
        finally:
            worker.terminate()
            worker.wait(30)
    assert doc["blocks"] > 0
    alerts = read.alerts()
    kinds = {(x["kind"], x["subject"]) for x in alerts}
    throttled = {s for k, s in kinds if k == "number_throttled"}
    assert throttled and throttled <= {a, b}
    for number in throttled:
        for kind in ("conservative_template", "number_recovering", "number_recovered"):
            assert (kind, number) in kinds, (kind, number, kinds)
    assert ("spare_promoted", spare) in kinds and ("spare_released", spare) in kinds
    assert not any(k == "number_stopped" for k, _ in kinds)
