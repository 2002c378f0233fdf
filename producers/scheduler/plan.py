"""The morning plan: eligible advisors x today's approved packs -> delivery intents. No I/O.

Delivery ids are a stable hash of (advisor, pack, IST date), never random, so planning the same
morning again yields the same ids and the sender's ledger turns a second run into no second send.
"""

from __future__ import annotations

import hashlib
import random
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Protocol

from producers.scheduler.assignment import SenderNumber, assign_senders, sticky_changes
from producers.scheduler.capacity import PlanPolicy, numbers_needed, tier_needed
from producers.scheduler.send_times import spread_send_times
from producers.scheduler.summary import NumberLoad, PlanSummary
from producers.scheduler.template_choice import pick
from producers.scheduler.variants import FALLBACK_LANGUAGE, choose_variant
from producers.scheduler.window import Window


class Recipient(Protocol):
    """What the planner reads of an eligible advisor (store.advisors.AdvisorRow has it)."""

    advisor_id: str
    name: str
    phone: str | None
    user_id: str | None
    language: str
    sticky_sender: str | None


@dataclass(frozen=True)
class Plan:
    """Intent records (DeliveryIntent dicts) in send_at order, the summary, and the sticky senders
    that changed (advisor_id -> phone_number_id) to write back."""

    intents: list[dict[str, Any]]
    summary: PlanSummary
    sticky_updates: dict[str, str]


def delivery_id(advisor_id: str, pack_id: str, run_date: date) -> str:
    """Stable id of one advisor's pack on one IST date (also biz_opaque_callback_data)."""
    material = "\x1f".join((advisor_id, pack_id, run_date.isoformat())).encode()
    return hashlib.sha256(material).hexdigest()[:32]


def default_seed(run_date: date) -> int:
    """A seed fixed by the date, so re-planning the same morning gives the same send times."""
    return int.from_bytes(hashlib.sha256(run_date.isoformat().encode()).digest()[:8], "big")


def plan_morning(
    *,
    window: Window,
    packs: Sequence[Mapping[str, Any]],
    advisors: Sequence[Recipient],
    numbers: Sequence[SenderNumber],
    created_at: datetime,
    approved: Collection[tuple[str, str]] | None = None,
    paced: Mapping[tuple[str, str], str] | None = None,
    conservative_numbers: Collection[str] = (),
    policy: PlanPolicy | None = None,
    reference_mps: float = 80.0,
    tier: str | None = None,
    seed: int | None = None,
    recent_recipients: Collection[str] = (),
) -> Plan:
    """Plan one intent per (advisor, pack) on a healthy number, inside the window.

    ``numbers`` are the healthy ones only. Advisors that do not fit are left out and counted in
    the summary's problems; callers must not publish a plan that is not ``summary.ok``.
    ``paced`` maps the approved templates Meta may be pacing to why (new, just unpaused, not
    GREEN): the day's primaries are chosen among the others when there are any, and a template
    still paced in the plan is warned of (its held messages can miss the deadline). Intents on
    ``conservative_numbers`` (quality falling) carry the pack's conservative template first.
    ``recent_recipients`` are the advisors the portfolio messaged in the rolling 24 h: those not
    planned again today still count against the tier (store.recipients).
    """
    warmed = None if approved is None or paced is None else {p for p in approved if p not in paced}
    policy = policy or PlanPolicy()
    run_date = window.run_date()
    packs = sorted(packs, key=lambda p: p["pack_id"])
    per_pack = max(1, len(packs))
    by_number = {n.phone_number_id: n for n in numbers}
    capacities = {pnid: _capacity(n, policy, window, per_pack) for pnid, n in by_number.items()}
    by_id = {a.advisor_id: a for a in advisors}
    choices: dict[str, list[Mapping[str, Any] | None]] = {
        a.advisor_id: [choose_variant(p, a.language, approved) for p in packs] for a in by_id.values()
    }
    unsendable = sum(v is None for vs in choices.values() for v in vs)
    fallbacks = sum(
        v is not None and v["language"] == FALLBACK_LANGUAGE and by_id[a].language != FALLBACK_LANGUAGE
        for a, vs in choices.items() for v in vs
    )
    sendable = [(a.advisor_id, a.sticky_sender) for a in by_id.values() if any(choices[a.advisor_id])]
    assignment = assign_senders(sendable, capacities)

    rng = random.Random(default_seed(run_date) if seed is None else seed)
    slot_seconds = policy.first_attempt_seconds(window) // per_pack
    planned: dict[str, list[str]] = {pnid: [] for pnid in by_number}
    for advisor_id, pnid in assignment.senders.items():
        planned[pnid].append(advisor_id)
    intents: list[dict[str, Any]] = []
    for pnid in sorted(planned):
        members = sorted(planned[pnid])
        rng.shuffle(members)
        times = spread_send_times(len(members), policy.per_second(by_number[pnid].allowed_mps),
                                  slot_seconds, window.start, rng)
        intents.extend(
            _intent(by_id[advisor_id], pack, variant, pnid,
                    send_at + timedelta(seconds=k * slot_seconds), window, run_date, created_at,
                    approved, warmed, pnid in conservative_numbers)
            for advisor_id, send_at in zip(members, times, strict=True)
            for k, (pack, variant) in enumerate(zip(packs, choices[advisor_id], strict=True))
            if variant is not None
        )
    intents.sort(key=lambda i: (i["send_at"], i["phone_number_id"], i["delivery_id"]))

    eligible = len(by_id)
    summary = PlanSummary(
        run_date=run_date,
        window=window,
        policy=policy,
        reference_mps=reference_mps,
        eligible=eligible,
        packs=len(packs),
        intents=len(intents),
        numbers=tuple(
            NumberLoad(pnid, by_number[pnid].allowed_mps, len(planned[pnid]), capacities[pnid],
                       by_number[pnid].role, by_number[pnid].daily_cap)
            for pnid in sorted(by_number)
        ),
        unassigned=len(assignment.unassigned),
        numbers_needed=numbers_needed(len(sendable), reference_mps, window, policy, per_pack),
        tier=tier,
        tier_needed=tier_needed(eligible + len(set(recent_recipients) - set(by_id))),
        recent_recipients=len(set(recent_recipients) - set(by_id)),
        fallbacks=fallbacks,
        unsendable=unsendable,
        warnings=_warnings(packs, unsendable, fallbacks) + pacing_warnings(intents, paced or {}),
    )
    return Plan(intents, summary, sticky_changes(sendable, assignment.senders))


def _capacity(number: SenderNumber, policy: PlanPolicy, window: Window, per_pack: int) -> int:
    """Advisors the number can take: its rate over the window, and never past its daily cap
    (a warming number's rising cap, a spare's small share), which counts messages."""
    by_rate = policy.capacity(number.allowed_mps, window, per_pack)
    return by_rate if number.daily_cap is None else min(by_rate, number.daily_cap // per_pack)


def _intent(advisor: Recipient, pack: Mapping[str, Any], variant: Mapping[str, Any], pnid: str,
            send_at: datetime, window: Window, run_date: date, created_at: datetime,
            approved: Collection[tuple[str, str]] | None,
            warmed: Collection[tuple[str, str]] | None, conservative: bool) -> dict[str, Any]:
    template = pick(variant, advisor_id=advisor.advisor_id, pack_id=pack["pack_id"],
                    run_date=run_date, approved=approved, warmed=warmed, conservative=conservative)
    return {
        "delivery_id": delivery_id(advisor.advisor_id, pack["pack_id"], run_date),
        "run_date": run_date,
        "advisor_id": advisor.advisor_id,
        "phone": advisor.phone,
        "user_id": advisor.user_id,
        "pack_id": pack["pack_id"],
        "approval_id": pack["approval_id"],
        "language": variant["language"],
        "template_name": template.template_name,
        "template_language": template.template_language,
        "template_backups": template.backups,
        "ab_arm": template.ab_arm,
        "image_sha256": variant["image_sha256"],
        "params": {"advisor_name": advisor.name},
        "phone_number_id": pnid,
        "send_at": send_at,
        "deadline": window.deadline,
        "attempt": 1,
        "last_error_code": None,
        "created_at": created_at,
    }


def _warnings(packs: Sequence[Mapping[str, Any]], unsendable: int, fallbacks: int) -> tuple[str, ...]:
    out = []
    if not packs:
        out.append("no approved pack for this morning: nothing to send")
    if unsendable:
        out.append(f"{unsendable} advisor/pack pairs have no approved template variant, not even EN")
    if fallbacks:
        out.append(f"{fallbacks} advisor/pack pairs fall back to EN (variant missing or not approved)")
    return tuple(out)


def pacing_warnings(intents: Sequence[Mapping[str, Any]],
                    paced: Mapping[tuple[str, str], str]) -> tuple[str, ...]:
    """One warning per paced template the plan sends with: Meta holds part of a paced template's
    messages for minutes or hours while it assesses them, which a 5-minute window cannot absorb."""
    used = Counter((i["template_name"], i["template_language"]) for i in intents)
    return tuple(
        f"{count} intents use template {name} ({language}), which Meta may pace ({paced[(name, language)]}):"
        " held messages can miss the deadline; approve a warmed backup to send with instead"
        for (name, language), count in sorted(used.items()) if (name, language) in paced)
