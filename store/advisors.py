"""Advisors and their consent in PostgreSQL: the record every send decision is made on.

The scheduler plans from :func:`eligible` and the sender re-checks :func:`sendable` inside its
claim transaction, so a STOP committed here stops intents already queued in Kafka. Every change
writes a ``consent_history`` row in the same transaction; publishing the new state to the
compacted ``advisors`` topic is the caller's job, after commit (see :func:`advisor_records`).

Conflicting evidence is settled by time: an import or a command changes consent only when it is
newer than the change already recorded, so replaying an old file cannot undo a later STOP. One
exception: an inbound STOP or PAUSE is the advisor's own word and wins over an imported state
whatever time the import claims (see :func:`apply_consent`); an import then needs evidence later
than the time the import it beat had claimed (``consent_watermark``) to change it again.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

LANGUAGES = ("EN", "HI", "MR")
CONSENT_STATES = ("NONE", "OPTED_IN", "PAUSED", "STOPPED")

_COLUMNS = ("advisor_id, name, phone, user_id, language, consent_state, marketing_suppressed, sticky_sender, "
            "registered_name, registration_type, registration_number, display_phone, logo_url")
#: The identity printed on an advisor's branded images (see producers/identity.py).
IDENTITY_FIELDS = ("registered_name", "registration_type", "registration_number", "display_phone",
                   "logo_url")
_FULL_COLUMNS = (
    f"{_COLUMNS}, consent_changed_at, consent_source, consent_evidence, suppressed_at, updated_at"
)


@dataclass(frozen=True)
class AdvisorRow:
    """One advisor as the scheduler and sender see them."""

    advisor_id: str
    name: str
    phone: str | None
    user_id: str | None
    language: str
    consent_state: str
    marketing_suppressed: bool
    sticky_sender: str | None
    registered_name: str | None = None
    registration_type: str | None = None
    registration_number: str | None = None
    display_phone: str | None = None
    logo_url: str | None = None

    @property
    def contact(self) -> str | None:
        """Who a reply goes to: the phone when known, else the business-scoped user id."""
        return self.phone or self.user_id


def _row(record: Mapping[str, Any]) -> AdvisorRow:
    return AdvisorRow(
        advisor_id=record["advisor_id"], name=record["name"], phone=record["phone"],
        user_id=record["user_id"], language=record["language"],
        consent_state=record["consent_state"],
        marketing_suppressed=record["marketing_suppressed"], sticky_sender=record["sticky_sender"],
        **{name: record.get(name) for name in IDENTITY_FIELDS},
    )


_UPSERT = """
WITH old AS (
    -- No FOR UPDATE: a locking read here would skip the row `up` modifies in this same
    -- statement and yield nothing; the plain read sees the statement's snapshot, the old state.
    SELECT consent_state FROM advisors WHERE advisor_id = %(advisor_id)s
), up AS (
    INSERT INTO advisors AS a (advisor_id, name, phone, user_id, language, consent_state,
        consent_changed_at, consent_source, consent_evidence, marketing_suppressed, suppressed_at,
        sticky_sender, updated_at, consent_watermark, registered_name, registration_type,
        registration_number, display_phone, logo_url)
    VALUES (%(advisor_id)s, %(name)s, %(phone)s, %(user_id)s, %(language)s, %(consent_state)s,
        %(consent_at)s, %(source)s, %(evidence)s, %(suppressed)s,
        CASE WHEN %(suppressed)s::boolean THEN %(at)s::timestamptz END,
        %(sticky_sender)s, clock_timestamp(), %(consent_at)s, %(registered_name)s,
        %(registration_type)s, %(registration_number)s, %(display_phone)s, %(logo_url)s)
    ON CONFLICT (advisor_id) DO UPDATE SET
        name = excluded.name,
        -- A phone or user id WhatsApp said the advisor moved away from is stale (an old file):
        -- importing it again must not send their packs to a number that may be someone else's.
        phone = CASE WHEN EXISTS (SELECT 1 FROM advisor_identity_history h
                                  WHERE h.advisor_id = a.advisor_id AND h.kind = 'number_changed'
                                    AND h.old_phone = excluded.phone)
                     THEN a.phone ELSE excluded.phone END,
        user_id = CASE WHEN EXISTS (SELECT 1 FROM advisor_identity_history h
                                    WHERE h.advisor_id = a.advisor_id
                                      AND h.kind IN ('number_changed', 'user_id_changed')
                                      AND h.old_user_id = excluded.user_id
                                      AND h.new_user_id IS DISTINCT FROM h.old_user_id)
                       THEN a.user_id ELSE coalesce(excluded.user_id, a.user_id) END,
        language = excluded.language,
        sticky_sender = coalesce(excluded.sticky_sender, a.sticky_sender),
        -- A file without identity columns keeps the identity an earlier import gave.
        registered_name = coalesce(excluded.registered_name, a.registered_name),
        registration_type = coalesce(excluded.registration_type, a.registration_type),
        registration_number = coalesce(excluded.registration_number, a.registration_number),
        display_phone = coalesce(excluded.display_phone, a.display_phone),
        logo_url = coalesce(excluded.logo_url, a.logo_url),
        consent_state = CASE WHEN %(newer)s THEN excluded.consent_state ELSE a.consent_state END,
        consent_changed_at = CASE WHEN %(newer)s
            THEN excluded.consent_changed_at ELSE a.consent_changed_at END,
        consent_source = CASE WHEN %(newer)s THEN excluded.consent_source ELSE a.consent_source END,
        consent_evidence = CASE WHEN %(newer)s
            THEN excluded.consent_evidence ELSE a.consent_evidence END,
        consent_watermark = CASE WHEN %(newer)s
            THEN excluded.consent_changed_at ELSE a.consent_watermark END,
        updated_at = clock_timestamp()
    RETURNING a.consent_state, a.consent_changed_at, a.consent_source, a.consent_evidence
)
INSERT INTO consent_history (advisor_id, kind, old_value, new_value, changed_at, source, evidence)
SELECT %(advisor_id)s, 'consent', (SELECT consent_state FROM old), up.consent_state,
       up.consent_changed_at, up.consent_source, up.consent_evidence
FROM up
WHERE up.consent_state IS DISTINCT FROM (SELECT consent_state FROM old)
"""

# Inlined (not a parameter) because it names columns of the conflicting row. A state the advisor
# set by message (STOP, PAUSE) yields only to evidence later than its watermark: it may have won
# over an import claiming a later time than its own, and that import must not win when repeated.
_NEWER = (
    "(excluded.consent_state <> a.consent_state AND (a.consent_changed_at IS NULL "
    "OR (excluded.consent_changed_at > a.consent_changed_at "
    "AND NOT (a.consent_source = 'inbound' AND a.consent_state IN ('STOPPED', 'PAUSED') "
    "AND excluded.consent_changed_at <= coalesce(a.consent_watermark, a.consent_changed_at)))))"
)
_UPSERT_SQL = _UPSERT.replace("%(newer)s", _NEWER)


async def upsert_advisors(
    conn: psycopg.AsyncConnection, rows: Iterable[AdvisorRow], *, source: str,
    evidence: str | None, at: datetime,
    consent_at: Mapping[str, datetime] | None = None,
    evidence_by_id: Mapping[str, str] | None = None,
) -> int:
    """Insert or update advisors; returns how many rows were given.

    Name, phone and language follow the input; consent follows it only when the input's consent
    time (``consent_at[advisor_id]``, else ``at``) is newer than what is recorded. Marketing
    suppression is WhatsApp's word, not the import's, so an update never clears it; so is a
    number change: a phone or user id the advisor moved away from is not taken back.
    """
    params = [
        {
            "advisor_id": r.advisor_id, "name": r.name, "phone": r.phone, "user_id": r.user_id,
            "language": r.language, "consent_state": r.consent_state,
            "consent_at": (consent_at or {}).get(r.advisor_id, at), "at": at, "source": source,
            "evidence": (evidence_by_id or {}).get(r.advisor_id, evidence),
            "suppressed": r.marketing_suppressed, "sticky_sender": r.sticky_sender,
            **{name: getattr(r, name) for name in IDENTITY_FIELDS},
        }
        for r in rows
    ]
    if params:
        async with conn.cursor() as cur:
            await cur.executemany(_UPSERT_SQL, params)
    return len(params)


async def eligible(conn: psycopg.AsyncConnection) -> list[AdvisorRow]:
    """Advisors the scheduler may plan a marketing send for, by advisor_id."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"SELECT {_COLUMNS} FROM advisors "  # noqa: S608 - column list is a constant
            "WHERE consent_state = 'OPTED_IN' AND NOT marketing_suppressed ORDER BY advisor_id"
        )
        return [_row(r) for r in await cur.fetchall()]


async def sendable(conn: psycopg.AsyncConnection, advisor_ids: Iterable[str]) -> set[str]:
    """The subset of ``advisor_ids`` that may be sent to right now (checked at send time)."""
    ids = list(advisor_ids)
    if not ids:
        return set()
    cur = await conn.execute(
        "SELECT advisor_id FROM advisors WHERE advisor_id = ANY(%s) "
        "AND consent_state = 'OPTED_IN' AND NOT marketing_suppressed",
        (ids,),
    )
    return {r[0] for r in await cur.fetchall()}


async def set_sticky_senders(conn: psycopg.AsyncConnection, assignments: Mapping[str, str]) -> None:
    """Pin advisors to a sender number, so their thread stays on one business number."""
    if not assignments:
        return
    async with conn.cursor() as cur:
        await cur.executemany(
            "UPDATE advisors SET sticky_sender = %s, updated_at = clock_timestamp() "
            "WHERE advisor_id = %s AND sticky_sender IS DISTINCT FROM %s",
            [(number, advisor_id, number) for advisor_id, number in assignments.items()],
        )


async def get_advisor(conn: psycopg.AsyncConnection, advisor_id: str) -> AdvisorRow | None:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"SELECT {_COLUMNS} FROM advisors WHERE advisor_id = %s",  # noqa: S608
            (advisor_id,),
        )
        record = await cur.fetchone()
    return _row(record) if record else None


async def find_by_contact(
    conn: psycopg.AsyncConnection, *, wa_id: str | None = None, user_id: str | None = None
) -> AdvisorRow | None:
    """The advisor a WhatsApp user is, by business-scoped user id first, then by phone.

    Username-only users have no phone in webhooks, and a phone may change hands, so the user id
    wins when both match different advisors.
    """
    if not wa_id and not user_id:
        return None
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"SELECT {_COLUMNS} FROM advisors "  # noqa: S608
            "WHERE (%(user_id)s::text IS NOT NULL AND user_id = %(user_id)s) "
            "   OR (%(wa_id)s::text IS NOT NULL AND phone = %(wa_id)s) "
            "ORDER BY (user_id IS NOT DISTINCT FROM %(user_id)s::text) DESC, advisor_id LIMIT 1",
            {"wa_id": wa_id or None, "user_id": user_id or None},
        )
        record = await cur.fetchone()
    return _row(record) if record else None


async def link_user_id(conn: psycopg.AsyncConnection, advisor_id: str, user_id: str) -> None:
    """Remember an advisor's business-scoped user id the first time WhatsApp shows it."""
    await conn.execute(
        "UPDATE advisors SET user_id = %s, updated_at = clock_timestamp() "
        "WHERE advisor_id = %s AND user_id IS NULL",
        (user_id, advisor_id),
    )


async def apply_consent(
    conn: psycopg.AsyncConnection, advisor_id: str, state: str, *, source: str,
    evidence: str | None, at: datetime,
) -> AdvisorRow | None:
    """Move an advisor to consent ``state``; None when nothing changed (same state, older news).

    Newer evidence wins, except that an inbound STOP or PAUSE (``source="inbound"``: the advisor's
    own word) wins over a state that did not come from the advisor's messages (an import) even
    when that state claims a later time: a STOP over anything but STOPPED, a PAUSE over OPTED_IN.
    The change keeps the message's own time as ``consent_changed_at``; ``consent_watermark``
    keeps the latest consent time weighed, so the import it beat cannot win when imported again.
    """
    if state not in CONSENT_STATES:
        raise ValueError(f"unknown consent state {state!r}")
    own_word = source == "inbound" and state in ("STOPPED", "PAUSED")
    async with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT consent_state FROM advisors WHERE advisor_id = %(advisor_id)s "
            "AND consent_state <> %(state)s AND (consent_changed_at IS NULL "
            "OR consent_changed_at <= %(at)s "
            "OR (%(own_word)s AND consent_source IS DISTINCT FROM 'inbound' "
            "    AND (%(state)s = 'STOPPED' OR consent_state = 'OPTED_IN'))) "
            "FOR UPDATE",
            {"advisor_id": advisor_id, "state": state, "at": at, "own_word": own_word},
        )
        old = await cur.fetchone()
        if old is None:
            return None
        await cur.execute(
            "UPDATE advisors SET consent_state = %s, consent_changed_at = %s, consent_source = %s, "  # noqa: S608
            "consent_evidence = %s, "
            "consent_watermark = greatest(consent_changed_at, consent_watermark, %s::timestamptz), "
            "updated_at = clock_timestamp() WHERE advisor_id = %s "
            f"RETURNING {_COLUMNS}",
            (state, at, source, evidence, at, advisor_id),
        )
        record = await cur.fetchone()
        await _history(cur, advisor_id, "consent", old["consent_state"], state, at, source, evidence)
    return _row(record) if record else None


async def set_marketing_suppressed(
    conn: psycopg.AsyncConnection, advisor_id: str, suppressed: bool, *, source: str,
    evidence: str | None, at: datetime,
) -> AdvisorRow | None:
    """Record WhatsApp's marketing opt-out (user_preferences stop, 131050) or its resume."""
    async with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "UPDATE advisors SET marketing_suppressed = %s, "  # noqa: S608
            "suppressed_at = CASE WHEN %s THEN %s::timestamptz END, updated_at = clock_timestamp() "
            f"WHERE advisor_id = %s AND marketing_suppressed <> %s RETURNING {_COLUMNS}",
            (suppressed, suppressed, at, advisor_id, suppressed),
        )
        record = await cur.fetchone()
        if record is None:
            return None
        await _history(cur, advisor_id, "marketing", str(not suppressed).lower(),
                       str(suppressed).lower(), at, source, evidence)
    return _row(record)


async def _history(cur: psycopg.AsyncCursor[Any], advisor_id: str, kind: str, old: str | None,
                   new: str, at: datetime, source: str, evidence: str | None) -> None:
    await cur.execute(
        "INSERT INTO consent_history (advisor_id, kind, old_value, new_value, changed_at, source, "
        "evidence) VALUES (%s, %s, %s, %s, %s, %s, %s)",
        (advisor_id, kind, old, new, at, source, evidence),
    )


def to_avro(
    row: AdvisorRow, *, consent_changed_at: datetime, consent_source: str,
    consent_evidence: str | None, updated_at: datetime,
) -> dict[str, Any]:
    """The Advisor record (advisor.avsc) for the compacted ``advisors`` topic."""
    return {
        "advisor_id": row.advisor_id, "name": row.name, "phone": row.phone, "user_id": row.user_id,
        "language": row.language, "consent": row.consent_state,
        "consent_changed_at": consent_changed_at, "consent_source": consent_source,
        "consent_evidence": consent_evidence, "marketing_suppressed": row.marketing_suppressed,
        "sticky_sender": row.sticky_sender, "updated_at": updated_at,
    }


async def advisor_records(
    conn: psycopg.AsyncConnection, advisor_ids: Iterable[str]
) -> list[dict[str, Any]]:
    """Advisor records of the current PostgreSQL state, ready to publish, by advisor_id."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"SELECT {_FULL_COLUMNS} FROM advisors WHERE advisor_id = ANY(%s) "  # noqa: S608
            "ORDER BY advisor_id",
            (list(advisor_ids),),
        )
        records = await cur.fetchall()
    return [
        to_avro(
            _row(r), consent_changed_at=r["consent_changed_at"] or r["updated_at"],
            consent_source=r["consent_source"] or "none", consent_evidence=r["consent_evidence"],
            updated_at=r["updated_at"],
        )
        for r in records
    ]


@dataclass(frozen=True)
class IdentityChange:
    """What a number or user id change did to an advisor (one row of advisor_identity_history)."""

    advisor_id: str
    kind: str
    old_phone: str | None
    new_phone: str | None
    old_user_id: str | None
    new_user_id: str | None


async def change_identity(
    conn: psycopg.AsyncConnection, advisor_id: str, *, new_phone: str | None,
    new_user_id: str | None, at: datetime, evidence: str,
) -> IdentityChange | None:
    """Move an advisor to a new WhatsApp phone and/or business-scoped user id.

    The advisor row stays the same row, so consent, suppression, the sticky sender and every
    history go with the person, and the old number (which WhatsApp may give to someone else)
    stops matching them. A new phone that another advisor already has is not taken: the change
    is recorded as ``number_change_refused`` for a person to settle, never guessed. None when
    nothing changed (already moved: a replay)."""
    async with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT phone, user_id FROM advisors WHERE advisor_id = %s FOR UPDATE", (advisor_id,))
        old = await cur.fetchone()
        if old is None:
            return None
        phone = new_phone or old["phone"]
        user_id = new_user_id or old["user_id"]
        if (phone, user_id) == (old["phone"], old["user_id"]):
            return None
        kind = "number_changed" if phone != old["phone"] else "user_id_changed"
        if phone != old["phone"]:
            await cur.execute(
                "SELECT advisor_id FROM advisors WHERE phone = %s AND advisor_id <> %s LIMIT 1",
                (phone, advisor_id))
            if await cur.fetchone() is not None:
                kind, phone, user_id = "number_change_refused", old["phone"], old["user_id"]
        if kind != "number_change_refused":
            await cur.execute(
                "UPDATE advisors SET phone = %s, user_id = %s, updated_at = clock_timestamp() "
                "WHERE advisor_id = %s", (phone, user_id, advisor_id))
        change = IdentityChange(advisor_id, kind, old["phone"], new_phone or old["phone"],
                                old["user_id"], new_user_id or old["user_id"])
        await record_identity(cur, change, at=at, evidence=evidence)
    return change


async def record_identity(cur: psycopg.AsyncCursor[Any], change: IdentityChange, *, at: datetime,
                          evidence: str) -> None:
    """One advisor_identity_history row."""
    await cur.execute(
        "INSERT INTO advisor_identity_history (advisor_id, kind, old_phone, new_phone, old_user_id, "
        "new_user_id, changed_at, evidence) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
        (change.advisor_id, change.kind, change.old_phone, change.new_phone, change.old_user_id,
         change.new_user_id, at, evidence),
    )


async def identity_history(conn: psycopg.AsyncConnection, advisor_id: str) -> list[dict[str, Any]]:
    """An advisor's identity changes, oldest first."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT kind, old_phone, new_phone, old_user_id, new_user_id, changed_at, evidence "
            "FROM advisor_identity_history WHERE advisor_id = %s ORDER BY changed_at, id",
            (advisor_id,))
        return list(await cur.fetchall())
