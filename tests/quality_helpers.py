"""A fleet of its own for quality tests: sandbox numbers with ids no other test uses (the session's
broker is shared, and a STOPPED record for a common id would steer other tests' senders), a fleet
file, a ``dawn worker`` running the quality agent, and readers of wa.numbers.health / ops.alerts."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from dawn.embedded.client_profile import consumer_config, producer_config
from producers.kafka_io import KafkaConfigs, read_to_end
from sandbox.config import NumberConfig
from schemas.catalogue import ALERTS, NUMBERS_HEALTH
from schemas.codec import Codec

REPO = Path(__file__).resolve().parent.parent

#: A recovery compressed from 48 h to seconds, and a block held one second.
FAST_POLICY = {"recovery_s": 3.0, "recovery_steps": 3, "block_hold_s": 1.0, "throttle_share": 0.5}


def unique_numbers(n: int) -> list[NumberConfig]:
    base = 120000000000000 + secrets.randbelow(10**9) * 1000
    return [NumberConfig(str(base + i), f"+91 98{secrets.randbelow(10**8):08d}") for i in range(n)]


def write_fleet(path: Path, roles: dict[str, dict[str, Any]]) -> Path:
    path.write_text(json.dumps({"numbers": roles}), encoding="utf-8")
    return path


def start_quality_worker(bootstrap: str, database_url: str, graph_url: str, embedded: bool,
                         app_id: str, log_path: Path, *, waba_id: str, fleet_file: Path | None,
                         agents: str = "sla,quality", options: dict[str, Any] | None = None,
                         numbers: list[str] | None = None) -> subprocess.Popen:
    argv = [sys.executable, "-m", "dawn.cli", "worker", "--bootstrap", bootstrap,
            "--database-url", database_url, "--graph-base-url", graph_url, "--app-id", app_id,
            "--agents", agents, "--data-dir", str(log_path.parent / app_id),
            "--options", json.dumps({"quality_poll_s": 0.3, "quality_policy": FAST_POLICY,
                                     **(options or {})})]
    if numbers:
        argv += ["--numbers", ",".join(numbers)]
    if embedded:
        argv.append("--embedded-broker")
    env = {**os.environ, "DAWN_LOG_LEVEL": "WARNING", "WHATSAPP_WABA_ID": waba_id}
    if fleet_file is not None:
        env["DAWN_FLEET_FILE"] = str(fleet_file)
    with open(log_path, "ab") as log:
        return subprocess.Popen(argv, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, env=env)


class Topics:
    """Reads wa.numbers.health and ops.alerts back, filtered to this test's numbers."""

    def __init__(self, bootstrap: str, embedded: bool, numbers: list[str]) -> None:
        self.kafka = KafkaConfigs(producer_config(bootstrap, embedded),
                                  consumer_config(bootstrap, "quality-test", embedded))
        self.numbers = set(numbers)
        self.codec = Codec()

    def health(self) -> list[dict[str, Any]]:
        return [s.record for s in read_to_end(self.kafka, NUMBERS_HEALTH.name, self.codec)
                if s.record["phone_number_id"] in self.numbers]

    def latest(self) -> dict[str, dict[str, Any]]:
        return {r["phone_number_id"]: r for r in self.health()}

    def alerts(self) -> list[dict[str, Any]]:
        return [s.record for s in read_to_end(self.kafka, ALERTS.name, self.codec)
                if s.record["subject"] in self.numbers]


def wait_for(what: str, check: Callable[[], Any], timeout: float, proc: subprocess.Popen | None = None,
             every: float = 0.3) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"worker exited with {proc.returncode} while waiting for {what}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(every)


def fault(sandbox_url: str, events: list[dict[str, Any]]) -> None:
    response = httpx.post(f"{sandbox_url}/sandbox/faults", json={"events": events}, timeout=10)
    response.raise_for_status()
