"""Branded copies by (base image, identity, language, renderer version), rendered once.

An advisor whose identity and today's base images did not change costs a lookup the next morning,
not a render: the key is a hash of all four, the bytes live on disk under ``cache_dir`` named by
their own SHA-256, and ``branded_images`` maps key -> file. Each copy is also recorded in
``pack_media`` like any pack image, so a sender failing over to a number nobody staged can upload
it from there.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import time
from collections.abc import Awaitable, Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import psycopg

from producers.branding.render import RENDERER_VERSION, BrandingError, render_branded
from producers.identity import Identity
from store.send_ledger import record_pack_image

log = logging.getLogger("dawn.branding")

Fetch = Callable[[str], Awaitable[bytes]]


@dataclass(frozen=True)
class BrandRequest:
    """One advisor's copy of one base image."""

    base_url: str
    base_sha256: str
    identity: Identity
    language: str

    @property
    def key(self) -> str:
        material = "\x1f".join((RENDERER_VERSION, self.base_sha256, self.identity.digest(), self.language))
        return hashlib.sha256(material.encode()).hexdigest()


@dataclass(frozen=True)
class Branded:
    sha256: str
    path: Path
    mime_type: str


@dataclass
class RenderStats:
    rendered: int = 0
    cache_hits: int = 0
    cpu_s: float = 0.0
    failed: dict[str, str] | None = None


async def branded_copies(
    conn: psycopg.AsyncConnection, requests: Iterable[BrandRequest], cache_dir: Path, fetch: Fetch,
    *, workers: int | None = None, on_progress: Callable[[int], None] | None = None,
) -> tuple[dict[str, Branded], RenderStats]:
    """Every request's branded copy by request key, rendering only what the cache lacks.

    A request that cannot be rendered (base unreadable, logo broken, no shaper) is left out and
    its reason kept in ``stats.failed`` by key: one advisor's bad logo must not stop a morning.
    """
    wanted = {r.key: r for r in requests}
    stats = RenderStats(failed={})
    found = await _cached(conn, list(wanted))
    out = {k: b for k, b in found.items() if b.path.exists()}
    stats.cache_hits = len(out)
    if on_progress and out:
        on_progress(len(out))
    missing = [r for k, r in sorted(wanted.items()) if k not in out]
    if not missing:
        return out, stats
    cache_dir.mkdir(parents=True, exist_ok=True)
    sources = await _sources(missing, fetch, stats.failed)
    loop = asyncio.get_running_loop()
    cpu_before = time.process_time()
    # Pillow releases the GIL while it resizes, draws glyphs and encodes, so threads use the cores.
    with ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 2) as pool:
        jobs = [(r, loop.run_in_executor(pool, _render_to_disk, r, sources, cache_dir))
                for r in missing]
        for request, job in jobs:
            try:
                branded = await job
            except (BrandingError, OSError) as exc:
                stats.failed[request.key] = str(exc)
                continue
            out[request.key] = branded
            stats.rendered += 1
            await conn.execute(
                "INSERT INTO branded_images (cache_key, branded_sha256, path, mime_type)"
                " VALUES (%s, %s, %s, %s) ON CONFLICT (cache_key) DO UPDATE SET"
                " branded_sha256 = EXCLUDED.branded_sha256, path = EXCLUDED.path,"
                " rendered_at = now()",
                (request.key, branded.sha256, str(branded.path), branded.mime_type))
            await record_pack_image(conn, branded.sha256, branded.path.as_uri(), branded.mime_type)
            if on_progress:
                on_progress(1)
    stats.cpu_s = time.process_time() - cpu_before
    return out, stats


async def _cached(conn: psycopg.AsyncConnection, keys: list[str]) -> dict[str, Branded]:
    if not keys:
        return {}
    cur = await conn.execute(
        "SELECT cache_key, branded_sha256, path, mime_type FROM branded_images"
        " WHERE cache_key = ANY(%s)", (keys,))
    return {k: Branded(sha, Path(path), mime) for k, sha, path, mime in await cur.fetchall()}


async def _sources(requests: list[BrandRequest], fetch: Fetch, failed: dict[str, str]
                   ) -> dict[str, bytes]:
    """Each distinct base image and logo, fetched once; a base must match its declared hash."""
    sources: dict[str, bytes] = {}
    bases = {r.base_url: r.base_sha256 for r in requests}
    for url, sha in sorted(bases.items()):
        try:
            data = await fetch(url)
        except Exception as exc:
            log.error("base image %s cannot be fetched: %s", url, exc)
            continue
        if hashlib.sha256(data).hexdigest() != sha:
            log.error("base image %s does not match its image_sha256; not branded", url)
            continue
        sources[url] = data
    for logo in sorted({r.identity.logo_url for r in requests if r.identity.logo_url}):
        try:
            sources[logo] = await fetch(logo)
        except Exception as exc:
            for r in requests:
                if r.identity.logo_url == logo:
                    failed[r.key] = f"logo {logo} cannot be fetched: {exc}"
    return sources


def _render_to_disk(request: BrandRequest, sources: dict[str, bytes], cache_dir: Path) -> Branded:
    if request.base_url not in sources:
        raise BrandingError(f"base image {request.base_url} could not be fetched")
    logo = sources.get(request.identity.logo_url) if request.identity.logo_url else None
    if request.identity.logo_url and logo is None:
        raise BrandingError(f"logo {request.identity.logo_url} could not be fetched")
    rendered = render_branded(sources[request.base_url], request.identity, request.language, logo)
    path = (cache_dir / f"{rendered.sha256}.jpg").resolve()
    if not path.exists():
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(rendered.data)
        tmp.replace(path)
    return Branded(rendered.sha256, path, rendered.mime_type)
