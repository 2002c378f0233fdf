"""What the Graph API answers, as small frozen values read tolerantly from its JSON.

Each value keeps the fields dawn decides on; the rest of the answer stays in ``raw`` (left out of
repr, so logging a value never dumps a payload).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from whatsapp.coerce import as_dict, as_int, as_list, as_str, first

HELD = "held_for_quality_assessment"


@dataclass(frozen=True, slots=True)
class SendAccepted:
    """Meta took the message. ``wa_id`` may differ from ``input``; ``user_id`` is the
    business-scoped id Meta returns when the message was addressed by one."""

    wamid: str
    wa_id: str | None
    input: str
    message_status: str
    latency_ms: float
    user_id: str | None = None

    @property
    def held(self) -> bool:
        """True when pacing holds the message (released within ~1 h, or failed with 132015)."""
        return self.message_status == HELD

    @classmethod
    def from_json(cls, body: dict[str, Any], to: str, latency_ms: float) -> SendAccepted | None:
        """None when the answer names no message id (treat as an unknown outcome, not a success)."""
        wamid = as_str(first(body.get("messages")).get("id"))
        if not wamid:
            return None
        contact = first(body.get("contacts"))
        return cls(
            wamid=wamid,
            wa_id=as_str(contact.get("wa_id")),
            input=as_str(contact.get("input")) or to,
            # Versions before pacing omit message_status; the message was accepted.
            message_status=as_str(first(body.get("messages")).get("message_status")) or "accepted",
            latency_ms=latency_ms,
            user_id=as_str(contact.get("user_id")),
        )


def _limit_tier(body: dict[str, Any]) -> str | None:
    # Documented as a string ("TIER_2K"); read an object form too, and the deprecated field last.
    limit = body.get("whatsapp_business_manager_messaging_limit")
    if isinstance(limit, dict):
        limit = limit.get("current_limit") or limit.get("tier") or limit.get("value")
    return as_str(limit) or as_str(body.get("messaging_limit_tier"))


@dataclass(frozen=True, slots=True)
class PhoneNumberInfo:
    """A business number's health as ``GET /{phone_number_id}`` reports it."""

    id: str
    display_phone_number: str | None
    verified_name: str | None
    quality_rating: str | None
    status: str | None
    throughput_level: str | None
    messaging_limit_tier: str | None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def connected(self) -> bool:
        """CONNECTED is required to send."""
        return self.status == "CONNECTED"

    @classmethod
    def from_json(cls, body: dict[str, Any], fallback_id: str = "") -> PhoneNumberInfo:
        return cls(
            id=as_str(body.get("id")) or fallback_id,
            display_phone_number=as_str(body.get("display_phone_number")),
            verified_name=as_str(body.get("verified_name")),
            quality_rating=as_str(body.get("quality_rating")),
            status=as_str(body.get("status")),
            throughput_level=as_str(as_dict(body.get("throughput")).get("level")),
            messaging_limit_tier=_limit_tier(body),
            raw=body,
        )


@dataclass(frozen=True, slots=True)
class HealthError:
    code: int | None
    description: str | None
    possible_solution: str | None

    @classmethod
    def from_json(cls, item: dict[str, Any]) -> HealthError:
        return cls(
            code=as_int(item.get("error_code")),
            description=as_str(item.get("error_description")),
            possible_solution=as_str(item.get("possible_solution")),
        )


@dataclass(frozen=True, slots=True)
class HealthEntity:
    entity_type: str | None
    id: str | None
    can_send_message: str | None
    errors: tuple[HealthError, ...] = ()

    @classmethod
    def from_json(cls, item: dict[str, Any]) -> HealthEntity:
        return cls(
            entity_type=as_str(item.get("entity_type")),
            id=as_str(item.get("id")),
            can_send_message=as_str(item.get("can_send_message")),
            errors=tuple(HealthError.from_json(as_dict(e)) for e in as_list(item.get("errors"))),
        )


@dataclass(frozen=True, slots=True)
class HealthStatus:
    """``health_status`` of a WABA, number or template: the best single "can I send?" probe."""

    id: str
    can_send_message: str | None
    entities: tuple[HealthEntity, ...] = ()
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def available(self) -> bool:
        return self.can_send_message == "AVAILABLE"

    @property
    def errors(self) -> tuple[HealthError, ...]:
        """Every entity's errors, flattened: what blocks or limits sending."""
        return tuple(error for entity in self.entities for error in entity.errors)

    @classmethod
    def from_json(cls, body: dict[str, Any], fallback_id: str = "") -> HealthStatus:
        health = as_dict(body.get("health_status"))
        return cls(
            id=as_str(body.get("id")) or fallback_id,
            can_send_message=as_str(health.get("can_send_message")),
            entities=tuple(HealthEntity.from_json(as_dict(e)) for e in as_list(health.get("entities"))),
            raw=body,
        )


@dataclass(frozen=True, slots=True)
class TemplateInfo:
    id: str
    name: str
    language: str
    status: str | None
    category: str | None
    quality_score: str | None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, item: dict[str, Any]) -> TemplateInfo:
        # quality_score is an object ({"score": "GREEN", "date": ...}) on the Graph API.
        score = item.get("quality_score")
        if isinstance(score, dict):
            score = score.get("score")
        return cls(
            id=as_str(item.get("id")) or "",
            name=as_str(item.get("name")) or "",
            language=as_str(item.get("language")) or "",
            status=as_str(item.get("status")),
            category=as_str(item.get("category")),
            quality_score=as_str(score),
            raw=item,
        )


@dataclass(frozen=True, slots=True)
class TemplateCreated:
    id: str
    status: str | None
    category: str | None

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> TemplateCreated:
        return cls(
            id=as_str(body.get("id")) or "",
            status=as_str(body.get("status")),
            category=as_str(body.get("category")),
        )
