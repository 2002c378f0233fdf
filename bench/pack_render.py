"""Per-advisor packs: branded renders per CPU-second and uploads per second against the sandbox,
each as a ratio to a plain JPEG encode of the same image size measured in the same run; then a
whole pre-staging (brand + upload) of ``--advisors`` advisors x 3 images through PostgreSQL and
the sandbox over real HTTP, and what that makes of a 100,000-advisor morning.

    python bench/pack_render.py [--advisors 2000] [--numbers 3] [--seconds 5]

PostgreSQL is ``DATABASE_URL`` or an embedded one started in a temporary directory. The sandbox
runs in this process (its own thread), as in the other sandbox benchmarks.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg
from PIL import Image

from dawn.embedded.postgres import EmbeddedPostgres
from producers.branding.render import render_branded
from producers.identity import Identity
from producers.intake.demo_advisors import demo_advisors
from producers.intake.demo_pack import SLOT_SIZES, add_slot_images, write_demo_pack
from producers.scheduler.prestage import PER_NUMBER_UPLOADS, brand_intents, branded_sources, upload_all
from sandbox.config import NumberConfig, SandboxConfig
from sandbox.server import SandboxServer
from store import advisors as advisor_store
from store.migrations import apply_migrations
from whatsapp.client import CloudApiClient

IST = ZoneInfo("Asia/Kolkata")
IDENTITIES = {
    "EN": Identity("Ananya Iyer", "SEBI_RIA", "INA000012345", "919812345678"),
    "HI": Identity("राहुल त्रिपाठी", "AMFI_ARN", "ARN-12345", "919812345678"),
}


def per_cpu_second(work, seconds: float) -> float:
    """Calls of ``work`` per CPU-second of this process, over about ``seconds`` of CPU."""
    n, start = 0, time.process_time()
    while (spent := time.process_time() - start) < seconds:
        work()
        n += 1
    return n / spent


def render_rates(base: bytes, seconds: float) -> dict[str, float]:
    sample = render_branded(base, IDENTITIES["EN"], "EN")
    canvas = Image.open(io.BytesIO(sample.data)).convert("RGB")

    def plain_encode() -> None:
        out = io.BytesIO()
        canvas.save(out, "JPEG", quality=88)

    rates = {"jpeg_encode": per_cpu_second(plain_encode, seconds)}
    for language, identity in IDENTITIES.items():
        rates[f"render_{language}"] = per_cpu_second(
            lambda identity=identity, language=language: render_branded(base, identity, language), seconds)
    return rates


async def prestage(url: str, advisors: int, numbers: int, work: Path) -> dict[str, float]:
    """Brand and upload ``advisors`` x 3 images the way the scheduler does; returns timings."""
    now = datetime.now(UTC)
    rows = demo_advisors(advisors, seed=1)
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await advisor_store.upsert_advisors(conn, rows, source="import", evidence="bench", at=now)
    pack = add_slot_images(write_demo_pack(work, now.astimezone(IST).date(), approved_at=now,
                                           published_at=now), work)
    pnids = [f"11000000000009{k}" for k in range(numbers)]
    intents = [{"pack_id": pack["pack_id"], "language": r.language, "advisor_id": r.advisor_id,
                "phone_number_id": pnids[k % numbers], "template_name": "daily_pack_v1",
                "template_language": r.language.lower(),
                "image_sha256": pack["variants"][0]["image_sha256"]} for k, r in enumerate(rows)]

    async def fetch(url: str) -> bytes:
        return Path(url.removeprefix("file://")).read_bytes()

    config = SandboxConfig(numbers=[NumberConfig(id=p, display_phone_number=f"91224000{k:04d}")
                                    for k, p in enumerate(pnids)])
    with SandboxServer(config) as sandbox:
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn, \
                CloudApiClient(sandbox.base_url) as client:
            started = time.monotonic()
            outcome = await brand_intents(conn, intents, [pack], {r.advisor_id: r for r in rows}, None,
                                          work / "branded", fetch, show_progress=True)
            rendered_at = time.monotonic()
            sources = await branded_sources(conn, {s for _, s in outcome.needs})
            await upload_all(conn, client, outcome.needs, sources, lambda: datetime.now(UTC),
                             datetime.now(UTC) + timedelta(hours=1), outcome, show_progress=True)
            done = time.monotonic()
    assert outcome.branded == advisors and not outcome.not_staged, outcome.to_json()
    return {"images": outcome.rendered, "render_wall_s": rendered_at - started,
            "render_cpu_s": outcome.render_cpu_s, "uploads": outcome.uploaded,
            "upload_wall_s": done - rendered_at, "total_s": done - started}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--advisors", type=int, default=2000)
    parser.add_argument("--numbers", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5.0, help="CPU seconds per render rate")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        base = Path(add_slot_images(write_demo_pack(work, datetime.now(UTC).date(),
                                                    approved_at=datetime.now(UTC),
                                                    published_at=datetime.now(UTC)),
                                    work)["variants"][0]["slot_images"][0]["image_url"]
                    .removeprefix("file://")).read_bytes()
        rates = render_rates(base, args.seconds)
        size = SLOT_SIZES["POST"]
        print(f"base {size[0]}x{size[1]} JPEG; plain JPEG encode of the branded size: "
              f"{rates['jpeg_encode']:.1f}/CPU-s")
        for language in IDENTITIES:
            r = rates[f"render_{language}"]
            print(f"branded render {language}: {r:.1f}/CPU-s = {r / rates['jpeg_encode']:.2f} x plain encode")
        pg = None if os.environ.get("DATABASE_URL") else EmbeddedPostgres.start(work / "pg")
        url = os.environ.get("DATABASE_URL") or pg.url  # type: ignore[union-attr]
        try:
            apply_migrations(url)
            t = asyncio.run(prestage(url, args.advisors, args.numbers, work))
        finally:
            if pg is not None:
                pg.stop()
    upload_rate = t["uploads"] / t["upload_wall_s"]
    print(f"pre-staging {args.advisors} advisors x 3 images on {args.numbers} numbers "
          f"({PER_NUMBER_UPLOADS} uploads in flight per number):")
    print(f"  render {t['images']} images: {t['render_wall_s']:.1f} s wall, {t['render_cpu_s']:.1f} s "
          f"CPU ({t['images'] / t['render_cpu_s']:.1f}/CPU-s on {os.cpu_count()} cores)")
    print(f"  upload {t['uploads']} images to the sandbox: {t['upload_wall_s']:.1f} s = "
          f"{upload_rate:.1f}/s = {upload_rate / rates['jpeg_encode']:.2f} x plain encode rate")
    print(f"  total {t['total_s']:.1f} s ({t['total_s'] / 60:.1f} min)")
    scale = 100_000 / args.advisors
    estimate = t["total_s"] * scale
    start = (datetime(2026, 1, 1, 5, 59, tzinfo=IST) - timedelta(seconds=estimate * 1.25))
    print(f"100,000 advisors at these rates: about {estimate / 60:.0f} min; with a 25% margin "
          f"pre-staging must start by {start:%H:%M} IST to finish before 05:59")


if __name__ == "__main__":
    main()
