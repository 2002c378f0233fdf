"""Merging template evidence into one state per template language. No I/O.

Two sources tell the same story with different delays: Meta's webhooks (status, quality,
category, components; late, duplicated, out of order) and the poller's listing of
``GET /{waba-id}/message_templates`` (a snapshot at poll time, which also covers webhooks that
never came). Each column keeps the time of the evidence it came from, and older evidence never
overwrites newer, so a PAUSED webhook delivered after the REINSTATED one changes nothing.

Raw JSON is read only for what the typed AccountEvent record does not carry yet (the category of
a status update, the new category of a recategorisation, the template of a components update):
the gateway's parser may type those later, and the typed fields win when present.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from store.templates import TemplateRow

STATUS = "message_template_status_update"
QUALITY = "message_template_quality_update"
CATEGORY = "template_category_update"
COMPONENTS = "message_template_components_update"
TEMPLATE_FIELDS = (STATUS, QUALITY, CATEGORY, COMPONENTS)

#: Meta's newer quality names, as the older colours dawn stores.
_QUALITY_NAMES = {"HIGH": "GREEN", "MEDIUM": "YELLOW", "LOW": "RED", "UNKNOWN": "UNKNOWN",
                  "GREEN": "GREEN", "YELLOW": "YELLOW", "RED": "RED"}
#: Status events that name a status of their own.
_STATUS_EVENTS = {"REINSTATED": "APPROVED", "UNPAUSED": "APPROVED"}


@dataclass(frozen=True)
class Change:
    """Something ops must hear about, raised once per piece of evidence."""

    kind: str  # template_paused, template_disabled, template_rejected, template_quality_red, ...
    severity: str  # INFO, WARNING or CRITICAL
    message: str
    details: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Subject:
    """Which template an account event is about."""

    name: str | None
    language: str | None
    template_id: str | None


def raw(event: dict[str, Any]) -> dict[str, Any]:
    try:
        value = json.loads(event.get("raw_json") or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, (dict, list)):
        return None
    text = str(value).strip()
    return text or None


def subject(event: dict[str, Any]) -> Subject:
    body = raw(event)
    return Subject(
        event.get("template_name") or _text(body.get("message_template_name")),
        event.get("template_language") or _text(body.get("message_template_language")),
        event.get("template_id") or _text(body.get("message_template_id")),
    )


def quality_name(value: str | None) -> str:
    return _QUALITY_NAMES.get((value or "").upper(), "UNKNOWN")


def _newer(at: datetime, seen: datetime | None) -> bool:
    return seen is None or at >= seen


def apply_event(row: TemplateRow | None, event: dict[str, Any], now: datetime,
                ) -> tuple[TemplateRow | None, list[Change]]:
    """The state after one AccountEvent of a template field; None when nothing is known yet and
    the event does not say enough to start a state (a quality update of an unknown template)."""
    who = subject(event)
    if not who.name or not who.language:
        return row, []
    at: datetime = event["timestamp"]
    body = raw(event)
    kind = event.get("field")
    base = row or TemplateRow(name=who.name, language=who.language, status="UNKNOWN",
                              status_at=datetime.fromtimestamp(0, UTC))
    base = base.with_(template_id=base.template_id or who.template_id)
    changes: list[Change] = []
    if kind == STATUS:
        new = _text(event.get("event"))
        if new is None:
            return row, []
        new = new.upper()
        status = _STATUS_EVENTS.get(new, new)
        reason = _text(event.get("reason"))
        reason = None if reason in (None, "NONE") else reason
        category = _text(body.get("message_template_category"))
        updated = base
        if category and category != base.category:
            updated, recat = _recategorise(updated, category, at)
            changes += recat
        if _newer(at, base.status_at):
            updated, status_changes = _set_status(updated, status, at, reason, unpaused=new in _STATUS_EVENTS)
            changes += status_changes
        return updated.with_(updated_at=now), changes
    if kind == QUALITY:
        if row is None:  # the poller starts the state; a lone rating says nothing of the status
            return None, []
        quality = quality_name(_text(event.get("event")) or _text(body.get("new_quality_score")))
        if not _newer(at, row.quality_at):
            return row, []
        if quality == row.quality:  # newer evidence of the same rating still outdates older ones
            return row.with_(quality_at=at), []
        return _set_quality(base, quality, at).with_(updated_at=now), _quality_changes(row, quality)
    if kind == CATEGORY:
        category = _text(body.get("new_category")) or _text(event.get("event"))
        if not category or not _newer(at, base.category_at) or row is None:
            return row, []
        updated, changes = _recategorise(base, category.upper(), at)
        return updated.with_(updated_at=now), changes
    if kind == COMPONENTS and row is not None:
        return row.with_(reason="components updated", updated_at=now), []
    return row, []


def apply_listing(row: TemplateRow | None, listed: Any, now: datetime) -> tuple[TemplateRow, list[Change]]:
    """The state after the poller saw ``listed`` (a whatsapp.responses.TemplateInfo) at ``now``."""
    status = (listed.status or "UNKNOWN").upper()
    quality = quality_name(listed.quality_score)
    category = (listed.category or "").upper() or None
    reason = _text(listed.raw.get("rejected_reason"))
    reason = None if reason in (None, "NONE") else reason
    if row is None:
        # First sight: an APPROVED template found by the poller has no known approval time, so it
        # is not taken for new (a fresh deployment would otherwise call every template paced).
        fresh = TemplateRow(name=listed.name, language=listed.language, status=status, status_at=now,
                            template_id=listed.id or None, quality=quality, quality_at=now,
                            category=category, category_at=now, reason=reason, updated_at=now)
        return fresh, []
    changes: list[Change] = []
    updated = row.with_(template_id=row.template_id or listed.id or None)
    if category and category != row.category:
        updated, recat = _recategorise(updated, category, now)
        changes += recat
    # The listing is evidence as of now even where nothing changed: a webhook older than this
    # poll must not overwrite what the poll saw.
    updated, status_changes = _set_status(
        updated, status, now, reason, unpaused=row.status == "PAUSED" and status == "APPROVED")
    changes += status_changes
    if quality != "UNKNOWN":
        changes += _quality_changes(updated, quality)
        updated = _set_quality(updated, quality, now)
    if category:
        updated = updated.with_(category_at=now)
    return updated.with_(updated_at=now), changes


def _set_status(row: TemplateRow, status: str, at: datetime, reason: str | None, *,
                unpaused: bool) -> tuple[TemplateRow, list[Change]]:
    if status == row.status:
        # A REINSTATED seen before the (older) PAUSED it ends still proves an unpause: Meta paces
        # the template again from then on.
        unpaused_at = at if unpaused else row.unpaused_at
        return row.with_(status_at=at, reason=reason or row.reason, unpaused_at=unpaused_at), []
    updated = row.with_(status=status, status_at=at, reason=reason)
    if status == "APPROVED":
        if unpaused or row.status == "PAUSED":
            updated = updated.with_(unpaused_at=at)
        elif row.approved_at is None and row.status in ("PENDING", "UNKNOWN", "IN_APPEAL"):
            updated = updated.with_(approved_at=at)
    label = f"{row.name} ({row.language})"
    found = {
        "PAUSED": Change("template_paused", "CRITICAL", f"template {label} paused by Meta"
                         + (f": {reason}" if reason else "") + "; sends rotate to its backups"),
        "DISABLED": Change("template_disabled", "CRITICAL", f"template {label} disabled by Meta; "
                           "sends rotate to its backups"),
        "REJECTED": Change("template_rejected", "WARNING", f"template {label} rejected"
                           + (f": {reason}" if reason else "") + "; resubmit it as a variant"),
        "APPROVED": Change("template_approved", "INFO", f"template {label} approved"
                           + (" again (unpaused)" if updated.unpaused_at == at else "")),
    }.get(status)
    return updated, [found] if found else []


def _set_quality(row: TemplateRow, quality: str, at: datetime) -> TemplateRow:
    return row.with_(quality=quality, quality_at=at)


def _quality_changes(row: TemplateRow, quality: str) -> list[Change]:
    if quality == "RED" and row.quality != "RED":
        return [Change("template_quality_red", "CRITICAL",
                       f"template {row.name} ({row.language}) quality RED; sends rotate to backups",
                       {"previous": row.quality})]
    return []


def _recategorise(row: TemplateRow, category: str, at: datetime) -> tuple[TemplateRow, list[Change]]:
    """A template Meta moved to another category: from now on that category's rules apply (a
    MARKETING template counts against per-user marketing limits and honours marketing opt-outs)."""
    if not _newer(at, row.category_at) or category == row.category:
        return row, []
    updated = row.with_(category=category, category_at=at)
    if row.category is None:
        return updated, []
    return updated, [Change(
        "template_recategorised", "WARNING",
        f"template {row.name} ({row.language}) recategorised {row.category} -> {category}; "
        f"{category} rules apply from now on", {"previous": row.category, "category": category})]


def business_days_between(start: datetime, end: datetime) -> float:
    """Monday-Friday days elapsed from ``start`` to ``end`` (fractional), for approval buffers."""
    if end <= start:
        return 0.0
    total = 0.0
    cursor = start
    while cursor < end:
        next_midnight = datetime.combine(cursor.date() + timedelta(days=1), datetime.min.time(),
                                         tzinfo=cursor.tzinfo)
        step_end = min(end, next_midnight)
        if _weekday(cursor.date()):
            total += (step_end - cursor).total_seconds() / 86400
        cursor = step_end
    return total


def _weekday(day: date) -> bool:
    return day.weekday() < 5


def approval_overdue(row: TemplateRow, now: datetime, buffer_days: float) -> Change | None:
    """An alert when a template dawn submitted is still pending past the approval buffer."""
    if row.status != "PENDING" or row.submitted_at is None or row.overdue_alerted:
        return None
    waited = business_days_between(row.submitted_at, now)
    if waited <= buffer_days:
        return None
    return Change("template_approval_overdue", "WARNING",
                  f"template {row.name} ({row.language}) still PENDING after {waited:.1f} business "
                  f"days (buffer {buffer_days:g})", {"submitted_at": row.submitted_at.isoformat()})
