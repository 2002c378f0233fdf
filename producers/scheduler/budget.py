"""Keeping a morning inside its budget (the brief: API usage within budget parameters).

A morning's cost is known before anything is sent: every planned intent is one template message,
and Meta bills a delivered template message at its pricing category's rate (the daily pack is a
MARKETING template). So the projection is ``intents x price``, an upper bound (undelivered messages
are not billed). The daily budget caps the morning; the monthly budget caps what the month has been
billed so far (from the audit trail) plus the morning. A plan over either is refused with the
figures, before anything is published.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

#: The pricing category of the daily pack's template.
PACK_CATEGORY = "marketing"


@dataclass(frozen=True)
class Budget:
    prices_inr: Mapping[str, float]
    daily_inr: float | None = None
    monthly_inr: float | None = None
    category: str = PACK_CATEGORY

    def check(self, intents: int, billed_this_month: Mapping[str, int] | None = None) -> BudgetCheck:
        price = self.prices_inr.get(self.category, 0.0)
        spent = sum(n * self.prices_inr.get(c, 0.0) for c, n in (billed_this_month or {}).items())
        return BudgetCheck(intents=intents, category=self.category, price_inr=price,
                           projected_inr=round(intents * price, 2), month_to_date_inr=round(spent, 2),
                           daily_inr=self.daily_inr, monthly_inr=self.monthly_inr)


@dataclass(frozen=True)
class BudgetCheck:
    intents: int
    category: str
    price_inr: float
    projected_inr: float
    month_to_date_inr: float
    daily_inr: float | None
    monthly_inr: float | None
    problems: list[str] = field(init=False)

    def __post_init__(self) -> None:
        problems = []
        if self.daily_inr is not None and self.projected_inr > self.daily_inr:
            problems.append(f"the morning would cost {self.projected_inr:.2f} INR, over the daily "
                            f"budget of {self.daily_inr:.2f} INR")
        month = self.month_to_date_inr + self.projected_inr
        if self.monthly_inr is not None and month > self.monthly_inr:
            problems.append(f"the month would reach {month:.2f} INR ({self.month_to_date_inr:.2f} "
                            f"billed so far + {self.projected_inr:.2f} this morning), over the "
                            f"monthly budget of {self.monthly_inr:.2f} INR")
        object.__setattr__(self, "problems", problems)

    @property
    def ok(self) -> bool:
        return not self.problems

    def lines(self) -> list[str]:
        """The figures, for a person deciding whether to raise the budget."""
        daily = "no daily budget" if self.daily_inr is None else f"daily budget {self.daily_inr:.2f} INR"
        monthly = ("no monthly budget" if self.monthly_inr is None
                   else f"monthly budget {self.monthly_inr:.2f} INR, {self.month_to_date_inr:.2f} "
                        "billed so far")
        return [f"projected cost {self.projected_inr:.2f} INR: {self.intents} {self.category} "
                f"messages x {self.price_inr:g} INR; {daily}; {monthly}"]
