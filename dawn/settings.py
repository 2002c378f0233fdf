"""One settings object, read from the environment once.

Production (docker-compose, a managed Kafka) and the embedded defaults run the same code; the only
difference is which of these variables are set. Every variable is listed in the README table, and
``SETTINGS_DOC`` below is that table's source, so the two cannot drift apart.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
LOG_FORMATS = ("text", "json")
MARKETING_MESSAGES_MODES = ("off", "auto")
MIN_BUFFER_DAYS, MAX_BUFFER_DAYS = 3, 5


#: INR per delivered message by Meta pricing category (the ``pricing.category`` of status
#: webhooks). Defaults approximate Meta's India rate card; set DAWN_PRICES_INR from the current one.
DEFAULT_PRICES_INR: dict[str, float] = {
    "marketing": 0.8631, "utility": 0.115, "authentication": 0.115, "service": 0.0,
}


class SettingsError(ValueError):
    """An environment variable holds a value dawn cannot run with; the message names it."""


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


class Secret(str):
    """A string that prints as ``***``: in repr, ``str()``, f-strings, ``%`` formatting and so in
    log arguments and exception messages built those ways.

    It is still a ``str`` underneath, so comparisons, ``.encode()``, concatenation, slicing and
    ``json.dumps`` see the real value: those are not masked. Call :meth:`reveal` where the value is
    meant to be used, so every such place is easy to find.
    """

    def __repr__(self) -> str:
        return "Secret('***')" if self else "Secret('')"

    def __str__(self) -> str:
        return "***" if self else ""

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)

    def reveal(self) -> str:
        """The secret itself, as a plain ``str``."""
        return str.__str__(self)


def redact_url(url: str) -> str:
    """``url`` with its password replaced by ``***``, for printing a URL that may carry one."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


@dataclass(frozen=True)
class Settings:
    """Everything configurable about dawn. Build with :meth:`from_env`."""

    kafka_bootstrap_servers: str | None = None
    database_url: Secret | None = None
    schema_registry_url: str | None = None
    run_dir: Path = Path(".dawn")
    graph_api_base_url: str = "https://graph.facebook.com"
    graph_api_version: str = "v26.0"
    whatsapp_access_token: Secret = field(default_factory=lambda: Secret(""))
    whatsapp_app_secret: Secret = field(default_factory=lambda: Secret(""))
    whatsapp_verify_token: Secret = field(default_factory=lambda: Secret(""))
    whatsapp_waba_id: str | None = None
    fleet_file: Path | None = None
    quality_poll_s: float = 60.0
    whatsapp_app_id: str | None = None
    template_buffer_days: float = 3.0
    marketing_messages: str = "off"
    ops_token: Secret = field(default_factory=lambda: Secret(""))
    default_mps: float = 80.0
    timezone: str = "Asia/Kolkata"
    log_level: str = "INFO"
    log_format: str = "text"
    # -- dashboard, advisor feed, cost (issue 14) --
    advisor_token_secret: Secret = field(default_factory=lambda: Secret(""))
    dashboard_port: int = 8070
    prices_inr: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_PRICES_INR))
    budget_daily_inr: float | None = None
    budget_monthly_inr: float | None = None

    @property
    def embedded_kafka(self) -> bool:
        """True when no external Kafka is configured and dawn starts its own broker."""
        return self.kafka_bootstrap_servers is None

    @property
    def embedded_postgres(self) -> bool:
        """True when no external PostgreSQL is configured and dawn starts its own."""
        return self.database_url is None

    @classmethod
    def from_env(cls) -> Settings:
        """Read the environment; SettingsError names the first variable with a value we cannot use."""
        database_url = _env("DATABASE_URL")
        return cls(
            kafka_bootstrap_servers=_env("KAFKA_BOOTSTRAP_SERVERS"),
            database_url=Secret(database_url) if database_url else None,
            schema_registry_url=_env("SCHEMA_REGISTRY_URL"),
            run_dir=Path(_env("DAWN_RUN_DIR", ".dawn") or ".dawn"),
            graph_api_base_url=_env("GRAPH_API_BASE_URL", cls.graph_api_base_url)
            or cls.graph_api_base_url,
            graph_api_version=_env("GRAPH_API_VERSION", cls.graph_api_version)
            or cls.graph_api_version,
            whatsapp_access_token=Secret(_env("WHATSAPP_ACCESS_TOKEN", "") or ""),
            whatsapp_app_secret=Secret(_env("WHATSAPP_APP_SECRET", "") or ""),
            whatsapp_verify_token=Secret(_env("WHATSAPP_VERIFY_TOKEN", "") or ""),
            whatsapp_waba_id=_env("WHATSAPP_WABA_ID"),
            fleet_file=Path(fleet) if (fleet := _env("DAWN_FLEET_FILE")) else None,
            quality_poll_s=_positive_float("DAWN_QUALITY_POLL_S", cls.quality_poll_s),
            whatsapp_app_id=_env("WHATSAPP_APP_ID"),
            template_buffer_days=_buffer_days("DAWN_TEMPLATE_BUFFER_DAYS", cls.template_buffer_days),
            marketing_messages=_choice("DAWN_MARKETING_MESSAGES", cls.marketing_messages,
                                       MARKETING_MESSAGES_MODES, str.lower),
            ops_token=Secret(_env("DAWN_OPS_TOKEN", "") or ""),
            default_mps=_positive_float("DAWN_DEFAULT_MPS", cls.default_mps),
            timezone=_timezone("DAWN_TIMEZONE", cls.timezone),
            log_level=_choice("DAWN_LOG_LEVEL", cls.log_level, LOG_LEVELS, str.upper),
            log_format=_choice("DAWN_LOG_FORMAT", cls.log_format, LOG_FORMATS, str.lower),
            advisor_token_secret=Secret(_env("DAWN_ADVISOR_TOKEN_SECRET", "") or ""),
            dashboard_port=_port("DAWN_DASHBOARD_PORT", cls.dashboard_port),
            prices_inr=_prices("DAWN_PRICES_INR"),
            budget_daily_inr=_optional_positive("DAWN_BUDGET_DAILY_INR"),
            budget_monthly_inr=_optional_positive("DAWN_BUDGET_MONTHLY_INR"),
        )

    def public(self) -> dict[str, object]:
        """The settings as a dict safe to print: secrets show only whether they are set."""
        out: dict[str, object] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Secret):
                value = "set" if value else "unset"
            out[f.name] = str(value) if isinstance(value, Path) else value
        return out


def _positive_float(name: str, default: float) -> float:
    raw = _env(name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a number") from None
    if not math.isfinite(value) or value <= 0:
        raise SettingsError(f"{name}={raw!r} must be a positive number")
    return value


def _optional_positive(name: str) -> float | None:
    return None if _env(name) is None else _positive_float(name, 0.0)


def _port(name: str, default: int) -> int:
    raw = _env(name)
    if raw is None:
        return default
    if not (raw.isascii() and raw.isdigit()) or not 0 < int(raw) < 65536:
        raise SettingsError(f"{name}={raw!r} is not a TCP port (1-65535)")
    return int(raw)


def _prices(name: str) -> dict[str, float]:
    """``category=INR,...`` over the defaults: a partial table changes only the categories named."""
    prices = dict(DEFAULT_PRICES_INR)
    raw = _env(name)
    if raw is None:
        return prices
    for item in raw.split(","):
        category, sep, value = item.partition("=")
        try:
            price = float(value)
        except ValueError:
            price = -1.0
        if not sep or not category.strip() or not math.isfinite(price) or price < 0:
            raise SettingsError(f"{name}: {item!r} is not category=price (INR per message, >= 0)")
        prices[category.strip().lower()] = price
    return prices


def _timezone(name: str, default: str) -> str:
    raw = _env(name)
    if raw is None:
        return default
    try:
        ZoneInfo(raw)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a folder such as "Asia"
        raise SettingsError(f"{name}={raw!r} is not an IANA time zone (e.g. Asia/Kolkata)") from None
    return raw


def _choice(name: str, default: str, allowed: tuple[str, ...], normalise: Callable[[str], str]) -> str:
    raw = _env(name)
    if raw is None:
        return default
    value = normalise(raw.strip())
    if value not in allowed:
        raise SettingsError(f"{name}={raw!r} must be one of {', '.join(allowed)}")
    return value


def _buffer_days(name: str, default: float) -> float:
    """The approval buffer: the brief plans 3 to 5 business days for Meta's review."""
    value = _positive_float(name, default)
    if not MIN_BUFFER_DAYS <= value <= MAX_BUFFER_DAYS:
        raise SettingsError(f"{name}={value:g} must be between {MIN_BUFFER_DAYS} and {MAX_BUFFER_DAYS}"
                            " business days")
    return value


#: (variable, default, meaning): the README's configuration table is generated from this list.
SETTINGS_DOC: list[tuple[str, str, str]] = [
    ("KAFKA_BOOTSTRAP_SERVERS", "unset: embedded broker",
     "Kafka bootstrap servers; when set, dawn starts no broker of its own"),
    ("DATABASE_URL", "unset: embedded PostgreSQL",
     "PostgreSQL URL (secret); when set, dawn starts no database of its own"),
    ("SCHEMA_REGISTRY_URL", "unset: single-object encoding",
     "Confluent Schema Registry; when set, values use the Confluent wire format"),
    ("DAWN_RUN_DIR", ".dawn", "where embedded services keep data and logs"),
    ("GRAPH_API_BASE_URL", "https://graph.facebook.com", "Cloud API base URL (the sandbox in dev)"),
    ("GRAPH_API_VERSION", "v26.0", "Graph API version"),
    ("WHATSAPP_ACCESS_TOKEN", "unset", "system-user access token (secret)"),
    ("WHATSAPP_APP_SECRET", "unset", "app secret that signs webhooks (secret)"),
    ("WHATSAPP_VERIFY_TOKEN", "unset", "webhook verify-token handshake value (secret)"),
    ("WHATSAPP_WABA_ID", "unset", "WhatsApp Business Account id; the quality agent lists its numbers"),
    ("DAWN_FLEET_FILE", "unset: every number PRIMARY",
     "JSON fleet file: spares, warming numbers and rates (README, Fleet)"),
    ("DAWN_QUALITY_POLL_S", "60", "seconds between polls of the numbers' quality and status"),
    ("WHATSAPP_APP_ID", "unset", "Meta app id: `dawn templates submit` uploads example header images "
     "through it"),
    ("DAWN_TEMPLATE_BUFFER_DAYS", "3",
     "business days (3 to 5) a submitted template may stay PENDING before an alert"),
    ("DAWN_MARKETING_MESSAGES", "off",
     "`auto`: MARKETING templates go through the Marketing Messages API, falling back to "
     "`/messages` where it is not available; `off`: always `/messages`"),
    ("DAWN_OPS_TOKEN", "unset: ops endpoints refuse all",
     "bearer token for ops endpoints (secret)"),
    ("DAWN_DEFAULT_MPS", "80", "messages/s per number until its health says otherwise"),
    ("DAWN_TIMEZONE", "Asia/Kolkata", "zone the morning is planned in"),
    ("DAWN_LOG_LEVEL", "INFO", "log level"),
    ("DAWN_LOG_FORMAT", "text", "text or json"),
    ("DAWN_ADVISOR_TOKEN_SECRET", "unset: advisor feed refuses all",
     "HMAC key of advisors' WebSocket tokens (`dawn advisors token ID`) (secret)"),
    ("DAWN_DASHBOARD_PORT", "8070", "port of `dawn dashboard`"),
    ("DAWN_PRICES_INR", "marketing=0.8631,utility=0.115,authentication=0.115,service=0",
     "INR per message by pricing category; names override the defaults"),
    ("DAWN_BUDGET_DAILY_INR", "unset: no limit",
     "a morning's budget: `dawn plan`/`schedule` refuse over it; the dashboard shows spend against it"),
    ("DAWN_BUDGET_MONTHLY_INR", "unset: no limit",
     "the month's budget: billed so far (audit trail) plus the morning must fit"),
]


def settings_table() -> str:
    """The README's configuration table (between its ``settings-table`` markers)."""
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    rows += [f"| `{name}` | {default} | {meaning} |" for name, default, meaning in SETTINGS_DOC]
    return "\n".join(rows)
