"""What a ``dawn run`` morning shows while it runs and reports when it ends.

The SLA figures are the pipeline's own (computed by ``streams.sla.policy.snapshot`` from
``wa.delivery.state``); duplicates, 130429s and per-number peaks come from the sandbox's ledger,
the outside witness, so a bug that makes the sender miscount cannot make the report look good.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

from rich.console import Group
from rich.table import Table

from producers.scheduler.window import Window
from sandbox.ledger import Ledger

STATES = ("QUEUED", "ACCEPTED", "HELD", "SENT", "DELIVERED", "READ", "FAILED")


def current_rates(ledger: Ledger, now: float) -> Counter[str]:
    """Accepted messages per number in the last second, read from the end of the ledger."""
    rates: Counter[str] = Counter()
    entries = ledger.entries
    for i in range(len(entries) - 1, -1, -1):
        entry = entries[i]
        if entry.time < now - 1.0:
            break
        rates[entry.phone_number_id] += 1
    return rates


def progress_view(counts: Counter[str], ledger: Ledger, numbers: dict[str, float], now: float,
                  remaining_s: float) -> Group:
    """The live display: deliveries by state, and each number's rate against its allowance."""
    states = Table(title=f"morning in progress - {max(remaining_s, 0):.0f} s to the deadline")
    for state in STATES:
        states.add_column(state.lower(), justify="right")
    states.add_row(*(str(counts.get(s, 0)) for s in STATES))
    sent = ledger.sent_by_number
    rates = current_rates(ledger, now)
    per_number = Table()
    for column in ("number", "sent", "mps now", "allowed", "peak"):
        per_number.add_column(column, justify="right")
    for number, allowed in numbers.items():
        per_number.add_row(number, str(sent[number]), str(rates[number]), f"{allowed:g}",
                           str(ledger.peak_mps.get(number, 0)))
    return Group(states, per_number)


def build_report(*, advisors: int, snapshot: dict[str, Any], ledger: dict[str, Any],
                 numbers: dict[str, float], window: Window, wall_seconds: float,
                 faults: str, unknown: int = 0) -> dict[str, Any]:
    """The ``--report`` JSON. ``unknown``: claims of the morning whose answer was lost and that
    nothing proved sent or not sent (never resent; ``dawn deliveries unknown`` lists them)."""
    duplicates = ledger["duplicates"]
    sent = Counter(e["phone_number_id"] for e in ledger.get("entries", []))
    return {
        "advisors": advisors,
        "eligible": snapshot["eligible"],
        "accepted": snapshot["accepted"],
        "delivered": snapshot["delivered"],
        "delivered_by_deadline": snapshot["delivered_by_deadline"],
        "read": snapshot["read"],
        "failed": snapshot["failed"],
        "failed_by_code": snapshot["failed_by_code"],
        "unknown": unknown,
        "sla_pct": round(snapshot["sla_pct"], 3),
        "sla_met": snapshot["sla_pct"] >= 99.0,
        "duplicates_sent": max(duplicates["callback_data"], duplicates["recipient_template_day"]),
        "throttled_130429": ledger["throttled_130429"],
        "rejected_by_code": ledger["rejected"],
        "numbers": [
            {"id": n, "sent": sent[n], "allowed_mps": allowed,
             "peak_mps": ledger["peak_mps"].get(n, 0)}
            for n, allowed in numbers.items()
        ],
        "window": {
            "start": _iso(window.start), "end": _iso(window.end), "deadline": _iso(window.deadline),
            "seconds": window.seconds,
        },
        "faults": faults,
        "wall_seconds": round(wall_seconds, 1),
    }


def summary_table(report: dict[str, Any]) -> Table:
    table = Table(title="SLA summary", show_header=False)
    table.add_column("what")
    table.add_column("value", justify="right")
    verdict = "[green]met[/green]" if report["sla_met"] else "[red]missed[/red]"
    rows = [
        ("advisors / eligible", f"{report['advisors']} / {report['eligible']}"),
        ("accepted by Meta", str(report["accepted"])),
        ("delivered by the deadline", str(report["delivered_by_deadline"])),
        ("read", str(report["read"])),
        ("failed", f"{report['failed']} {report['failed_by_code'] or ''}".strip()),
        ("unknown (lost answer, not resent)", str(report.get("unknown", 0))),
        ("SLA (target 99%)", f"{report['sla_pct']:.2f}% {verdict}"),
        ("duplicates sent (sandbox ledger)", str(report["duplicates_sent"])),
        ("130429 throttled (sandbox ledger)", str(report["throttled_130429"])),
        ("peak mps per number", ", ".join(f"{n['peak_mps']}/{n['allowed_mps']:g}"
                                          for n in report["numbers"])),
        ("wall time", f"{report['wall_seconds']} s for a {report['window']['seconds']:.0f} s window"),
    ]
    for what, value in rows:
        table.add_row(what, value)
    return table


def _iso(at: datetime) -> str:
    return at.isoformat()
