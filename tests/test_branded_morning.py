"""Per-advisor packs end to end (issue 15's "done when"): advisors with identities in PostgreSQL, a
pack with post/status/LinkedIn base images on the real broker, the scheduler branding and
pre-staging, ``dawn worker`` as its own process sending through the sandbox over real HTTP. Each
advisor's message must be a 3-card carousel whose cards are byte for byte a fresh render of their
own branded images; an advisor without an identity gets the unbranded pack, not a blank strip; a
second morning with nothing changed renders and uploads nothing, a changed phone re-does three.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import psycopg
import pytest

from dawn.embedded.broker import EmbeddedBroker
from dawn.embedded.client_profile import consumer_config, producer_config
from producers.branding.render import render_branded
from producers.identity import identity_of
from producers.intake.demo_pack import DEMO_CAROUSEL, DEMO_TEMPLATE, add_slot_images, write_demo_pack
from producers.intake.packs import publish_pack
from producers.kafka_io import KafkaConfigs
from producers.scheduler.assignment import SenderNumber
from producers.scheduler.plan import delivery_id
from producers.scheduler.run import run_scheduler
from producers.scheduler.window import Window
from sandbox.config import SandboxConfig
from sandbox.server import SandboxServer
from schemas.codec import Codec
from store import advisors
from tests import sender_morning as m
from tests.isolation import fresh_database, own_broker
from tests.shaping import needs_shaping
from whatsapp.client import CloudApiClient

pytestmark = [pytest.mark.slow, needs_shaping]

NUMBERS = [SenderNumber(n, 80.0) for n in m.NUMBERS]


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedBroker]:
    # A broker of its own: other tests publish template states that would decide the carousel.
    with own_broker(tmp_path_factory.mktemp("branded-broker")) as running:
        yield running


@pytest.fixture(scope="module")
def db(database_url: str) -> str:
    return fresh_database(database_url, "brand")


ROWS = [
    advisors.AdvisorRow("b-en", "Ananya Iyer", "919812300001", None, "EN", "OPTED_IN", False, None,
                        registered_name="Ananya Iyer", registration_type="SEBI_RIA",
                        registration_number="INA000012345"),
    advisors.AdvisorRow("b-hi", "राहुल त्रिपाठी", "919812300002", None, "HI", "OPTED_IN", False, None,
                        registered_name="राहुल त्रिपाठी", registration_type="AMFI_ARN",
                        registration_number="ARN-12345", display_phone="919800011122"),
    advisors.AdvisorRow("b-mr", "अश्विनी क्षीरसागर", "919812300003", None, "MR", "OPTED_IN", False,
                        None, registered_name="अश्विनी क्षीरसागर", registration_type="SEBI_RIA",
                        registration_number="INA000067890"),
    advisors.AdvisorRow("b-none", "Meera Shah", "919812300004", None, "EN", "OPTED_IN", False, None),
]


async def _morning(broker: EmbeddedBroker, db: str, sandbox: SandboxServer, tmp_path: Path,
                   prestage_only: bool, pack: dict):
    kafka = KafkaConfigs(producer_config(broker.bootstrap, True),
                         consumer_config(broker.bootstrap, f"t-{uuid.uuid4().hex[:6]}", True))
    async with CloudApiClient(sandbox.base_url) as client:
        return await run_scheduler(
            kafka=kafka, database_url=db, uploader=client,
            window=Window.compressed(datetime.now(UTC), 20), numbers=NUMBERS,
            branded_dir=tmp_path / "branded", prestage_only=prestage_only,
            prestage_deadline=datetime.now(UTC).replace(year=2100) if prestage_only else None)


async def test_each_advisor_gets_a_carousel_of_their_own_branded_images(
    broker: EmbeddedBroker, db: str, tmp_path: Path
) -> None:
    now = datetime.now(UTC)
    async with await psycopg.AsyncConnection.connect(db, autocommit=True) as conn:
        await advisors.upsert_advisors(conn, ROWS, source="import", evidence="test", at=now)
    run_date = Window.compressed(now, 20).run_date()
    pack = add_slot_images(write_demo_pack(tmp_path, run_date, approved_at=now, published_at=now),
                           tmp_path)
    pack["pack_id"] = f"brand-{uuid.uuid4().hex[:6]}"
    kafka = KafkaConfigs(producer_config(broker.bootstrap, True),
                         consumer_config(broker.bootstrap, "t-pub", True))
    publish_pack(kafka, pack, Codec())

    with SandboxServer(SandboxConfig(keep_media_bytes=True)) as sandbox:
        early = await _morning(broker, db, sandbox, tmp_path, True, pack)
        assert early.prestage.branded == 3 and early.prestage.rendered == 9
        assert early.prestage.uploaded == 9 and not early.prestage.not_staged
        assert "b-none" in early.prestage.missing_identity
        assert any("unbranded" in w and "b-none" in w for w in early.warnings)

        summary = await _morning(broker, db, sandbox, tmp_path, False, pack)
        # Everything was in the caches: the window's own run neither renders nor uploads.
        assert summary.prestage.rendered == 0 and summary.prestage.uploaded == 0
        ids = {r.advisor_id: delivery_id(r.advisor_id, pack["pack_id"], run_date) for r in ROWS}
        worker = m.start_worker(broker.bootstrap, db, sandbox.base_url, True,
                                f"brand-{uuid.uuid4().hex[:6]}", tmp_path / "worker.log")
        try:
            doc = m.wait_until_all_accepted(sandbox.base_url, list(ids.values()), 120, worker)
        finally:
            worker.terminate()
            worker.wait(30)
        entries = {e["callback_data"]: e for e in doc["entries"]}
        bases = [Path(s["image_url"].removeprefix("file://")).read_bytes()
                 for s in pack["variants"][0]["slot_images"]]
        with httpx.Client(base_url=sandbox.base_url) as http:
            for row in ROWS[:3]:
                entry = entries[ids[row.advisor_id]]
                assert entry["template"] == DEMO_CAROUSEL
                assert entry["language"] == row.language.lower()
                assert len(entry["media_ids"]) == 3
                for media_id, base in zip(entry["media_ids"], bases, strict=True):
                    fresh = render_branded(base, identity_of(row), row.language)
                    assert http.get(f"/sandbox/media/{media_id}").content == fresh.data
            plain = entries[ids["b-none"]]
            assert plain["template"] == DEMO_TEMPLATE and len(plain["media_ids"]) == 1
            unbranded = http.get(f"/sandbox/media/{plain['media_ids'][0]}").content
            assert unbranded == Path(pack["variants"][0]["image_url"].removeprefix("file://")).read_bytes()

        # The next morning: nothing changed costs nothing; a new phone re-brands that advisor.
        again = await _morning(broker, db, sandbox, tmp_path, True, pack)
        assert (again.prestage.rendered, again.prestage.uploaded) == (0, 0)
        async with await psycopg.AsyncConnection.connect(db, autocommit=True) as conn:
            await conn.execute("UPDATE advisors SET display_phone = '919800099999' "
                               "WHERE advisor_id = 'b-en'")
        changed = await _morning(broker, db, sandbox, tmp_path, True, pack)
        assert (changed.prestage.rendered, changed.prestage.render_cache_hits) == (3, 6)
        assert changed.prestage.uploaded == 3
