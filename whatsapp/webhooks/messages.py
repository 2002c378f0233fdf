"""The ``messages`` field: statuses of what we sent, what users sent us, and system errors.

Contacts are matched to their message by phone (``wa_id``) or business-scoped ``user_id``, since
a username user may come with no phone number at all.

Keys of a value this module does not read are ignored when the value also carries statuses,
messages or errors: Meta adds fields to known events, and an UnknownChange for every one of them
would flood the unknown stream once per change. A value with none of the three is an event type we
do not know yet, and is kept whole as an UnknownChange.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from whatsapp.coerce import as_bool, as_dict, as_int, as_list, as_str
from whatsapp.webhooks.events import (
    Conversation,
    ErrorDetail,
    InboundMessage,
    Media,
    Pricing,
    Reaction,
    Referral,
    StatusUpdate,
    SystemChange,
    SystemErrorEvent,
    UnknownChange,
)

Item = StatusUpdate | InboundMessage | SystemErrorEvent | UnknownChange

_LISTS = ("statuses", "messages", "errors")
#: Message types whose object is a media object (id, mime_type, sha256, caption, ...).
MEDIA_TYPES = ("image", "video", "audio", "document", "sticker")


def value_digest(value: Any) -> str:
    """A short digest of a whole change value, key order ignored."""
    text = json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def parse_errors(value: Any) -> tuple[ErrorDetail, ...]:
    return tuple(
        ErrorDetail(
            code=as_int(item.get("code")),
            title=as_str(item.get("title")),
            message=as_str(item.get("message")),
            details=as_str(as_dict(item.get("error_data")).get("details")),
            href=as_str(item.get("href")),
        )
        for item in as_list(value)
        if isinstance(item, dict)
    )


def _pricing(value: Any) -> Pricing | None:
    if not isinstance(value, dict):
        return None
    return Pricing(
        billable=as_bool(value.get("billable")),
        pricing_model=as_str(value.get("pricing_model")),
        type=as_str(value.get("type")) or as_str(value.get("pricing_type")),
        category=as_str(value.get("category")),
    )


def _conversation(value: Any) -> Conversation | None:
    if not isinstance(value, dict):
        return None
    return Conversation(
        id=as_str(value.get("id")),
        origin_type=as_str(as_dict(value.get("origin")).get("type")),
        expiration_timestamp=as_int(value.get("expiration_timestamp")),
    )


def _media(item: dict[str, Any], kind: str | None) -> Media | None:
    value = item.get(kind) if kind in MEDIA_TYPES else None
    if not isinstance(value, dict):
        return None
    return Media(
        id=as_str(value.get("id")), mime_type=as_str(value.get("mime_type")),
        sha256=as_str(value.get("sha256")), caption=as_str(value.get("caption")),
        filename=as_str(value.get("filename")), url=as_str(value.get("url")),
        voice=as_bool(value.get("voice")), animated=as_bool(value.get("animated")),
    )


def _referral(value: Any) -> Referral | None:
    if not isinstance(value, dict):
        return None
    return Referral(**{name: as_str(value.get(name)) for name in Referral.__dataclass_fields__})


def _reaction(value: Any) -> Reaction | None:
    if not isinstance(value, dict):
        return None
    return Reaction(message_id=as_str(value.get("message_id")), emoji=as_str(value.get("emoji")))


def _system(value: Any) -> SystemChange | None:
    if not isinstance(value, dict):
        return None
    return SystemChange(
        type=as_str(value.get("type")), body=as_str(value.get("body")),
        wa_id=as_str(value.get("wa_id")) or as_str(value.get("new_wa_id")),
        user_id=as_str(value.get("user_id")), parent_user_id=as_str(value.get("parent_user_id")),
        previous_user_id=as_str(value.get("previous_user_id")),
        previous_parent_user_id=as_str(value.get("previous_parent_user_id")),
        identity=as_str(value.get("identity")), customer=as_str(value.get("customer")),
    )


def find_contact(contacts: list[dict[str, Any]], wa_id: str | None, user_id: str | None) -> dict[str, Any]:
    """The contact for a user; a lone contact that contradicts neither id is taken as theirs."""
    for contact in contacts:
        if (wa_id and contact.get("wa_id") == wa_id) or (user_id and contact.get("user_id") == user_id):
            return contact
    if len(contacts) == 1:
        only = contacts[0]
        other_wa, other_user = only.get("wa_id"), only.get("user_id")
        if (not wa_id or not other_wa or other_wa == wa_id) and (
            not user_id or not other_user or other_user == user_id
        ):
            return only
    return {}


def _status(
    item: dict[str, Any], waba_id: str | None, phone_number_id: str | None, contacts: list[dict[str, Any]]
) -> StatusUpdate | None:
    wamid, status = as_str(item.get("id")), as_str(item.get("status"))
    if not wamid or not status:
        return None
    recipient_id = as_str(item.get("recipient_id"))
    user_id = as_str(item.get("recipient_user_id"))
    contact = find_contact(contacts, recipient_id, user_id)
    return StatusUpdate(
        waba_id=waba_id,
        phone_number_id=phone_number_id,
        id=wamid,
        status=status.lower(),
        timestamp=as_int(item.get("timestamp")),
        recipient_id=recipient_id,
        recipient_user_id=user_id or as_str(contact.get("user_id")),
        recipient_parent_user_id=as_str(item.get("recipient_parent_user_id"))
        or as_str(contact.get("parent_user_id")),
        biz_opaque_callback_data=as_str(item.get("biz_opaque_callback_data")),
        errors=parse_errors(item.get("errors")),
        pricing=_pricing(item.get("pricing")),
        conversation=_conversation(item.get("conversation")),
        raw=item,
    )


def _inbound(
    item: dict[str, Any], waba_id: str | None, phone_number_id: str | None, contacts: list[dict[str, Any]]
) -> InboundMessage | None:
    message_id = as_str(item.get("id"))
    if not message_id:
        return None
    from_wa_id, from_user_id = as_str(item.get("from")), as_str(item.get("from_user_id"))
    contact = find_contact(contacts, from_wa_id, from_user_id)
    profile = as_dict(contact.get("profile"))
    button = as_dict(item.get("button"))
    interactive = as_dict(item.get("interactive"))
    interactive_type = as_str(interactive.get("type"))
    reply = as_dict(interactive.get(interactive_type)) if interactive_type else {}
    context = as_dict(item.get("context"))
    kind = as_str(item.get("type"))
    return InboundMessage(
        waba_id=waba_id,
        phone_number_id=phone_number_id,
        id=message_id,
        type=kind,
        timestamp=as_int(item.get("timestamp")),
        from_wa_id=from_wa_id or as_str(contact.get("wa_id")),
        from_user_id=from_user_id or as_str(contact.get("user_id")),
        from_parent_user_id=as_str(item.get("from_parent_user_id")) or as_str(contact.get("parent_user_id")),
        profile_name=as_str(profile.get("name")),
        username=as_str(profile.get("username")),
        text=as_str(as_dict(item.get("text")).get("body")),
        button_text=as_str(button.get("text")),
        button_payload=as_str(button.get("payload")),
        interactive_type=interactive_type,
        reply_id=as_str(reply.get("id")),
        reply_title=as_str(reply.get("title")),
        reply_description=as_str(reply.get("description")),
        context_id=as_str(context.get("id")),
        context_from=as_str(context.get("from")),
        forwarded=as_bool(context.get("forwarded")),
        frequently_forwarded=as_bool(context.get("frequently_forwarded")),
        media=_media(item, kind),
        referral=_referral(item.get("referral")),
        reaction=_reaction(item.get("reaction")),
        system=_system(item.get("system")),
        errors=parse_errors(item.get("errors")),
        raw=item,
    )


def parse_messages_value(waba_id: str | None, field: str | None, value: dict[str, Any],
                         time: int | None = None) -> list[Item]:
    """Every status, inbound message and system error in one ``messages`` change value;
    ``time`` is the entry's ``time``, when Meta gives one."""
    phone_number_id = as_str(as_dict(value.get("metadata")).get("phone_number_id"))
    contacts = [c for c in as_list(value.get("contacts")) if isinstance(c, dict)]
    items: list[Item] = []

    def unknown(reason: str, raw: Any) -> None:
        items.append(UnknownChange(waba_id, field, reason, phone_number_id, raw, entry_time=time))

    for key in _LISTS:
        if key in value and not isinstance(value[key], list):
            unknown(f"{key} is not a list", value[key])
    for item in as_list(value.get("statuses")):
        status = _status(item, waba_id, phone_number_id, contacts) if isinstance(item, dict) else None
        if status:
            items.append(status)
        else:
            unknown("status without id or status", item)
    for item in as_list(value.get("messages")):
        message = _inbound(item, waba_id, phone_number_id, contacts) if isinstance(item, dict) else None
        if message:
            items.append(message)
        else:
            unknown("message without id", item)
    value_errors = as_list(value.get("errors"))
    context = value_digest(value) if value_errors else None
    for item in value_errors:
        if not isinstance(item, dict):
            unknown("error is not an object", item)
            continue
        (detail,) = parse_errors([item])
        items.append(
            SystemErrorEvent(
                waba_id, phone_number_id, detail.code, detail.title, detail.message, detail.details,
                entry_time=time, context_digest=context, raw=item,
            )
        )
    if not items and not any(key in value for key in _LISTS):
        unknown("messages value without statuses, messages or errors", value)
    return items
