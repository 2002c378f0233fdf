"""The scheduler against the real broker and PostgreSQL: packs in, intents out, twice.

Runs in a database of its own, so other tests' advisors neither appear in the plan nor get their
sticky senders rewritten, and on a broker of its own: the scheduler rightly trusts whatever
``wa.templates`` and ``wa.numbers.health`` say, and other tests publish records there.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
import psycopg
import pytest

from consumers.audit.rows import audit_row
from consumers.audit.writer import AuditWriter
from dawn import cli
from dawn.embedded.broker import EmbeddedBroker
from dawn.embedded.client_profile import consumer_config, producer_config
from producers.intake.demo_pack import png_bytes, write_demo_pack
from producers.kafka_io import KafkaConfigs, Stored, read_to_end
from producers.scheduler.assignment import SenderNumber
from producers.scheduler.budget import Budget
from producers.scheduler.media import MediaError, stage_media
from producers.scheduler.plan import delivery_id
from producers.scheduler.run import CapacityError, OverBudget, run_scheduler
from producers.scheduler.window import Window
from sandbox.config import NumberConfig, SandboxConfig
from sandbox.server import SandboxServer
from schemas.catalogue import ADVISORS, INTENTS
from schemas.codec import Codec
from store import advisors
from tests.isolation import fresh_database, own_broker
from whatsapp.client import CloudApiClient

RUN_DATE = date(2031, 3, 14)
NOW = datetime(2031, 3, 13, 23, 0, tzinfo=UTC)  # 04:30 IST on RUN_DATE
NUMBERS = [SenderNumber("110000000000091", 80.0), SenderNumber("110000000000092", 80.0)]
PN1, PN2 = (n.phone_number_id for n in NUMBERS)


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    config = SandboxConfig(numbers=[NumberConfig(id=n.phone_number_id, display_phone_number=f"9122400009{i}")
                                    for i, n in enumerate(NUMBERS)])
    with SandboxServer(config) as server:
        yield server


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedBroker]:
    with own_broker(tmp_path_factory.mktemp("scheduler-broker")) as running:
        yield running


@pytest.fixture(scope="module")
def scheduler_db(database_url: str) -> str:
    return fresh_database(database_url, "sched")


@pytest.fixture
async def uploader(sandbox: SandboxServer) -> AsyncIterator[CloudApiClient]:
    async with CloudApiClient(sandbox.base_url) as client:
        yield client


def _advisor(i: int, consent: str = "OPTED_IN", suppressed: bool = False,
             sticky: str | None = None) -> advisors.AdvisorRow:
    return advisors.AdvisorRow(
        advisor_id=f"adv-{i:03d}", name=f"Advisor {i}", phone=f"9198000{i:05d}", user_id=None,
        language=("EN", "HI", "MR")[i % 3], consent_state=consent,
        marketing_suppressed=suppressed, sticky_sender=sticky,
    )


async def _seed(url: str) -> set[str]:
    rows = [_advisor(i) for i in range(20)]
    rows += [_advisor(20 + i, sticky=PN2) for i in range(3)]
    rows += [_advisor(23, sticky="pn-retired")]
    rows += [_advisor(24, consent="STOPPED"), _advisor(25, consent="PAUSED"),
             _advisor(26, suppressed=True), _advisor(27, consent="NONE")]
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await advisors.upsert_advisors(conn, rows, source="import", evidence="test", at=NOW)
    return {r.advisor_id for r in rows[:24]}


def _intents(kafka: KafkaConfigs) -> list[Stored]:
    return [s for s in read_to_end(kafka, INTENTS.name, Codec()) if s.record["run_date"] == RUN_DATE]


async def test_morning_publishes_one_intent_per_eligible_advisor_and_reruns_idempotently(
    broker: EmbeddedBroker, scheduler_db: str, sandbox: SandboxServer, uploader: CloudApiClient,
    tmp_path: Path,
) -> None:
    expected = await _seed(scheduler_db)
    pack = write_demo_pack(tmp_path, RUN_DATE, approved_at=NOW, published_at=NOW)
    pack_file = tmp_path / "pack.json"
    pack_file.write_text(json.dumps(
        {**pack, "run_date": RUN_DATE.isoformat(), "approved_at": NOW.isoformat()}, default=str))
    assert cli.main(["packs", "publish", str(pack_file), "--bootstrap", broker.bootstrap]) == 0

    kafka = KafkaConfigs(producer_config(broker.bootstrap, True),
                         consumer_config(broker.bootstrap, "test-scheduler", True))
    window = Window.compressed(NOW, 60)

    summary = await run_scheduler(kafka=kafka, database_url=scheduler_db, uploader=uploader,
                                  window=window, numbers=NUMBERS, now=lambda: NOW)
    assert summary.ok and summary.eligible == len(expected) == summary.intents
    first = _intents(kafka)
    records = [s.record for s in first]
    assert Counter(r["advisor_id"] for r in records) == Counter(expected)
    assert {r["delivery_id"] for r in records} == \
        {delivery_id(a, pack["pack_id"], RUN_DATE) for a in expected}
    for key, _, r in first:
        assert key == r["phone_number_id"]
        assert window.start <= r["send_at"] < window.end and r["deadline"] == window.deadline
        assert r["params"]["advisor_name"].startswith("Advisor ")
    for partition in {s.partition for s in first}:
        times = [s.record["send_at"] for s in first if s.partition == partition]
        assert times == sorted(times), f"partition {partition} is not in send_at order"
    by_advisor = {r["advisor_id"]: r["phone_number_id"] for r in records}
    assert all(by_advisor[f"adv-{i:03d}"] == PN2 for i in (20, 21, 22))
    # one upload per number into the sandbox, its ids cached in PostgreSQL; sticky senders written back
    uploaded = {media_id: number for media_id, (number, _, _) in sandbox.sandbox.media.items()}
    async with await psycopg.AsyncConnection.connect(scheduler_db) as conn:
        cached = await (await conn.execute(
            "SELECT media_id, phone_number_id FROM media_cache WHERE image_sha256 = %s",
            (pack["variants"][0]["image_sha256"],))).fetchall()
        source = await (await conn.execute(
            "SELECT image_url FROM pack_media WHERE image_sha256 = %s",
            (pack["variants"][0]["image_sha256"],))).fetchone()
        stickies = {r.advisor_id: r.sticky_sender for r in await advisors.eligible(conn)}
    assert dict(cached) == uploaded and sorted(uploaded.values()) == [PN1, PN2]
    assert source == (pack["variants"][0]["image_url"],)  # where a failing-over sender uploads from
    assert stickies == by_advisor  # pn-retired is no longer anyone's number
    # ... and every new sticky sender reached the compacted advisors topic, as the data team reads it
    published = {s.record["advisor_id"]: s.record["sticky_sender"]
                 for s in read_to_end(kafka, ADVISORS.name, Codec())}
    assert published and published == {a: stickies[a] for a in published}
    assert set(published) == {a for a, n in stickies.items() if n is not None} - {
        f"adv-{20 + i:03d}" for i in range(3)}  # those three kept PN2: nothing new to publish

    # Again, this time waiting for its start on an injected clock: the same delivery ids, all of
    # them already in the topic, so nothing is produced twice; and no new media uploads.
    clock = [NOW - timedelta(seconds=90)]
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock[0] += timedelta(seconds=seconds)

    await run_scheduler(kafka=kafka, database_url=scheduler_db, uploader=uploader, window=window,
                        numbers=NUMBERS, start_at=NOW, now=lambda: clock[0], sleep=sleep)
    assert slept == [90.0]
    again = [s.record for s in _intents(kafka)]
    assert Counter(r["delivery_id"] for r in again) == Counter(r["delivery_id"] for r in records)
    assert len(sandbox.sandbox.media) == 2

    # A morning the numbers cannot carry is refused before anything is published or uploaded.
    with pytest.raises(CapacityError, match="do not fit") as refused:
        await run_scheduler(kafka=kafka, database_url=scheduler_db, uploader=uploader,
                            window=Window.compressed(NOW, 1), numbers=NUMBERS, now=lambda: NOW)
    assert refused.value.summary.unassigned == len(expected)
    assert len(_intents(kafka)) == len(records) and len(sandbox.sandbox.media) == 2


async def test_an_image_that_does_not_match_its_hash_is_never_uploaded(
    scheduler_db: str, sandbox: SandboxServer, uploader: CloudApiClient, tmp_path: Path
) -> None:
    image = tmp_path / "swapped.png"
    image.write_bytes(png_bytes(seed=7))
    variant = {"image_url": image.as_uri(), "image_sha256": "0" * 64, "image_mime_type": "image/png"}
    before = len(sandbox.sandbox.media)
    async with await psycopg.AsyncConnection.connect(scheduler_db, autocommit=True) as conn, \
            httpx.AsyncClient() as http:
        with pytest.raises(MediaError, match="does not match its image_sha256"):
            await stage_media(conn, uploader, [(PN1, variant)], NOW, http)
    assert len(sandbox.sandbox.media) == before


def _billed_status(i: int, category: str, at: datetime) -> dict:
    pricing = {"billable": True, "pricing_model": "PMP", "type": "regular", "category": category}
    return {"event_id": f"budget-{i}", "waba_id": "W", "phone_number_id": PN1,
            "wamid": f"wamid.budget.{i}", "status": "DELIVERED", "timestamp": at,
            "recipient_id": None, "recipient_user_id": None, "callback_data": None, "errors": [],
            "pricing": pricing, "received_at": at}


async def test_a_morning_over_budget_is_refused_with_the_figures_and_publishes_nothing(
    broker: EmbeddedBroker, scheduler_db: str, sandbox: SandboxServer, uploader: CloudApiClient,
    tmp_path: Path,
) -> None:
    expected = await _seed(scheduler_db)
    pack = write_demo_pack(tmp_path, RUN_DATE, approved_at=NOW, published_at=NOW)
    pack_file = tmp_path / "pack.json"
    pack_file.write_text(json.dumps(
        {**pack, "run_date": RUN_DATE.isoformat(), "approved_at": NOW.isoformat()}, default=str))
    assert cli.main(["packs", "publish", str(pack_file), "--bootstrap", broker.bootstrap]) == 0
    # this month so far: 10 marketing messages billed (each repeated, as Meta repeats pricing), and
    # 4 last month, which the month's budget must not count
    this_month, last_month = NOW - timedelta(days=5), NOW - timedelta(days=20)
    statuses = [_billed_status(i, "marketing", this_month) for i in range(10)]
    statuses += [{**s, "event_id": s["event_id"] + "-again"} for s in statuses]
    statuses += [_billed_status(100 + i, "marketing", last_month) for i in range(4)]
    writer = AuditWriter(scheduler_db)
    try:
        writer.write([audit_row("wa.status.events", s) for s in statuses])
    finally:
        writer.close()
    kafka = KafkaConfigs(producer_config(broker.bootstrap, True),
                         consumer_config(broker.bootstrap, "test-scheduler-budget", True))
    window = Window.compressed(NOW, 60)
    before = len(_intents(kafka))
    prices = {"marketing": 2.0}
    morning_cost = 2.0 * len(expected)

    with pytest.raises(OverBudget, match="over the daily budget") as daily:
        await run_scheduler(kafka=kafka, database_url=scheduler_db, uploader=uploader, window=window,
                            numbers=NUMBERS, now=lambda: NOW,
                            budget=Budget(prices, daily_inr=morning_cost - 0.01))
    assert daily.value.check.projected_inr == morning_cost

    # the morning alone fits the month, with what was billed before it does not
    monthly = morning_cost + 10 * 2.0 - 0.01
    with pytest.raises(OverBudget, match="over the monthly budget") as month:
        await run_scheduler(kafka=kafka, database_url=scheduler_db, uploader=uploader, window=window,
                            numbers=NUMBERS, now=lambda: NOW, budget=Budget(prices, monthly_inr=monthly))
    assert month.value.check.month_to_date_inr == 20.0
    assert len(_intents(kafka)) == before  # nothing published by either

    summary = await run_scheduler(kafka=kafka, database_url=scheduler_db, uploader=uploader,
                                  window=window, numbers=NUMBERS, now=lambda: NOW,
                                  budget=Budget(prices, daily_inr=morning_cost,
                                                monthly_inr=monthly + 0.01))
    assert summary.ok
    # every intent of the morning is in the topic once (an earlier test may have published them)
    ours = {delivery_id(a, pack["pack_id"], RUN_DATE) for a in expected}
    published = Counter(s.record["delivery_id"] for s in _intents(kafka))
    assert {d: published[d] for d in ours} == dict.fromkeys(ours, 1)
