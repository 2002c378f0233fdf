"""A morning's report as data: every section the HTML and the CSVs show, computed from the rows
of :mod:`consumers.reports.queries` (one per delivery, plus failures, quality and billing)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from datetime import date, timedelta
from typing import Any

from whatsapp.errors import POLICIES

#: Time-to-deliver buckets (upper bounds in seconds, from the planned send time to delivered).
TTD_BUCKETS: tuple[tuple[str, float], ...] = (
    ("< 1 s", 1), ("1-2 s", 2), ("2-5 s", 5), ("5-10 s", 10), ("10-30 s", 30), ("30-60 s", 60),
    ("1-5 min", 300), ("> 5 min", float("inf")),
)
READ_DIMENSIONS = ("language", "template", "variant", "number")
QUALITY_DAYS = 30


def _pct(part: int, whole: int) -> float:
    return round(100.0 * part / whole, 2) if whole else 0.0


def _quantile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 3)


def _sla(deliveries: list[dict[str, Any]]) -> dict[str, Any]:
    eligible = len(deliveries)
    delivered = [d for d in deliveries if d["delivered_at"] is not None]
    by_deadline = [d for d in delivered if d["deadline"] is None or d["delivered_at"] <= d["deadline"]]
    seconds = [max(0.0, (d["delivered_at"] - d["send_at"]).total_seconds())
               for d in delivered if d["send_at"] is not None]
    buckets = []
    low = 0.0
    for label, high in TTD_BUCKETS:
        buckets.append({"bucket": label, "deliveries": sum(1 for s in seconds if low <= s < high)})
        low = high
    deadlines = [d["deadline"] for d in deliveries if d["deadline"] is not None]
    return {
        "eligible": eligible, "delivered": len(delivered), "delivered_by_deadline": len(by_deadline),
        "read": sum(1 for d in deliveries if d["read"]),
        "failed": sum(1 for d in deliveries if d["failed"]),
        "pending": sum(1 for d in deliveries if d["delivered_at"] is None and not d["failed"]),
        "sla_pct": _pct(len(by_deadline), eligible), "met": eligible > 0 and
        len(by_deadline) * 100 >= 99 * eligible,
        "deadline": max(deadlines).isoformat() if deadlines else None,
        "ttd_p50_s": _quantile(seconds, 0.5), "ttd_p90_s": _quantile(seconds, 0.9),
        "ttd_p99_s": _quantile(seconds, 0.99), "time_to_deliver": buckets,
    }


def _key(d: dict[str, Any], dimension: str) -> str:
    if dimension == "template":
        return d["template_name"]
    if dimension == "variant":
        return f"{d['template_name']}:{d['template_language']}"
    if dimension == "number":
        return d["phone_number_id"] or "-"
    return d["language"] or "-"


def _reads(deliveries: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out = {}
    for dimension in READ_DIMENSIONS:
        groups: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
        for d in deliveries:
            g = groups[_key(d, dimension)]
            g[0] += 1
            g[1] += d["delivered_at"] is not None
            g[2] += bool(d["read"])
        out[dimension] = [{dimension: k, "deliveries": n, "delivered": dl, "read": r,
                           "read_pct": _pct(r, dl)} for k, (n, dl, r) in sorted(groups.items())]
    return out


def _failures(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for r in rows:
        policy = POLICIES.get(r["error_code"])
        out.append({"code": r["error_code"], "deliveries": r["deliveries"],
                    "reason": policy.description if policy else "not in the Cloud API table"})
    return out


def _quality(rows: list[dict[str, Any]], day: date) -> dict[str, list[dict[str, Any]]]:
    """Each number's quality on each of the last 30 days, carried forward from its last change."""
    changes: dict[str, dict[date, dict[str, Any]]] = defaultdict(dict)
    for r in rows:
        changes[r["phone_number_id"]][r["day"]] = r
    out = {}
    for number, by_day in sorted(changes.items()):
        last: dict[str, Any] | None = None
        days = []
        for offset in range(QUALITY_DAYS - 1, -1, -1):
            d = day - timedelta(days=offset)
            last = by_day.get(d, last)
            days.append({"day": d.isoformat(), "quality": last["quality"] if last else None,
                         "role": last["role"] if last else None})
        out[number] = days
    return out


def _cost(rows: list[dict[str, Any]], prices: Mapping[str, float],
          budget: float | None) -> dict[str, Any]:
    lines = [{"category": r["category"], "type": r["type"], "messages": r["messages"],
              "price_inr": prices.get(r["category"], 0.0),
              "cost_inr": round(r["messages"] * prices.get(r["category"], 0.0), 2)} for r in rows]
    total = round(sum(r["messages"] * prices.get(r["category"], 0.0) for r in rows), 2)
    return {"lines": lines, "total_inr": total, "budget_inr": budget,
            "within_budget": None if budget is None else total <= budget}


def build(day: date, tables: Mapping[str, list[dict[str, Any]]], *, prices: Mapping[str, float],
          budget_inr: float | None = None) -> dict[str, Any]:
    deliveries = tables["deliveries"]
    return {
        "date": day.isoformat(),
        "sla": _sla(deliveries),
        "reads": _reads(deliveries),
        "failures": _failures(tables["failures"]),
        "quality": _quality(tables["quality"], day),
        "cost": _cost(tables["billed"], prices, budget_inr),
    }
