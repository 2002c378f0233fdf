"""The templates agent's merge of webhooks and polls (issue 12), with the hostile orders Meta
delivers: late, duplicated and reordered webhooks, and polls racing them."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from itertools import permutations

from hypothesis import given
from hypothesis import strategies as st

from store.templates import TemplateRow
from streams.templates import merge
from whatsapp.responses import TemplateInfo

T0 = datetime(2026, 11, 23, 0, 0, tzinfo=UTC)  # a Monday


def event(field: str, at: datetime, event: str | None = None, **raw: object) -> dict:
    body = {"message_template_name": "pack", "message_template_language": "en",
            "message_template_id": 42, **raw}
    return {"field": field, "event": event, "template_name": "pack", "template_language": "en",
            "template_id": "42", "reason": raw.get("reason"), "timestamp": at,
            "raw_json": json.dumps(body)}


def listed(status: str, quality: str = "GREEN", category: str = "MARKETING") -> TemplateInfo:
    return TemplateInfo(id="42", name="pack", language="en", status=status, category=category,
                        quality_score=quality, raw={})


def fold(events: list[dict]) -> TemplateRow | None:
    row = None
    for e in events:
        row, _ = merge.apply_event(row, e, T0 + timedelta(days=1))
    return row


def test_a_submitted_template_is_tracked_pending_to_approved_and_is_new() -> None:
    row = TemplateRow("pack", "en", "PENDING", T0, submitted_at=T0)
    row, changes = merge.apply_event(row, event(merge.STATUS, T0 + timedelta(hours=5), "APPROVED"),
                                     T0 + timedelta(hours=5))
    assert row is not None and row.status == "APPROVED" and row.approved_at == T0 + timedelta(hours=5)
    assert [c.kind for c in changes] == ["template_approved"]
    assert row.pacing(T0 + timedelta(hours=6)) == "new"
    # Meta paces every template without a GREEN rating, a new one's UNKNOWN included
    assert row.pacing(T0 + timedelta(days=3)) == "quality UNKNOWN"
    assert row.with_(quality="GREEN").pacing(T0 + timedelta(days=3)) is None


def test_rejection_keeps_the_reason() -> None:
    row = TemplateRow("pack", "en", "PENDING", T0)
    row, changes = merge.apply_event(row, event(merge.STATUS, T0 + timedelta(hours=1), "REJECTED",
                                                reason="INVALID_FORMAT"), T0)
    assert row is not None and row.status == "REJECTED" and row.reason == "INVALID_FORMAT"
    assert changes[0].kind == "template_rejected" and "INVALID_FORMAT" in changes[0].message


def test_a_late_paused_webhook_does_not_undo_the_unpause() -> None:
    paused = event(merge.STATUS, T0 + timedelta(minutes=1), "PAUSED")
    reinstated = event(merge.STATUS, T0 + timedelta(hours=3), "REINSTATED")
    for order in permutations([paused, reinstated, paused]):  # duplicated and reordered
        row = fold([event(merge.STATUS, T0, "APPROVED"), *order])
        assert row is not None and row.status == "APPROVED", order
        assert row.unpaused_at == T0 + timedelta(hours=3)
        assert row.pacing(T0 + timedelta(hours=4)) == "just unpaused"


@given(st.permutations(range(4)))
def test_the_newest_quality_wins_whatever_the_order(order: list[int]) -> None:
    ratings = [("GREEN", 0), ("YELLOW", 1), ("RED", 2), ("HIGH", 3)]  # HIGH is GREEN by another name
    events = [event(merge.QUALITY, T0 + timedelta(hours=h), q, new_quality_score=q) for q, h in ratings]
    row = fold([event(merge.STATUS, T0, "APPROVED")] + [events[i] for i in order])
    assert row is not None and row.quality == "GREEN" and row.quality_at == T0 + timedelta(hours=3)


def test_quality_red_is_an_alert_and_makes_the_template_unsendable() -> None:
    row = fold([event(merge.STATUS, T0, "APPROVED")])
    row, changes = merge.apply_event(row, event(merge.QUALITY, T0 + timedelta(hours=1), "RED"), T0)
    assert row is not None and not row.sendable
    assert [c.kind for c in changes] == ["template_quality_red"]


def test_recategorisation_raises_an_alert_and_the_new_category_holds() -> None:
    row = fold([event(merge.STATUS, T0, "APPROVED", message_template_category="UTILITY")])
    assert row is not None and row.category == "UTILITY"
    recat = event(merge.CATEGORY, T0 + timedelta(hours=2), None, previous_category="UTILITY",
                  new_category="MARKETING")
    row, changes = merge.apply_event(row, recat, T0)
    assert row is not None and row.category == "MARKETING"
    assert [c.kind for c in changes] == ["template_recategorised"]
    # an older status webhook still naming UTILITY does not move it back
    row, changes = merge.apply_event(row, event(merge.STATUS, T0 + timedelta(hours=1), "APPROVED",
                                                message_template_category="UTILITY"), T0)
    assert row is not None and row.category == "MARKETING" and changes == []


def test_the_poller_catches_a_pause_whose_webhook_was_lost_and_the_unpause() -> None:
    row, _ = merge.apply_listing(None, listed("APPROVED"), T0)
    assert row.approved_at is None and row.pacing(T0) is None  # found approved: not new
    row, changes = merge.apply_listing(row, listed("PAUSED", "RED"), T0 + timedelta(minutes=1))
    assert row.status == "PAUSED" and {c.kind for c in changes} == {"template_paused", "template_quality_red"}
    row, _ = merge.apply_listing(row, listed("APPROVED", "YELLOW"), T0 + timedelta(hours=3))
    assert row.unpaused_at == T0 + timedelta(hours=3) and row.sendable


def test_a_webhook_older_than_the_last_poll_is_ignored() -> None:
    row, _ = merge.apply_listing(None, listed("APPROVED"), T0 + timedelta(minutes=10))
    row2, changes = merge.apply_event(row, event(merge.STATUS, T0, "PAUSED"), T0 + timedelta(minutes=11))
    assert row2 is not None and row2.status == "APPROVED" and changes == []


def test_an_event_without_a_template_or_a_quality_of_an_unknown_one_starts_nothing() -> None:
    assert merge.apply_event(None, {**event(merge.QUALITY, T0, "RED"), "template_name": None,
                                    "raw_json": "{}"}, T0) == (None, [])
    assert merge.apply_event(None, event(merge.QUALITY, T0, "GREEN"), T0) == (None, [])


def test_business_days_skip_the_weekend() -> None:
    friday = datetime(2026, 11, 27, 12, tzinfo=UTC)
    assert merge.business_days_between(friday, friday + timedelta(days=3)) == 1.0  # Fri noon -> Mon noon
    assert merge.business_days_between(T0, T0 + timedelta(days=7)) == 5.0


def test_approval_overdue_after_the_buffer_only_once() -> None:
    row = TemplateRow("pack", "en", "PENDING", T0, submitted_at=T0)
    assert merge.approval_overdue(row, T0 + timedelta(days=3), 3) is None  # exactly 3 business days
    late = merge.approval_overdue(row, T0 + timedelta(days=3, hours=1), 3)
    assert late is not None and late.kind == "template_approval_overdue"
    assert merge.approval_overdue(row.with_(overdue_alerted=True), T0 + timedelta(days=9), 3) is None
    assert merge.approval_overdue(row.with_(status="APPROVED"), T0 + timedelta(days=9), 3) is None
