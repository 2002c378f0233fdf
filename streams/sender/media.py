"""Header image media ids per sender number.

The scheduler pre-stages them at 05:59 (``media_cache``); the sender only uploads on a miss, from
the bytes the pack recorded in ``pack_media`` (an http(s) URL or a local file path). A lock per
(number, image) makes one upload serve every send waiting for it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import httpx
from psycopg_pool import AsyncConnectionPool

from store.send_ledger import cache_media_id, cached_media_id, pack_image
from whatsapp.client import CloudApiClient

#: Media ids live 30 days; one day of margin for a morning that runs late.
MEDIA_FRESH_FOR = timedelta(days=29)


def images_of(intent: Mapping[str, Any]) -> list[str]:
    """The images an intent shows, by hash: each carousel card's, or the one header image."""
    return list(intent.get("card_images") or ()) or [intent["image_sha256"]]


class MediaUnavailable(LookupError):
    """The intent names an image nobody staged: the record cannot be sent as it is."""


class MediaResolver:
    def __init__(self, pool: AsyncConnectionPool, now: Callable[[], datetime]) -> None:
        self._pool = pool
        self._now = now
        self._ids: dict[tuple[str, str], str] = {}
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}

    async def media_id(self, client: CloudApiClient, phone_number_id: str, image_sha256: str) -> str:
        key = (phone_number_id, image_sha256)
        if (found := self._ids.get(key)) is not None:
            return found
        async with self._locks.setdefault(key, asyncio.Lock()):
            if (found := self._ids.get(key)) is None:
                found = await self._load_or_upload(client, phone_number_id, image_sha256)
                self._ids[key] = found
        return found

    async def _load_or_upload(self, client: CloudApiClient, phone_number_id: str,
                              image_sha256: str) -> str:
        async with self._pool.connection() as conn:
            cached = await cached_media_id(conn, phone_number_id, image_sha256,
                                           self._now() - MEDIA_FRESH_FOR)
            if cached is not None:
                return cached
            source = await pack_image(conn, image_sha256)
        if source is None:
            raise MediaUnavailable(f"image {image_sha256} is neither cached nor recorded in pack_media")
        url, mime_type = source
        data = await _read(url)
        media_id = await client.upload_media(phone_number_id, data, mime_type,
                                                   Path(urlparse(url).path).name or "image")
        async with self._pool.connection() as conn:
            await cache_media_id(conn, phone_number_id, image_sha256, media_id, self._now())
        return media_id


async def _read(url: str) -> bytes:
    parsed = urlparse(url)
    if parsed.scheme in ("http", "https"):
        async with httpx.AsyncClient(timeout=30.0) as http:
            response = await http.get(url)
            response.raise_for_status()
            return response.content
    path = Path(unquote(parsed.path) if parsed.scheme == "file" else url)
    return await asyncio.to_thread(path.read_bytes)
