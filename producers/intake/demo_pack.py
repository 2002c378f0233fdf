"""A demo content pack for ``dawn run``: a real PNG made in code, and the pack that points at it.

The sandbox checks that uploads are images, so the demo needs valid image bytes; drawing a small
PNG with zlib and struct avoids shipping a binary file or depending on an imaging library.
"""

from __future__ import annotations

import hashlib
import io
import struct
import zlib
from datetime import date, datetime
from pathlib import Path
from typing import Any

DEMO_TEMPLATE = "daily_pack_v1"
DEMO_CAROUSEL = "daily_pack_carousel_v1"
#: A square image per slot, in card order: the advisor's feed post, WhatsApp status, LinkedIn post.
SLOT_SIZES = {"POST": (720, 720), "STATUS": (540, 960), "LINKEDIN": (800, 418)}
#: The demo world's backup template (``dawn run``): a paused DEMO_TEMPLATE rotates to it.
DEMO_BACKUP = "daily_pack_v2"
_TEMPLATE_LANGUAGES = {"EN": "en", "HI": "hi", "MR": "mr"}


def png_bytes(width: int = 64, height: int = 64, seed: int = 0) -> bytes:
    """An RGB PNG with a diagonal gradient (``seed`` shifts the colours, so images can differ)."""
    rows = b"".join(
        b"\x00" + bytes(
            channel for x in range(width)
            for channel in ((x * 4 + seed) % 256, (y * 4 + seed * 3) % 256, ((x + y) * 2) % 256)
        )
        for y in range(height)
    )
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(rows)) \
        + _chunk(b"IEND", b"")


def write_demo_pack(directory: Path, run_date: date, approved_at: datetime,
                    published_at: datetime, backup: str | None = None) -> dict[str, Any]:
    """Write the demo image into ``directory`` and return a ContentPack record for ``run_date``;
    ``backup`` names a backup template for every variant."""
    directory.mkdir(parents=True, exist_ok=True)
    data = png_bytes(seed=run_date.toordinal() % 256)
    path = (directory / f"demo-pack-{run_date.isoformat()}.png").resolve()
    path.write_bytes(data)
    sha = hashlib.sha256(data).hexdigest()
    return {
        "pack_id": f"demo-{run_date.isoformat()}",
        "approval_id": f"demo-approval-{run_date.isoformat()}",
        "run_date": run_date,
        "approved_at": approved_at,
        "published_at": published_at,
        "variants": [
            {"language": language, "template_name": DEMO_TEMPLATE, "template_language": code,
             "image_url": path.as_uri(), "image_sha256": sha, "image_mime_type": "image/png",
             "caption": None,
             "backups": [{"template_name": backup, "template_language": code}] if backup else []}
            for language, code in _TEMPLATE_LANGUAGES.items()
        ],
    }


def slot_image_bytes(slot: str, seed: int) -> bytes:
    """A JPEG base image for ``slot``: a gradient card with a few bars, distinct per slot and day.
    (Pillow draws it; the brand overlay needs Pillow anyway.)"""
    from PIL import Image, ImageDraw

    width, height = SLOT_SIZES[slot]
    hue = (seed * 37 + len(slot) * 53) % 256
    image = Image.linear_gradient("L").resize((width, height)).convert("RGB")
    image = Image.merge("RGB", [band.point(lambda v, k=k: (v + hue * (k + 1)) % 256)
                                for k, band in enumerate(image.split())])
    draw = ImageDraw.Draw(image)
    for k in range(5):
        top = height - (k + 2) * height // 9
        draw.rectangle((width // 10 + k * width // 6, top, width // 10 + k * width // 6 + width // 10,
                        height - height // 12), fill=(250, 250, 250))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85)
    return out.getvalue()


def add_slot_images(pack: dict[str, Any], directory: Path) -> dict[str, Any]:
    """Make ``pack`` per-advisor: post, status and LinkedIn base images on every variant, sent as
    the demo's 3-card carousel (each advisor gets their branded copies)."""
    seed = pack["run_date"].toordinal() % 256
    slots = []
    for slot in SLOT_SIZES:
        data = slot_image_bytes(slot, seed)
        path = (directory / f"demo-{slot.lower()}-{pack['run_date'].isoformat()}.jpg").resolve()
        path.write_bytes(data)
        slots.append({"slot": slot, "image_url": path.as_uri(),
                      "image_sha256": hashlib.sha256(data).hexdigest(), "image_mime_type": "image/jpeg"})
    for variant in pack["variants"]:
        variant["slot_images"] = slots
        variant["carousel_template_name"] = DEMO_CAROUSEL
    return pack


def _chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload \
        + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF)
