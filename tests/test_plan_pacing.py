"""Pacing awareness of the plan (issue 12): the day's primary is a warmed template when one is
approved, a paced one is warned of, and ``dawn plan --template`` reads the templates agent's states."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import psycopg
import pytest

from dawn import cli
from producers.scheduler.assignment import SenderNumber
from producers.scheduler.plan import plan_morning
from producers.scheduler.window import Window
from store.migrations import apply_migrations
from store.templates import TemplateRow, save_sync
from tests.test_scheduler_plan import CREATED, RUN_DATE, SHA, Adv

WINDOW = Window.for_date(RUN_DATE)


def pack(primary: str, *backups: str) -> dict:
    return {"pack_id": "p1", "approval_id": "ap", "run_date": RUN_DATE, "variants": [{
        "language": "EN", "template_name": primary, "template_language": "en",
        "image_url": "file:///x.png", "image_sha256": SHA,
        "backups": [{"template_name": b, "template_language": "en"} for b in backups]}]}


ADVISORS = [Adv(f"a{i}", "N", "EN", None) for i in range(20)]
NUMBERS = [SenderNumber("pn-a", 80.0)]


def plan(p: dict, approved: set, paced: dict, run_date: date = RUN_DATE):
    window = Window.for_date(run_date)
    return plan_morning(window=window, packs=[p], advisors=ADVISORS, numbers=NUMBERS,
                        created_at=CREATED, approved=approved, paced=paced)


def test_a_warmed_backup_is_preferred_over_a_new_primary_and_nothing_is_warned() -> None:
    approved = {("fresh", "en"), ("warm", "en")}
    for k in range(4):  # every day, whatever the rotation
        result = plan(pack("fresh", "warm"), approved, {("fresh", "en"): "new"},
                      RUN_DATE + timedelta(days=k))
        assert {i["template_name"] for i in result.intents} == {"warm"}
        assert [b["template_name"] for b in result.intents[0]["template_backups"]] == ["fresh"]
        assert not [w for w in result.summary.warnings if "pace" in w]


def test_a_paced_template_with_no_warmed_alternative_is_warned_of() -> None:
    result = plan(pack("fresh"), {("fresh", "en")}, {("fresh", "en"): "just unpaused"})
    assert {i["template_name"] for i in result.intents} == {"fresh"}
    assert any("20 intents use template fresh (en), which Meta may pace (just unpaused)" in w
               for w in result.summary.warnings)
    assert result.summary.ok  # a warning, not a refusal


@pytest.mark.usefixtures("topics")
def test_dawn_plan_warns_from_the_template_states(database_url: str,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    apply_migrations(database_url)
    now = datetime.now(UTC)
    with psycopg.connect(database_url, autocommit=True) as conn:
        save_sync(conn, TemplateRow("plan_new_tpl", "en", "APPROVED", now, quality="UNKNOWN",
                                    approved_at=now - timedelta(hours=2), updated_at=now))
        save_sync(conn, TemplateRow("plan_warm_tpl", "en", "APPROVED", now, quality="GREEN",
                                    approved_at=now - timedelta(days=40), updated_at=now))
    assert cli.main(["plan", "--advisors", "100", "--template", "plan_new_tpl",
                     "--database-url", database_url]) == 0
    out = capsys.readouterr().out
    assert "plan_new_tpl (en), which Meta may pace (new)" in " ".join(out.split())
    assert cli.main(["plan", "--advisors", "100", "--template", "plan_new_tpl,plan_warm_tpl",
                     "--database-url", database_url]) == 0
    assert "may pace" not in " ".join(capsys.readouterr().out.split())


def test_numbers_with_falling_quality_send_the_conservative_template_first() -> None:
    p = pack("bold", "bold_b")
    p["variants"][0]["conservative"] = {"template_name": "plain", "template_language": "en"}
    numbers = [SenderNumber("pn-ok", 80.0), SenderNumber("pn-yellow", 80.0)]
    approved = {("bold", "en"), ("bold_b", "en"), ("plain", "en")}
    result = plan_morning(window=WINDOW, packs=[p], advisors=ADVISORS, numbers=numbers,
                          created_at=CREATED, approved=approved, paced={},
                          conservative_numbers={"pn-yellow"})
    by_number = {n: {i["template_name"] for i in result.intents if i["phone_number_id"] == n}
                 for n in ("pn-ok", "pn-yellow")}
    assert by_number["pn-yellow"] == {"plain"} and "plain" not in by_number["pn-ok"]
    backups = next(i for i in result.intents if i["phone_number_id"] == "pn-yellow")["template_backups"]
    assert {b["template_name"] for b in backups} == {"bold", "bold_b"}
    # an unapproved conservative template is not used
    result = plan_morning(window=WINDOW, packs=[p], advisors=ADVISORS, numbers=numbers,
                          created_at=CREATED, approved=approved - {("plain", "en")}, paced={},
                          conservative_numbers={"pn-yellow"})
    assert "plain" not in {i["template_name"] for i in result.intents}
