"""The quality agent end to end: ``dawn worker --agents quality`` as its own process, the real broker,
and the sandbox's Graph API over HTTP. The fleet comes from the sandbox's WABA listing and the fleet
file; quality changes are the sandbox's own (a fault event that lowers a number's rating, seen only
by polling, as with Meta), and every playbook step shows as a record and an ops.alerts record."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from dawn.embedded.stack import Stack
from sandbox.config import SandboxConfig
from sandbox.server import SandboxServer
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
