"""Pre-staging pack images: uploaded once per sender number before the window opens.

An image header sent without a media id fails (132012), and uploading at send time would put a
multi-megabyte POST in front of the first message of every number at 06:00. Whether a media id
works from another number is unverified, so each number gets its own upload; ids live 30 days, so
one younger than 29 days is reused (a day of margin for a morning that runs late).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Iterable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote, urlparse

import httpx
import psycopg

from store.send_ledger import cache_media_id, record_pack_image

log = logging.getLogger("dawn.scheduler")

FRESH_FOR = timedelta(days=29)
EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png"}


class MediaUploader(Protocol):
    """What pre-staging needs of the Cloud API client (whatsapp.client.CloudApiClient has it)."""

    async def upload_media(self, phone_number_id: str, data: bytes, mime_type: str,
                           filename: str = ...) -> str: ...


class MediaError(RuntimeError):
    """A pack image that cannot be fetched or does not match its declared hash."""


async def fetch_image(url: str, http: httpx.AsyncClient) -> bytes:
    """The bytes at a pack's image_url (file:// or https://)."""
    parsed = urlparse(url)
    if parsed.scheme == "file":
        try:
            return await asyncio.to_thread(Path(unquote(parsed.path)).read_bytes)
        except OSError as exc:
            raise MediaError(f"cannot read pack image {url}: {exc.strerror or exc}") from exc
    if parsed.scheme != "https":
        raise MediaError(f"pack image {url}: only file:// and https:// are fetched")
    try:
        response = await http.get(url, follow_redirects=True)
        response.raise_for_status()
    except httpx.HTTPError as exc:
        raise MediaError(f"cannot fetch pack image {url}: {exc}") from exc
    return response.content


async def stage_media(
    conn: psycopg.AsyncConnection,
    uploader: MediaUploader,
    needs: Iterable[tuple[str, dict[str, Any]]],
    now: datetime,
    http: httpx.AsyncClient,
) -> dict[tuple[str, str], str]:
    """Make sure every (phone_number_id, variant) has a fresh media id; returns them all.

    ``needs`` pairs a sender number with the pack variant it will send. Every image is fetched
    once and checked against image_sha256, even when all its ids are cached, so a swapped file
    never goes out under an approval; its URL is recorded in ``pack_media`` because a sender
    failing over to an unstaged number uploads from there.
    """
    wanted = {(pnid, v["image_sha256"]): v for pnid, v in needs}
    images: dict[str, bytes] = {}
    for sha, variant in sorted({sha: v for (_, sha), v in wanted.items()}.items()):
        data = await fetch_image(variant["image_url"], http)
        if hashlib.sha256(data).hexdigest() != sha:
            raise MediaError(f"pack image {variant['image_url']} does not match its image_sha256")
        images[sha] = data
        await record_pack_image(conn, sha, variant["image_url"], variant["image_mime_type"])
    fresh = await _fresh_ids(conn, wanted, now)
    staged = dict(fresh)
    for (pnid, sha), variant in sorted(wanted.items()):
        if (pnid, sha) in fresh:
            continue
        mime = variant["image_mime_type"]
        media_id = await uploader.upload_media(
            pnid, images[sha], mime, f"{sha[:16]}.{EXTENSIONS.get(mime, 'bin')}"
        )
        await cache_media_id(conn, pnid, sha, media_id, now)
        staged[(pnid, sha)] = media_id
    log.info("media staged: %d uploaded, %d reused from the cache", len(staged) - len(fresh), len(fresh))
    return staged


async def _fresh_ids(conn: psycopg.AsyncConnection, wanted: Iterable[tuple[str, str]],
                     now: datetime) -> dict[tuple[str, str], str]:
    pairs = list(wanted)
    if not pairs:
        return {}
    cur = await conn.execute(
        "SELECT phone_number_id, image_sha256, media_id FROM media_cache"
        " WHERE (phone_number_id, image_sha256) IN (SELECT * FROM unnest(%s::text[], %s::text[]))"
        " AND uploaded_at > %s",
        ([p for p, _ in pairs], [s for _, s in pairs], now - FRESH_FOR),
    )
    return {(p, s): m for p, s, m in await cur.fetchall()}
