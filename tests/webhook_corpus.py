"""The webhook corpus (tests/data/webhooks/*.json) and what each body must become in Kafka.

The bodies follow Meta's webhook reference examples (statuses with conversation and pricing,
errors with details, every inbound type, system messages, template, number, account, capability
and preference fields) and the shapes open-source clients record in their test fixtures; some are
serialised as Meta does (``\\uXXXX`` for non-ASCII, ``\\/`` for ``/``), the others as UTF-8.

The oracle is written from Meta's field names, not from dawn's parser: :data:`STATUS_FIELDS`,
:data:`INBOUND_FIELDS` and :data:`ACCOUNT_FIELDS` say where each typed record field comes from in
the item's JSON; :data:`RAW_ONLY` lists the JSON leaves dawn deliberately keeps in ``raw_json``
only. A leaf in neither is a field dropped on the way: the corpus test fails on it.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

CORPUS = Path(__file__).resolve().parent / "data" / "webhooks"
MEDIA = ("image", "video", "audio", "document", "sticker")


def corpus() -> dict[str, bytes]:
    """Every corpus body, by file stem, as the exact bytes to sign and post."""
    return {p.stem: p.read_bytes() for p in sorted(CORPUS.glob("*.json"))}


def get(doc: Any, path: str) -> Any:
    """``doc`` at a dotted path (``a.b.c``, ``a.0.b`` for a list's first); None where missing."""
    for step in path.split("."):
        if isinstance(doc, list) and step.isdigit():
            doc = doc[int(step)] if int(step) < len(doc) else None
        elif isinstance(doc, dict):
            doc = doc.get(step)
        else:
            return None
    return doc


def ms(value: Any) -> int | None:
    return None if value is None else int(value) * 1000


def _first(*paths: str) -> Callable[[dict[str, Any]], Any]:
    def pick(item: dict[str, Any]) -> Any:
        for path in paths:
            value = get(item, path)
            if value is not None:
                return value
        return None
    return pick


def _interactive(key: str) -> Callable[[dict[str, Any]], Any]:
    return lambda item: get(item, f"interactive.{get(item, 'interactive.type')}.{key}")


def _media(key: str) -> Callable[[dict[str, Any]], Any]:
    return lambda item: get(item, f"{item['type']}.{key}") if item.get("type") in MEDIA else None


def _errors(item: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"code": e.get("code"), "title": e.get("title"), "message": e.get("message"),
             "details": get(e, "error_data.details")} for e in item.get("errors") or []]


#: Typed StatusEvent field -> how Meta's status item gives it.
STATUS_FIELDS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "wamid": _first("id"),
    "status": lambda i: i["status"].upper(),
    "timestamp": lambda i: ms(i["timestamp"]),
    "recipient_id": _first("recipient_id"),
    "recipient_user_id": _first("recipient_user_id"),
    "recipient_parent_user_id": _first("recipient_parent_user_id"),
    "callback_data": _first("biz_opaque_callback_data"),
    "errors": _errors,
    "pricing.billable": _first("pricing.billable"),
    "pricing.pricing_model": _first("pricing.pricing_model"),
    "pricing.category": _first("pricing.category"),
    "pricing.type": _first("pricing.type", "pricing.pricing_type"),
    "conversation.id": _first("conversation.id"),
    "conversation.origin_type": _first("conversation.origin.type"),
    "conversation.expiration_timestamp": lambda i: ms(get(i, "conversation.expiration_timestamp")),
}

#: Typed InboundMessage field -> how Meta's message item gives it.
INBOUND_FIELDS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "event_id": _first("id"),
    "type": _first("type"),
    "timestamp": lambda i: ms(i["timestamp"]),
    "from_wa_id": _first("from"),
    "text": lambda i: get(i, "text.body") or get(i, "button.text") or _interactive("title")(i),
    "button_payload": lambda i: get(i, "button.payload") or _interactive("id")(i),
    "button_text": _first("button.text"),
    "interactive_type": _first("interactive.type"),
    "reply_id": _interactive("id"),
    "reply_title": _interactive("title"),
    "reply_description": _interactive("description"),
    "context_wamid": _first("context.id"),
    "context_from": _first("context.from"),
    "forwarded": _first("context.forwarded"),
    "frequently_forwarded": _first("context.frequently_forwarded"),
    "caption": _media("caption"),
    **{f"media.{k}": _media(k) for k in ("id", "mime_type", "sha256", "caption", "filename", "voice",
                                         "animated")},
    **{f"referral.{k}": _first(f"referral.{k}") for k in (
        "source_url", "source_id", "source_type", "headline", "body", "media_type", "image_url",
        "video_url", "thumbnail_url", "ctwa_clid")},
    "reaction.message_id": _first("reaction.message_id"),
    "reaction.emoji": _first("reaction.emoji"),
    "system.type": _first("system.type"),
    "system.body": _first("system.body"),
    "system.wa_id": _first("system.wa_id", "system.new_wa_id"),
    "system.user_id": _first("system.user_id"),
    "system.previous_user_id": _first("system.previous_user_id"),
    "system.identity": _first("system.identity"),
    "system.customer": _first("system.customer"),
    "errors": _errors,
}

_TEMPLATE = {"template_id": _first("message_template_id"),
             "template_name": _first("message_template_name"),
             "template_language": _first("message_template_language")}

#: Typed AccountEvent field -> how Meta's change value gives it, per webhook field.
ACCOUNT_FIELDS: dict[str, dict[str, Callable[[dict[str, Any]], Any]]] = {
    "message_template_status_update": {
        **_TEMPLATE, "event": _first("event"), "reason": _first("reason"),
        "template_category": _first("message_template_category"),
        "other_info_title": _first("other_info.title"),
        "other_info_description": _first("other_info.description"),
        "rejection_reason": _first("rejection_info.reason"),
        "rejection_recommendation": _first("rejection_info.recommendation"),
    },
    "message_template_quality_update": {
        **_TEMPLATE, "previous_quality": _first("previous_quality_score"),
        "new_quality": _first("new_quality_score"),
    },
    "template_category_update": {
        **_TEMPLATE, "previous_category": _first("previous_category"),
        "new_category": _first("new_category"), "correct_category": _first("correct_category"),
        "category_update_timestamp": lambda v: ms(v.get("category_update_timestamp")),
    },
    "message_template_components_update": {
        **_TEMPLATE, "template_element": _first("message_template_element"),
        "template_title": _first("message_template_title"),
        "template_footer": _first("message_template_footer"),
    },
    "phone_number_quality_update": {
        "event": _first("event"), "display_phone_number": _first("display_phone_number"),
        "old_limit": _first("old_limit"), "current_limit": _first("current_limit"),
        "max_daily_conversations_per_business": _first("max_daily_conversations_per_business"),
    },
    "account_update": {"event": _first("event"), "display_phone_number": _first("phone_number"),
                       "reason": _first("violation_info.violation_type")},
    "business_capability_update": {
        k: _first(k) for k in ("max_daily_conversation_per_phone", "max_phone_numbers_per_business",
                               "max_phone_numbers_per_waba", "max_daily_conversations_per_business")
    },
    "user_preferences": {
        "subject_wa_id": _first("user_preferences.0.wa_id"),
        "category": _first("user_preferences.0.category"),
        "event": _first("user_preferences.0.value"), "detail": _first("user_preferences.0.detail"),
    },
}

_ERRORS = {"errors.[].code", "errors.[].title", "errors.[].message", "errors.[].error_data.details"}

#: Every JSON leaf of a status item the typed fields above read.
STATUS_SOURCES = {
    "id", "status", "timestamp", "recipient_id", "recipient_user_id", "recipient_parent_user_id",
    "biz_opaque_callback_data", "pricing.billable", "pricing.pricing_model", "pricing.category",
    "pricing.type", "pricing.pricing_type", "conversation.id", "conversation.origin.type",
    "conversation.expiration_timestamp", *_ERRORS,
}

#: Every JSON leaf of a message item the typed fields above read (<media> and <reply> stand for
#: the media type's and the interactive reply's own key).
INBOUND_SOURCES = {
    "id", "type", "timestamp", "from", "from_user_id", "text.body", "button.text", "button.payload",
    "interactive.type", "interactive.<reply>.id", "interactive.<reply>.title",
    "interactive.<reply>.description", "context.id", "context.from", "context.forwarded",
    "context.frequently_forwarded",
    *(f"<media>.{k}" for k in ("id", "mime_type", "sha256", "caption", "filename", "voice", "animated")),
    *(f"referral.{k}" for k in ("source_url", "source_id", "source_type", "headline", "body",
                                "media_type", "image_url", "video_url", "thumbnail_url", "ctwa_clid")),
    "reaction.message_id", "reaction.emoji", "system.type", "system.body", "system.wa_id",
    "system.new_wa_id", "system.user_id", "system.previous_user_id", "system.identity",
    "system.customer", *_ERRORS,
}

#: JSON leaves kept in raw_json only, on purpose (no consumer asks for them typed yet).
RAW_ONLY = {
    "status": {"errors.[].href"},
    "message": {"location.latitude", "location.longitude", "location.name", "location.address",
                "location.url",
                "contacts.[].name.formatted_name", "contacts.[].name.first_name",
                "contacts.[].phones.[].phone", "contacts.[].phones.[].wa_id",
                "contacts.[].phones.[].type", "interactive.<reply>.name", "interactive.<reply>.body",
                "interactive.<reply>.response_json", "identity.acknowledged",
                "identity.created_timestamp", "identity.hash", "errors.[].href"},
}


def leaves(doc: Any, prefix: str = "") -> Iterator[str]:
    """Dotted paths of every scalar in ``doc``; list positions become ``[]``."""
    if isinstance(doc, dict):
        for key, value in doc.items():
            yield from leaves(value, f"{prefix}{key}.")
    elif isinstance(doc, list):
        for value in doc:
            yield from leaves(value, f"{prefix}[].")
    else:
        yield prefix[:-1]


def generic(path: str, item: dict[str, Any]) -> str:
    """``path`` with the media type's key as <media> and the interactive reply's as <reply>."""
    kind = item.get("type")
    if kind in MEDIA and path.startswith(f"{kind}."):
        return "<media>." + path.split(".", 1)[1]
    reply = get(item, "interactive.type")
    if reply and path.startswith(f"interactive.{reply}."):
        return "interactive.<reply>." + path.split(".", 2)[2]
    return path


def untyped(kind: str, item: dict[str, Any]) -> set[str]:
    """Leaves of a status or message item that no typed field reads and RAW_ONLY does not name."""
    sources = STATUS_SOURCES if kind == "status" else INBOUND_SOURCES
    return {p for p in (generic(leaf, item) for leaf in leaves(item))
            if p not in sources and p not in RAW_ONLY[kind]}


def big_batch(pnid: str, waba: str, updates: int = 1000, target_bytes: int = 3_000_000,
              seed: int = 7) -> bytes:
    """One POST of ``updates`` changes and about ``target_bytes``, Meta-serialised, made of the
    corpus's items (every kind, Hindi and Marathi) with unique ids and padded inbound texts."""
    rng = random.Random(seed)
    items: list[tuple[str, dict[str, Any]]] = []
    for raw in corpus().values():
        for entry in json.loads(raw)["entry"]:
            for change in entry["changes"]:
                value = change["value"]
                for key in ("statuses", "messages"):
                    items.extend((key, i) for i in value.get(key, []))
    changes = []
    for n in range(updates):
        key, item = items[n % len(items)]
        item = json.loads(json.dumps(item))
        item["id"] = f"wamid.BIG{pnid}.{n:05d}"
        if key == "messages" and item.get("type") == "text":
            item["text"]["body"] = ""
        changes.append({"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550783881", "phone_number_id": pnid},
            key: [item]}})
    doc = {"object": "whatsapp_business_account", "entry": [{"id": waba, "changes": changes}]}
    size = len(_meta(doc))
    texts = [c["value"]["messages"][0] for c in changes
             if "messages" in c["value"] and c["value"]["messages"][0].get("type") == "text"]
    words = ("नमस्ते आज का पैक", "थांबवा / धन्यवाद", "market note / बाजार", "पुन्हा सुरू")
    per_text = max(0, (target_bytes - size) // max(1, len(texts)))
    for item in texts:
        body = ""
        while len(_meta(body)) < per_text:
            body += rng.choice(words) + " "
        item["text"]["body"] = body
    return _meta(doc)


def _meta(doc: Any) -> bytes:
    """Serialised as Meta does: non-ASCII as \\uXXXX escapes and "/" as "\\/"."""
    return json.dumps(doc, ensure_ascii=True).replace("/", "\\/").encode()
