"""A small morning for the sender's end-to-end tests and benchmarks: advisors, a pack image,
intents on the real broker, the sandbox and gateway over real HTTP, and worker processes.

Every morning gets its own id prefix, image and consumer group, so tests sharing the session's
broker and database never see each other's deliveries; assertions filter the sandbox ledger by
the morning's delivery ids.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import psycopg
from confluent_kafka import Producer

from dawn.embedded.client_profile import producer_config
from dawn.embedded.stack import Stack
from dawn.gateway_server import GatewayServer
from dawn.settings import Secret
from producers.gateway.config import GatewayConfig
from schemas.catalogue import INTENTS
from schemas.codec import Codec
from store.migrations import apply_migrations

REPO = Path(__file__).resolve().parent.parent
IST = ZoneInfo("Asia/Kolkata")
#: The sandbox's default numbers.
NUMBERS = ("110000000000001", "110000000000002", "110000000000003")
APP_SECRET = "sender-e2e-secret"


@dataclass
class Morning:
    prefix: str
    eligible: list[str]  # delivery ids that must each be accepted exactly once
    ineligible: list[str]  # delivery ids of advisors without consent: never sent

    @property
    def all(self) -> list[str]:
        return self.eligible + self.ineligible


def seed(database_url: str, bootstrap: str, embedded: bool, image_dir: Path, *, n: int,
         numbers: tuple[str, ...] = NUMBERS, ineligible: int = 0, spread_s: float = 2.0,
         deadline_s: float = 300.0,
         intent_fields: dict[str, Any] | Callable[[str], dict[str, Any]] | None = None) -> Morning:
    """Advisors (``ineligible`` of them without consent), the pack image, and one intent each,
    on a fresh day (:func:`fresh_day`) (``intent_fields`` overrides or adds intent fields, e.g. the
    template and its backups; a function of the advisor id gives each advisor's own)."""
    fresh_day(database_url, numbers)
    prefix = f"m{secrets.token_hex(4)}"
    image = image_dir / f"{prefix}.jpg"
    image.write_bytes(b"\xff\xd8\xff\xe0" + secrets.token_bytes(256))
    sha = hashlib.sha256(image.read_bytes()).hexdigest()
    total = n + ineligible
    base = secrets.randbelow(10**6) * 10**4
    advisors = [(f"{prefix}-a{i}", f"91{7000000000 + base + i}", "OPTED_IN" if i < n else "NONE")
                for i in range(total)]
    with psycopg.connect(database_url, autocommit=True) as conn, conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO advisors (advisor_id, name, phone, language, consent_state)"
            " VALUES (%s, 'Asha', %s, 'EN', %s)", advisors)
        cur.execute("INSERT INTO pack_media (image_sha256, image_url, mime_type) VALUES (%s, %s,"
                    " 'image/jpeg')", (sha, image.as_uri()))
    now = datetime.now(UTC)
    codec = Codec()
    producer = Producer(producer_config(bootstrap, embedded))
    ids = []
    for i, (advisor_id, phone, _consent) in enumerate(advisors):
        number = numbers[i % len(numbers)]
        delivery_id = f"{prefix}-d{i}"
        ids.append(delivery_id)
        intent = {
            "delivery_id": delivery_id, "run_date": now.astimezone(IST).date(),
            "advisor_id": advisor_id, "phone": phone, "user_id": None, "pack_id": f"{prefix}-pack",
            "approval_id": "appr-1", "language": "EN", "template_name": "daily_pack_v1",
            "template_language": "en", "image_sha256": sha, "params": {"advisor_name": "Asha"},
            "phone_number_id": number, "send_at": now + timedelta(seconds=spread_s * i / total),
            "deadline": now + timedelta(seconds=deadline_s), "attempt": 1, "last_error_code": None,
            "created_at": now,
            **(intent_fields(advisor_id) if callable(intent_fields) else intent_fields or {}),
        }
        producer.produce(INTENTS.name, key=number.encode(), value=codec.encode(INTENTS.name, intent))
        producer.poll(0)
    assert producer.flush(60) == 0
    return Morning(prefix, ids[:n], ids[n:])


def fresh_day(database_url: str, numbers: tuple[str, ...] = NUMBERS,
              templates: tuple[str, ...] = ("daily_pack_v1",)) -> None:
    """Forget the evidence earlier mornings of this test session left for the sandbox's numbers
    and template (webhook lag, "sent" delays, pacing, lowered rates): each test is a morning of
    its own, as if on a new day."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("DELETE FROM webhook_watermark WHERE phone_number_id = ANY(%s)", (list(numbers),))
        conn.execute("DELETE FROM webhook_backlog WHERE phone_number_id = ANY(%s)", (list(numbers),))
        conn.execute("DELETE FROM number_pace WHERE phone_number_id = ANY(%s)", (list(numbers),))
        conn.execute("DELETE FROM template_pacing WHERE template_name = ANY(%s)", (list(templates),))


def start_worker(bootstrap: str, database_url: str, graph_url: str, embedded: bool, app_id: str,
                 log_path: Path, options: dict[str, Any] | None = None,
                 agents: str = "sender,reconcile", name: str | None = None) -> subprocess.Popen:
    """``dawn worker`` as its own OS process (so a test can SIGKILL it); ``name`` (default the
    app id) names its data directory, for two workers of one app."""
    argv = [sys.executable, "-m", "dawn.cli", "worker", "--bootstrap", bootstrap,
            "--database-url", database_url, "--graph-base-url", graph_url, "--app-id", app_id,
            "--agents", agents, "--numbers", ",".join(NUMBERS),
            "--options", json.dumps(options or {}), "--data-dir", str(log_path.parent / (name or app_id))]
    if embedded:
        argv.append("--embedded-broker")
    with open(log_path, "ab") as log:
        return subprocess.Popen(argv, cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                                env={**os.environ, "DAWN_LOG_LEVEL": "WARNING"})


def ledger(sandbox_url: str, entries: bool = True) -> dict[str, Any]:
    return httpx.get(f"{sandbox_url}/sandbox/ledger", params={"entries": int(entries)}, timeout=30).json()


def accepted_per_delivery(doc: dict[str, Any], delivery_ids: list[str]) -> Counter[str]:
    wanted = set(delivery_ids)
    return Counter(e["callback_data"] for e in doc["entries"] if e["callback_data"] in wanted)


def wait_until_all_accepted(sandbox_url: str, delivery_ids: list[str], timeout: float,
                            proc: subprocess.Popen | None = None) -> dict[str, Any]:
    """Polls the cheap counters and reads the entries only when they could be complete: listing
    thousands of entries costs the sandbox CPU that a rate measurement must not lose."""
    deadline = time.monotonic() + timeout
    while True:
        if ledger(sandbox_url, entries=False)["accepted"] >= len(delivery_ids):
            doc = ledger(sandbox_url)
            done = len(accepted_per_delivery(doc, delivery_ids))
            if done == len(delivery_ids):
                return doc
        else:
            done = -1
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"worker exited with {proc.returncode}")
        if time.monotonic() > deadline:
            raise AssertionError(f"not every one of {len(delivery_ids)} deliveries was accepted"
                                 f" ({done if done >= 0 else 'fewer'} were)")
        time.sleep(0.5)


def ledger_states(database_url: str, delivery_ids: list[str]) -> Counter[str]:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute("SELECT state FROM send_ledger WHERE delivery_id = ANY(%s)",
                            (delivery_ids,)).fetchall()
    return Counter(r[0] for r in rows)


@contextmanager
def morning_gateway(stack: Stack, *, record_refusals: bool = False) -> Iterator[GatewayServer]:
    """The webhook gateway a test morning's sandbox calls back: signed with APP_SECRET, writing to
    the session broker; with ``record_refusals`` it records refused statuses in PostgreSQL as
    ``dawn run``'s does (off by default: a refusal left pending by one test's gateway would hold
    the resends of another test using the same numbers)."""
    apply_migrations(stack.database_url)
    config = GatewayConfig(app_secret=Secret(APP_SECRET), verify_token=Secret("v"),
                           ops_token=Secret("o"),
                           kafka=producer_config(stack.kafka_bootstrap, stack.embedded_kafka),
                           database_url=stack.database_url if record_refusals else None)
    with GatewayServer(config) as gw:
        yield gw
