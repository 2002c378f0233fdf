"""The rolling 24 h the messaging tier counts, read from the send ledger in PostgreSQL."""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, datetime, timedelta

import psycopg

from store.migrations import apply_migrations
from store.recipients import recent_recipients

NOW = datetime(2031, 5, 1, 0, 30, tzinfo=UTC)


async def test_recipients_accepted_or_held_in_the_last_24_h_count(database_url: str) -> None:
    apply_migrations(database_url)
    tag = secrets.token_hex(4)
    rows = [  # (advisor, state, outcome_at)
        (f"{tag}-in", "ACCEPTED", NOW - timedelta(hours=23)),
        (f"{tag}-held", "HELD", NOW - timedelta(minutes=5)),
        (f"{tag}-old", "ACCEPTED", NOW - timedelta(hours=25)),
        (f"{tag}-failed", "FAILED", NOW - timedelta(hours=1)),
        (f"{tag}-future", "ACCEPTED", NOW + timedelta(minutes=1)),
    ]
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        for advisor, state, at in rows:
            await conn.execute(
                "INSERT INTO send_ledger (delivery_id, advisor_id, attempt, phone_number_id, state,"
                " claim_token, claimed_at, outcome_at) VALUES (%s, %s, 1, 'pn', %s, %s, %s, %s)",
                (f"{advisor}-d", advisor, state, uuid.uuid4(), at, at))
        found = {a for a in await recent_recipients(conn, NOW) if a.startswith(tag)}
    assert found == {f"{tag}-in", f"{tag}-held"}
