"""The WhatsApp Business Cloud API as dawn uses it: client, error taxonomy, breaker, webhooks.

Knows nothing of Kafka or of the rest of dawn, so the sandbox, the sender and the webhook gateway
can all share it.
"""

from whatsapp.breaker import BreakerRegistry, BreakerState, CircuitBreaker
from whatsapp.client import CloudApiClient, CloudApiError
from whatsapp.errors import Action, ErrorPolicy, classify, pair_rate_backoff, retry_delay
from whatsapp.payloads import TemplateMessage, TemplateSpec
from whatsapp.responses import (
    HealthEntity,
    HealthError,
    HealthStatus,
    PhoneNumberInfo,
    SendAccepted,
    TemplateCreated,
    TemplateInfo,
)

__all__ = [
    "Action",
    "BreakerRegistry",
    "BreakerState",
    "CircuitBreaker",
    "CloudApiClient",
    "CloudApiError",
    "ErrorPolicy",
    "HealthEntity",
    "HealthError",
    "HealthStatus",
    "PhoneNumberInfo",
    "SendAccepted",
    "TemplateCreated",
    "TemplateInfo",
    "TemplateMessage",
    "TemplateSpec",
    "classify",
    "pair_rate_backoff",
    "retry_delay",
]
