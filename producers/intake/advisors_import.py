"""Importing advisors: PostgreSQL first (the record), then the compacted ``advisors`` topic.

Publishing after the commit means a crash in between leaves the topic behind the database, never
ahead of it; re-running the import republishes the current state (the topic is compacted, so the
repeat costs nothing but bytes).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import psycopg
from confluent_kafka import Producer

from producers.intake.advisors_csv import ImportedRow
from schemas.catalogue import ADVISORS
from schemas.codec import Codec
from store import advisors


async def import_rows(database_url: str, rows: Sequence[ImportedRow], *, source: str,
                      evidence: str, at: datetime) -> list[dict]:
    """Upsert ``rows`` in one transaction; returns the Advisor records to publish."""
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        async with conn.transaction():
            await advisors.upsert_advisors(
                conn, [r.advisor for r in rows], source=source, evidence=evidence, at=at,
                consent_at={r.advisor.advisor_id: r.consent_at for r in rows if r.consent_at},
                evidence_by_id={r.advisor.advisor_id: f"{evidence} line {r.line}"
                                for r in rows if r.line},
            )
        return await advisors.advisor_records(conn, [r.advisor.advisor_id for r in rows])


def publish(producer: Producer, codec: Codec, records: Sequence[dict]) -> int:
    """Produce Advisor records keyed by advisor_id; returns how many Kafka did not acknowledge."""
    for record in records:
        producer.produce(ADVISORS.name, key=record["advisor_id"].encode(),
                         value=codec.encode(ADVISORS.name, record))
        producer.poll(0)
    return producer.flush(60)
