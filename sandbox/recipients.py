"""Who a recipient is on WhatsApp: reachable, online, opted out of marketing, capped.

Rates pick recipients by a seeded hash of their wa_id rather than by a random draw per send, so a
recipient offline on the first attempt is still offline on the retry, as a real phone would be.
"""

from __future__ import annotations

import dataclasses
import hashlib

from sandbox.config import RecipientRule, RecipientsConfig


def wa_id_of(to: str) -> str:
    """The WhatsApp id Meta answers for an input number: digits only ("+91 98123-45678" ->
    "919812345678"), which is why ``wa_id`` may differ from ``input``."""
    return "".join(ch for ch in to if ch.isdigit())


class Recipients:
    def __init__(self, config: RecipientsConfig, seed: int) -> None:
        self.config = config
        self.seed = seed
        #: Changes made at run time (a user stopping marketing through /sandbox/inbound).
        self.marketing_stopped: dict[str, bool] = {}

    def _fraction(self, wa_id: str, salt: str) -> float:
        digest = hashlib.blake2b(f"{self.seed}:{salt}:{wa_id}".encode(), digest_size=8).digest()
        return int.from_bytes(digest, "big") / 2**64

    def rule(self, wa_id: str) -> RecipientRule:
        config = self.config
        override = config.overrides.get(wa_id)
        if override is not None:
            rule = dataclasses.replace(config.default, **override)
        else:
            rule = config.default
            changes: dict[str, bool] = {}
            if config.offline_rate and self._fraction(wa_id, "offline") < config.offline_rate:
                changes["online"] = False
            if (config.not_on_whatsapp_rate
                    and self._fraction(wa_id, "absent") < config.not_on_whatsapp_rate):
                changes["on_whatsapp"] = False
            if (config.marketing_stopped_rate
                    and self._fraction(wa_id, "stopped") < config.marketing_stopped_rate):
                changes["marketing_stopped"] = True
            if changes:
                rule = dataclasses.replace(rule, **changes)
        stopped = self.marketing_stopped.get(wa_id)
        if stopped is not None and stopped != rule.marketing_stopped:
            rule = dataclasses.replace(rule, marketing_stopped=stopped)
        return rule
