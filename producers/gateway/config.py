"""What the webhook gateway needs to run, checked before it listens.

A gateway without the app secret could only accept every webhook (forgeries too) or refuse every
one (Meta then retries for days and disables the subscription); both are worse than not starting,
so a missing secret is an error at start, not a behaviour.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from producers.gateway.numbers import REFRESH_S, Fetch

#: Meta's payloads go up to 3 MB; the margin covers headers-free encoding differences.
MAX_BODY_BYTES = 3 * 1024 * 1024 + 64 * 1024
#: How long a webhook waits for Kafka before the gateway answers 503 (Meta retries).
ACK_TIMEOUT_S = 5.0

class GatewayConfigError(RuntimeError):
    """The gateway cannot start safely with this configuration."""


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class GatewayConfig:
    """Secrets, Kafka and limits of one gateway process."""

    app_secret: str
    verify_token: str
    ops_token: str
    kafka: dict[str, object]
    max_body_bytes: int = MAX_BODY_BYTES
    ack_timeout_s: float = ACK_TIMEOUT_S
    schema_registry_url: str | None = None
    #: Where refused status webhooks are recorded (the send ledger's evidence); None: not recorded.
    database_url: str | None = None
    now: Callable[[], datetime] = field(default=_utc_now)
    #: Display number -> phone_number_id, for number events that name only the display number;
    #: entries here win over the WABA's list read through ``numbers_fetch``.
    numbers: Mapping[str, str] = field(default_factory=dict)
    numbers_fetch: Fetch | None = None
    numbers_refresh_s: float = REFRESH_S

    def __post_init__(self) -> None:
        if not self.app_secret:
            raise GatewayConfigError(
                "WHATSAPP_APP_SECRET is not set: the gateway cannot verify webhook signatures "
                "and will not start"
            )
