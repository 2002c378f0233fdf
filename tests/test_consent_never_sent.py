"""No send ever reaches an advisor without opt-in: random consent histories, checked against what
the sandbox Graph API actually received.

Per example: a morning's intents are queued in Kafka for every advisor (all opted in at first),
then each advisor lives through a random consent history (STOP/START/PAUSE/RESUME as text in EN,
HI, MR or as buttons, marketing preference webhooks, 131050 failures, re-imports), applied by the
consent agent's processing function; only then does a ``dawn worker`` sender process start. The
sandbox's ledger must show exactly one accepted message for each advisor the model says is
sendable, and none for anyone else: intents already queued do not outlive a STOP.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from dawn.embedded.client_profile import consumer_config
from dawn.embedded.stack import Stack
from sandbox.config import SandboxConfig
from sandbox.server import SandboxServer
from schemas.codec import Codec
from store import advisors
from store.migrations import apply_migrations
from streams.consent.processor import ConsentProcessor, open_pool
from tests import sender_morning as m
from tests.consent_oracle import COMMANDS, after, dress, readme_phrases

pytestmark = pytest.mark.slow

CODEC = Codec()
ADVISORS = 30
GRACE_S = 8.0

phrase = st.builds(lambda cp, upper, polite: (cp[0], dress(cp[1], upper=upper, punctuation="!",
                                                           polite=polite, spaces=1)),
                   st.sampled_from([(c, p) for c, ps in readme_phrases().items() for p in ps]),
                   st.booleans(), st.booleans())
event = st.one_of(
    st.tuples(st.just("text"), phrase),
    st.tuples(st.just("button"), st.sampled_from(COMMANDS)),
    st.tuples(st.just("prefs"), st.sampled_from(["stop", "resume"])),
    st.tuples(st.just("131050"), st.none()),
    st.tuples(st.just("import"), st.sampled_from(["NONE", "OPTED_IN", "PAUSED", "STOPPED"])),
)


# Each example starts a worker process (~12 s): no shrinking, and a failure prints its histories.
# Thirty advisors per example, each with a history of its own, so three examples check 90.
@settings(max_examples=3, deadline=None, phases=[Phase.explicit, Phase.reuse, Phase.generate],
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(histories=st.lists(st.lists(event, min_size=1, max_size=6), min_size=ADVISORS, max_size=ADVISORS))
def test_queued_intents_reach_only_advisors_with_consent(
        stack: Stack, topics: list, tmp_path: Path, histories: list[list[tuple[str, Any]]]) -> None:
    apply_migrations(stack.database_url)
    morning = m.seed(stack.database_url, stack.kafka_bootstrap, stack.embedded_kafka, tmp_path,
                     n=ADVISORS, spread_s=1.0)
    expected = asyncio.run(_live_through(stack.database_url, morning.prefix, histories))
    expected_deliveries = [f"{morning.prefix}-d{i}" for i in sorted(expected)]
    with SandboxServer(SandboxConfig()) as sandbox:
        worker = m.start_worker(stack.kafka_bootstrap, stack.database_url, sandbox.base_url,
                                stack.embedded_kafka, f"consent-e2e-{uuid.uuid4().hex[:8]}",
                                tmp_path / "worker.log", {"grace_s": GRACE_S})
        try:
            m.wait_until_all_accepted(sandbox.base_url, expected_deliveries, 120, worker)
            results = _results(stack, morning.all, worker)
            time.sleep(1.0)  # a late wrongful send would show by now
            doc = m.ledger(sandbox.base_url)
        finally:
            worker.terminate()
            worker.wait(30)
    accepted = m.accepted_per_delivery(doc, morning.all)
    assert set(accepted) == set(expected_deliveries), (histories, sorted(accepted))
    assert max(accepted.values(), default=1) == 1
    refused = {d for d, r in results.items()
               if r["outcome"] == "SKIPPED" and r["error_detail"] == "no consent"}
    assert refused == set(morning.all) - set(expected_deliveries)


def _results(stack: Stack, deliveries: list[str], worker: Any) -> dict[str, dict[str, Any]]:
    """The sender's result for every delivery: proof it looked at each intent, refused ones too."""
    wanted, out = set(deliveries), {}
    consumer = Consumer(consumer_config(stack.kafka_bootstrap, f"consent-e2e-read-{uuid.uuid4().hex[:8]}",
                                        stack.embedded_kafka))
    consumer.subscribe(["wa.send.results"])
    try:
        for _ in range(600):
            for message in consumer.consume(500, 0.2):
                if not message.error():
                    result = CODEC.decode("wa.send.results", message.value())
                    if result["delivery_id"] in wanted:
                        out[result["delivery_id"]] = result
            if len(out) == len(wanted):
                return out
            assert worker.poll() is None
    finally:
        consumer.close()
    raise AssertionError(f"the sender decided on {len(out)} of {len(wanted)} intents")


async def _live_through(database_url: str, prefix: str, histories: list[list[tuple[str, Any]]]) -> set[int]:
    """Apply every advisor's history; the indexes of advisors the model says may be sent to."""
    sent: list[tuple[str, str, str]] = []

    async def send_text(number: str, to: str, body: str) -> None:
        sent.append((number, to, body))

    pool = await open_pool(database_url)
    try:
        processor = ConsentProcessor(pool, CODEC, send_text)
        async with pool.connection() as conn:
            rows = {r.advisor_id: r for r in [await advisors.get_advisor(conn, f"{prefix}-a{i}")
                                              for i in range(ADVISORS)] if r}
        sendable = set()
        at = datetime.now(UTC)
        for i, history in enumerate(histories):
            row = rows[f"{prefix}-a{i}"]
            consent, suppressed = row.consent_state, False
            for n, (kind, arg) in enumerate(history):
                at += timedelta(seconds=1)
                if kind == "import":
                    async with pool.connection() as conn:
                        await advisors.upsert_advisors(
                            conn, [advisors.AdvisorRow(row.advisor_id, row.name, row.phone, None, "EN", arg,
                                                       False, None)],
                            source="import", evidence="t", at=at)
                    consent = arg
                    continue
                topic, record = _event(prefix, i, n, kind, arg, row, at)
                await processor.handle(topic, None, CODEC.encode(topic, record))
                if kind in ("text", "button"):
                    consent = after(consent, arg[0] if kind == "text" else arg)
                else:
                    suppressed = kind == "131050" or arg == "stop"
            if consent == "OPTED_IN" and not suppressed:
                sendable.add(i)
        async with pool.connection() as conn:
            assert await advisors.sendable(conn, rows) == {f"{prefix}-a{i}" for i in sendable}
        return sendable
    finally:
        await pool.close()


def _event(prefix: str, i: int, n: int, kind: str, arg: Any, row: advisors.AdvisorRow,
           at: datetime) -> tuple[str, dict[str, Any]]:
    if kind in ("text", "button"):
        return "wa.inbound.messages", {
            "event_id": f"wamid.{prefix}.{i}.{n}", "waba_id": "W", "phone_number_id": m.NUMBERS[0],
            "from_wa_id": row.phone, "from_user_id": None, "profile_name": None,
            "type": kind, "text": arg[1] if kind == "text" else "tap", "context_wamid": None,
            "button_payload": None if kind == "text" else f"DAWN_{arg}",
            "timestamp": at, "received_at": at,
        }
    if kind == "prefs":
        return "wa.account.events", {
            "event_id": f"pref.{prefix}.{i}.{n}", "waba_id": "W", "field": "user_preferences",
            "event": arg, "phone_number_id": None, "template_id": None, "template_name": None,
            "template_language": None, "subject_wa_id": row.phone, "subject_user_id": None,
            "reason": None, "raw_json": "{}", "timestamp": at,
        }
    return "wa.send.results", {
        "delivery_id": f"{prefix}-old{i}.{n}", "attempt": 1, "run_date": at.date(),
        "advisor_id": row.advisor_id, "phone_number_id": m.NUMBERS[0], "outcome": "FAILED",
        "wamid": None, "wa_id": row.phone, "error_code": 131050, "error_detail": None,
        "action": None, "latency_ms": 1, "template_name": "daily_pack_v1", "sent_at": at,
    }
