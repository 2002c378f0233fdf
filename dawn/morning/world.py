"""The simulated world a ``dawn run`` morning sends into: the sandbox's numbers, tier and faults.

Kept apart from the orchestration so the choices a demo makes about the world (how many numbers,
which tier, how much webhook disorder) are in one readable place.
"""

from __future__ import annotations

import dataclasses

from producers.intake.demo_pack import DEMO_BACKUP
from sandbox.config import (
    TIERS,
    LimitsConfig,
    NumberConfig,
    SandboxConfig,
    TemplateConfig,
    WebhookConfig,
)
from sandbox.faults import resolve_faults

#: Hot spares each profile's world keeps beside the numbers asked for: chaos has one, so a number
#: lost mid-morning has a warmed number to hand over to (the fleet file names it SPARE).
SPARES = {"chaos": 1}

#: Webhook disorder on every profile but ``none``: Meta duplicates and reorders statuses, and the
#: delivery-state merge must shrug it off during the demo too.
DISORDER = {"duplicate_rate": 0.02, "reorder_rate": 0.05}

#: Meta batches webhook updates (up to 1,000 a POST). A morning's statuses wait up to this long to
#: share a POST: without it, at a few hundred statuses a second, most POSTs carried one status and
#: the gateway paid a whole HTTP request for each.
WEBHOOK_BATCH_WAIT_S = 0.1


def sender_numbers(count: int, mps: float) -> list[NumberConfig]:
    """``count`` CONNECTED, GREEN business numbers at ``mps`` each."""
    if count < 1:
        raise ValueError("--numbers must be at least 1")
    return [
        NumberConfig(id=f"1100000000{i:05d}", display_phone_number=f"9122400{i:05d}", mps=mps)
        for i in range(1, count + 1)
    ]


def tier_for(advisors: int) -> str:
    """The smallest messaging tier that lets ``advisors`` unique recipients through in 24 h."""
    for name, limit in TIERS.items():
        if limit is None or limit >= advisors:
            return name
    return "TIER_UNLIMITED"


def world(*, advisors: int, numbers: int, mps: float, faults: str, callback_url: str,
          app_secret: str, seed: int) -> SandboxConfig:
    """The sandbox config of one demo morning: ``numbers`` primaries, then the profile's spares
    (:func:`spare_ids`); the profile's faults aim at the primaries."""
    primaries = sender_numbers(numbers, mps)
    phone_numbers = sender_numbers(numbers + SPARES.get(faults, 0), mps)
    base = SandboxConfig()
    disorder = {} if faults == "none" else DISORDER
    return SandboxConfig(
        numbers=phone_numbers,
        templates=[*base.templates, TemplateConfig(name=DEMO_BACKUP)],
        limits=LimitsConfig(messaging_tier=tier_for(advisors)),
        webhooks=WebhookConfig(callback_url=callback_url, app_secret=app_secret,
                               batch_wait_s=WEBHOOK_BATCH_WAIT_S, **disorder),
        faults=resolve_faults({"profile": faults}, primaries, base.templates),
        seed=seed,
    )


def spare_ids(config: SandboxConfig, numbers: int) -> list[str]:
    """The hot spares of a world built for ``numbers`` primaries."""
    return [n.id for n in config.numbers[numbers:]]
def given_world(config: SandboxConfig, *, callback_url: str, app_secret: str) -> SandboxConfig:
    """An operator's sandbox world (``dawn run --sandbox-config``), its webhooks pointed at this
    morning's gateway and signed with its secret, and any access token accepted (the morning's
    own clients carry none); everything else (numbers, rates, tier, faults, webhook delays) is the
    file's, so a bad morning can be rehearsed exactly."""
    webhooks = dataclasses.replace(config.webhooks, callback_url=callback_url, app_secret=app_secret)
    return dataclasses.replace(config, webhooks=webhooks, access_token="")
