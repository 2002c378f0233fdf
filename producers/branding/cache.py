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
import multiprocessing
import os
from collections.abc import Awaitable, Callable, Iterable
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import psycopg

from producers.branding.render import RENDERER_VERSION, BrandingError, render_branded
from producers.identity import Identity

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
    cpu_before = _cpu_time()
    rows = []
    with _pool(len(missing), workers, sources) as pool:
        jobs = [(r, loop.run_in_executor(pool, _render_job, r, cache_dir)) for r in missing]
        for request, job in jobs:
            try:
                branded = await job
            except (BrandingError, OSError) as exc:
                stats.failed[request.key] = str(exc)
                continue
            out[request.key] = branded
            stats.rendered += 1
            rows.append((request.key, branded))
            if on_progress:
                on_progress(1)
    async with conn.transaction(), conn.cursor() as cur:
        await cur.executemany(
            "INSERT INTO branded_images (cache_key, branded_sha256, path, mime_type)"
            " VALUES (%s, %s, %s, %s) ON CONFLICT (cache_key) DO UPDATE SET"
            " branded_sha256 = EXCLUDED.branded_sha256, path = EXCLUDED.path, rendered_at = now()",
            [(key, b.sha256, str(b.path), b.mime_type) for key, b in rows])
        await cur.executemany(
            "INSERT INTO pack_media (image_sha256, image_url, mime_type) VALUES (%s, %s, %s)"
            " ON CONFLICT (image_sha256) DO UPDATE SET image_url = EXCLUDED.image_url,"
            " mime_type = EXCLUDED.mime_type",
            sorted({(b.sha256, b.path.as_uri(), b.mime_type) for _, b in rows}))
    stats.cpu_s = _cpu_time() - cpu_before
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


#: Below this many renders, threads: starting worker processes costs more than it saves.
PROCESS_POOL_FROM = 200
_SOURCES: dict[str, bytes] = {}


def _pool(renders: int, workers: int | None, sources: dict[str, bytes]) -> Executor:
    """Worker processes for a big batch (Pillow's text drawing holds the GIL, so threads reach
    barely one core), threads for a small one. Processes are spawned, not forked: the caller has
    threads (an event loop, database connections) that a fork would copy mid-flight."""
    _SOURCES.clear()
    _SOURCES.update(sources)
    count = workers or os.cpu_count() or 2
    if renders < PROCESS_POOL_FROM or count < 2:
        return ThreadPoolExecutor(max_workers=count)
    return ProcessPoolExecutor(max_workers=count, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_load_sources, initargs=(sources,))


def _load_sources(sources: dict[str, bytes]) -> None:
    """In each worker process: the base images and logos every render job reads."""
    _SOURCES.update(sources)


def _cpu_time() -> float:
    """CPU seconds of this process and its finished children (the render workers)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def _render_job(request: BrandRequest, cache_dir: Path) -> Branded:
    return _render_to_disk(request, _SOURCES, cache_dir)


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
