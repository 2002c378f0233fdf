"""The audit sink against the real embedded broker and PostgreSQL."""

from __future__ import annotations

import base64
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path

import psycopg
import pytest
from confluent_kafka import Producer

from consumers.audit.queries import day_summary, export_day, timeline
from consumers.audit.rows import audit_row
from consumers.audit.sink import AuditSink
from consumers.audit.writer import AuditWriter
from dawn.cli import main
from dawn.embedded.client_profile import consumer_config, producer_config
from dawn.embedded.postgres import EmbeddedPostgres
from schemas.codec import Codec
from store.migrations import apply_migrations
from tests.audit_morning import Record, morning, produce

pytestmark = pytest.mark.slow

CODEC = Codec()
GARBAGE = b"\xc3\x01not-avro-at-all"


def expected_ids(records: list[Record]) -> set[str]:
    """The ids of the records as the sink reads them back: decoded, so fields the morning left
    out carry their schema defaults (a compacted topic's snapshot id hashes the whole record)."""
    return {audit_row(topic, CODEC.decode(topic, CODEC.encode(topic, record)))[0]
            for topic, _, record in records}


def count_ids(database_url: str, ids: set[str]) -> int:
    with psycopg.connect(database_url) as conn:
        return conn.execute("SELECT count(*) FROM audit_events WHERE event_id = ANY(%s)",
                            (list(ids),)).fetchone()[0]


def drain(sink: AuditSink, done: Callable[[], bool], max_batches: int = 200) -> None:
    """Step the sink until ``done`` (a bound on batches, not on time, ends a stuck test)."""
    for _ in range(max_batches):
        sink.step()
        if done():
            return
    raise AssertionError("the sink did not catch up")


@pytest.fixture(scope="module")
def producer(bootstrap: str, stack) -> Producer:
    return Producer(producer_config(bootstrap, stack.embedded_kafka))


def new_sink(bootstrap: str, database_url: str, stack, **kw) -> AuditSink:
    sink = AuditSink(consumer_config(bootstrap, f"audit-test-{uuid.uuid4().hex[:8]}", stack.embedded_kafka),
                     producer_config(bootstrap, stack.embedded_kafka), database_url,
                     batch_wait_s=0.2, **kw)
    sink.start()
    return sink


def test_morning_lands_once_replay_adds_nothing_and_timeline_is_ordered(
        bootstrap, database_url, stack, topics, producer, tmp_path: Path) -> None:
    run_date = date(2026, 11, 23)
    tag, records = morning(run_date)
    produce(producer, CODEC, records)
    producer.produce("wa.status.events", key=b"PNbad", value=GARBAGE + tag.encode())
    producer.flush(30)
    ids = expected_ids(records)
    assert len(ids) < len(records)  # the duplicated webhook shares its id

    sink = new_sink(bootstrap, database_url, stack)
    try:
        drain(sink, lambda: count_ids(database_url, ids) == len(ids) and _rejects(database_url, tag))
        drain(sink, lambda: _dead_letters(database_url, tag) == 1)
    finally:
        sink.close()
    assert count_ids(database_url, ids) == len(ids)

    before = _tagged(database_url, tag)
    assert before == len(ids)
    replay = new_sink(bootstrap, database_url, stack)  # a new group reads every topic from 0
    try:
        _drain_all(replay)
    finally:
        replay.close()
    assert _tagged(database_url, tag) == before
    assert _rejects(database_url, tag) == 1
    assert _dead_letters(database_url, tag) == 1
    with psycopg.connect(database_url) as conn:
        steps = timeline(conn, f"A{tag}3", run_date)
        summary = day_summary(conn, run_date)
    kinds = [(s["record_type"], s["status"], s["attempt"]) for s in steps]
    assert kinds == [
        ("DeliveryIntent", "QUEUED", 1), ("SendResult", "RETRYING", 1),
        ("DeliveryIntent", "QUEUED", 2), ("SendResult", "ACCEPTED", 2),
        ("StatusEvent", "SENT", None), ("StatusEvent", "DELIVERED", None),
        ("StatusEvent", "READ", None), ("DeliveryState", "READ", 2),
    ]
    assert [s["occurred_at"] for s in steps] == sorted(s["occurred_at"] for s in steps)
    by_state = {r["state"]: r["deliveries"] for r in summary["by_state"]}
    assert by_state == {"READ": 3, "FAILED": 1}
    failures = {r["error_code"]: r["failures"] for r in summary["failures"]}
    assert failures == {131049: 1, 131000: 1}
    with psycopg.connect(database_url) as conn:
        exported = export_day(conn, run_date, tmp_path / "day.csv")
    lines = (tmp_path / "day.csv").read_text().splitlines()
    assert exported == 4 and len(lines) == 5
    assert "approval_id" in lines[0] and all(f"APR-{tag}" in line for line in lines[1:])

    for argv in (["audit", "advisor", f"A{tag}3", "--date", run_date.isoformat()],
                 ["audit", "day", run_date.isoformat()],
                 ["audit", "export", run_date.isoformat(), "--csv", str(tmp_path / "cli.csv")],
                 ["audit", "retention", "--dry-run"]):
        assert main([*argv, "--database-url", database_url]) == 0, argv
    assert (tmp_path / "cli.csv").read_text() == (tmp_path / "day.csv").read_text()


def _drain_all(sink: AuditSink) -> None:
    """Step until the sink has read something and then found nothing three times running."""
    seen, idle = False, 0
    for _ in range(300):
        read = sink.step().read
        seen = seen or read > 0
        idle = idle + 1 if read == 0 else 0
        if seen and idle >= 3:
            return
    raise AssertionError("the replay did not finish")


def _tagged(database_url: str, tag: str) -> int:
    with psycopg.connect(database_url) as conn:
        return conn.execute("SELECT count(*) FROM audit_events WHERE record::text LIKE %s",
                            (f"%{tag}%",)).fetchone()[0]


def _rejects(database_url: str, tag: str) -> int:
    with psycopg.connect(database_url) as conn:
        return conn.execute("SELECT count(*) FROM audit_rejects WHERE value = %s",
                            (GARBAGE + tag.encode(),)).fetchone()[0]


def _dead_letters(database_url: str, tag: str) -> int:
    with psycopg.connect(database_url) as conn:
        return conn.execute(
            "SELECT count(*) FROM audit_events WHERE record_type = 'DeadLetter' "
            "AND topic = 'wa.status.events.dlq' AND record ->> 'value' = %s",
            (_b64(GARBAGE + tag.encode()),)).fetchone()[0]


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


@pytest.fixture
def own_run_dir() -> Iterator[Path]:
    """Outside pytest's numbered temp dirs: a concurrent pytest run prunes old ones, and a data
    directory deleted while its server is stopped comes back as an empty new cluster."""
    with tempfile.TemporaryDirectory(prefix="dawn-outage-") as tmp:
        yield Path(tmp)


def test_database_outage_loses_nothing(bootstrap, stack, topics, producer, own_run_dir: Path) -> None:
    run_dir = own_run_dir
    pg = EmbeddedPostgres.start(run_dir)
    port = pg.port
    try:
        apply_migrations(pg.url)
        _, first = morning(date(2026, 12, 1), advisors=3)
        _, second = morning(date(2026, 12, 1), advisors=3)
        ids_first, ids_second = expected_ids(first), expected_ids(second)
        produce(producer, CODEC, first)
        sink = AuditSink(
            consumer_config(bootstrap, f"audit-outage-{uuid.uuid4().hex[:8]}", stack.embedded_kafka),
            producer_config(bootstrap, stack.embedded_kafka), pg.url, batch_wait_s=0.2)
        thread = threading.Thread(target=sink.run, daemon=True)  # what `dawn audit sink` runs
        thread.start()
        _wait(lambda: count_ids(pg.url, ids_first) == len(ids_first))

        pg.stop()
        produce(producer, CODEC, second)  # arrives while the database is down
        time.sleep(2)  # let the sink fetch it and start retrying (not an assertion)
        assert thread.is_alive()
        pg = EmbeddedPostgres.start(run_dir, port=port)

        _wait(lambda: count_ids(pg.url, ids_second) == len(ids_second))
        sink.stop()
        thread.join(30)
        assert count_ids(pg.url, ids_first) == len(ids_first), pg.log_path
        assert count_ids(pg.url, ids_second) == len(ids_second)
        with psycopg.connect(pg.url) as conn:
            dupes = conn.execute("SELECT count(*) - count(DISTINCT event_id) FROM audit_events"
                                 ).fetchone()[0]
        assert dupes == 0
    finally:
        pg.stop()


def _wait(done: Callable[[], bool], tries: int = 600) -> None:
    for _ in range(tries):
        try:
            if done():
                return
        except psycopg.OperationalError:
            pass
        time.sleep(0.1)
    raise AssertionError("condition not reached")


def _of(records: list[Record], topic: str) -> list[dict]:
    return [record for t, _, record in records if t == topic]


def test_a_nul_in_an_inbound_text_is_stored_replaced_and_the_sink_goes_on(
        bootstrap, database_url, stack, topics, producer) -> None:
    """PostgreSQL text and jsonb cannot hold U+0000: the sink stores U+FFFD in its place instead of
    dying on the batch (and again on every restart)."""
    tag, records = morning(date(2026, 11, 24), advisors=1)
    (message,) = _of(records, "wa.inbound.messages")
    nul = {**message, "event_id": f"wamid.nul.{tag}", "text": "STOP\x00now", "profile_name": "A\x00"}
    after = {**message, "event_id": f"wamid.after.{tag}"}
    chosen = [("wa.inbound.messages", "PN", nul), ("wa.inbound.messages", "PN", after)]
    produce(producer, CODEC, chosen)
    ids = expected_ids(chosen)
    sink = new_sink(bootstrap, database_url, stack)
    try:
        drain(sink, lambda: count_ids(database_url, ids) == len(ids))
    finally:
        sink.close()
    with psycopg.connect(database_url) as conn:
        text, profile = conn.execute(
            "SELECT record ->> 'text', record ->> 'profile_name' FROM audit_events WHERE event_id = %s",
            (f"inbound:wamid.nul.{tag}",)).fetchone()
    assert (text, profile) == ("STOP\ufffdnow", "A\ufffd")


def test_a_row_postgres_refuses_is_filed_in_audit_rejects(database_url) -> None:
    """A row that still fails as data (here a NUL that bypassed the replacement) does not stop the
    batch: the rest is written and that row goes to audit_rejects with the reason."""
    apply_migrations(database_url)
    tag, records = morning(date(2026, 11, 25), advisors=1)
    (message,) = _of(records, "wa.inbound.messages")
    good = audit_row("wa.inbound.messages", message, 0, 1)
    bad = list(audit_row("wa.inbound.messages", {**message, "event_id": f"wamid.bad.{tag}"}, 0, 2))
    bad[11] = "91\x0098"  # recipient
    writer = AuditWriter(database_url)
    try:
        assert writer.write([good, tuple(bad)]) == 1
        assert writer.write([good, tuple(bad)]) == 0
    finally:
        writer.close()
    assert count_ids(database_url, {good[0], bad[0]}) == 1
    with psycopg.connect(database_url) as conn:
        rejects = conn.execute("SELECT topic, source_offset, error FROM audit_rejects "
                               "WHERE topic = 'wa.inbound.messages' AND source_offset = 2 "
                               "AND value = %s", (bad[16].encode(),)).fetchall()
    assert len(rejects) == 1 and "DataError" in rejects[0][2]


def test_a_hand_over_and_repeated_results_are_rows_of_their_own(database_url) -> None:
    """A failover hand-over re-queues the same attempt on another number, reconcile re-queues it on
    the same one, and a RETRYING result may repeat with another detail: each is its own row, and the
    same records written again add nothing."""
    apply_migrations(database_url)
    _, records = morning(date(2026, 11, 26), advisors=1)
    intent, result = _of(records, "wa.delivery.intents")[0], _of(records, "wa.send.results")[0]
    later = timedelta(seconds=40)
    intents = [intent,
               {**intent, "phone_number_id": "PN-standby", "created_at": intent["created_at"] + later},
               {**intent, "created_at": intent["created_at"] + 2 * later}]
    retrying = {**result, "outcome": "RETRYING", "wamid": None, "error_detail": "rate"}
    results = [retrying, {**retrying, "error_detail": "timeout", "sent_at": result["sent_at"] + later}]
    rows = ([audit_row("wa.delivery.intents", r) for r in intents]
            + [audit_row("wa.send.results", r) for r in results])
    writer = AuditWriter(database_url)
    try:
        assert writer.write(rows) == 5
        assert writer.write([audit_row("wa.delivery.intents", r) for r in intents]
                            + [audit_row("wa.send.results", r) for r in results]) == 0
    finally:
        writer.close()
    with psycopg.connect(database_url) as conn:
        numbers = conn.execute("SELECT phone_number_id FROM audit_events WHERE delivery_id = %s "
                               "AND record_type = 'DeliveryIntent' ORDER BY occurred_at",
                               (intent["delivery_id"],)).fetchall()
    assert [n[0] for n in numbers] == [intent["phone_number_id"], "PN-standby", intent["phone_number_id"]]


class _FlakyDeadLetterProducer:
    """A producer whose first flush of a batch holding ``marker`` is not acknowledged."""

    def __init__(self, real: Producer, marker: bytes) -> None:
        self.real, self.marker = real, marker
        self.pending: list[tuple[str, bytes | None, bytes]] = []
        self.failed = False

    def produce(self, topic: str, value: bytes, key: bytes | None = None) -> None:
        self.pending.append((topic, key, value))

    def flush(self, timeout: float = 30) -> int:
        pending, self.pending = self.pending, []
        if not self.failed and any(self.marker in value for _, _, value in pending):
            self.failed = True
            return len(pending)  # none acknowledged
        for topic, key, value in pending:
            self.real.produce(topic, value=value, key=key)
        return self.real.flush(timeout)


def test_a_batch_left_uncommitted_is_read_again(bootstrap, database_url, stack, topics, producer) -> None:
    """When Kafka does not acknowledge a batch's dead letters the batch is not committed, and it is
    read again (not skipped by the consumer's advanced position): its dead letter still arrives."""
    tag = uuid.uuid4().hex[:8]
    producer.produce("wa.status.events", key=b"PNbad", value=GARBAGE + tag.encode())
    producer.flush(30)
    sink = new_sink(bootstrap, database_url, stack)
    flaky = _FlakyDeadLetterProducer(sink.producer, tag.encode())
    sink.producer = flaky
    try:
        drain(sink, lambda: flaky.failed, max_batches=100)
        drain(sink, lambda: _dead_letters(database_url, tag) == 1, max_batches=60)
    finally:
        sink.close()
