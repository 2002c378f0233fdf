"""The templates agent's poller (issue 12): with every webhook lost (the sandbox has no callback),
the agent still learns each template from ``GET /{waba}/message_templates``, sees a pause, and
raises the alert once."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import httpx
import psycopg
import pytest

from dawn.embedded.client_profile import consumer_config, producer_config
from dawn.embedded.stack import Stack
from producers.kafka_io import KafkaConfigs, read_to_end
from sandbox.config import SandboxConfig, TemplateConfig
from sandbox.server import SandboxServer
from schemas.catalogue import ALERTS, TEMPLATES
from schemas.codec import Codec
from store.migrations import apply_migrations
from tests import sender_morning as m

pytestmark = pytest.mark.slow


def _states(database_url: str, name: str) -> dict[str, str]:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute("SELECT language, status FROM template_states WHERE name = %s",
                            (name,)).fetchall()
    return dict(rows)


def _wait(check, what: str, timeout: float = 40) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.3)


@pytest.mark.usefixtures("topics")
def test_the_poller_finds_templates_and_a_pause_no_webhook_told(stack: Stack, tmp_path: Path) -> None:
    apply_migrations(stack.database_url)
    name = f"polled_{uuid.uuid4().hex[:8]}"
    config = SandboxConfig(templates=[TemplateConfig(name=name, quality="GREEN")])
    with SandboxServer(config) as sandbox:
        worker = m.start_worker(stack.kafka_bootstrap, stack.database_url, sandbox.base_url,
                                stack.embedded_kafka, f"poll-{uuid.uuid4().hex[:8]}",
                                tmp_path / "worker.log",
                                {"waba_id": config.waba_id, "templates_poll_s": 1.0}, agents="templates")
        try:
            _wait(lambda: _states(stack.database_url, name) == dict.fromkeys(("en", "hi", "mr"), "APPROVED"),
                  "the poller never listed the templates")
            httpx.post(f"{sandbox.base_url}/sandbox/faults", timeout=10, json={
                "events": [{"kind": "template_pause", "target": name, "language": "hi"}]},
            ).raise_for_status()
            _wait(lambda: _states(stack.database_url, name).get("hi") == "PAUSED", "no pause seen")
            time.sleep(2.5)  # two more polls: the alert must not repeat
        finally:
            worker.terminate()
            worker.wait(30)
    assert _states(stack.database_url, name) == {"en": "APPROVED", "hi": "PAUSED", "mr": "APPROVED"}
    kafka = KafkaConfigs(producer_config(stack.kafka_bootstrap, stack.embedded_kafka),
                         consumer_config(stack.kafka_bootstrap, "poller-test", stack.embedded_kafka))
    alerts = [s.record for s in read_to_end(kafka, ALERTS.name, Codec())
              if s.record["subject"] == f"{name}:hi"]
    assert sorted(a["kind"] for a in alerts) == ["template_paused", "template_quality_red"]
    states = [s.record for s in read_to_end(kafka, TEMPLATES.name, Codec())
              if s.record["name"] == name and s.record["language"] == "hi"]
    assert states[-1]["status"] == "PAUSED" and states[-1]["quality"] == "RED"
    assert states[-1]["paced"] is False  # paused: not sendable, so not "paced"
    with psycopg.connect(stack.database_url, autocommit=True) as conn:
        conn.execute("DELETE FROM template_states WHERE name = %s", (name,))
