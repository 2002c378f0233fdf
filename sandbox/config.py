"""What the sandbox simulates, as dataclasses with a strict JSON loader.

Every field has a default, and ``SandboxConfig()`` is the documented default world: one WABA, three
numbers at 80 mps (GREEN, CONNECTED), the MARKETING template ``daily_pack_v1`` APPROVED in en, hi
and mr with an IMAGE header and the named body parameter ``advisor_name``, and every recipient on
WhatsApp and online. ``sample_config.json`` next to this file spells out every field.

The loader rejects unknown keys, because a misspelt ``duplicte_rate`` that silently does nothing
would make a test pass for the wrong reason.

Fields (JSON keys, nested as shown):

- ``waba_id``, ``business_id``, ``app_id``: node ids the Graph API answers for.
- ``access_token``: the bearer token required on Graph calls; ``""`` accepts any (or none).
- ``numbers[]``: ``id``, ``display_phone_number``, ``verified_name``, ``mps``, ``quality``
  (GREEN | YELLOW | RED | UNKNOWN), ``status`` (CONNECTED | RESTRICTED | FLAGGED | DISCONNECTED |
  BANNED; anything but CONNECTED refuses sends with ``number_blocked_code``), ``throughput_level``.
- ``templates[]``: ``name``, ``languages``, ``category`` (MARKETING | UTILITY | AUTHENTICATION),
  ``status`` (APPROVED | PENDING | REJECTED | PAUSED | DISABLED), ``quality``, ``parameter_format``
  (named | positional), ``parameters`` (names, or one label per positional slot),
  ``header_format`` (IMAGE | TEXT | NONE), ``paced`` (sends are held for quality assessment),
  ``cards`` (a media card carousel of that many image cards, 2-10; 0 = not a carousel).
- ``recipients``: ``default`` rule (``on_whatsapp``, ``online``, ``marketing_stopped``,
  ``marketing_cap``: delivered marketing messages per rolling 24 h, null = no cap), ``overrides``
  (wa_id -> partial rule), ``offline_rate`` / ``not_on_whatsapp_rate`` / ``marketing_stopped_rate``
  (a stable, seeded fraction of all other recipients), ``undeliverable_as`` (``webhook``: accepted,
  then a ``failed`` status as Meta does; ``error``: refused at send time).
- ``limits``: ``burst`` (arrivals allowed above a number's mps in any sliding 1-s window,
  default 0), ``pair_interval_s`` and
  ``pair_burst`` (pair rate), ``messaging_tier`` (TIER_250 | TIER_2K | TIER_10K | TIER_100K |
  TIER_UNLIMITED, default TIER_10K: portfolio-wide unique recipients per rolling 24 h),
  ``messaging_limit_code`` and ``messaging_limit_as`` (error | webhook; Meta documents no code for
  this limit, so both are choices, by default 131048 refused at send time), ``number_blocked_code``
  (131031, for a number that is not CONNECTED).
- ``pacing``: ``release_after_s`` [lo, hi] and ``drop_rate`` for held messages.
- ``webhooks``: ``callback_url`` (null = no webhooks), ``app_secret``, ``batch_size``,
  ``batch_wait_s`` (how long a due update may wait for others to share its POST),
  ``concurrency``, ``timeout_s``, delays as [lo, hi] seconds (``sent_delay_s``,
  ``delivered_delay_s`` online, ``offline_delay_s``, ``read_delay_s``, ``account_delay_s`` for
  template and account updates), ``read_rate``,
  ``duplicate_rate`` + ``duplicate_delay_s``, ``reorder_rate`` + ``reorder_delay_s``, retries
  (``retry_base_s``, ``retry_max_s``, ``retry_max_attempts``), ``escape_unicode`` (``\\uXXXX`` and
  ``\\/`` in the raw bytes, as Meta sends them).
- ``faults``: ``profile`` (none | realistic | chaos) whose values any other key overrides:
  ``error_5xx_rate``, ``timeout_rate``, ``accept_then_timeout_rate``, ``timeout_hold_s``,
  ``latency_median_ms``, ``latency_p99_ms``, ``events[]`` (``after_s``, ``kind``: number_quality |
  number_status | template_pause | maintenance, ``target``, ``value``, ``language``, ``duration_s``),
  ``block_rate`` and ``block_rate_by_template`` (recipients blocking template sends).
- ``quality``: how ratings follow blocks (sandbox.quality): ``window_s``, ``min_sends``,
  ``yellow_at``, ``red_at``, ``restrict_after_s``.
- ``media_shared_across_numbers``, ``keep_media_bytes`` (uploads readable back from
  ``GET /sandbox/media/{id}``), ``template_approval_s`` (review time of a submitted template),
  ``template_rejection_rate`` (share of submissions rejected at review, reason INVALID_FORMAT),
  ``marketing_messages_api`` (whether ``/{phone-number-id}/marketing_messages`` is available; when
  not, it answers error 100 as Graph does for an unsupported request), ``seed``.
- ``templates[].read_rate`` overrides ``webhooks.read_rate`` for that template (A/B tests).
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from dataclasses import dataclass, field
from typing import Any

QUALITIES = ("GREEN", "YELLOW", "RED", "UNKNOWN")
NUMBER_STATUSES = ("CONNECTED", "RESTRICTED", "FLAGGED", "DISCONNECTED", "BANNED")
TEMPLATE_STATUSES = ("APPROVED", "PENDING", "REJECTED", "PAUSED", "DISABLED")
CATEGORIES = ("MARKETING", "UTILITY", "AUTHENTICATION")
HEADER_FORMATS = ("IMAGE", "TEXT", "NONE")
TIERS = {"TIER_250": 250, "TIER_2K": 2_000, "TIER_10K": 10_000, "TIER_100K": 100_000,
         "TIER_UNLIMITED": None}
FAULT_KINDS = ("number_quality", "number_status", "template_pause", "maintenance")
PROFILES = ("none", "realistic", "chaos")

Range = tuple[float, float]


def _one_of(value: str, allowed: typing.Iterable[str], what: str) -> None:
    if value not in allowed:
        raise ValueError(f"{what} must be one of {', '.join(allowed)}, not {value!r}")


def _range(value: Range, what: str) -> None:
    lo, hi = value
    if not 0 <= lo <= hi:
        raise ValueError(f"{what} must be [lo, hi] with 0 <= lo <= hi, not {list(value)}")


def _rate(value: float, what: str) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{what} must be a probability in [0, 1], not {value}")


@dataclass
class NumberConfig:
    id: str
    display_phone_number: str
    verified_name: str = "Dawn Advisors"
    mps: float = 80.0
    quality: str = "GREEN"
    status: str = "CONNECTED"
    throughput_level: str = "STANDARD"

    def __post_init__(self) -> None:
        _one_of(self.quality, QUALITIES, "number quality")
        _one_of(self.status, NUMBER_STATUSES, "number status")
        if self.mps <= 0:
            raise ValueError("number mps must be positive")


@dataclass
class TemplateConfig:
    name: str
    languages: list[str] = field(default_factory=lambda: ["en", "hi", "mr"])
    category: str = "MARKETING"
    status: str = "APPROVED"
    quality: str = "GREEN"
    parameter_format: str = "named"
    parameters: list[str] = field(default_factory=lambda: ["advisor_name"])
    header_format: str = "IMAGE"
    paced: bool = False
    #: A media card carousel when > 0: the number of cards, each with an image header (Meta allows
    #: 2 to 10, carousels are MARKETING only and have no message header); a send must carry
    #: exactly this many cards.
    cards: int = 0
    #: Share of this template's delivered messages that are read; None: ``webhooks.read_rate``.
    read_rate: float | None = None

    def __post_init__(self) -> None:
        if self.cards:
            if not 2 <= self.cards <= 10:
                raise ValueError("a carousel template has 2 to 10 cards")
            if self.category != "MARKETING" or self.header_format != "NONE":
                raise ValueError("a carousel template is MARKETING with header_format NONE")
        _one_of(self.category, CATEGORIES, "template category")
        _one_of(self.status, TEMPLATE_STATUSES, "template status")
        _one_of(self.quality, QUALITIES, "template quality")
        _one_of(self.parameter_format, ("named", "positional"), "parameter_format")
        _one_of(self.header_format, HEADER_FORMATS, "header_format")


@dataclass
class RecipientRule:
    on_whatsapp: bool = True
    online: bool = True
    marketing_stopped: bool = False
    marketing_cap: int | None = None


_RULE_KEYS = frozenset(f.name for f in dataclasses.fields(RecipientRule))


@dataclass
class RecipientsConfig:
    default: RecipientRule = field(default_factory=RecipientRule)
    #: wa_id -> partial rule; unspecified keys come from ``default``.
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    offline_rate: float = 0.0
    not_on_whatsapp_rate: float = 0.0
    marketing_stopped_rate: float = 0.0
    undeliverable_as: str = "webhook"

    def __post_init__(self) -> None:
        for wa_id, partial in self.overrides.items():
            unknown = set(partial) - _RULE_KEYS
            if unknown:
                raise ValueError(f"recipient override {wa_id}: unknown keys {sorted(unknown)}")
        for name in ("offline_rate", "not_on_whatsapp_rate", "marketing_stopped_rate"):
            _rate(getattr(self, name), name)
        _one_of(self.undeliverable_as, ("webhook", "error"), "undeliverable_as")


@dataclass
class LimitsConfig:
    burst: int = 0
    pair_interval_s: float = 6.0
    pair_burst: int = 45
    messaging_tier: str = "TIER_10K"
    messaging_limit_code: int = 131048
    messaging_limit_as: str = "error"
    number_blocked_code: int = 131031

    def __post_init__(self) -> None:
        _one_of(self.messaging_tier, TIERS, "messaging_tier")
        _one_of(self.messaging_limit_as, ("error", "webhook"), "messaging_limit_as")
        if self.burst < 0 or self.pair_interval_s <= 0 or self.pair_burst < 1:
            raise ValueError("burst must be >= 0, pair_interval_s positive, pair_burst at least 1")

    @property
    def messaging_limit(self) -> int | None:
        """Unique recipients allowed per rolling 24 h; None when unlimited."""
        return TIERS[self.messaging_tier]


@dataclass
class PacingConfig:
    release_after_s: Range = (300.0, 1800.0)
    drop_rate: float = 0.1

    def __post_init__(self) -> None:
        _range(self.release_after_s, "pacing.release_after_s")
        _rate(self.drop_rate, "pacing.drop_rate")


@dataclass
class WebhookConfig:
    callback_url: str | None = None
    app_secret: str = ""
    batch_size: int = 100
    #: How long a due update may wait for others to share its POST (0: post at once).
    batch_wait_s: float = 0.0
    concurrency: int = 4
    timeout_s: float = 5.0
    sent_delay_s: Range = (0.05, 0.5)
    delivered_delay_s: Range = (0.2, 2.0)
    offline_delay_s: Range = (600.0, 3600.0)
    read_rate: float = 0.3
    read_delay_s: Range = (5.0, 120.0)
    account_delay_s: Range = (0.0, 0.0)
    duplicate_rate: float = 0.0
    duplicate_delay_s: Range = (0.0, 1.0)
    reorder_rate: float = 0.0
    reorder_delay_s: float = 2.0
    retry_base_s: float = 1.0
    retry_max_s: float = 300.0
    retry_max_attempts: int = 12
    escape_unicode: bool = True

    def __post_init__(self) -> None:
        if not 1 <= self.batch_size <= 1000:
            raise ValueError("webhooks.batch_size must be 1..1000 (Meta batches up to 1,000 updates)")
        if self.concurrency < 1:
            raise ValueError("webhooks.concurrency must be at least 1")
        if not 0 <= self.batch_wait_s <= 60:
            raise ValueError("webhooks.batch_wait_s must be 0..60 seconds")
        for name in ("sent_delay_s", "delivered_delay_s", "offline_delay_s", "read_delay_s",
                     "account_delay_s", "duplicate_delay_s"):
            _range(getattr(self, name), f"webhooks.{name}")
        for name in ("read_rate", "duplicate_rate", "reorder_rate"):
            _rate(getattr(self, name), f"webhooks.{name}")


@dataclass
class FaultEvent:
    kind: str
    target: str
    after_s: float = 0.0
    value: str = ""
    language: str = ""
    duration_s: float = 60.0

    def __post_init__(self) -> None:
        _one_of(self.kind, FAULT_KINDS, "fault event kind")
        if self.kind == "number_quality":
            _one_of(self.value, QUALITIES, "number_quality value")
        if self.kind == "number_status":
            _one_of(self.value, NUMBER_STATUSES, "number_status value")


@dataclass
class QualityModelConfig:
    """How ratings follow blocks (sandbox.quality): the share of blocked sends in the last
    ``window_s`` seconds, once ``min_sends`` are in it; a number RED for ``restrict_after_s``
    is restricted."""

    window_s: float = 600.0
    min_sends: int = 50
    yellow_at: float = 0.02
    red_at: float = 0.05
    restrict_after_s: float = 3600.0

    def __post_init__(self) -> None:
        if self.window_s <= 0 or self.min_sends < 1 or self.restrict_after_s < 0:
            raise ValueError("quality.window_s must be positive, min_sends at least 1")
        if not 0 < self.yellow_at <= self.red_at <= 1:
            raise ValueError("quality needs 0 < yellow_at <= red_at <= 1")


@dataclass
class FaultConfig:
    profile: str = "none"
    error_5xx_rate: float = 0.0
    timeout_rate: float = 0.0
    accept_then_timeout_rate: float = 0.0
    #: How long a timed-out request is held before the sandbox answers 504: longer than the
    #: client's timeout, so the client sees a timeout.
    timeout_hold_s: float = 30.0
    latency_median_ms: float = 0.0
    latency_p99_ms: float = 0.0
    events: list[FaultEvent] = field(default_factory=list)
    #: Recipients who block or report a template send (sandbox.quality), by template name; others
    #: block at ``block_rate``.
    block_rate: float = 0.0
    block_rate_by_template: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _one_of(self.profile, PROFILES, "faults.profile")
        for name in ("error_5xx_rate", "timeout_rate", "accept_then_timeout_rate", "block_rate"):
            _rate(getattr(self, name), f"faults.{name}")
        for name, rate in self.block_rate_by_template.items():
            _rate(rate, f"faults.block_rate_by_template.{name}")

    def block_rate_of(self, template: str) -> float:
        return self.block_rate_by_template.get(template, self.block_rate)
        if self.latency_p99_ms < self.latency_median_ms:
            raise ValueError("faults.latency_p99_ms must be >= latency_median_ms")


def _default_numbers() -> list[NumberConfig]:
    return [NumberConfig(id=f"11000000000000{i}", display_phone_number=f"91224000000{i}")
            for i in (1, 2, 3)]


@dataclass
class SandboxConfig:
    waba_id: str = "100000000000001"
    business_id: str = "100000000000002"
    app_id: str = "100000000000003"
    access_token: str = ""
    numbers: list[NumberConfig] = field(default_factory=_default_numbers)
    templates: list[TemplateConfig] = field(
        default_factory=lambda: [TemplateConfig(name="daily_pack_v1"),
                                 TemplateConfig(name="daily_pack_carousel_v1", header_format="NONE",
                                                cards=3)]
    )
    recipients: RecipientsConfig = field(default_factory=RecipientsConfig)
    limits: LimitsConfig = field(default_factory=LimitsConfig)
    pacing: PacingConfig = field(default_factory=PacingConfig)
    webhooks: WebhookConfig = field(default_factory=WebhookConfig)
    faults: FaultConfig = field(default_factory=FaultConfig)
    quality: QualityModelConfig = field(default_factory=QualityModelConfig)
    media_shared_across_numbers: bool = False
    #: Keep every upload's bytes for ``GET /sandbox/media/{id}`` (memory: a morning's images).
    keep_media_bytes: bool = False
    template_approval_s: float = 5.0
    template_rejection_rate: float = 0.0
    marketing_messages_api: bool = True
    seed: int = 0

    def __post_init__(self) -> None:
        if not self.numbers:
            raise ValueError("the sandbox needs at least one phone number")
        ids = [n.id for n in self.numbers]
        if len(set(ids)) != len(ids):
            raise ValueError("phone number ids must be unique")
        self.check_targets(self.faults.events)

    def check_targets(self, events: list[FaultEvent]) -> None:
        """Refuse fault events aimed at a number or template this config does not have, at load
        time rather than silently at the moment they were meant to strike."""
        numbers = {n.id for n in self.numbers}
        variants = {(t.name, lang) for t in self.templates for lang in t.languages}
        for event in events:
            if event.kind == "template_pause":
                if not any(name == event.target and event.language in ("", lang)
                           for name, lang in variants):
                    raise ValueError(f"fault event: no template {event.target} {event.language}")
            elif event.target not in numbers:
                raise ValueError(f"fault event: no phone number {event.target}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-shaped (ranges as lists), so it equals what ``/sandbox/config`` serves."""
        return json.loads(json.dumps(dataclasses.asdict(self)))


def build(cls: type, data: Any, where: str) -> Any:
    """A dataclass ``cls`` from JSON ``data``, rejecting unknown keys and converting nested types."""
    if not isinstance(data, dict):
        raise ValueError(f"{where} must be a JSON object")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(data) - names
    if unknown:
        raise ValueError(f"{where}: unknown keys {sorted(unknown)}")
    kwargs = {key: _convert(hints[key], value, f"{where}.{key}") for key, value in data.items()}
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise ValueError(f"{where}: {exc}") from None


def _convert(hint: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if dataclasses.is_dataclass(hint):
        return build(hint, value, where)  # type: ignore[arg-type]
    if origin in (types.UnionType, typing.Union):
        if value is None:
            return None
        return _convert(next(a for a in args if a is not type(None)), value, where)
    if origin is list:
        if not isinstance(value, list):
            raise ValueError(f"{where} must be a list")
        return [_convert(args[0], item, f"{where}[{i}]") for i, item in enumerate(value)]
    if origin is tuple:
        if not isinstance(value, list | tuple) or len(value) != len(args):
            raise ValueError(f"{where} must be a list of {len(args)} numbers")
        return tuple(float(v) for v in value)
    if hint is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return value
