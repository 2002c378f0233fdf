"""The budget rule: a morning is refused exactly when its projected cost passes the daily budget
or, with what the month was billed so far, the monthly one; ``dawn plan`` shows the figures."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dawn.cli import main
from producers.scheduler.budget import Budget

money = st.one_of(st.none(), st.floats(min_value=0.01, max_value=1e6))


@given(intents=st.integers(0, 200_000), price=st.floats(min_value=0, max_value=5),
       daily=money, monthly=money, billed=st.integers(0, 1_000_000))
def test_refused_exactly_when_over_a_budget(intents: int, price: float, daily: float | None,
                                             monthly: float | None, billed: int) -> None:
    check = Budget({"marketing": price}, daily, monthly).check(intents, {"marketing": billed})
    projected = round(intents * price, 2)
    so_far = round(billed * price, 2)
    over_daily = daily is not None and projected > daily
    over_monthly = monthly is not None and so_far + projected > monthly
    assert check.ok == (not over_daily and not over_monthly)
    assert len(check.problems) == over_daily + over_monthly
    assert check.projected_inr == projected


def test_unknown_categories_cost_nothing_rather_than_crash() -> None:
    check = Budget({"marketing": 1.0}, monthly_inr=5).check(3, {"service": 100, "marketing": 1})
    assert check.month_to_date_inr == 1.0 and check.ok


def test_dawn_plan_shows_the_cost_and_refuses_over_budget(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    monkeypatch.setenv("DAWN_RUN_DIR", str(tmp_path))  # no dawn up there: no month-to-date
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("DAWN_PRICES_INR", "marketing=0.5")
    monkeypatch.setenv("DAWN_BUDGET_DAILY_INR", "400")
    assert main(["plan", "--advisors", "1000"]) == 1
    out = capsys.readouterr().out.replace("\n", " ")
    assert "projected cost 500.00 INR" in out and "over the daily budget of 400.00 INR" in out
    monkeypatch.setenv("DAWN_BUDGET_DAILY_INR", "500")
    assert main(["plan", "--advisors", "1000"]) == 0
    assert "problem" not in capsys.readouterr().out
