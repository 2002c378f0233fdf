"""Reading the advisors CSV: every good row imported, every bad row reported by line number.

Columns (header required, order free, extra columns ignored):

============  ========  =====================================================================
column        required  meaning
============  ========  =====================================================================
advisor_id    yes       platform advisor id
name          yes       name shown in every message
phone         one of    mobile number; digits, ``+``, spaces and dashes allowed; a 10-digit Indian
              phone,    mobile gets the 91 prefix; stored as E.164 digits without ``+``
user_id       user_id   business-scoped WhatsApp user id (for username-only users)
language      yes       EN, HI or MR
consent       yes       NONE, OPTED_IN, PAUSED or STOPPED (the state the evidence shows)
consent_at    unless    when consent was given or changed: ISO 8601; without an offset it is
              NONE      read as IST; not later than the import's clock plus :data:`MAX_SKEW`
============  ========  =====================================================================

Optional identity columns, printed on the advisor's branded images (producers/identity.py):
``registered_name`` (name as registered with the regulator), ``registration_type`` (a type of
``producers/registration_types.json``, e.g. SEBI_RIA or AMFI_ARN), ``registration_number`` (in that
type's format, e.g. INA000012345, ARN-12345), ``display_phone`` (the number clients call; the
WhatsApp phone when empty), ``logo_url`` (https:// or file://, PNG or JPEG). An unknown type or a
number in the wrong format is a bad row; a missing field is not (the plan reports who cannot be
branded), and an empty cell keeps what an earlier import gave.

A file is a batch of evidence, not a transaction: one bad row must not keep 1,999 good ones out,
and the operator needs the line to fix, so rows are judged one by one.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from producers.identity import registration_types
from store.advisors import CONSENT_STATES, LANGUAGES, AdvisorRow

IST = ZoneInfo("Asia/Kolkata")
REQUIRED = ("advisor_id", "name", "language", "consent")
_PHONE_CHARS = re.compile(r"[\s\-()+]")
#: How far ahead of the importing machine's clock a consent_at may be (clocks disagree a little).
#: Anything later is a mistake (a typo'd year, a placeholder like 2099-01-01): consent evidence
#: from the future would outrank every real change after it, so the row is refused.
MAX_SKEW = timedelta(minutes=5)


@dataclass(frozen=True)
class ImportedRow:
    advisor: AdvisorRow
    consent_at: datetime | None
    line: int


@dataclass(frozen=True)
class RowError:
    line: int
    message: str


def normalise_phone(raw: str) -> str:
    """E.164 digits without '+'; ValueError when it cannot be a mobile number."""
    digits = _PHONE_CHARS.sub("", raw)
    if not digits.isdigit():
        raise ValueError("phone must contain digits only (with optional +, spaces, dashes)")
    if len(digits) == 10 and digits[0] in "6789":
        digits = "91" + digits
    if not 11 <= len(digits) <= 15:
        raise ValueError("phone must have a country code and 11 to 15 digits")
    return digits


def _parse_time(raw: str) -> datetime:
    at = datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
    return at.replace(tzinfo=IST) if at.tzinfo is None else at


def parse_rows(lines: Iterable[str], *, now: datetime | None = None
               ) -> tuple[list[ImportedRow], list[RowError]]:
    """Good rows and errors of a CSV text; line numbers count the header as line 1.

    ``now`` (default: the clock) bounds ``consent_at``: a time later than ``now + MAX_SKEW`` is a
    bad row.
    """
    latest = (now or datetime.now(UTC)) + MAX_SKEW
    reader = csv.DictReader(lines)
    missing = [c for c in REQUIRED if c not in (reader.fieldnames or [])]
    if missing:
        return [], [RowError(1, f"header lacks column(s): {', '.join(missing)}")]
    good: list[ImportedRow] = []
    errors: list[RowError] = []
    seen: dict[str, int] = {}
    for record in reader:
        line = reader.line_num
        try:
            row = _row(record, latest)
        except ValueError as exc:
            errors.append(RowError(line, str(exc)))
            continue
        if row.advisor.advisor_id in seen:
            errors.append(RowError(line, f"advisor_id {row.advisor.advisor_id!r} already on line "
                                         f"{seen[row.advisor.advisor_id]}"))
            continue
        seen[row.advisor.advisor_id] = line
        good.append(ImportedRow(row.advisor, row.consent_at, line))
    return good, errors


def _row(record: dict[str, str | None], latest: datetime) -> ImportedRow:
    def field(name: str) -> str:
        return (record.get(name) or "").strip()

    advisor_id, name = field("advisor_id"), field("name")
    if not advisor_id or not name:
        raise ValueError("advisor_id and name are required")
    phone = normalise_phone(field("phone")) if field("phone") else None
    user_id = field("user_id") or None
    if phone is None and user_id is None:
        raise ValueError("phone or user_id is required")
    language = field("language").upper()
    if language not in LANGUAGES:
        raise ValueError(f"language must be one of {', '.join(LANGUAGES)}, not {field('language')!r}")
    consent = field("consent").upper()
    if consent not in CONSENT_STATES:
        raise ValueError(f"consent must be one of {', '.join(CONSENT_STATES)}, not {field('consent')!r}")
    consent_at = None
    if field("consent_at"):
        try:
            consent_at = _parse_time(field("consent_at"))
        except ValueError:
            raise ValueError(f"consent_at {field('consent_at')!r} is not an ISO 8601 time") from None
        if consent_at > latest:
            raise ValueError(f"consent_at {field('consent_at')!r} is in the future (later than "
                             f"{latest.isoformat(timespec='seconds')})")
    elif consent != "NONE":
        raise ValueError("consent_at is required when consent is not NONE")
    return ImportedRow(AdvisorRow(advisor_id, name, phone, user_id, language, consent, False, None,
                                  **_identity(field)), consent_at, 0)


def _identity(field: Callable[[str], str]) -> dict[str, str | None]:
    kind, number = field("registration_type").upper(), field("registration_number")
    types = registration_types()
    if kind and kind not in types:
        raise ValueError(f"registration_type must be one of {', '.join(types)}, not "
                         f"{field('registration_type')!r}")
    if kind and number and not types[kind].number_pattern.match(number):
        raise ValueError(f"registration_number {number!r} is not a {kind} number "
                         f"(like {types[kind].number_example})")
    logo = field("logo_url")
    if logo and not logo.startswith(("https://", "file://")):
        raise ValueError("logo_url must start with https:// or file://")
    display = normalise_phone(field("display_phone")) if field("display_phone") else None
    return {"registered_name": field("registered_name") or None, "registration_type": kind or None,
            "registration_number": number or None, "display_phone": display,
            "logo_url": logo or None}


def read_file(path: Path) -> tuple[list[ImportedRow], list[RowError]]:
    with path.open(newline="", encoding="utf-8-sig") as handle:
        return parse_rows(handle)
