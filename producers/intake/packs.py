"""Compliance pack intake: a ContentPack from JSON into ``compliance.packs.approved``, and back out.

A person or a test publishes with ``dawn packs publish FILE.json``; the compliance engine may
produce the same records itself. JSON carries dates as ISO strings (``run_date`` "2026-11-23",
``approved_at`` with an offset); every problem is reported with the field it is in, because the
person who wrote the file has to find it.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import httpx

from producers.kafka_io import KafkaConfigs, produce_all, read_to_end
from schemas.catalogue import PACKS
from schemas.codec import Codec

LANGUAGES = ("EN", "HI", "MR")
#: Card order of a per-advisor pack, and the order of the brief's ``media_urls``.
SLOTS = ("POST", "STATUS", "LINKEDIN")
MIME_TYPES = ("image/jpeg", "image/png")
#: Meta's limit for an image header.
MAX_IMAGE_BYTES = 5 * 1024 * 1024
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_REQUIRED = ("pack_id", "approval_id", "run_date", "approved_at", "variants")
_VARIANT_REQUIRED = ("language", "template_name", "template_language", "image_url", "image_sha256")


class PackError(ValueError):
    """A pack that must not be published, with every reason found."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid content pack:\n  " + "\n  ".join(problems))
        self.problems = problems


def load_pack_file(path: Path, published_at: datetime) -> dict[str, Any]:
    """The ContentPack record in JSON file ``path``; PackError says what is wrong with it."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise PackError([f"cannot read {path}: {exc.strerror or exc}"]) from exc
    except json.JSONDecodeError as exc:
        raise PackError([f"{path} is not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"]) \
            from exc
    return pack_from_json(doc, published_at)


def pack_from_json(doc: Any, published_at: datetime) -> dict[str, Any]:
    """Validate a decoded JSON document and turn it into a ContentPack record."""
    if not isinstance(doc, dict):
        raise PackError([f"a pack is a JSON object, not {type(doc).__name__}"])
    problems = [f"{name}: required" for name in _REQUIRED if name not in doc]
    for name in ("pack_id", "approval_id"):
        if name in doc and (not isinstance(doc[name], str) or not doc[name].strip()):
            problems.append(f"{name}: must be a non-empty string")
    run_date = _iso(doc, "run_date", date.fromisoformat, "an ISO date like 2026-11-23", problems)
    approved_at = _iso(doc, "approved_at", datetime.fromisoformat,
                       "an ISO date-time with an offset like 2026-11-22T18:30:00+00:00", problems)
    if isinstance(approved_at, datetime) and approved_at.utcoffset() is None:
        problems.append("approved_at: needs a UTC offset (e.g. +05:30 or Z); a bare time is ambiguous")
    variants = [_variant(v, i, problems) for i, v in enumerate(_list(doc, "variants", problems))]
    advisor_media = _advisor_media(doc.get("advisor_media", []), problems)
    languages = [v.get("language") for v in variants]
    for language in {lang for lang in languages if languages.count(lang) > 1}:
        problems.append(f"variants: language {language} appears more than once")
    if variants and "EN" not in languages:
        problems.append("variants: an EN variant is required (it is the fallback for every advisor)")
    if problems:
        raise PackError(problems)
    record = {
        "pack_id": doc["pack_id"], "approval_id": doc["approval_id"], "run_date": run_date,
        "approved_at": approved_at, "variants": variants, "published_at": published_at,
        "advisor_media": advisor_media,
    }
    try:
        Codec.encode_single_object(PACKS.value_schema, record)
    except ValueError as exc:
        raise PackError([str(exc)]) from exc
    return record


def publish_pack(configs: KafkaConfigs, record: Mapping[str, Any], codec: Codec) -> None:
    """Produce the pack keyed by pack_id and wait until Kafka acknowledged it."""
    produce_all(configs, PACKS.name, [(record["pack_id"], codec.encode(PACKS.name, dict(record)))])


def approved_packs(configs: KafkaConfigs, run_date: date, codec: Codec) -> list[dict[str, Any]]:
    """The packs approved for ``run_date``; a pack published again replaces its earlier version."""
    latest: dict[str, dict[str, Any]] = {}
    for stored in read_to_end(configs, PACKS.name, codec):
        record = stored.record
        if record["run_date"] == run_date:
            latest[record["pack_id"]] = record
    return [latest[k] for k in sorted(latest)]


def _iso(doc: Mapping[str, Any], name: str, parse: Any, expected: str, problems: list[str]) -> Any:
    if name not in doc:
        return None
    value = doc[name]
    try:
        if not isinstance(value, str):
            raise TypeError
        return parse(value)
    except (TypeError, ValueError):
        problems.append(f"{name}: {value!r} is not {expected}")
        return None


def _list(doc: Mapping[str, Any], name: str, problems: list[str]) -> list[Any]:
    value = doc.get(name)
    if name in doc and (not isinstance(value, list) or not value):
        problems.append(f"{name}: must be a non-empty list")
        return []
    return value or []


def _variant(v: Any, i: int, problems: list[str]) -> dict[str, Any]:
    where = f"variants[{i}]"
    if not isinstance(v, dict):
        problems.append(f"{where}: must be an object")
        return {}
    problems.extend(f"{where}.{name}: required" for name in _VARIANT_REQUIRED if not v.get(name))
    if v.get("language") and v["language"] not in LANGUAGES:
        problems.append(f"{where}.language: {v['language']!r} is not one of {', '.join(LANGUAGES)}")
    mime = v.get("image_mime_type", "image/jpeg")
    if mime not in MIME_TYPES:
        problems.append(f"{where}.image_mime_type: {mime!r} is not one of {', '.join(MIME_TYPES)}")
    sha = v.get("image_sha256")
    if sha and (not isinstance(sha, str) or not _SHA256.match(sha)):
        problems.append(f"{where}.image_sha256: must be 64 lowercase hex digits")
    url = v.get("image_url")
    if url and (not isinstance(url, str) or not url.startswith(("https://", "file://"))):
        problems.append(f"{where}.image_url: must start with https:// or file://")
    caption = v.get("caption")
    if caption is not None and not isinstance(caption, str):
        problems.append(f"{where}.caption: must be a string or null")
    carousel = v.get("carousel_template_name")
    if carousel is not None and (not isinstance(carousel, str) or not carousel):
        problems.append(f"{where}.carousel_template_name: must be a template name or null")
    slots = v.get("slot_images", [])
    if not isinstance(slots, list):
        problems.append(f"{where}.slot_images: must be a list")
        slots = []
    slot_images = [_slot_image(s, f"{where}.slot_images[{k}]", problems, sha_required=True)
                   for k, s in enumerate(slots)]
    backups = [_choice(b, f"{where}.backups[{k}]", problems)
               for k, b in enumerate(_optional_list(v, "backups", where, problems))]
    primary = (v.get("template_name"), v.get("template_language"))
    pairs = [(b["template_name"], b["template_language"]) for b in backups]
    if primary in pairs or len(set(pairs)) != len(pairs):
        problems.append(f"{where}.backups: a template is named twice (primary or backups)")
    conservative = v.get("conservative")
    if conservative is not None:
        conservative = _choice(conservative, f"{where}.conservative", problems)
    arms = [_arm(a, f"{where}.ab_variants[{k}]", problems)
            for k, a in enumerate(_optional_list(v, "ab_variants", where, problems))]
    names = [a["arm"] for a in arms]
    if len(arms) == 1:
        problems.append(f"{where}.ab_variants: an A/B test needs at least two arms")
    if len(set(names)) != len(names):
        problems.append(f"{where}.ab_variants: arm names must be unique")
    return {
        "language": v.get("language"), "template_name": v.get("template_name"),
        "template_language": v.get("template_language"), "image_url": url,
        "image_sha256": sha, "image_mime_type": mime, "caption": caption,
        "slot_images": slot_images, "carousel_template_name": carousel,
        "backups": backups, "conservative": conservative, "ab_variants": arms,
    }


def _slot_image(s: Any, where: str, problems: list[str], *, sha_required: bool) -> dict[str, Any]:
    if not isinstance(s, dict):
        problems.append(f"{where}: must be an object")
        return {}
    slot, url, sha = s.get("slot"), s.get("image_url"), s.get("image_sha256")
    mime = s.get("image_mime_type", "image/jpeg")
    if slot not in SLOTS:
        problems.append(f"{where}.slot: {slot!r} is not one of {', '.join(SLOTS)}")
    if not isinstance(url, str) or not url.startswith(("https://", "file://")):
        problems.append(f"{where}.image_url: must start with https:// or file://")
    if (sha_required or sha) and (not isinstance(sha, str) or not _SHA256.match(sha)):
        problems.append(f"{where}.image_sha256: must be 64 lowercase hex digits")
    if mime not in MIME_TYPES:
        problems.append(f"{where}.image_mime_type: {mime!r} is not one of {', '.join(MIME_TYPES)}")
    return {"slot": slot, "image_url": url, "image_sha256": sha or "", "image_mime_type": mime}


def _advisor_media(entries: Any, problems: list[str]) -> list[dict[str, Any]]:
    """Per-advisor images: ``images`` like slot_images, or the brief's ``media_urls`` (post,
    status, LinkedIn) whose hashes and types :func:`check_media` fills in from the bytes."""
    if not isinstance(entries, list):
        problems.append("advisor_media: must be a list")
        return []
    out, seen = [], set()
    for i, entry in enumerate(entries):
        where = f"advisor_media[{i}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("advisor_id"), str) \
                or not entry["advisor_id"]:
            problems.append(f"{where}: must be an object with an advisor_id")
            continue
        if entry["advisor_id"] in seen:
            problems.append(f"{where}: advisor {entry['advisor_id']} appears more than once")
        seen.add(entry["advisor_id"])
        if "media_urls" in entry:
            urls = entry["media_urls"]
            if not isinstance(urls, list) or len(urls) != len(SLOTS):
                problems.append(f"{where}.media_urls: must list {len(SLOTS)} URLs "
                                f"({', '.join(s.lower() for s in SLOTS)})")
                continue
            images = [{"slot": slot, "image_url": url} for slot, url in zip(SLOTS, urls, strict=True)]
        else:
            images = entry.get("images")
            if not isinstance(images, list) or not images:
                problems.append(f"{where}: needs media_urls or images")
                continue
        out.append({"advisor_id": entry["advisor_id"], "images": [
            _slot_image(s, f"{where}.images[{k}]", problems, sha_required=False)
            for k, s in enumerate(images)]})
    return out


def check_media(record: dict[str, Any], fetch: Callable[[str], bytes], workers: int = 8) -> None:
    """Fetch every image the pack names and check what Meta will check, before anyone is planned
    on it: reachable, really a JPEG or PNG (by its bytes, not its name), at most 5 MB, and the
    declared hash; a per-advisor image without a hash gets it (and its type) from its bytes.
    Raises PackError listing every bad image."""
    named: list[tuple[str, dict[str, Any]]] = []
    for i, v in enumerate(record["variants"]):
        named.append((f"variants[{i}]", v))
        named.extend((f"variants[{i}].slot_images[{k}]", s) for k, s in enumerate(v["slot_images"]))
    for i, entry in enumerate(record["advisor_media"]):
        named.extend((f"advisor_media[{i}].images[{k}]", s) for k, s in enumerate(entry["images"]))
    urls = sorted({image["image_url"] for _, image in named})
    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = dict(zip(urls, pool.map(lambda url: _probe(url, fetch), urls), strict=True))
    problems = []
    for where, image in named:
        outcome = results[image["image_url"]]
        if isinstance(outcome, str):
            problems.append(f"{where}.image_url: {outcome}")
            continue
        sha, mime = outcome
        if image["image_sha256"] and image["image_sha256"] != sha:
            problems.append(f"{where}: image_sha256 does not match the bytes at {image['image_url']}")
        if "image_mime_type" in image and image["image_mime_type"] != mime \
                and image.get("image_sha256"):
            problems.append(f"{where}.image_mime_type: declared {image['image_mime_type']}, "
                            f"the bytes are {mime}")
        image["image_sha256"], image["image_mime_type"] = sha, mime
    if problems:
        raise PackError(problems)


def _probe(url: str, fetch: Callable[[str], bytes]) -> tuple[str, str] | str:
    """(sha256, mime type) of the image at ``url``, or why it cannot be sent."""
    try:
        data = fetch(url)
    except Exception as exc:
        return f"cannot fetch {url}: {exc}"
    if len(data) > MAX_IMAGE_BYTES:
        return f"{url} is {len(data) / 2**20:.1f} MB; Meta accepts images up to 5 MB"
    if data.startswith(b"\xff\xd8\xff"):
        mime = "image/jpeg"
    elif data.startswith(b"\x89PNG\r\n\x1a\n"):
        mime = "image/png"
    else:
        return f"{url} is not a JPEG or PNG image (Meta accepts only those for image headers)"
    return hashlib.sha256(data).hexdigest(), mime


def fetch_url(url: str, timeout: float = 20.0) -> bytes:
    """The bytes at a file:// or https:// URL (what ``dawn packs publish`` checks with)."""
    parsed = urlparse(url)
    if parsed.scheme == "file":
        try:
            return Path(unquote(parsed.path)).read_bytes()
        except OSError as exc:
            raise OSError(exc.strerror or str(exc)) from None
    response = httpx.get(url, timeout=timeout, follow_redirects=True)
    response.raise_for_status()
    return response.content


def _optional_list(v: dict[str, Any], name: str, where: str, problems: list[str]) -> list[Any]:
    value = v.get(name)
    if value is None:
        return []
    if not isinstance(value, list):
        problems.append(f"{where}.{name}: must be a list")
        return []
    return value


def _choice(c: Any, where: str, problems: list[str]) -> dict[str, Any]:
    """A template reference (backup or conservative): both names required, as strings."""
    if not isinstance(c, dict):
        problems.append(f"{where}: must be an object with template_name and template_language")
        return {"template_name": "", "template_language": ""}
    for name in ("template_name", "template_language"):
        if not isinstance(c.get(name), str) or not c[name].strip():
            problems.append(f"{where}.{name}: required, a non-empty string")
    return {"template_name": c.get("template_name") or "",
            "template_language": c.get("template_language") or ""}


def _arm(a: Any, where: str, problems: list[str]) -> dict[str, Any]:
    """An A/B arm: a name, a template and a positive integer weight (its share of advisors)."""
    choice = _choice(a, where, problems)
    if not isinstance(a, dict):
        return {**choice, "arm": "", "weight": 0}
    if not isinstance(a.get("arm"), str) or not a["arm"].strip():
        problems.append(f"{where}.arm: required, a non-empty string")
    weight = a.get("weight", 1)
    if isinstance(weight, bool) or not isinstance(weight, int) or weight <= 0:
        problems.append(f"{where}.weight: must be a positive integer")
        weight = 0
    return {**choice, "arm": a.get("arm") or "", "weight": weight}
