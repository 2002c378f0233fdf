"""Pre-staging on its own, against PostgreSQL and the sandbox over real HTTP: uploads retried
through 5xx faults, a deadline that has passed starts nothing and reports everything (the window
is never held), and the single-image template carries the advisor's branded post image when the
carousel is not approved in their language."""

from __future__ import annotations

import hashlib
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from PIL import Image

from producers.branding.cache import BrandRequest, branded_copies
from producers.identity import Identity
from producers.intake.demo_pack import DEMO_CAROUSEL, DEMO_TEMPLATE, add_slot_images, write_demo_pack
from producers.scheduler.prestage import Prestage, brand_intents, branded_sources, upload_all
from sandbox.config import FaultConfig, SandboxConfig
from sandbox.server import SandboxServer
from store import advisors
from tests.isolation import fresh_database
from whatsapp.client import CloudApiClient

NOW = datetime(2031, 3, 13, 23, 0, tzinfo=UTC)
PN = "110000000000001"
IDENTITY = Identity("Ananya Iyer", "SEBI_RIA", "INA000012345", "919812345678")


@pytest.fixture(scope="module")
def db(database_url: str) -> str:
    return fresh_database(database_url, "prestage")


async def _file_fetch(url: str) -> bytes:
    return Path(url.removeprefix("file://")).read_bytes()


async def _branded_files(conn, tmp_path: Path, n: int) -> dict[str, tuple[Path, str]]:
    bases = []
    for k in range(n):
        out = io.BytesIO()
        Image.new("RGB", (120, 90), (k * 20 % 256, 90, 140)).save(out, "PNG")
        path = tmp_path / f"base{k}.png"
        path.write_bytes(out.getvalue())
        bases.append(BrandRequest(path.as_uri(), hashlib.sha256(out.getvalue()).hexdigest(),
                                  IDENTITY, "EN"))
    copies, stats = await branded_copies(conn, bases, tmp_path / "cache", _file_fetch)
    assert stats.rendered + stats.cache_hits == n and not stats.failed
    return await branded_sources(conn, {c.sha256 for c in copies.values()})


async def test_uploads_are_retried_through_server_errors(db: str, tmp_path: Path) -> None:
    faults = FaultConfig(error_5xx_rate=0.4)
    with SandboxServer(SandboxConfig(faults=faults, seed=3)) as sandbox:
        async with await psycopg.AsyncConnection.connect(db, autocommit=True) as conn, \
                CloudApiClient(sandbox.base_url) as client:
            sources = await _branded_files(conn, tmp_path, 12)
            needs = {(PN, sha) for sha in sources}
            outcome = Prestage()
            await upload_all(conn, client, needs, sources, lambda: NOW, NOW + timedelta(hours=1),
                             outcome, attempts=8)
            assert sandbox.sandbox.ledger.faults["5xx"] > 0  # the faults really struck
            assert outcome.uploaded == 12 and not outcome.not_staged
            again = Prestage()
            await upload_all(conn, client, needs, sources, lambda: NOW, NOW + timedelta(hours=1), again)
            assert (again.uploaded, again.upload_cache_hits) == (0, 12)


async def test_a_passed_deadline_starts_nothing_and_reports_everything(db: str, tmp_path: Path) -> None:
    with SandboxServer(SandboxConfig()) as sandbox:
        async with await psycopg.AsyncConnection.connect(db, autocommit=True) as conn, \
                CloudApiClient(sandbox.base_url) as client:
            sources = await _branded_files(conn, tmp_path, 4)
            outcome = Prestage()
            await upload_all(conn, client, {("110000000000002", s) for s in sources}, sources,
                             lambda: NOW, NOW - timedelta(seconds=1), outcome)
            assert outcome.late and outcome.uploaded == 0 and len(outcome.not_staged) == 4
            assert any("not pre-staged by the deadline" in w for w in outcome.warnings())
            assert sandbox.sandbox.media == {}


async def test_carousel_not_approved_in_marathi_falls_back_to_the_branded_post(
    db: str, tmp_path: Path
) -> None:
    pack = add_slot_images(write_demo_pack(tmp_path, NOW.date(), approved_at=NOW, published_at=NOW),
                           tmp_path)
    rows = {lang: advisors.AdvisorRow(f"fb-{lang}", "X", "91981234567" + str(k), None, lang,
                                      "OPTED_IN", False, None, registered_name="Priya Patil",
                                      registration_type="AMFI_ARN", registration_number="ARN-777")
            for k, lang in enumerate(("EN", "MR"))}
    intents = [{"pack_id": pack["pack_id"], "language": lang, "advisor_id": row.advisor_id,
                "phone_number_id": PN, "template_name": DEMO_TEMPLATE, "template_language": lang.lower(),
                "image_sha256": pack["variants"][0]["image_sha256"]} for lang, row in rows.items()]
    approved = {(DEMO_TEMPLATE, "en"), (DEMO_TEMPLATE, "mr"), (DEMO_CAROUSEL, "en")}
    async with await psycopg.AsyncConnection.connect(db, autocommit=True) as conn:
        outcome = await brand_intents(conn, intents, [pack], {r.advisor_id: r for r in rows.values()},
                                      approved, tmp_path / "cache", _file_fetch)
    en, mr = intents
    assert en["template_name"] == DEMO_CAROUSEL and len(en["card_images"]) == 3
    assert mr["template_name"] == DEMO_TEMPLATE and "card_images" not in mr
    # Marathi still carries the advisor's identity: its header is their branded post image.
    assert mr["image_sha256"] != pack["variants"][0]["image_sha256"]
    assert outcome.needs == {(PN, s) for s in en["card_images"]} | {(PN, mr["image_sha256"])}


def test_plan_names_who_cannot_be_branded_and_when_prestaging_must_start(
    db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from dawn import cli
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute("DELETE FROM advisors")
        conn.execute("DELETE FROM prestage_runs")
        conn.execute(
            "INSERT INTO advisors (advisor_id, name, phone, language, consent_state, registered_name,"
            " registration_type, registration_number) VALUES"
            " ('p-ok', 'A', '919800000001', 'EN', 'OPTED_IN', 'A', 'AMFI_ARN', 'ARN-1'),"
            " ('p-none', 'B', '919800000002', 'HI', 'OPTED_IN', NULL, NULL, NULL),"
            " ('p-bad', 'C', '919800000003', 'MR', 'OPTED_IN', 'C', 'SEBI_RIA', 'ARN-9')")
        # 600 renders in 10 s, 600 uploads in 20 s on 3 numbers: 60/s and 10/s per number.
        conn.execute("INSERT INTO prestage_runs (finished_at, rendered, render_cpu_s, render_wall_s,"
                     " uploaded, upload_wall_s, numbers) VALUES (now(), 600, 15, 10, 600, 20, 3)")
    assert cli.main(["plan", "--branded", "--database-url", db, "--numbers", "3",
                     "--date", "2031-03-14"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    # 9 images: 9/60 s rendering + 9/(10*3) s uploading = 0.45 s, margin 25%: 05:58 IST.
    assert "9 images (3 advisors x 3)" in out and "60 renders/s" in out
    assert "must start by 05:58 IST" in out
    assert "2 advisor(s) cannot be branded" in out
    assert "p-none: registration_type is missing" in out
    assert "p-bad: registration_number 'ARN-9' is not a SEBI_RIA number" in out
    assert "p-ok" not in out


async def test_worker_processes_render_the_same_bytes_as_a_direct_render(
    db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from producers.branding import cache
    from producers.branding.render import render_branded
    monkeypatch.setattr(cache, "PROCESS_POOL_FROM", 1)
    out = io.BytesIO()
    Image.new("RGB", (100, 70), (12, 200, 99)).save(out, "PNG")
    (tmp_path / "b.png").write_bytes(out.getvalue())
    sha = hashlib.sha256(out.getvalue()).hexdigest()
    identities = [Identity(f"राहुल {k}", "AMFI_ARN", f"ARN-{k}", "919812345678") for k in range(3)]
    requests = [BrandRequest((tmp_path / "b.png").as_uri(), sha, i, "HI") for i in identities]
    async with await psycopg.AsyncConnection.connect(db, autocommit=True) as conn:
        copies, stats = await branded_copies(conn, requests, tmp_path / "c", _file_fetch, workers=2)
    assert stats.rendered == 3 and stats.cpu_s > 0
    for r in requests:
        assert copies[r.key].path.read_bytes() == render_branded(out.getvalue(), r.identity, "HI").data
