"""The typed items a webhook notification carries.

Every item names its WABA (``entry.id``) and, where Meta gives one, the business number
(``metadata.phone_number_id``); every item keeps the JSON it came from in ``raw`` so nothing Meta
sent is lost. ``raw`` is left out of repr and comparisons: logging an item never dumps a payload.
Since 2026 a user may have a business-scoped ``user_id`` and no phone number: both are carried.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class ErrorDetail:
    """One error as Meta reports it in a status, a message or ``value.errors``."""

    code: int | None
    title: str | None = None
    message: str | None = None
    details: str | None = None
    href: str | None = None


@dataclass(frozen=True, slots=True)
class Conversation:
    """The ``conversation`` block older status webhooks carry (omitted from v24 on)."""

    id: str | None = None
    origin_type: str | None = None
    expiration_timestamp: int | None = None


@dataclass(frozen=True, slots=True)
class Media:
    """An image, video, audio, document or sticker a user sent: its id to download, and caption."""

    id: str | None = None
    mime_type: str | None = None
    sha256: str | None = None
    caption: str | None = None
    filename: str | None = None
    url: str | None = None
    voice: bool | None = None
    animated: bool | None = None


@dataclass(frozen=True, slots=True)
class Referral:
    """Where a user came from: a click-to-WhatsApp ad or post (``referral`` on a message)."""

    source_url: str | None = None
    source_id: str | None = None
    source_type: str | None = None
    headline: str | None = None
    body: str | None = None
    media_type: str | None = None
    image_url: str | None = None
    video_url: str | None = None
    thumbnail_url: str | None = None
    ctwa_clid: str | None = None


@dataclass(frozen=True, slots=True)
class Reaction:
    """An emoji reaction to one of our messages; an empty emoji removes it."""

    message_id: str | None = None
    emoji: str | None = None


@dataclass(frozen=True, slots=True)
class SystemChange:
    """A ``system`` message: the user changed number or BSUID, or their identity changed.

    ``wa_id`` and ``user_id`` are the user's NEW ids (``new_wa_id`` before Graph v12); the
    message's ``from`` is the old phone."""

    type: str | None = None
    body: str | None = None
    wa_id: str | None = None
    user_id: str | None = None
    parent_user_id: str | None = None
    previous_user_id: str | None = None
    previous_parent_user_id: str | None = None
    identity: str | None = None
    customer: str | None = None


@dataclass(frozen=True, slots=True)
class Pricing:
    billable: bool | None = None
    pricing_model: str | None = None
    type: str | None = None
    category: str | None = None


@dataclass(frozen=True, slots=True)
class StatusUpdate:
    """A sent/delivered/read/failed (or newer) status of one of our messages.

    ``status`` is lower-cased as Meta spells it; ``timestamp`` is Unix seconds, None if absent.
    """

    waba_id: str | None
    phone_number_id: str | None
    id: str
    status: str
    timestamp: int | None
    recipient_id: str | None = None
    recipient_user_id: str | None = None
    recipient_parent_user_id: str | None = None
    biz_opaque_callback_data: str | None = None
    errors: tuple[ErrorDetail, ...] = ()
    pricing: Pricing | None = None
    conversation: Conversation | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def error_code(self) -> int | None:
        """The first error's code: what the taxonomy classifies for a failed status."""
        return self.errors[0].code if self.errors else None


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """A message a user sent to one of our numbers: STOP/START text, a quick-reply tap, a reply."""

    waba_id: str | None
    phone_number_id: str | None
    id: str
    type: str | None
    timestamp: int | None
    from_wa_id: str | None = None
    from_user_id: str | None = None
    from_parent_user_id: str | None = None
    profile_name: str | None = None
    username: str | None = None
    text: str | None = None
    button_text: str | None = None
    button_payload: str | None = None
    interactive_type: str | None = None
    reply_id: str | None = None
    reply_title: str | None = None
    reply_description: str | None = None
    context_id: str | None = None
    context_from: str | None = None
    forwarded: bool | None = None
    frequently_forwarded: bool | None = None
    media: Media | None = None
    referral: Referral | None = None
    reaction: Reaction | None = None
    system: SystemChange | None = None
    errors: tuple[ErrorDetail, ...] = ()
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def caption(self) -> str | None:
        """The caption of an image, video or document: people type STOP there too."""
        return self.media.caption if self.media else None

    @property
    def reply_text(self) -> str | None:
        """What the user said, whichever way: typed text, quick-reply text or interactive title
        (a media caption is kept apart, in ``caption``)."""
        return self.text or self.button_text or self.reply_title

    @property
    def reply_payload(self) -> str | None:
        """The machine-readable id of a tapped button, if the message was a tap."""
        return self.button_payload or self.reply_id


@dataclass(frozen=True, slots=True)
class AccountChange:
    """Any account-level change: template status/quality, number throughput, account, capability
    or a user's marketing preference. ``event`` is Meta's ``event`` where the change has one,
    else its headline value: the new quality score, or stop/resume for a preference."""

    waba_id: str | None
    field: str
    event: str | None = None
    timestamp: int | None = None
    entry_time: int | None = None
    phone_number_id: str | None = None
    display_phone_number: str | None = None
    template_id: str | None = None
    template_name: str | None = None
    template_language: str | None = None
    template_category: str | None = None
    reason: str | None = None
    other_info_title: str | None = None
    other_info_description: str | None = None
    rejection_reason: str | None = None
    rejection_recommendation: str | None = None
    previous_category: str | None = None
    new_category: str | None = None
    correct_category: str | None = None
    category_update_timestamp: int | None = None
    template_element: str | None = None
    template_title: str | None = None
    template_footer: str | None = None
    previous_quality: str | None = None
    new_quality: str | None = None
    old_limit: str | None = None
    current_limit: str | None = None
    max_daily_conversations_per_business: str | None = None
    max_daily_conversation_per_phone: int | None = None
    max_phone_numbers_per_business: int | None = None
    max_phone_numbers_per_waba: int | None = None
    subject_wa_id: str | None = None
    subject_user_id: str | None = None
    category: str | None = None
    value: str | None = None
    detail: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class SystemErrorEvent:
    """An error about the webhook or the number itself (``value.errors``), not about one message.
    (Not called ``SystemError``: that would shadow the Python builtin.)"""

    waba_id: str | None
    phone_number_id: str | None
    code: int | None
    title: str | None = None
    message: str | None = None
    details: str | None = None
    entry_time: int | None = None
    #: Digest of the whole change value the error came in: a value-level error carries no time
    #: of its own, so its siblings (statuses with timestamps) are what tell a repeat from a retry.
    context_digest: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class UnknownChange:
    """Anything not understood, kept whole: an unknown ``field``, a messages value of an unknown
    event type, or a malformed piece. ``raw`` is the JSON concerned; ``reason`` says why it landed here."""

    waba_id: str | None
    field: str | None
    reason: str
    phone_number_id: str | None = None
    raw: Any = field(default=None, repr=False, compare=False)
    entry_time: int | None = None


@dataclass
class WebhookBatch:
    """Everything one POST carried, by kind. Nothing is ever dropped: what is not understood is
    in ``unknown``."""

    object: str
    statuses: list[StatusUpdate] = field(default_factory=list)
    messages: list[InboundMessage] = field(default_factory=list)
    changes: list[AccountChange] = field(default_factory=list)
    system_errors: list[SystemErrorEvent] = field(default_factory=list)
    unknown: list[UnknownChange] = field(default_factory=list)

    @property
    def size(self) -> int:
        """How many items the batch yielded (metrics; a batch may carry up to 1,000 updates)."""
        return (
            len(self.statuses)
            + len(self.messages)
            + len(self.changes)
            + len(self.system_errors)
            + len(self.unknown)
        )
