"""What the webhook gateway needs to run, checked before it listens.

A gateway without the app secret could only accept every webhook (forgeries too) or refuse every
one (Meta then retries for days and disables the subscription); both are worse than not starting,
so a missing secret is an error at start, not a behaviour.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from dawn.embedded.client_profile import producer_config
from dawn.settings import Secret, Settings

#: Meta's payloads go up to 3 MB; the margin covers headers-free encoding differences.
MAX_BODY_BYTES = 3 * 1024 * 1024 + 64 * 1024
#: How long a webhook waits for Kafka before the gateway answers 503 (Meta retries).
ACK_TIMEOUT_S = 5.0

#: On the embedded broker every record is its own request (the embedded profile), and an idempotent
#: producer allows only 5 requests in flight: at a morning's 1,000 statuses/s acknowledgements then
#: queue up to p99 ~400 ms (measured with a paced producer; 3 ms with 32 in flight). The gateway
#: does not need idempotence: duplicates carry the same event id and order does not matter to a
#: monotonic merge (Meta reorders statuses anyway), while acks=all still makes every 200 durable.
EMBEDDED_GATEWAY_PRODUCER = {"enable.idempotence": False, "max.in.flight.requests.per.connection": 32}


class GatewayConfigError(RuntimeError):
    """The gateway cannot start safely with this configuration."""


def gateway_producer_config(bootstrap: str, embedded: bool) -> dict[str, object]:
    """The project's producer config, with more requests in flight on the embedded broker."""
    return producer_config(bootstrap, embedded, **(EMBEDDED_GATEWAY_PRODUCER if embedded else {}))


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class GatewayConfig:
    """Secrets, Kafka and limits of one gateway process."""

    app_secret: Secret
    verify_token: Secret
    ops_token: Secret
    kafka: dict[str, object]
    max_body_bytes: int = MAX_BODY_BYTES
    ack_timeout_s: float = ACK_TIMEOUT_S
    schema_registry_url: str | None = None
    now: Callable[[], datetime] = field(default=_utc_now)

    def __post_init__(self) -> None:
        if not self.app_secret:
            raise GatewayConfigError(
                "WHATSAPP_APP_SECRET is not set: the gateway cannot verify webhook signatures "
                "and will not start"
            )

    @classmethod
    def from_settings(
        cls, settings: Settings, bootstrap: str, *, embedded: bool, **overrides: object
    ) -> GatewayConfig:
        """Config from the environment's settings; ``embedded`` applies the embedded broker profile."""
        return cls(
            app_secret=settings.whatsapp_app_secret,
            verify_token=settings.whatsapp_verify_token,
            ops_token=settings.ops_token,
            kafka=gateway_producer_config(bootstrap, embedded),
            schema_registry_url=settings.schema_registry_url,
            **overrides,  # type: ignore[arg-type]
        )
