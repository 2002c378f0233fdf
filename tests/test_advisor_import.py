"""The advisors CSV: good rows in, bad rows reported by line; demo advisors; import to PG and Kafka."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
from confluent_kafka import Consumer
from hypothesis import given
from hypothesis import strategies as st

from dawn.cli import main
from dawn.embedded.client_profile import consumer_config
from producers.intake.advisors_csv import normalise_phone, parse_rows
from producers.intake.advisors_import import import_rows
from producers.intake.demo_advisors import demo_advisors
from schemas.codec import Codec

HEADER = "advisor_id,name,phone,language,consent,consent_at\n"


def test_good_rows_are_kept_and_bad_rows_reported_with_their_line() -> None:
    text = HEADER + (
        "A1,Asha Rao,+91 98123 45678,EN,opted_in,2026-01-05T10:00:00+05:30\n"
        "A2,राहुल वर्मा,9812345679,HI,OPTED_IN,2026-01-05 10:00\n"
        "A3,No Phone,,EN,OPTED_IN,2026-01-05T10:00:00Z\n"
        "A4,Bad Lang,919812345670,FR,OPTED_IN,2026-01-05T10:00:00Z\n"
        "A5,No Time,919812345671,MR,OPTED_IN,\n"
        "A1,Duplicate,919812345672,EN,NONE,\n"
        "A6,प्रिया देशपांडे,919812345673,mr,NONE,\n"
    )
    good, errors = parse_rows(text.splitlines(keepends=True))
    assert [r.advisor.advisor_id for r in good] == ["A1", "A2", "A6"]
    assert [r.line for r in good] == [2, 3, 8]
    assert good[0].advisor.phone == "919812345678" and good[1].advisor.phone == "919812345679"
    assert good[1].consent_at is not None and good[1].consent_at.utcoffset().total_seconds() == 19800
    assert [(e.line, e.message.split()[0]) for e in errors] == [
        (4, "phone"), (5, "language"), (6, "consent_at"), (7, "advisor_id")]


def test_missing_columns_are_one_error() -> None:
    good, errors = parse_rows(["advisor_id,name\n", "A1,x\n"])
    assert good == [] and errors[0].line == 1 and "language" in errors[0].message


@given(st.from_regex(r"[6-9][0-9]{9}", fullmatch=True), st.sampled_from(["", "+91", "91", "+91 "]))
def test_indian_mobiles_normalise_to_e164_digits(mobile: str, prefix: str) -> None:
    assert normalise_phone(f"{prefix}{mobile[:5]} {mobile[5:]}") == f"91{mobile}"


def test_demo_advisors_mix_languages_and_are_reproducible() -> None:
    rows = demo_advisors(300, seed=7)
    assert rows == demo_advisors(300, seed=7)
    assert {r.language for r in rows} == {"EN", "HI", "MR"}
    assert len({r.phone for r in rows}) == 300
    assert all(r.phone and r.phone.startswith("91") and len(r.phone) == 12 for r in rows)
    assert all(r.consent_state == "OPTED_IN" for r in rows)
    assert any("\u0900" <= ch <= "\u097f" for r in rows for ch in r.name)


def test_import_command_writes_postgres_and_publishes(
        bootstrap, database_url, stack, topics, tmp_path: Path) -> None:
    tag = uuid.uuid4().hex[:8]
    csv_file = tmp_path / "advisors.csv"
    csv_file.write_text(HEADER + f"I{tag}a,Asha,919800000011,EN,OPTED_IN,2026-01-05T10:00:00Z\n"
                        f"I{tag}b,Bad,919800000012,XX,OPTED_IN,2026-01-05T10:00:00Z\n", encoding="utf-8")
    code = main(["advisors", "import", str(csv_file), "--bootstrap", bootstrap,
                 "--database-url", database_url])
    assert code == 1  # one bad row
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT consent_state, consent_evidence FROM advisors WHERE advisor_id = %s",
                           (f"I{tag}a",)).fetchone()
    assert row == ("OPTED_IN", "advisors.csv line 2")
    consumer = Consumer(consumer_config(bootstrap, f"import-test-{tag}", stack.embedded_kafka))
    consumer.subscribe(["advisors"])
    found = None
    try:
        for _ in range(200):
            message = consumer.poll(0.5)
            if message is not None and not message.error() and message.key() == f"I{tag}a".encode():
                found = Codec().decode("advisors", message.value())
                break
    finally:
        consumer.close()
    assert found is not None and found["consent"] == "OPTED_IN"


def test_demo_import(bootstrap, database_url, topics) -> None:
    assert main(["advisors", "import", "--demo", "3", "--seed", "5", "--bootstrap", bootstrap,
                 "--database-url", database_url]) == 0
    with psycopg.connect(database_url) as conn:
        rows = conn.execute("SELECT advisor_id, phone, consent_state, consent_evidence FROM advisors "
                            "WHERE advisor_id = ANY(%s) ORDER BY advisor_id",
                            ([r.advisor_id for r in demo_advisors(3, seed=5)],)).fetchall()
    assert [(r[0], r[2], r[3]) for r in rows] == [
        (f"ADV00000{i}", "OPTED_IN", "demo seed 5") for i in (1, 2, 3)]
    assert [r[1] for r in rows] == [r.phone for r in demo_advisors(3, seed=5)]


def test_consent_at_in_the_future_is_a_bad_row() -> None:
    """A consent time from the future would outrank every later change (a STOP included)."""
    now = datetime.now(UTC)
    text = HEADER + (
        "F1,Far Future,919812345601,EN,OPTED_IN,2099-01-01\n"
        f"F2,Within Skew,919812345602,EN,OPTED_IN,{(now + timedelta(minutes=2)).isoformat()}\n"
        f"F3,Past Skew,919812345603,EN,OPTED_IN,{(now + timedelta(minutes=10)).isoformat()}\n"
    )
    good, errors = parse_rows(text.splitlines(keepends=True))
    assert [r.advisor.advisor_id for r in good] == ["F2"]
    assert [(e.line, "future" in e.message) for e in errors] == [(2, True), (4, True)]


ID_HEADER = ("advisor_id,name,phone,language,consent,consent_at,registered_name,registration_type,"
             "registration_number,display_phone,logo_url\n")


def test_identity_columns_are_checked_by_the_registration_types_config() -> None:
    at = "2026-01-05T10:00:00Z"
    text = ID_HEADER + (
        f"R1,Asha,919812345601,EN,OPTED_IN,{at},Asha Rao,sebi_ria,INA000012345,+91 98000 11122,\n"
        f"R2,राहुल,919812345602,HI,OPTED_IN,{at},राहुल वर्मा,AMFI_ARN,ARN-12345,,https://x/l.png\n"
        f"R3,No Reg,919812345603,EN,OPTED_IN,{at},,,,,\n"
        f"R4,Bad Type,919812345604,EN,OPTED_IN,{at},X,IRDA,123,,\n"
        f"R5,Bad Number,919812345605,EN,OPTED_IN,{at},X,AMFI_ARN,INA000012345,,\n"
        f"R6,Bad Logo,919812345606,EN,OPTED_IN,{at},X,AMFI_ARN,ARN-1,,ftp://x/l.png\n"
    )
    good, errors = parse_rows(text.splitlines(keepends=True))
    by_id = {r.advisor.advisor_id: r.advisor for r in good}
    assert sorted(by_id) == ["R1", "R2", "R3"]
    assert (by_id["R1"].registration_type, by_id["R1"].registration_number,
            by_id["R1"].display_phone) == ("SEBI_RIA", "INA000012345", "919800011122")
    assert by_id["R2"].logo_url == "https://x/l.png" and by_id["R2"].display_phone is None
    assert by_id["R3"].registration_type is None  # incomplete: imported, reported by the plan
    assert [(e.line, e.message.split()[0]) for e in errors] == [
        (5, "registration_type"), (6, "registration_number"), (7, "logo_url")]


def test_reimport_without_identity_keeps_it(database_url) -> None:
    tag = uuid.uuid4().hex[:8]
    at = "2026-01-05T10:00:00Z"
    first, _ = parse_rows([ID_HEADER, f"K{tag},A,919812399901,EN,OPTED_IN,{at},Asha Rao,AMFI_ARN,"
                                      "ARN-42,,\n"])
    again, _ = parse_rows([HEADER, f"K{tag},A,919812399901,EN,OPTED_IN,{at}\n"])
    now = datetime.now(UTC)
    for rows in (first, again):
        asyncio.run(import_rows(database_url, rows, source="import", evidence="t", at=now))
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT registered_name, registration_type, registration_number FROM "
                           "advisors WHERE advisor_id = %s", (f"K{tag}",)).fetchone()
    assert row == ("Asha Rao", "AMFI_ARN", "ARN-42")
