"""The production compose file's worker and scheduler, as they are written there, plan and send a
morning with no ``--numbers``: the fleet comes from the WABA's number listing (the quality agent)
and the fleet file, not from flags.

Run as OS processes with the compose services' own commands and environment, with only what a
laptop has swapped in: the embedded broker (plus its client profile flag) and PostgreSQL for the
kafka and postgres services, the sandbox for the Graph API, no schema registry, and ``--now
--window`` so the scheduler does not wait for 05:59 IST. A broker and a database of its own: the
scheduler rightly plans on every number wa.numbers.health holds, and other tests publish there.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import psycopg
import pytest
import yaml

from dawn import cli
from dawn.embedded.broker import EmbeddedBroker
from dawn.embedded.client_profile import consumer_config, producer_config
from producers.intake.demo_pack import write_demo_pack
from producers.kafka_io import KafkaConfigs, read_to_end
from producers.scheduler.window import Window
from sandbox.config import SandboxConfig
from sandbox.server import SandboxServer
from schemas.catalogue import NUMBERS_HEALTH
from schemas.codec import Codec
from store import advisors
from tests.isolation import fresh_database, own_broker
from tests.quality_helpers import wait_for

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
ADVISORS = 90
WINDOW_S = 20


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedBroker]:
    with own_broker(tmp_path_factory.mktemp("compose-broker")) as running:
        yield running


@pytest.fixture(scope="module")
def compose_db(database_url: str) -> str:
    return fresh_database(database_url, "compose")


def compose_env(service: str, values: dict[str, str]) -> dict[str, str]:
    """The service's environment as compose would build it, with ``values`` for what the file
    leaves to the deployment (``${X:?...}``) or points at other services."""
    env = {}
    for name, raw in COMPOSE["services"][service]["environment"].items():
        if name in values:
            env[name] = values[name]
        elif (default := re.fullmatch(r"\$\{\w+:-(.*)\}", str(raw))) is not None:
            env[name] = default.group(1)
        elif "${" not in str(raw):
            env[name] = str(raw)
    return env


def spawn(service: str, extra: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    argv = [sys.executable, "-m", "dawn.cli", *COMPOSE["services"][service]["command"], *extra]
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DAWN_", "KAFKA_", "DATABASE_"))}
    with open(log, "ab") as out:
        return subprocess.Popen(argv, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, env={**base, **env})


async def _seed(url: str, now: datetime) -> None:
    rows = [advisors.AdvisorRow(
        advisor_id=f"cmp-{i:03d}", name=f"Advisor {i}", phone=f"9197100{i:05d}", user_id=None,
        language=("EN", "HI", "MR")[i % 3], consent_state="OPTED_IN", marketing_suppressed=False,
        sticky_sender=None) for i in range(ADVISORS)]
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await advisors.upsert_advisors(conn, rows, source="import", evidence="test", at=now)


async def test_compose_worker_and_scheduler_send_a_morning_without_numbers(
    broker: EmbeddedBroker, compose_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    now = datetime.now(UTC)
    await _seed(compose_db, now)
    run_date = Window.compressed(now, WINDOW_S).run_date()
    pack = write_demo_pack(tmp_path, run_date, approved_at=now, published_at=now)
    pack_file = tmp_path / "pack.json"
    pack_file.write_text(json.dumps({**pack, "run_date": run_date.isoformat(),
                                     "approved_at": now.isoformat()}, default=str))
    assert cli.main(["packs", "publish", str(pack_file), "--bootstrap", broker.bootstrap]) == 0

    with SandboxServer(SandboxConfig()) as sandbox:
        numbers = [n.id for n in sandbox.sandbox.config.numbers]
        fleet = tmp_path / "fleet.json"
        fleet.write_text(json.dumps({"numbers": {numbers[-1]: {"role": "SPARE"}}}))
        values = {
            "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap, "DATABASE_URL": compose_db,
            "GRAPH_API_BASE_URL": sandbox.base_url, "WHATSAPP_ACCESS_TOKEN": "t",
            "WHATSAPP_APP_SECRET": "s", "WHATSAPP_VERIFY_TOKEN": "v", "DAWN_OPS_TOKEN": "o",
            "WHATSAPP_WABA_ID": sandbox.sandbox.config.waba_id, "DAWN_FLEET_FILE": str(fleet),
            "DAWN_RUN_DIR": str(tmp_path / "run"), "DAWN_QUALITY_POLL_S": "1",
        }
        worker_env = compose_env("worker", values)
        worker_env.pop("SCHEMA_REGISTRY_URL")  # no registry here: single-object encoding
        assert "--numbers" not in COMPOSE["services"]["worker"]["command"]
        worker = spawn("worker", ["--embedded-broker"], worker_env, tmp_path / "worker.log")
        try:
            # The scheduler plans on the fleet the quality agent publishes: wait until it has.
            wait_for("the fleet", lambda: _health_count(broker.bootstrap) >= len(numbers), 90, worker)
            schedule_env = compose_env("scheduler", values)
            schedule_env.pop("SCHEMA_REGISTRY_URL")
            scheduler = spawn("scheduler", ["--now", "--window", str(WINDOW_S), "--embedded-broker"],
                              schedule_env, tmp_path / "scheduler.log")
            assert scheduler.wait(120) == 0, (tmp_path / "scheduler.log").read_text()[-3000:]
            planned = (tmp_path / "scheduler.log").read_text()
            deadline = time.monotonic() + 120
            while True:
                doc = httpx.get(f"{sandbox.base_url}/sandbox/ledger", timeout=30).json()
                ours = Counter(e["to"] for e in doc["entries"] if e["to"].startswith("9197100"))
                if len(ours) == ADVISORS or time.monotonic() > deadline:
                    break
                assert worker.poll() is None, "the worker died"
                time.sleep(0.5)
        finally:
            worker.terminate()
            worker.wait(30)
    assert len(ours) == ADVISORS and max(ours.values()) == 1, (len(ours), planned[-2000:])
    by_number = Counter(e["phone_number_id"] for e in doc["entries"] if e["to"].startswith("9197100"))
    assert set(by_number) <= set(numbers) and len(by_number) >= 2
    assert "SPARE" in planned  # the plan shows the spare and its cap

    # The operator's view of the same fleet: dawn fleet, and dawn plan on it.
    capsys.readouterr()
    assert cli.main(["fleet", "--bootstrap", broker.bootstrap, "--embedded-broker", "--json"]) == 0
    shown = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert {r["phone_number_id"]: r["role"] for r in shown} == {
        numbers[0]: "PRIMARY", numbers[1]: "PRIMARY", numbers[2]: "SPARE"}
    assert all(r["quality"] == "GREEN" and r["allowed_mps"] == 80.0 for r in shown)
    assert cli.main(["fleet", "--bootstrap", broker.bootstrap, "--embedded-broker"]) == 0
    table = capsys.readouterr().out
    assert "SPARE" in table and "portfolio tier TIER_10K" in table
    assert cli.main(["plan", "--fleet", "--advisors", "2000", "--window", "300",
                     "--bootstrap", broker.bootstrap]) == 0
    plan = capsys.readouterr().out
    assert "SPARE" in plan and "100" in plan and "TIER_10K" in plan


def _health_count(bootstrap: str) -> int:
    kafka = KafkaConfigs(producer_config(bootstrap, True), consumer_config(bootstrap, "t", True))
    return len({s.record["phone_number_id"] for s in read_to_end(kafka, NUMBERS_HEALTH.name, Codec())})
