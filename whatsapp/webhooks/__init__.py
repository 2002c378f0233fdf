"""Inbound side of the Cloud API: signature checks and notification parsing."""

from whatsapp.webhooks.model import (
    AccountChange,
    ErrorDetail,
    InboundMessage,
    Pricing,
    StatusUpdate,
    SystemErrorEvent,
    UnknownChange,
    WebhookBatch,
    WebhookFormatError,
    parse_notification,
)
from whatsapp.webhooks.signature import sign, verify_challenge, verify_signature

__all__ = [
    "AccountChange",
    "ErrorDetail",
    "InboundMessage",
    "Pricing",
    "StatusUpdate",
    "SystemErrorEvent",
    "UnknownChange",
    "WebhookBatch",
    "WebhookFormatError",
    "parse_notification",
    "sign",
    "verify_challenge",
    "verify_signature",
]
