"""Per-advisor packs: each advisor's branded images rendered and uploaded before the window.

A per-advisor pack is three images per advisor (post, status, LinkedIn), each the advisor's own
branded copy, sent as one media card carousel. Uploading 3 images per advisor at 06:00 would put
an upload in front of every send; so every advisor's copies are rendered (cached by image and
identity, see producers.branding.cache) and uploaded from the number that will send them ahead of
time, with a few uploads in flight per number and retries. Media ids live 30 days and are cached
by (number, image hash), so an advisor whose identity and images did not change re-uploads
nothing. Pre-staging has a deadline and never holds the window: what is not staged by then is
reported and the sender uploads it when it meets it (slower, still sent).

Advisors whose identity is incomplete get the unbranded pack (today's shared image), never a
blank strip, and are named in the plan's warnings so ops can fix them before the next morning.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import psycopg
from rich.progress import Progress

from producers.branding.cache import BrandRequest, branded_copies
from producers.identity import identity_of, identity_problems
from producers.scheduler.media import FRESH_FOR, MediaUploader
from store.send_ledger import cache_media_id

log = logging.getLogger("dawn.scheduler")

#: Uploads in flight per sender number: enough to hide latency, few enough not to trip Meta's
#: per-number upload limits.
PER_NUMBER_UPLOADS = 4
UPLOAD_ATTEMPTS = 3


@dataclass
class Prestage:
    """What pre-staging did, for the summary, the report and ``dawn plan``'s rates."""

    advisors: int = 0
    branded: int = 0
    rendered: int = 0
    render_cache_hits: int = 0
    render_cpu_s: float = 0.0
    render_wall_s: float = 0.0
    uploaded: int = 0
    upload_cache_hits: int = 0
    upload_wall_s: float = 0.0
    missing_identity: dict[str, str] = field(default_factory=dict)
    render_failed: dict[str, str] = field(default_factory=dict)
    not_staged: list[tuple[str, str]] = field(default_factory=list)
    late: bool = False
    #: (number, image hash) pairs the branded intents send: every card, or the branded header.
    needs: set[tuple[str, str]] = field(default_factory=set)

    def warnings(self) -> tuple[str, ...]:
        out = []
        if self.missing_identity:
            names = ", ".join(f"{a} ({why})" for a, why in sorted(self.missing_identity.items())[:5])
            out.append(f"{len(self.missing_identity)} advisor(s) have no complete identity and get the "
                       f"unbranded pack: {names}{' ...' if len(self.missing_identity) > 5 else ''}")
        if self.render_failed:
            first = next(iter(sorted(self.render_failed.items())))
            out.append(f"{len(self.render_failed)} advisor(s) could not be branded and get the "
                       f"unbranded pack, e.g. {first[0]}: {first[1]}")
        if self.not_staged:
            out.append(f"{len(self.not_staged)} image upload(s) were not pre-staged"
                       f"{' by the deadline' if self.late else ''}; the sender uploads them at send time")
        return tuple(out)

    def to_json(self) -> dict[str, Any]:
        return {"advisors": self.advisors, "branded": self.branded, "rendered": self.rendered,
                "render_cache_hits": self.render_cache_hits,
                "render_cpu_s": round(self.render_cpu_s, 3),
                "render_wall_s": round(self.render_wall_s, 3), "uploaded": self.uploaded,
                "upload_cache_hits": self.upload_cache_hits,
                "upload_wall_s": round(self.upload_wall_s, 3),
                "missing_identity": len(self.missing_identity),
                "render_failed": len(self.render_failed), "not_staged": len(self.not_staged),
                "late": self.late}


def _variant(packs: Mapping[str, Mapping[str, Any]], intent: Mapping[str, Any]) -> Mapping[str, Any]:
    return next(v for v in packs[intent["pack_id"]]["variants"] if v["language"] == intent["language"])


def _slot_images(pack: Mapping[str, Any], variant: Mapping[str, Any], advisor_id: str
                 ) -> list[Mapping[str, Any]]:
    """The advisor's own images when the engine published them, else the variant's."""
    for entry in pack.get("advisor_media") or []:
        if entry["advisor_id"] == advisor_id:
            return list(entry["images"])
    return list(variant.get("slot_images") or [])


async def brand_intents(
    conn: psycopg.AsyncConnection,
    intents: Sequence[dict[str, Any]],
    packs: Sequence[Mapping[str, Any]],
    advisors: Mapping[str, Any],
    approved: set[tuple[str, str]] | None,
    cache_dir: Path,
    fetch: Callable[[str], Awaitable[bytes]],
    *,
    show_progress: bool = False,
) -> Prestage:
    """Point each intent of a per-advisor pack at the advisor's branded images (in place).

    With the variant's carousel template approved in its language an intent becomes a carousel
    (``card_images``: the branded copies in slot order); otherwise it stays on the single-image
    template with the advisor's branded post image as its header.
    """
    by_pack = {p["pack_id"]: p for p in packs}
    outcome = Prestage()
    wanted: dict[int, list[BrandRequest]] = {}
    for k, intent in enumerate(intents):
        pack = by_pack[intent["pack_id"]]
        slots = _slot_images(pack, _variant(by_pack, intent), intent["advisor_id"])
        if not slots:
            continue
        outcome.advisors += 1
        identity = identity_of(advisors[intent["advisor_id"]])
        problems = identity_problems(identity)
        if problems:
            outcome.missing_identity[intent["advisor_id"]] = "; ".join(problems)
            continue
        wanted[k] = [BrandRequest(s["image_url"], s["image_sha256"], identity, intent["language"])
                     for s in slots]
    if not wanted:
        return outcome
    requests = [r for rs in wanted.values() for r in rs]
    started = time.monotonic()
    with Progress(disable=not show_progress, transient=True) as progress:
        task = progress.add_task("branding images", total=len({r.key for r in requests}))
        copies, stats = await branded_copies(conn, requests, cache_dir, fetch,
                                             on_progress=lambda n: progress.advance(task, n))
    outcome.render_wall_s = time.monotonic() - started
    outcome.rendered, outcome.render_cache_hits = stats.rendered, stats.cache_hits
    outcome.render_cpu_s = stats.cpu_s
    for k, rs in wanted.items():
        intent = intents[k]
        failed = [stats.failed[r.key] for r in rs if r.key not in copies]
        if failed:
            outcome.render_failed[intent["advisor_id"]] = failed[0]
            continue
        shas = [copies[r.key].sha256 for r in rs]
        variant = _variant(by_pack, intent)
        carousel = variant.get("carousel_template_name")
        if carousel and len(shas) >= 2 and (
                approved is None or (carousel, variant["template_language"]) in approved):
            intent["template_name"] = carousel
            intent["card_images"] = shas
        intent["image_sha256"] = shas[0]
        outcome.needs.update((intent["phone_number_id"], sha)
                             for sha in (intent.get("card_images") or shas[:1]))
        outcome.branded += 1
    log.info("branded %d advisor(s): %d image(s) rendered, %d from the render cache",
             outcome.branded, outcome.rendered, outcome.render_cache_hits)
    return outcome


async def upload_all(
    conn: psycopg.AsyncConnection,
    uploader: MediaUploader,
    needs: set[tuple[str, str]],
    sources: Mapping[str, tuple[Path, str]],
    now: Callable[[], datetime],
    deadline: datetime,
    outcome: Prestage,
    *,
    per_number: int = PER_NUMBER_UPLOADS,
    attempts: int = UPLOAD_ATTEMPTS,
    show_progress: bool = False,
) -> None:
    """Upload every (number, image) without a fresh media id, by ``deadline``.

    ``sources`` maps an image hash to its file and type. At most ``per_number`` uploads run per
    number; a failed upload is retried with backoff; an upload not started by the deadline is not
    started at all (the window must open on time) and lands in ``outcome.not_staged``.
    """
    fresh = await _fresh(conn, needs, now())
    outcome.upload_cache_hits = len(fresh)
    todo = sorted(needs - fresh)
    gates: dict[str, asyncio.Semaphore] = {}
    started = time.monotonic()

    async def one(pnid: str, sha: str, advance: Callable[[], None]) -> None:
        path, mime = sources[sha]
        async with gates.setdefault(pnid, asyncio.Semaphore(per_number)):
            for attempt in range(1, attempts + 1):
                if now() >= deadline:
                    outcome.late = True
                    outcome.not_staged.append((pnid, sha))
                    return
                try:
                    data = await asyncio.to_thread(path.read_bytes)
                    media_id = await uploader.upload_media(pnid, data, mime, path.name)
                except Exception as exc:  # any failure is retried, then reported
                    if attempt == attempts:
                        log.warning("upload of %s from %s failed %d times: %s", sha[:12], pnid,
                                    attempts, exc)
                        outcome.not_staged.append((pnid, sha))
                        return
                    await asyncio.sleep(0.25 * 2 ** attempt)
                    continue
                await cache_media_id(conn, pnid, sha, media_id, now())
                outcome.uploaded += 1
                advance()
                return

    with Progress(disable=not show_progress, transient=True) as progress:
        task = progress.add_task("pre-staging uploads", total=len(todo))
        await asyncio.gather(*(one(p, s, lambda: progress.advance(task)) for p, s in todo))
    outcome.upload_wall_s = time.monotonic() - started
    log.info("pre-staged %d upload(s) in %.1f s (%d already fresh, %d not staged)", outcome.uploaded,
             outcome.upload_wall_s, outcome.upload_cache_hits, len(outcome.not_staged))


async def _fresh(conn: psycopg.AsyncConnection, needs: set[tuple[str, str]], now: datetime
                 ) -> set[tuple[str, str]]:
    if not needs:
        return set()
    pairs = sorted(needs)
    cur = await conn.execute(
        "SELECT phone_number_id, image_sha256 FROM media_cache"
        " WHERE (phone_number_id, image_sha256) IN (SELECT * FROM unnest(%s::text[], %s::text[]))"
        " AND uploaded_at > %s",
        ([p for p, _ in pairs], [s for _, s in pairs], now - FRESH_FOR))
    return {(p, s) for p, s in await cur.fetchall()}


async def branded_sources(conn: psycopg.AsyncConnection, shas: set[str]) -> dict[str, tuple[Path, str]]:
    """Where each branded copy's bytes are (recorded in pack_media by the render cache)."""
    cur = await conn.execute("SELECT image_sha256, image_url, mime_type FROM pack_media"
                             " WHERE image_sha256 = ANY(%s)", (sorted(shas),))
    return {sha: (Path(unquote(urlparse(url).path)), mime) for sha, url, mime in await cur.fetchall()}


async def record_rates(conn: psycopg.AsyncConnection, outcome: Prestage, numbers: int,
                       finished_at: datetime) -> None:
    """Keep the measured cost for ``dawn plan``'s estimate of the next morning."""
    if outcome.rendered or outcome.uploaded:
        await conn.execute(
            "INSERT INTO prestage_runs (finished_at, rendered, render_cpu_s, render_wall_s, uploaded,"
            " upload_wall_s, numbers) VALUES (%s, %s, %s, %s, %s, %s, %s)",
            (finished_at, outcome.rendered, outcome.render_cpu_s, outcome.render_wall_s,
             outcome.uploaded, outcome.upload_wall_s, numbers))


def must_start(deadline: datetime, seconds: float, margin: float = 0.25) -> datetime:
    """When pre-staging taking ``seconds`` must start to end by ``deadline`` with ``margin`` spare."""
    return deadline - timedelta(seconds=seconds * (1 + margin))


@dataclass(frozen=True)
class PrestageRates:
    """How fast this machine brands (wall clock, all its cores) and this account uploads per
    number, and where the figures come from."""

    renders_per_s: float
    uploads_per_s_per_number: float
    source: str


#: Measured by ``bench/pack_render.py`` on a 2-core machine (2,000 advisors x 3 images, 3 numbers);
#: used until a pre-staging run of this installation has recorded its own rates.
BENCH_RATES = PrestageRates(89.0, 77.0, "bench/pack_render.py on 2 cores")


async def measured_rates(conn: psycopg.AsyncConnection) -> PrestageRates | None:
    """The rates of the latest pre-staging run that rendered and uploaded enough to measure."""
    cur = await conn.execute(
        "SELECT rendered / render_wall_s, uploaded / upload_wall_s / numbers, finished_at"
        " FROM prestage_runs WHERE rendered >= 30 AND uploaded >= 30 AND render_wall_s > 0"
        " AND upload_wall_s > 0 AND numbers > 0 ORDER BY finished_at DESC LIMIT 1")
    row = await cur.fetchone()
    if row is None:
        return None
    return PrestageRates(row[0], row[1], f"pre-staging run of {row[2]:%Y-%m-%d %H:%M} UTC")


def estimate_seconds(images: int, rates: PrestageRates, numbers: int) -> float:
    """Branding, then uploading on every number in parallel (the order pre-staging runs them)."""
    return images / rates.renders_per_s + images / (rates.uploads_per_s_per_number * max(1, numbers))
