"""What a plan amounts to, in numbers an operator can act on before anything is sent."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from rich.console import Console
from rich.table import Table

from producers.scheduler.capacity import TIERS, PlanPolicy, tier_allows
from producers.scheduler.window import IST, Window


@dataclass(frozen=True)
class NumberLoad:
    """One sender number's share of the plan; planned and capacity count advisors."""

    phone_number_id: str
    allowed_mps: float
    planned: int
    capacity: int
    role: str = "PRIMARY"  # from wa.numbers.health: PRIMARY, WARMING or SPARE
    daily_cap: int | None = None  # a warming number's or a spare's messages for the day

    @property
    def utilisation(self) -> float:
        return self.planned / self.capacity if self.capacity else 0.0


@dataclass(frozen=True)
class PlanSummary:
    """The morning's plan in brief. ``problems`` block publishing; ``warnings`` do not."""

    run_date: date
    window: Window
    policy: PlanPolicy
    reference_mps: float
    eligible: int
    packs: int
    intents: int
    numbers: tuple[NumberLoad, ...]
    unassigned: int
    numbers_needed: int | None
    tier: str | None
    tier_needed: str
    fallbacks: int = 0
    unsendable: int = 0
    recent_recipients: int = 0  # others messaged in the rolling 24 h: they count against the tier
    warnings: tuple[str, ...] = field(default=())
    #: What branding and pre-staging did (producers.scheduler.prestage.Prestage), when it ran.
    prestage: Any = None

    @property
    def problems(self) -> list[str]:
        out: list[str] = []
        if self.unassigned:
            carried = sum(n.capacity for n in self.numbers)
            needed = self.numbers_needed
            if needed is None:
                ask = f"a number at {self.reference_mps:g} mps cannot carry any in this window"
            elif needed > len(self.numbers):
                ask = (f"{needed} numbers at {self.reference_mps:g} mps are needed: add "
                       f"{needed - len(self.numbers)} healthy sender number(s)")
            else:
                ask = (f"{needed} number(s) at {self.reference_mps:g} mps would carry them but the "
                       "healthy numbers are allowed less: raise their rate or add numbers")
            out.append(
                f"{self.eligible} eligible advisors x {self.packs} pack(s) do not fit: "
                f"{len(self.numbers)} healthy number(s) carry {carried} advisors in a "
                f"{self.window.seconds:g} s window (first attempts in the first "
                f"{self.policy.first_attempt_share:.0%} at {self.policy.rate_share:.0%} of each "
                f"number's rate); {self.unassigned} left over; {ask}"
            )
        unique = self.eligible + self.recent_recipients
        if self.tier is not None and not tier_allows(self.tier, unique):
            recent = (f" and {self.recent_recipients} others were messaged in the last 24 h"
                      if self.recent_recipients else "")
            out.append(
                f"messaging tier {self.tier} allows {TIERS[self.tier]:g} unique recipients per 24 h "
                f"but {self.eligible} advisors are eligible{recent}: the portfolio needs "
                f"{self.tier_needed} "
                "(more numbers do not raise the tier)"
            )
        return out

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, for run reports."""
        return {
            "run_date": self.run_date.isoformat(),
            "window": {"start": self.window.start.isoformat(), "end": self.window.end.isoformat(),
                       "deadline": self.window.deadline.isoformat()},
            "eligible": self.eligible,
            "packs": self.packs,
            "intents": self.intents,
            "unassigned": self.unassigned,
            "fallbacks": self.fallbacks,
            "unsendable": self.unsendable,
            "numbers_needed": self.numbers_needed,
            "tier": self.tier,
            "tier_needed": self.tier_needed,
            "recent_recipients": self.recent_recipients,
            "numbers": [
                {"id": n.phone_number_id, "role": n.role, "allowed_mps": n.allowed_mps,
                 "daily_cap": n.daily_cap, "planned": n.planned, "capacity": n.capacity,
                 "utilisation": round(n.utilisation, 4)}
                for n in self.numbers
            ],
            "problems": self.problems,
            "warnings": list(self.warnings),
        }


def print_summary(summary: PlanSummary, console: Console) -> None:
    """The plan as a table per number, then what it needs, then what is wrong."""
    start = summary.window.start.astimezone(IST)
    end = summary.window.end.astimezone(IST)
    deadline = summary.window.deadline.astimezone(IST)
    console.print(
        f"morning {summary.run_date}  window {start:%H:%M:%S}-{end:%H:%M:%S} IST "
        f"({summary.window.seconds:g} s, deadline {deadline:%H:%M:%S}); first attempts in the first "
        f"{summary.policy.first_attempt_seconds(summary.window)} s at "
        f"{summary.policy.rate_share:.0%} of each number's rate"
    )
    table = Table("number", "role", "allowed mps", "daily cap", "planned", "capacity", "utilisation")
    for n in summary.numbers:
        table.add_row(n.phone_number_id, n.role, f"{n.allowed_mps:g}",
                      "-" if n.daily_cap is None else str(n.daily_cap), str(n.planned),
                      str(n.capacity), f"{n.utilisation:.1%}")
    console.print(table)
    needed = "-" if summary.numbers_needed is None else str(summary.numbers_needed)
    console.print(
        f"eligible {summary.eligible}  packs {summary.packs}  intents {summary.intents}  "
        f"unassigned {summary.unassigned}  EN fallbacks {summary.fallbacks}  "
        f"unsendable {summary.unsendable}"
    )
    spares = [n.phone_number_id for n in summary.numbers if n.role == "SPARE"]
    console.print(
        f"numbers needed at {summary.reference_mps:g} mps: {needed}  "
        f"portfolio tier {summary.tier or 'unknown'} (needed: {summary.tier_needed})  "
        f"hot spares {', '.join(spares) or 'none'}"
    )
    for warning in summary.warnings:
        console.print(f"warning: {warning}", style="yellow")
    for problem in summary.problems:
        console.print(f"problem: {problem}", style="bold red")
    if summary.ok:
        console.print("plan fits", style="green")
