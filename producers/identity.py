"""An advisor's regulatory identity as it appears on their branded images.

SEBI expects an adviser's name as registered and registration number on their communications,
AMFI a distributor's ARN: which fields each registration type needs, how its number is written
and how the strip names it in each language live in ``registration_types.json`` (configuration,
because regulators add types and wording changes without a code change). Shared by the CSV
intake (reject a bad row), the plan (report advisors who cannot be branded) and the branding.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass
from functools import cache
from importlib import resources
from typing import Any

#: Identity fields a registration type may require (``registration_types.json`` ``required``).
FIELDS = ("registered_name", "registration_type", "registration_number", "phone", "logo_url")


@dataclass(frozen=True)
class RegistrationType:
    code: str
    description: str
    number_pattern: re.Pattern[str]
    number_example: str
    required: tuple[str, ...]
    label: dict[str, str]


@dataclass(frozen=True)
class Identity:
    """What the strip shows: the name as registered, the registration, a phone, an optional logo."""

    registered_name: str | None = None
    registration_type: str | None = None
    registration_number: str | None = None
    phone: str | None = None
    logo_url: str | None = None

    def digest(self) -> str:
        """A stable hash of every field, part of the render cache key: a changed phone re-renders."""
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()


@cache
def registration_types() -> dict[str, RegistrationType]:
    doc = json.loads(resources.files("producers").joinpath("registration_types.json")
                     .read_text(encoding="utf-8"))
    return {
        code: RegistrationType(code, spec["description"], re.compile(spec["number_pattern"]),
                               spec["number_example"], tuple(spec["required"]), dict(spec["label"]))
        for code, spec in doc.items() if not code.startswith("_")
    }


def identity_problems(identity: Identity) -> list[str]:
    """Why ``identity`` cannot go on an advisor's images; empty when it can."""
    types = registration_types()
    if not identity.registration_type:
        return ["registration_type is missing"]
    kind = types.get(identity.registration_type)
    if kind is None:
        return [f"registration_type {identity.registration_type!r} is not one of {', '.join(types)}"]
    problems = [f"{name} is missing" for name in kind.required
                if not (getattr(identity, name) or "").strip()]
    number = identity.registration_number
    if number and not kind.number_pattern.match(number):
        problems.append(f"registration_number {number!r} is not a {kind.code} number "
                        f"(like {kind.number_example})")
    return problems


def identity_of(row: Any) -> Identity:
    """The identity of an advisor row (store.advisors.AdvisorRow); the contact phone stands in
    when no separate display phone was given."""
    return Identity(
        registered_name=getattr(row, "registered_name", None) or None,
        registration_type=getattr(row, "registration_type", None) or None,
        registration_number=getattr(row, "registration_number", None) or None,
        phone=getattr(row, "display_phone", None) or getattr(row, "phone", None) or None,
        logo_url=getattr(row, "logo_url", None) or None,
    )
