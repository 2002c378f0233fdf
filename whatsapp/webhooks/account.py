"""Account-level fields: templates, number throughput, the account, capabilities, preferences.

One reader per documented ``field``, registered in ``READERS``: for most a table of where each
AccountChange attribute comes from; a field not listed there is kept as an UnknownChange by the
caller. Template ids arrive as JSON numbers and become strings.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from whatsapp.coerce import as_dict, as_int, as_list, as_str, first
from whatsapp.webhooks.events import AccountChange, UnknownChange
from whatsapp.webhooks.messages import find_contact

Parsed = list[AccountChange | UnknownChange]
Reader = Callable[[str | None, int | None, str, dict[str, Any]], Parsed]


# Where an AccountChange attribute comes from: the value's key (read as a string) or a function of
# the whole value.
Source = str | Callable[[dict[str, Any]], str | int | None]


def _int(key: str) -> Callable[[dict[str, Any]], int | None]:
    return lambda value: as_int(value.get(key))


def _nested(outer: str, key: str) -> Callable[[dict[str, Any]], str | None]:
    return lambda value: as_str(as_dict(value.get(outer)).get(key))

_TEMPLATE: dict[str, Source] = {
    "template_id": "message_template_id",
    "template_name": "message_template_name",
    "template_language": "message_template_language",
}


def _account_reason(value: dict[str, Any]) -> str | None:
    """The most specific why Meta gives: a reason, a violation, a ban state or a restriction."""
    return (
        as_str(value.get("reason"))
        or as_str(as_dict(value.get("violation_info")).get("violation_type"))
        or as_str(as_dict(value.get("ban_info")).get("waba_ban_state"))
        or as_str(first(value.get("restriction_info")).get("restriction_type"))
    )


def _mapped(fields: dict[str, Source]) -> Reader:
    """A reader making one AccountChange from the value: ``event`` is the value's ``event`` unless
    ``fields`` says otherwise, every other attribute comes from ``fields``."""

    def read(waba_id: str | None, time: int | None, field: str, value: dict[str, Any]) -> Parsed:
        attrs: dict[str, Any] = {"event": as_str(value.get("event"))}
        for attr, source in fields.items():
            attrs[attr] = as_str(value.get(source)) if isinstance(source, str) else source(value)
        return [AccountChange(waba_id, field, timestamp=time, entry_time=time, raw=value, **attrs)]

    return read


def _user_preferences(waba_id: str | None, time: int | None, field: str, value: dict[str, Any]) -> Parsed:
    """One change per preference; each keeps the value with only its own preference in the
    list, so two users' stops in one POST never share a raw JSON (an event id is its hash)."""
    metadata = as_dict(value.get("metadata"))
    phone_number_id = as_str(metadata.get("phone_number_id"))
    contacts = [c for c in as_list(value.get("contacts")) if isinstance(c, dict)]
    preferences = value.get("user_preferences")
    if not isinstance(preferences, list) or not preferences:
        return [UnknownChange(waba_id, field, "user_preferences is not a list", phone_number_id, value,
                              entry_time=time)]
    out: Parsed = []
    for item in preferences:
        if not isinstance(item, dict):
            out.append(UnknownChange(waba_id, field, "preference is not an object", phone_number_id,
                                     item, entry_time=time))
            continue
        wa_id, user_id = as_str(item.get("wa_id")), as_str(item.get("user_id"))
        contact = find_contact(contacts, wa_id, user_id)
        choice = as_str(item.get("value"))
        out.append(
            AccountChange(
                waba_id,
                field,
                event=choice,
                timestamp=as_int(item.get("timestamp")) or time,
                entry_time=time,
                phone_number_id=phone_number_id,
                display_phone_number=as_str(metadata.get("display_phone_number")),
                subject_wa_id=wa_id or as_str(contact.get("wa_id")),
                subject_user_id=user_id or as_str(contact.get("user_id")),
                category=as_str(item.get("category")),
                value=choice,
                detail=as_str(item.get("detail")),
                raw={**value, "user_preferences": [item]},
            )
        )
    return out


READERS: dict[str, Reader] = {
    "message_template_status_update": _mapped({
        **_TEMPLATE,
        "template_category": "message_template_category",
        "reason": "reason",
        "other_info_title": _nested("other_info", "title"),
        "other_info_description": _nested("other_info", "description"),
        "rejection_reason": _nested("rejection_info", "reason"),
        "rejection_recommendation": _nested("rejection_info", "recommendation"),
        "previous_category": "previous_category",
        "new_category": "new_category",
    }),
    "template_category_update": _mapped({
        **_TEMPLATE,
        "event": lambda value: as_str(value.get("event")) or as_str(value.get("new_category")),
        "template_category": "new_category",
        "previous_category": "previous_category",
        "new_category": "new_category",
        "correct_category": "correct_category",
        "category_update_timestamp": _int("category_update_timestamp"),
    }),
    "message_template_components_update": _mapped({
        **_TEMPLATE,
        "event": lambda value: as_str(value.get("event")) or "COMPONENTS_UPDATED",
        "template_element": "message_template_element",
        "template_title": "message_template_title",
        "template_footer": "message_template_footer",
    }),
    "message_template_quality_update": _mapped({
        **_TEMPLATE,
        "event": lambda value: as_str(value.get("event")) or as_str(value.get("new_quality_score")),
        "previous_quality": "previous_quality_score",
        "new_quality": "new_quality_score",
    }),
    "phone_number_quality_update": _mapped({
        "display_phone_number": "display_phone_number",
        "old_limit": "old_limit",
        "current_limit": "current_limit",
        "max_daily_conversations_per_business": "max_daily_conversations_per_business",
    }),
    "account_update": _mapped({"display_phone_number": "phone_number", "reason": _account_reason}),
    "business_capability_update": _mapped({
        "max_daily_conversations_per_business": "max_daily_conversations_per_business",
        "max_daily_conversation_per_phone": _int("max_daily_conversation_per_phone"),
        "max_phone_numbers_per_business": _int("max_phone_numbers_per_business"),
        "max_phone_numbers_per_waba": _int("max_phone_numbers_per_waba"),
    }),
    "user_preferences": _user_preferences,
}
