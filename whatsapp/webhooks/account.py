"""Account-level fields: templates, number throughput, the account, capabilities, preferences.

One reader per documented ``field``, registered in ``READERS``; a field not listed there is kept
as an UnknownChange by the caller. Template ids arrive as JSON numbers and become strings.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from whatsapp.coerce import as_dict, as_int, as_list, as_str, first
from whatsapp.webhooks.events import AccountChange, UnknownChange
from whatsapp.webhooks.messages import find_contact

Parsed = list[AccountChange | UnknownChange]
Reader = Callable[[str | None, int | None, str, dict[str, Any]], Parsed]


def _template_fields(value: dict[str, Any]) -> dict[str, str | None]:
    return {
        "template_id": as_str(value.get("message_template_id")),
        "template_name": as_str(value.get("message_template_name")),
        "template_language": as_str(value.get("message_template_language")),
    }


def _template_status(waba_id: str | None, time: int | None, field: str, value: dict[str, Any]) -> Parsed:
    return [
        AccountChange(
            waba_id,
            field,
            event=as_str(value.get("event")),
            timestamp=time,
            template_category=as_str(value.get("message_template_category")),
            reason=as_str(value.get("reason")),
            other_info_title=as_str(as_dict(value.get("other_info")).get("title")),
            raw=value,
            **_template_fields(value),
        )
    ]


def _template_quality(waba_id: str | None, time: int | None, field: str, value: dict[str, Any]) -> Parsed:
    new_quality = as_str(value.get("new_quality_score"))
    return [
        AccountChange(
            waba_id,
            field,
            event=as_str(value.get("event")) or new_quality,
            timestamp=time,
            previous_quality=as_str(value.get("previous_quality_score")),
            new_quality=new_quality,
            raw=value,
            **_template_fields(value),
        )
    ]


def _phone_quality(waba_id: str | None, time: int | None, field: str, value: dict[str, Any]) -> Parsed:
    return [
        AccountChange(
            waba_id,
            field,
            event=as_str(value.get("event")),
            timestamp=time,
            display_phone_number=as_str(value.get("display_phone_number")),
            old_limit=as_str(value.get("old_limit")),
            current_limit=as_str(value.get("current_limit")),
            max_daily_conversations_per_business=as_str(value.get("max_daily_conversations_per_business")),
            raw=value,
        )
    ]


def _account_reason(value: dict[str, Any]) -> str | None:
    """The most specific why Meta gives: a reason, a violation, a ban state or a restriction."""
    return (
        as_str(value.get("reason"))
        or as_str(as_dict(value.get("violation_info")).get("violation_type"))
        or as_str(as_dict(value.get("ban_info")).get("waba_ban_state"))
        or as_str(first(value.get("restriction_info")).get("restriction_type"))
    )


def _account_update(waba_id: str | None, time: int | None, field: str, value: dict[str, Any]) -> Parsed:
    return [
        AccountChange(
            waba_id,
            field,
            event=as_str(value.get("event")),
            timestamp=time,
            display_phone_number=as_str(value.get("phone_number")),
            reason=_account_reason(value),
            raw=value,
        )
    ]


def _capability(waba_id: str | None, time: int | None, field: str, value: dict[str, Any]) -> Parsed:
    return [
        AccountChange(
            waba_id,
            field,
            event=as_str(value.get("event")),
            timestamp=time,
            max_daily_conversations_per_business=as_str(value.get("max_daily_conversations_per_business")),
            raw=value,
        )
    ]


def _user_preferences(waba_id: str | None, time: int | None, field: str, value: dict[str, Any]) -> Parsed:
    """One change per preference; each keeps the value with only its own preference in the
    list, so two users' stops in one POST never share a raw JSON (an event id is its hash)."""
    metadata = as_dict(value.get("metadata"))
    phone_number_id = as_str(metadata.get("phone_number_id"))
    contacts = [c for c in as_list(value.get("contacts")) if isinstance(c, dict)]
    preferences = value.get("user_preferences")
    if not isinstance(preferences, list) or not preferences:
        return [UnknownChange(waba_id, field, "user_preferences is not a list", phone_number_id, value)]
    out: Parsed = []
    for item in preferences:
        if not isinstance(item, dict):
            out.append(UnknownChange(waba_id, field, "preference is not an object", phone_number_id, item))
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
    "message_template_status_update": _template_status,
    "message_template_quality_update": _template_quality,
    "phone_number_quality_update": _phone_quality,
    "account_update": _account_update,
    "business_capability_update": _capability,
    "user_preferences": _user_preferences,
}
