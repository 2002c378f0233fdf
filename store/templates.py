"""Template states in PostgreSQL: which template languages may be sent now, and which Meta paces.

The templates agent is the only writer (webhooks and its poller of Meta's template list); the
sender, the scheduler, ``dawn plan`` and ``dawn templates`` read. They live here rather than only
in the compacted ``wa.templates`` topic because every sender worker needs every template's state,
while a single-partition topic is read by one worker of a consumer group.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg import sql

#: How long after its first approval, or an unpause, a template is taken to be still paced: Meta
#: holds part of a new or reinstated template's sends while it assesses the first reactions.
DEFAULT_WARM = timedelta(days=2)
#: Statuses Meta accepts sends for (FLAGGED is sendable at Meta but about to be paused: avoided).
SENDABLE_STATUSES = ("APPROVED",)
#: Statuses after which a template is never coming back without a new submission.
RETIRED_STATUSES = ("REJECTED", "DISABLED", "DELETED", "PENDING_DELETION", "ARCHIVED")


@dataclass(frozen=True)
class TemplateRow:
    """One template language as dawn knows it; ``*_at`` are the times of the evidence used."""

    name: str
    language: str
    status: str
    status_at: datetime
    template_id: str | None = None
    quality: str = "UNKNOWN"
    category: str | None = None
    reason: str | None = None
    quality_at: datetime | None = None
    category_at: datetime | None = None
    submitted_at: datetime | None = None
    approved_at: datetime | None = None
    unpaused_at: datetime | None = None
    variant_of: str | None = None
    overdue_alerted: bool = False
    updated_at: datetime | None = None

    @property
    def key(self) -> str:
        """The ``wa.templates`` key."""
        return f"{self.name}:{self.language}"

    @property
    def sendable(self) -> bool:
        """Worth sending with: approved, and not rated RED (Meta pauses RED templates soon)."""
        return self.status in SENDABLE_STATUSES and self.quality != "RED"

    def pacing(self, now: datetime, warm: timedelta = DEFAULT_WARM) -> str | None:
        """Why Meta is likely pacing this template now (new, just unpaused, not GREEN), or None."""
        if self.status not in SENDABLE_STATUSES:
            return None
        if self.unpaused_at is not None and now - self.unpaused_at < warm:
            return "just unpaused"
        if self.approved_at is not None and now - self.approved_at < warm:
            return "new"
        if self.quality != "GREEN":
            return f"quality {self.quality}"
        return None

    def with_(self, **changes: Any) -> TemplateRow:
        return replace(self, **changes)


_COLUMNS = tuple(f.name for f in fields(TemplateRow))
_FIELDS = sql.SQL(", ").join(map(sql.Identifier, _COLUMNS))
_SELECT = sql.SQL("SELECT {} FROM template_states").format(_FIELDS)
_UPSERT = sql.SQL(
    "INSERT INTO template_states ({}) VALUES ({}) ON CONFLICT (name, language) DO UPDATE SET {}"
).format(
    _FIELDS, sql.SQL(", ").join(sql.Placeholder() * len(_COLUMNS)),
    sql.SQL(", ").join(sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(c))
                       for c in _COLUMNS if c not in ("name", "language")),
)
_ORDERED = _SELECT + sql.SQL(" ORDER BY name, language")
_BY_KEY = _SELECT + sql.SQL(" WHERE name = %s AND language = %s")
_BY_ID = _SELECT + sql.SQL(" WHERE template_id = %s")


def _row(values: tuple[Any, ...]) -> TemplateRow:
    return TemplateRow(**dict(zip(_COLUMNS, values, strict=True)))


def _values(row: TemplateRow) -> tuple[Any, ...]:
    return tuple(getattr(row, c) for c in _COLUMNS)


async def load_all(conn: psycopg.AsyncConnection) -> list[TemplateRow]:
    cur = await conn.execute(_ORDERED)
    return [_row(r) for r in await cur.fetchall()]


async def load(conn: psycopg.AsyncConnection, name: str, language: str) -> TemplateRow | None:
    cur = await conn.execute(_BY_KEY, (name, language))
    found = await cur.fetchone()
    return _row(found) if found else None


async def load_by_id(conn: psycopg.AsyncConnection, template_id: str) -> TemplateRow | None:
    cur = await conn.execute(_BY_ID, (template_id,))
    found = await cur.fetchone()
    return _row(found) if found else None


async def save(conn: psycopg.AsyncConnection, row: TemplateRow) -> None:
    await conn.execute(_UPSERT, _values(row))


def load_all_sync(conn: psycopg.Connection) -> list[TemplateRow]:
    """For the command line, which has no event loop."""
    return [_row(r) for r in conn.execute(_ORDERED).fetchall()]


def save_sync(conn: psycopg.Connection, row: TemplateRow) -> None:
    conn.execute(_UPSERT, _values(row))
