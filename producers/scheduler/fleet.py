"""What the morning may send with: healthy sender numbers and approved template languages.

Both come from compacted topics kept by the quality and templates agents. When a topic has no
records yet (a fresh install, ``dawn run``), numbers fall back to the configured ones at the default
rate and templates to the pack's own compliance approval: planning must not stop because an
optional signal is missing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from producers.scheduler.assignment import SenderNumber

#: Roles that carry planned sends: a SPARE only its small daily share (its cap), so it has history
#: when it is promoted; PAUSED and STOPPED numbers carry nothing.
PLANNED_ROLES = frozenset({"PRIMARY", "WARMING", "SPARE"})


def healthy_numbers(
    health: Iterable[Mapping[str, Any]], configured: Sequence[SenderNumber]
) -> list[SenderNumber]:
    """Numbers to plan on, with their rate, role and daily cap.

    Without ``configured`` numbers the fleet is every number with a NumberHealth record (the
    quality agent lists them from Meta). With them, only those are used: each by its health record
    when there is one, else at its configured rate. Healthy means CONNECTED, in a planned role,
    not RED, and allowed at least 1 message/s. The newest record per number wins (the topic is
    compacted, but not yet compacted when read).
    """
    latest: dict[str, Mapping[str, Any]] = {}
    for record in health:
        latest[record["phone_number_id"]] = record
    if configured:
        wanted = {n.phone_number_id: n for n in configured}
        plain = [n for pnid, n in wanted.items() if pnid not in latest]
        latest = {pnid: r for pnid, r in latest.items() if pnid in wanted}
    else:
        plain = []
    from_health = [
        SenderNumber(pnid, float(r["allowed_mps"]), r["role"], r.get("daily_cap"))
        for pnid, r in latest.items()
        if r["status"] == "CONNECTED" and r["role"] in PLANNED_ROLES and r["quality"] != "RED"
        and r["allowed_mps"] >= 1
    ]
    return sorted([*from_health, *plain], key=lambda n: n.phone_number_id)


def portfolio_tier(health: Iterable[Mapping[str, Any]]) -> str | None:
    """The portfolio's messaging tier as the newest health record reports it (shared by all numbers)."""
    tiers = [r["messaging_limit_tier"] for r in health if r.get("messaging_limit_tier")]
    return tiers[-1] if tiers else None


def approved_templates(states: Iterable[Mapping[str, Any]]) -> set[tuple[str, str]] | None:
    """(template name, language) pairs Meta has approved and not paused; None when nothing is known."""
    latest: dict[tuple[str, str], Mapping[str, Any]] = {}
    for record in states:
        latest[(record["name"], record["language"])] = record
    if not latest:
        return None
    return {key for key, r in latest.items() if r["status"] == "APPROVED" and r["role"] != "RETIRED"}



def paced_templates(states: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str], str]:
    """Approved pairs Meta may be pacing (new, just unpaused, not GREEN), with the templates
    agent's reason; the scheduler prefers the others as the day's primaries and warns of these."""
    latest: dict[tuple[str, str], Mapping[str, Any]] = {}
    for record in states:
        latest[(record["name"], record["language"])] = record
    return {key: (r.get("reason") or "paced").removeprefix("paced: ") for key, r in latest.items()
            if r["status"] == "APPROVED" and r["paced"]}


def falling_numbers(health: Iterable[Mapping[str, Any]]) -> set[str]:
    """Numbers still planned on but whose quality is falling (YELLOW): their intents carry the
    pack's conservative template, when it has one, so a weak number is not pushed to RED."""
    latest: dict[str, Mapping[str, Any]] = {}
    for record in health:
        latest[record["phone_number_id"]] = record
    # The quality agent also marks a number whose rating just fell (quality_trend FALLING).
    return {pnid for pnid, r in latest.items()
            if r["quality"] == "YELLOW" or (r.get("quality_trend") == "FALLING" and r["role"] != "STOPPED")}
