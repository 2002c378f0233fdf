"""``dawn report --html/--csv`` on a finished morning in the audit trail: every section is there
with the morning's numbers, and each number is checked against the audit tables with SQL written
here, not with the report's own queries (and a few against the morning as it was built)."""

from __future__ import annotations

import csv
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import psycopg
import pytest

from consumers.audit.rows import audit_row
from consumers.audit.writer import AuditWriter
from dawn.cli import main
from dawn.settings import DEFAULT_PRICES_INR
from store.migrations import apply_migrations
from tests.audit_morning import morning

DAY = date(2027, 2, 9)  # no other test's morning
MARKETING = {"billable": True, "pricing_model": "PMP", "type": "regular", "category": "marketing"}


class Cells(HTMLParser):
    """{(section, key): {field: text}} from the report's table rows, and every section id."""

    def __init__(self) -> None:
        super().__init__()
        self.cells: dict[tuple[str, str], dict[str, str]] = defaultdict(dict)
        self.sections: set[str] = set()
        self._row: tuple[str, str] | None = None
        self._field: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "section":
            self.sections.add(a["id"] or "")
        if tag == "tr" and "data-section" in a:
            self._row = (a["data-section"] or "", a["data-key"] or "")
        if tag == "td" and self._row and "data-field" in a:
            self._field = a["data-field"]

    def handle_data(self, data: str) -> None:
        if self._row and self._field:
            self.cells[self._row][self._field] = data

    def handle_endtag(self, tag: str) -> None:
        if tag == "td":
            self._field = None
        if tag == "tr":
            self._row = None


def build_morning() -> tuple[str, list[tuple[str, dict[str, Any]]]]:
    """The audit test morning of 6 advisors, varied: Hindi for odd advisors, pricing on statuses
    (one utility message), advisor 4 delivered an hour late, quality changes over the month."""
    tag, records = morning(DAY, advisors=6)
    out = []
    for topic, _, record in records:
        r = dict(record)
        if topic == "wa.delivery.intents" and int(r["advisor_id"][-1]) % 2:
            r.update(language="HI", template_language="hi", template_name="daily_pack_hi")
        if topic == "wa.status.events":
            r["pricing"] = {**MARKETING, "category": "utility"} if r["wamid"].endswith("2") else MARKETING
            if r["wamid"].endswith("4"):
                r["timestamp"] += timedelta(hours=1)
        out.append((topic, r))
    number = f"PN{tag}2"
    for days_ago, quality in ((12, "YELLOW"), (5, "GREEN"), (1, "RED")):
        at = datetime(DAY.year, DAY.month, DAY.day, 0, 0, tzinfo=UTC) - timedelta(days=days_ago)
        out.append(("wa.numbers.health", {
            "phone_number_id": number, "display_phone_number": None, "quality": quality,
            "status": "CONNECTED", "allowed_mps": 80.0, "role": "PRIMARY", "throughput_level": None,
            "messaging_limit_tier": None, "reason": tag, "updated_at": at}))
    return tag, out


@pytest.fixture(scope="module")
def finished_morning(database_url: str) -> str:
    apply_migrations(database_url)
    tag, records = build_morning()
    writer = AuditWriter(database_url)
    try:
        writer.write([audit_row(topic, r) for topic, r in records])
    finally:
        writer.close()
    return tag


INTENTS = ("SELECT DISTINCT delivery_id, record->>'language' AS language, template_name, "
           "(record->>'deadline')::timestamptz AS deadline FROM audit_events "
           "WHERE run_date = %s AND record_type = 'DeliveryIntent'")
ON_TIME_SQL = f"""
    SELECT count(DISTINCT i.delivery_id) FROM ({INTENTS}) i JOIN audit_events s
      ON s.delivery_id = i.delivery_id AND s.record_type = 'StatusEvent'
     AND s.status IN ('DELIVERED', 'READ') AND s.occurred_at <= i.deadline"""  # noqa: S608
READS_SQL = f"""
    SELECT i.language, count(DISTINCT i.delivery_id) FILTER (WHERE s.status = 'READ'),
           count(DISTINCT i.delivery_id) FILTER (WHERE s.status IN ('DELIVERED', 'READ'))
    FROM ({INTENTS}) i LEFT JOIN audit_events s
      ON s.delivery_id = i.delivery_id AND s.record_type = 'StatusEvent'
    GROUP BY i.language"""  # noqa: S608
FAILURES_SQL = f"""
    SELECT e.error_code, count(DISTINCT e.delivery_id) FROM audit_events e
    WHERE e.error_code IS NOT NULL AND e.record_type IN ('SendResult', 'StatusEvent')
      AND e.delivery_id IN (SELECT delivery_id FROM ({INTENTS}) i)
    GROUP BY e.error_code"""  # noqa: S608
BILLED_SQL = f"""
    SELECT c, count(*) FROM (
      SELECT DISTINCT wamid, record->'pricing'->>'category' AS c FROM audit_events
      WHERE record_type = 'StatusEvent' AND (record->'pricing'->>'billable')::boolean
        AND delivery_id IN (SELECT delivery_id FROM ({INTENTS}) i)) m
    GROUP BY c"""  # noqa: S608


def one(conn: psycopg.Connection, sql: str, *params: Any) -> Any:
    return conn.execute(sql, params).fetchone()[0]


def test_the_html_report_has_every_section_with_the_mornings_numbers(
        finished_morning: str, database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    tag = finished_morning
    html, csv_dir = tmp_path / "report.html", tmp_path / "csv"
    assert main(["report", "--date", DAY.isoformat(), "--html", str(html), "--csv", str(csv_dir),
                 "--database-url", database_url]) == 0
    page = Cells()
    page.feed(html.read_text())
    cells = page.cells
    assert {"sla", "time-to-deliver", "reads", "failures", "quality", "cost"} <= page.sections
    assert html.read_text().count("<svg") >= 8  # charts, not just tables

    with psycopg.connect(database_url) as conn:
        eligible = one(conn, f"SELECT count(DISTINCT delivery_id) FROM ({INTENTS}) i", DAY)  # noqa: S608
        on_time = one(conn, ON_TIME_SQL, DAY)
        reads = conn.execute(READS_SQL, (DAY,)).fetchall()
        failures = dict(conn.execute(FAILURES_SQL, (DAY,)).fetchall())
        billed = dict(conn.execute(BILLED_SQL, (DAY,)).fetchall())
        latest_quality = one(conn, """
            SELECT record->>'quality' FROM audit_events WHERE record_type = 'NumberHealth'
              AND phone_number_id = %s ORDER BY occurred_at DESC LIMIT 1""", f"PN{tag}2")

    # the morning as built: 6 advisors, advisor 1 failed, advisor 4 delivered an hour late
    assert (eligible, on_time) == (6, 4)
    assert cells[("sla", "eligible")]["value"] == str(eligible)
    assert cells[("sla", "delivered_by_deadline")]["value"] == str(on_time)
    assert cells[("sla", "sla_pct")]["value"] == str(round(100 * on_time / eligible, 2))
    ttd = sum(int(v["deliveries"]) for (section, _), v in cells.items() if section == "time-to-deliver")
    assert ttd == 5  # every delivered pack is in the distribution, the late one too

    for language, read, delivered in reads:
        row = cells[("reads-language", language)]
        assert (row["read"], row["delivered"]) == (str(read), str(delivered))
        assert row["read_pct"] == str(round(100 * read / delivered, 2))
    assert {k for (s, k) in cells if s == "reads-template"} == {"daily_pack_en", "daily_pack_hi"}
    assert {k for (s, k) in cells if s == "reads-number"} == {f"PN{tag}1", f"PN{tag}2"}
    assert {k for (s, k) in cells if s == "reads-variant"} == {"daily_pack_en:en", "daily_pack_hi:hi"}

    assert {int(k): int(v["deliveries"]) for (s, k), v in cells.items() if s == "failures"} == failures
    assert "marketing limit" in cells[("failures", "131049")]["reason"]

    assert cells[("quality", f"PN{tag}2")]["today"] == latest_quality == "RED"
    # YELLOW from day-12 to day-6 (7 days), RED from day-1 to the day itself (2 days)
    assert cells[("quality", f"PN{tag}2")]["not_green_days"] == "9"

    expected_total = sum(n * DEFAULT_PRICES_INR[c] for c, n in billed.items())
    for category, n in billed.items():
        line = cells[("cost", f"{category}/regular")]
        assert line["messages"] == str(n)
    assert billed == {"marketing": 5, "utility": 1}
    assert f"{expected_total:.2f}" in html.read_text()

    files = {p.name for p in csv_dir.iterdir()}
    assert f"{DAY}-sla.csv" in files and f"{DAY}-cost.csv" in files
    with (csv_dir / f"{DAY}-sla.csv").open() as f:
        assert next(csv.DictReader(f))["delivered_by_deadline"] == str(on_time)
    assert "Traceback" not in capsys.readouterr().err


def test_a_day_with_nothing_is_an_empty_report_not_an_error(database_url: str, tmp_path: Path) -> None:
    html = tmp_path / "empty.html"
    assert main(["report", "--date", "2030-01-01", "--html", str(html),
                 "--database-url", database_url]) == 0
    assert "0 of 0 eligible" in html.read_text()


def test_a_bad_date_is_a_usage_error(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["report", "--date", "yesterday"])
    assert exited.value.code == 2
    assert "Traceback" not in capsys.readouterr().err
