"""``dawn deliveries unknown`` against a real PostgreSQL: what ops sees of sends nobody can prove."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from dawn.cli import main
from store.migrations import apply_migrations
from store.send_ledger import ClaimRequest, claim_batch, give_up, mark_accepted

CLAIMED = datetime(2026, 11, 24, 0, 30, tzinfo=UTC)  # 06:00 IST on the 24th


async def _seed(url: str) -> tuple[str, str, str]:
    prefix = uuid.uuid4().hex[:8]
    advisor = f"adv-unk-{prefix}"
    given_up, looking, proved = (f"unk-{prefix}-{n}" for n in ("a", "b", "c"))
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await conn.execute("INSERT INTO advisors (advisor_id, name, phone, language, consent_state)"
                           " VALUES (%s, 'U', '919800000077', 'EN', 'OPTED_IN')", (advisor,))
        requests = [ClaimRequest(d, advisor, 1, "pn-unk", "daily_pack")
                    for d in (given_up, looking, proved)]
        await claim_batch(conn, requests, now=CLAIMED)
        await give_up(conn, [given_up], CLAIMED + timedelta(hours=1))
        await mark_accepted(conn, [(proved, "wamid.p", CLAIMED + timedelta(minutes=1))])
    return given_up, looking, proved


def test_lists_claims_without_proof_for_the_ist_day(database_url: str, capsys: pytest.CaptureFixture[str],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "240")
    apply_migrations(database_url)
    given_up, looking, proved = asyncio.run(_seed(database_url))
    assert main(["deliveries", "unknown", "--date", "2026-11-24", "--database-url", database_url]) == 0
    out = capsys.readouterr().out
    assert given_up in out and "given up" in out
    assert looking in out and "still looking" in out
    assert proved not in out, "a status proved it sent"
    assert main(["deliveries", "unknown", "--date", "2026-11-25", "--database-url", database_url]) == 0
    assert given_up not in capsys.readouterr().out


def test_a_bad_date_is_a_usage_error_not_a_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["deliveries", "unknown", "--date", "yesterday"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "invalid" in err and "Traceback" not in err
