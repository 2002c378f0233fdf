"""Which template of a pack variant an advisor's intent carries, and its backups. No I/O.

A variant names a primary and ordered backups. To keep one template from carrying every morning
(overuse wears its quality down), the day's primary rotates across days among the approved ones,
preferring those Meta is not pacing (new, just unpaused or not GREEN templates are held back);
the rest follow as backups in the pack's order, for the sender to rotate to mid-morning. A pack
running an A/B test (``ab_variants``) assigns each advisor an arm, deterministically (a hash of
advisor and pack, so a re-plan assigns the same arm), in proportion to the arms' weights; the
arms do not rotate across days, which would confound the test.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

Pair = tuple[str, str]


@dataclass(frozen=True)
class TemplatePick:
    template_name: str
    template_language: str
    backups: list[dict[str, str]]
    ab_arm: str | None = None


def pool(variant: Mapping[str, Any]) -> list[Pair]:
    """The variant's templates in the pack's order: primary, then backups (no repeats)."""
    pairs = [(variant["template_name"], variant["template_language"])]
    pairs += [(b["template_name"], b["template_language"]) for b in variant.get("backups") or ()]
    return list(dict.fromkeys(pairs))


def ab_arm(arms: list[Mapping[str, Any]], advisor_id: str, pack_id: str) -> Mapping[str, Any]:
    """The arm of an advisor: a stable hash of (advisor, pack) placed on the arms' weights."""
    total = sum(max(0, int(a["weight"])) for a in arms)
    point = int.from_bytes(hashlib.sha256(f"{advisor_id}\x1f{pack_id}".encode()).digest()[:8], "big")
    point %= max(total, 1)
    for arm in arms:
        point -= max(0, int(arm["weight"]))
        if point < 0:
            return arm
    return arms[-1]


def pick(variant: Mapping[str, Any], *, advisor_id: str, pack_id: str, run_date: date,
         approved: Collection[Pair] | None, warmed: Collection[Pair] | None,
         conservative: bool = False) -> TemplatePick:
    """The template an intent goes out with and the backups the sender may rotate to.
    ``conservative`` (the sender number's quality is falling) puts the pack's conservative
    template first, when it has an approved one, ahead of the day's primary."""
    templates = pool(variant)
    safe = variant.get("conservative")
    safe_pair = (safe["template_name"], safe["template_language"]) if safe else None
    if conservative and safe_pair and (approved is None or safe_pair in approved):
        usual = pick(variant, advisor_id=advisor_id, pack_id=pack_id, run_date=run_date,
                     approved=approved, warmed=warmed)
        first = safe_pair
        rest = [(usual.template_name, usual.template_language)]
        rest += [(b["template_name"], b["template_language"]) for b in usual.backups]
        backups = [{"template_name": n, "template_language": lang}
                   for n, lang in dict.fromkeys(rest) if (n, lang) != first]
        return TemplatePick(first[0], first[1], backups, usual.ab_arm)
    arms = list(variant.get("ab_variants") or ())
    if arms:
        arm = ab_arm(arms, advisor_id, pack_id)
        first = (arm["template_name"], arm["template_language"])
        label: str | None = arm["arm"]
    else:
        usable = [p for p in templates if approved is None or p in approved]
        rested = [p for p in usable if warmed is not None and p in warmed]
        rotation = rested or usable
        first = rotation[run_date.toordinal() % len(rotation)] if rotation else templates[0]
        label = None
    backups = [{"template_name": n, "template_language": lang} for n, lang in templates if (n, lang) != first]
    return TemplatePick(first[0], first[1], backups, label)
