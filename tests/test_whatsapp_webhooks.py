"""Webhook notification parsing: the facts' examples, Meta's documented shapes, big batches, and
property tests that it never raises on JSON objects and never loses or duplicates a status."""

from __future__ import annotations

import copy
import itertools
import json
from collections import Counter
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from whatsapp.errors import Action, classify
from whatsapp.webhooks.model import WebhookFormatError, parse_notification

WABA = "102290129340398"
PNID = "106540352242922"
METADATA = {"display_phone_number": "15550783881", "phone_number_id": PNID}


def notification(*changes: dict[str, Any], waba: str = WABA, time: int | None = None) -> dict[str, Any]:
    entry: dict[str, Any] = {"id": waba, "changes": list(changes)}
    if time is not None:
        entry["time"] = time
    return {"object": "whatsapp_business_account", "entry": [entry]}


def messages_change(**value: Any) -> dict[str, Any]:
    return {"field": "messages", "value": {"messaging_product": "whatsapp", "metadata": METADATA, **value}}


# --- Examples from the project's Cloud API facts, section 4, verbatim ---

FACTS_STATUS = {
    "id": "wamid.HBgLOTE5ODEyMzQ1Njc4FQIAERgSQzYzRkI2",
    "status": "failed",
    "timestamp": "1750030073",
    "recipient_id": "919812345678",
    "biz_opaque_callback_data": "delivery-42",
    "pricing": {"billable": True, "pricing_model": "PMP", "type": "regular", "category": "marketing"},
    "errors": [{"code": 131049, "title": "...", "message": "...", "error_data": {"details": "..."}}],
}
FACTS_INBOUND = {
    "from": "919812345678",
    "id": "wamid.HBgLOTE5ODEyMzQ1Njc4FQIAEhgUM0E",
    "timestamp": "1750030080",
    "type": "text",
    "text": {"body": "STOP"},
}
FACTS_CONTACT = {"profile": {"name": "Asha"}, "wa_id": "919812345678", "user_id": "IN.1349208655302741"}
FACTS_BUTTON = {
    "from": "919812345678",
    "id": "wamid.HBgLOTE5ODEyMzQ1Njc4FQIAEhgUM0F",
    "timestamp": "1750030090",
    "type": "button",
    "context": {"from": "15550783881", "id": "wamid.HBgLOTE5ODEyMzQ1Njc4FQIAERgSQzYzRkI2"},
    "button": {"text": "Stop promotions", "payload": "STOP"},
}


def test_facts_status_round_trips() -> None:
    batch = parse_notification(notification(messages_change(statuses=[FACTS_STATUS])))
    (status,) = batch.statuses
    assert status.raw == FACTS_STATUS
    assert (status.waba_id, status.phone_number_id) == (WABA, PNID)
    assert (status.id, status.status, status.timestamp) == (FACTS_STATUS["id"], "failed", 1750030073)
    assert status.recipient_id == "919812345678"
    assert status.biz_opaque_callback_data == "delivery-42"
    assert status.pricing is not None
    assert (status.pricing.billable, status.pricing.pricing_model) == (True, "PMP")
    assert (status.pricing.type, status.pricing.category) == ("regular", "marketing")
    (error,) = status.errors
    assert (error.code, error.title, error.message, error.details) == (131049, "...", "...", "...")
    assert classify(status.error_code).action is Action.RETRY_24H
    assert batch.size == 1


def test_facts_inbound_text_round_trips_with_its_contact() -> None:
    batch = parse_notification(
        notification(messages_change(contacts=[FACTS_CONTACT], messages=[FACTS_INBOUND]))
    )
    (message,) = batch.messages
    assert message.raw == FACTS_INBOUND
    assert (message.id, message.type, message.text, message.timestamp) == (
        FACTS_INBOUND["id"],
        "text",
        "STOP",
        1750030080,
    )
    assert (message.from_wa_id, message.from_user_id, message.profile_name) == (
        "919812345678",
        "IN.1349208655302741",
        "Asha",
    )
    assert message.reply_text == "STOP"
    assert batch.unknown == []


def test_facts_quick_reply_tap_round_trips() -> None:
    batch = parse_notification(notification(messages_change(messages=[FACTS_BUTTON])))
    (message,) = batch.messages
    assert message.raw == FACTS_BUTTON
    assert (message.type, message.button_text, message.button_payload) == (
        "button",
        "Stop promotions",
        "STOP",
    )
    assert message.context_id == FACTS_STATUS["id"]
    assert (message.reply_text, message.reply_payload) == ("Stop promotions", "STOP")


def test_facts_system_errors_round_trip() -> None:
    error = {
        "code": 131000,
        "title": "Something went wrong",
        "message": "Something went wrong",
        "error_data": {"details": "Unknown error"},
    }
    batch = parse_notification(notification(messages_change(errors=[error])))
    (system_error,) = batch.system_errors
    assert system_error.raw == error
    assert (system_error.code, system_error.details, system_error.phone_number_id) == (
        131000,
        "Unknown error",
        PNID,
    )


def test_statuses_without_conversation_and_out_of_order_duplicates_all_come_out() -> None:
    """Statuses arrive duplicated and out of order; the parser keeps every one for the state agent."""
    sent = {"id": "wamid.A", "status": "sent", "timestamp": 1750030001, "recipient_id": "919812345678"}
    read = {"id": "wamid.A", "status": "read", "timestamp": "1750030003", "recipient_id": "919812345678"}
    batch = parse_notification(notification(messages_change(statuses=[read, sent, read])))
    assert [(s.status, s.timestamp) for s in batch.statuses] == [
        ("read", 1750030003),
        ("sent", 1750030001),
        ("read", 1750030003),
    ]


# --- Business-scoped user ids (2026): phone numbers may be absent ---


def test_username_user_without_a_phone_number() -> None:
    contact = {"profile": {"name": "Asha", "username": "@asha.fin"}, "user_id": "IN.13491208655302741918"}
    message = {
        "from_user_id": "IN.13491208655302741918",
        "id": "wamid.U1",
        "timestamp": "1750030100",
        "type": "text",
        "text": {"body": "START"},
    }
    batch = parse_notification(notification(messages_change(contacts=[contact], messages=[message])))
    (inbound,) = batch.messages
    assert inbound.from_wa_id is None
    assert inbound.from_user_id == "IN.13491208655302741918"
    assert inbound.username == "@asha.fin"


def test_status_with_business_scoped_recipient() -> None:
    status = {
        "id": "wamid.B",
        "status": "delivered",
        "timestamp": "1750030200",
        "recipient_user_id": "IN.1349",
        "recipient_parent_user_id": "IN.ENT.77",
    }
    contact = {"profile": {"name": "Asha"}, "wa_id": "919812345678", "user_id": "IN.1349"}
    batch = parse_notification(notification(messages_change(contacts=[contact], statuses=[status])))
    (update,) = batch.statuses
    assert (update.recipient_id, update.recipient_user_id, update.recipient_parent_user_id) == (
        None,
        "IN.1349",
        "IN.ENT.77",
    )


def test_status_takes_the_user_id_from_its_contact() -> None:
    status = {"id": "wamid.C", "status": "read", "timestamp": "1750030300", "recipient_id": "919812345678"}
    contact = {"profile": {"name": "Asha"}, "wa_id": "919812345678", "user_id": "IN.1349"}
    (update,) = parse_notification(
        notification(messages_change(contacts=[contact], statuses=[status]))
    ).statuses
    assert update.recipient_user_id == "IN.1349"


def test_contacts_are_matched_to_their_own_messages() -> None:
    contacts = [{"profile": {"name": "A"}, "wa_id": "911"}, {"profile": {"name": "B"}, "wa_id": "912"}]
    messages = [
        {"from": "912", "id": "wamid.2", "timestamp": "1", "type": "text", "text": {"body": "b"}},
        {"from": "911", "id": "wamid.1", "timestamp": "1", "type": "text", "text": {"body": "a"}},
        {"from": "913", "id": "wamid.3", "timestamp": "1", "type": "text", "text": {"body": "c"}},
    ]
    batch = parse_notification(notification(messages_change(contacts=contacts, messages=messages)))
    assert [(m.from_wa_id, m.profile_name) for m in batch.messages] == [
        ("912", "B"),
        ("911", "A"),
        ("913", None),
    ]


def test_interactive_button_reply() -> None:
    message = {
        "from": "919812345678",
        "id": "wamid.I",
        "timestamp": "1750030400",
        "type": "interactive",
        "context": {"from": "15550783881", "id": "wamid.ctx"},
        "interactive": {"type": "button_reply", "button_reply": {"id": "pause-7d", "title": "Pause a week"}},
    }
    (inbound,) = parse_notification(notification(messages_change(messages=[message]))).messages
    assert (inbound.interactive_type, inbound.reply_id, inbound.reply_title) == (
        "button_reply",
        "pause-7d",
        "Pause a week",
    )
    assert (inbound.reply_text, inbound.reply_payload, inbound.context_id) == (
        "Pause a week",
        "pause-7d",
        "wamid.ctx",
    )


# --- Account-level fields, in Meta's documented shapes ---


def test_template_status_update() -> None:
    value = {
        "event": "PAUSED",
        "message_template_id": 594425479261596,
        "message_template_name": "daily_pack_v1",
        "message_template_language": "hi",
        "reason": None,
        "message_template_category": "MARKETING",
        "other_info": {"title": "FIRST_PAUSE", "description": "paused for 3 hours"},
    }
    batch = parse_notification(
        notification({"field": "message_template_status_update", "value": value}, time=1750031000)
    )
    (change,) = batch.changes
    assert change.raw == value
    assert (change.field, change.event, change.timestamp) == (
        "message_template_status_update",
        "PAUSED",
        1750031000,
    )
    assert (change.template_id, change.template_name, change.template_language) == (
        "594425479261596",
        "daily_pack_v1",
        "hi",
    )
    assert (change.other_info_title, change.template_category, change.reason) == (
        "FIRST_PAUSE",
        "MARKETING",
        None,
    )


def test_template_quality_update() -> None:
    value = {
        "previous_quality_score": "GREEN",
        "new_quality_score": "RED",
        "message_template_id": 594425479261596,
        "message_template_name": "daily_pack_v1",
        "message_template_language": "mr",
    }
    (change,) = parse_notification(
        notification({"field": "message_template_quality_update", "value": value})
    ).changes
    assert (change.previous_quality, change.new_quality, change.event) == ("GREEN", "RED", "RED")
    assert change.template_language == "mr"


def test_phone_number_quality_update() -> None:
    value = {
        "display_phone_number": "15550783881",
        "event": "THROUGHPUT_UPGRADE",
        "current_limit": "TIER_UNLIMITED",
        "max_daily_conversations_per_business": "TIER_2K",
    }
    (change,) = parse_notification(
        notification({"field": "phone_number_quality_update", "value": value})
    ).changes
    assert (change.event, change.display_phone_number, change.phone_number_id) == (
        "THROUGHPUT_UPGRADE",
        "15550783881",
        None,
    )
    assert (change.current_limit, change.old_limit, change.max_daily_conversations_per_business) == (
        "TIER_UNLIMITED",
        None,
        "TIER_2K",
    )


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (
            {
                "phone_number": "15550783881",
                "event": "ACCOUNT_VIOLATION",
                "violation_info": {"violation_type": "SCAM"},
            },
            "SCAM",
        ),
        (
            {
                "event": "DISABLED_UPDATE",
                "ban_info": {"waba_ban_state": "DISABLE", "waba_ban_date": "June 2, 2026"},
            },
            "DISABLE",
        ),
        (
            {
                "event": "ACCOUNT_RESTRICTION",
                "restriction_info": [
                    {"restriction_type": "RESTRICTED_BIZ_INITIATED_MESSAGING", "expiration": 1750100000}
                ],
            },
            "RESTRICTED_BIZ_INITIATED_MESSAGING",
        ),
    ],
)
def test_account_update(value: dict[str, Any], reason: str) -> None:
    (change,) = parse_notification(notification({"field": "account_update", "value": value})).changes
    assert (change.event, change.reason) == (value["event"], reason)
    assert change.raw == value


def test_business_capability_update() -> None:
    value = {
        "max_daily_conversation_per_phone": 2000,
        "max_daily_conversations_per_business": 2000,
        "max_phone_numbers_per_business": 20,
        "max_phone_numbers_per_waba": 20,
    }
    (change,) = parse_notification(
        notification({"field": "business_capability_update", "value": value})
    ).changes
    assert change.max_daily_conversations_per_business == "2000"
    assert change.raw == value


def test_user_preferences_gives_one_change_per_preference_with_distinct_raw() -> None:
    value = {
        "messaging_product": "whatsapp",
        "metadata": METADATA,
        "contacts": [
            {"profile": {"name": "Asha"}, "wa_id": "919812345678", "user_id": "IN.1349"},
            {"profile": {"name": "Ravi"}, "wa_id": "919812345679"},
        ],
        "user_preferences": [
            {
                "wa_id": "919812345678",
                "detail": "User requested to stop marketing messages",
                "category": "marketing_messages",
                "value": "stop",
                "timestamp": 1750032000,
            },
            {
                "wa_id": "919812345679",
                "detail": "User requested to resume marketing messages",
                "category": "marketing_messages",
                "value": "resume",
                "timestamp": 1750032001,
            },
        ],
    }
    batch = parse_notification(notification({"field": "user_preferences", "value": value}))
    stop, resume = batch.changes
    assert (stop.event, stop.value, stop.category, stop.timestamp) == (
        "stop",
        "stop",
        "marketing_messages",
        1750032000,
    )
    assert (stop.subject_wa_id, stop.subject_user_id, stop.phone_number_id) == (
        "919812345678",
        "IN.1349",
        PNID,
    )
    assert (resume.value, resume.subject_wa_id, resume.subject_user_id) == ("resume", "919812345679", None)
    assert stop.raw != resume.raw
    assert stop.raw["user_preferences"] == [value["user_preferences"][0]]
    assert stop.raw["contacts"] == value["contacts"]


# --- Unknown and malformed input is kept, never dropped ---


def test_unknown_field_is_kept_raw_and_unknown_keys_of_a_known_value_are_ignored() -> None:
    echo = {"from": "15550783881", "to": "919812345678", "id": "wamid.E", "type": "text"}
    batch = parse_notification(
        notification(
            {
                "field": "some_future_field",
                "value": {"message_template_id": 1, "new_category": "UTILITY"},
            },
            messages_change(statuses=[FACTS_STATUS], message_echoes=[echo]),
        )
    )
    assert len(batch.statuses) == 1
    (unknown_field,) = batch.unknown  # no UnknownChange per change for a new key on a known value
    assert unknown_field.field == "some_future_field"
    assert unknown_field.raw == {"message_template_id": 1, "new_category": "UTILITY"}


def test_a_messages_value_of_an_unknown_event_type_is_kept_whole() -> None:
    echo = {"from": "15550783881", "to": "919812345678", "id": "wamid.E", "type": "text"}
    value = {"messaging_product": "whatsapp", "metadata": METADATA, "message_echoes": [echo]}
    batch = parse_notification(notification({"field": "messages", "value": value}))
    (unknown,) = batch.unknown
    assert unknown.raw == value and unknown.phone_number_id == PNID


def test_an_item_of_an_unexpected_type_lands_in_unknown(monkeypatch: pytest.MonkeyPatch) -> None:
    """A reader bug returning something the batch has no list for must not make it vanish."""
    stray = object()
    monkeypatch.setattr("whatsapp.webhooks.model.parse_messages_value", lambda *_: [stray])
    batch = parse_notification(notification(messages_change(statuses=[FACTS_STATUS])))
    (unknown,) = batch.unknown
    assert unknown.raw is stray and batch.size == 1


@pytest.mark.parametrize(
    "doc",
    [
        {"object": "whatsapp_business_account"},
        {"object": "whatsapp_business_account", "entry": {"id": WABA}},
        {"object": "whatsapp_business_account", "entry": ["not an entry"]},
        {"object": "whatsapp_business_account", "entry": [{"id": WABA, "changes": "nope"}]},
        notification("not a change"),
        notification({"field": "messages", "value": []}),
        notification(messages_change(statuses={"id": "wamid.X"})),
        notification(messages_change(statuses=[{"status": "sent"}, "wamid.Y"])),
        notification(messages_change()),
        notification({"field": "user_preferences", "value": {"user_preferences": "stop"}}),
    ],
)
def test_malformed_pieces_land_in_unknown(doc: dict[str, Any]) -> None:
    batch = parse_notification(doc)
    assert batch.unknown
    assert not batch.statuses and not batch.messages and not batch.changes


@pytest.mark.parametrize(
    "body", [b"", b"not json", b"\xff\xfe\x00", "{", b"[1, 2]", '"text"', b"null", b"[" * 100_000]
)
def test_only_non_objects_are_refused(body: bytes | str) -> None:
    with pytest.raises(WebhookFormatError):
        parse_notification(body)
    assert issubclass(WebhookFormatError, ValueError)


def test_bytes_str_and_dict_give_the_same_batch() -> None:
    doc = notification(
        messages_change(contacts=[FACTS_CONTACT], messages=[FACTS_INBOUND], statuses=[FACTS_STATUS])
    )
    raw = json.dumps(doc).encode()
    batches = [parse_notification(raw), parse_notification(raw.decode()), parse_notification(doc)]
    assert batches[0] == batches[1] == batches[2]


def test_a_thousand_update_three_megabyte_batch_parses() -> None:
    hindi = "आज का कंटेंट पैक: बाज़ार की झलक, म्युचुअल फंड और कर बचत। " * 34
    changes = []
    for i in range(500):
        status = {**FACTS_STATUS, "id": f"wamid.S{i}", "biz_opaque_callback_data": f"delivery-{i}"}
        message = {**FACTS_INBOUND, "id": f"wamid.M{i}", "text": {"body": hindi}}
        changes.append(messages_change(statuses=[status]))
        changes.append(messages_change(contacts=[FACTS_CONTACT], messages=[message]))
    raw = json.dumps(notification(*changes), ensure_ascii=False).encode()
    assert 2_800_000 < len(raw) < 3_300_000
    batch = parse_notification(raw)
    assert (len(batch.statuses), len(batch.messages), batch.size) == (500, 500, 1000)
    assert batch.messages[-1].text == hindi
    assert len({s.id for s in batch.statuses}) == 500


# --- Property tests ---

KEY_NAMES = [
    "object",
    "entry",
    "id",
    "time",
    "changes",
    "field",
    "value",
    "metadata",
    "phone_number_id",
    "statuses",
    "messages",
    "contacts",
    "errors",
    "status",
    "timestamp",
    "recipient_id",
    "pricing",
    "wa_id",
    "user_id",
    "profile",
    "text",
    "body",
    "button",
    "interactive",
    "type",
    "code",
    "error_data",
    "user_preferences",
    "event",
    "message_template_id",
    "other_info",
    "restriction_info",
]
FIELDS = [
    "messages",
    "message_template_status_update",
    "message_template_quality_update",
    "phone_number_quality_update",
    "account_update",
    "business_capability_update",
    "user_preferences",
]

json_scalars = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text()
)
json_values = st.recursive(
    json_scalars | st.sampled_from(FIELDS),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(KEY_NAMES) | st.text(max_size=6), children, max_size=5)
    ),
    max_leaves=30,
)
json_objects = st.dictionaries(st.sampled_from(KEY_NAMES) | st.text(max_size=6), json_values, max_size=5)

VALID_EXAMPLES = [
    notification(messages_change(contacts=[FACTS_CONTACT], messages=[FACTS_INBOUND, FACTS_BUTTON])),
    notification(
        messages_change(statuses=[FACTS_STATUS, {**FACTS_STATUS, "id": "wamid.2", "status": "sent"}])
    ),
    notification(
        {
            "field": "message_template_status_update",
            "value": {"event": "PAUSED", "message_template_id": 5, "other_info": {"title": "FIRST_PAUSE"}},
        },
        {
            "field": "user_preferences",
            "value": {
                "metadata": METADATA,
                "user_preferences": [
                    {
                        "wa_id": "919812345678",
                        "category": "marketing_messages",
                        "value": "stop",
                        "timestamp": 1,
                    }
                ],
            },
        },
        {
            "field": "account_update",
            "value": {"event": "ACCOUNT_RESTRICTION", "restriction_info": [{"restriction_type": "X"}]},
        },
    ),
]


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(node, dict):
        for key, child in node.items():
            found += _paths(child, (*prefix, key))
    elif isinstance(node, list):
        for index, child in enumerate(node):
            found += _paths(child, (*prefix, index))
    return found


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(json_objects)
def test_never_raises_on_any_json_object(doc: dict[str, Any]) -> None:
    batch = parse_notification(json.dumps(doc).encode())
    assert not [u for u in batch.unknown if u.reason.startswith("parse error")]


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_never_raises_on_mutated_valid_payloads(data: st.DataObject) -> None:
    doc = copy.deepcopy(data.draw(st.sampled_from(VALID_EXAMPLES)))
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(_paths(doc)[1:]))
        parent = doc
        for step in path[:-1]:
            parent = parent[step]
        if data.draw(st.booleans()) and isinstance(parent, dict):
            del parent[path[-1]]
        else:
            parent[path[-1]] = data.draw(json_values)
        if not _paths(doc)[1:]:
            break
    batch = parse_notification(doc)
    assert not [u for u in batch.unknown if u.reason.startswith("parse error")]


status_items = st.fixed_dictionaries(
    {
        "status": st.sampled_from(["sent", "delivered", "read", "failed", "deleted", "played", "SENT"]),
        "timestamp": st.integers(0, 2**40).map(str) | st.integers(0, 2**40) | json_values,
    },
    optional={
        "recipient_id": st.text(max_size=15),
        "recipient_user_id": st.text(max_size=20),
        "biz_opaque_callback_data": st.text(max_size=40),
        "errors": json_values,
        "pricing": json_values,
        "conversation": json_values,
        "surprise": json_values,
    },
)


@settings(max_examples=200, deadline=None)
@given(
    statuses=st.lists(status_items, max_size=30),
    broken=st.lists(st.dictionaries(st.sampled_from(KEY_NAMES), json_values, max_size=3), max_size=5),
    chunk_sizes=st.lists(st.integers(1, 5), min_size=1, max_size=10),
    noise=st.lists(json_values, max_size=4),
)
def test_every_status_in_the_input_comes_out_once(
    statuses: list[dict[str, Any]],
    broken: list[dict[str, Any]],
    chunk_sizes: list[int],
    noise: list[Any],
) -> None:
    """Split over many changes, mixed with junk changes: each status is output exactly once, as
    itself (identity of its raw dict), however odd its other fields; a status too broken to read
    (no id, say) comes out once as an UnknownChange instead."""
    for index, status in enumerate(statuses):
        status["id"] = f"wamid.{index}"
    changes: list[Any] = []
    sizes, junk = itertools.cycle(chunk_sizes), itertools.cycle(noise or [None])
    remaining = statuses + broken
    while remaining:
        size = next(sizes)
        changes += [messages_change(statuses=remaining[:size], contacts=[FACTS_CONTACT]), next(junk)]
        remaining = remaining[size:]
    batch = parse_notification(notification(*changes))
    ours = {id(status): status for status in statuses}
    assert Counter(id(u.raw) for u in batch.statuses if id(u.raw) in ours) == Counter(list(ours))
    assert all(u.id == ours[id(u.raw)]["id"] for u in batch.statuses if id(u.raw) in ours)
    for item in broken:
        assert sum(u.raw is item for u in [*batch.statuses, *batch.unknown]) == 1
    assert not [u for u in batch.unknown if u.reason.startswith("parse error")]
