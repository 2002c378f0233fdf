"""Fault injection: what goes wrong, how often, and when.

A profile (none, realistic, chaos) gives every knob a value and any key given alongside it wins,
both in the config file and in ``POST /sandbox/faults``. Faults that strike before a message is
accepted (5xx, timeout) never leave a ledger entry; ``accept_then_timeout`` accepts the message,
records it with ``client_saw: "timeout"`` and then withholds the answer, which is the case the
sender's double-send protection must survive.
"""

from __future__ import annotations

import math
import random
from dataclasses import asdict
from typing import Any

from sandbox.config import FaultConfig, NumberConfig, TemplateConfig, build

_Z99 = 2.326  # the standard normal's 99th percentile: turns a p99 into a log-normal sigma


def profile_defaults(profile: str, numbers: list[NumberConfig],
                     templates: list[TemplateConfig]) -> dict[str, Any]:
    """The knobs of a named profile. Chaos aims its scheduled events at the first number
    (maintenance), the last number (quality falling) and the first template (paused)."""
    if profile == "realistic":
        return {"profile": profile, "error_5xx_rate": 0.002, "timeout_rate": 0.001,
                "accept_then_timeout_rate": 0.001, "latency_median_ms": 60.0,
                "latency_p99_ms": 400.0}
    if profile == "chaos":
        events: list[dict[str, Any]] = [
            {"after_s": 20.0, "kind": "maintenance", "target": numbers[0].id, "duration_s": 60.0},
            {"after_s": 30.0, "kind": "number_quality", "target": numbers[-1].id, "value": "YELLOW"},
            {"after_s": 60.0, "kind": "number_quality", "target": numbers[-1].id, "value": "RED"},
        ]
        if templates:
            events.append({"after_s": 45.0, "kind": "template_pause", "target": templates[0].name})
        return {"profile": profile, "error_5xx_rate": 0.03, "timeout_rate": 0.01,
                "accept_then_timeout_rate": 0.01, "latency_median_ms": 120.0,
                "latency_p99_ms": 1200.0, "events": events}
    return {"profile": profile}


def resolve_faults(data: dict[str, Any], numbers: list[NumberConfig],
                   templates: list[TemplateConfig], current: FaultConfig | None = None) -> FaultConfig:
    """A fault config from ``data``: its ``profile``'s values (or ``current`` when it names no
    profile) overridden by every other key it gives."""
    if not isinstance(data, dict):
        raise ValueError("faults must be a JSON object")
    if "profile" in data or current is None:
        base = profile_defaults(str(data.get("profile", "none")), numbers, templates)
    else:
        base = asdict(current)
    return build(FaultConfig, {**base, **data}, "faults")


class Faults:
    """The fault profile in force and the dice it is rolled with."""

    def __init__(self, config: FaultConfig, rng: random.Random) -> None:
        self.config = config
        self.rng = rng

    def latency_s(self) -> float:
        median = self.config.latency_median_ms
        if median <= 0:
            return 0.0
        sigma = math.log(self.config.latency_p99_ms / median) / _Z99
        return self.rng.lognormvariate(math.log(median), sigma) / 1000.0

    def roll(self, rate: float) -> bool:
        return rate > 0 and self.rng.random() < rate
