"""The ops board: what the dashboard shows, folded from the records the feed reads.

Pure state, no Kafka: :meth:`OpsBoard.apply` takes one decoded record of one topic and
:meth:`OpsBoard.view` is the JSON the page renders, so the folding is tested without a broker.

The board follows the newest run date it has seen (a morning's records name their run date), so a
dashboard left open across days moves to the new morning by itself. Deliveries are counted from the
latest state per delivery id, as the SLA agent counts them: a replayed record changes nothing.
Charts are per-second buckets kept for ``history_s`` seconds.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Mapping
from datetime import date, datetime
from typing import Any

from schemas.catalogue import ALERTS, DELIVERY_STATE, NUMBERS_HEALTH, RESULTS, SLA, STATUSES, TEMPLATES
from whatsapp.errors import POLICIES

#: Seconds of chart history the board keeps (and the page draws).
HISTORY_S = 600
#: Alerts the page lists, newest first.
MAX_ALERTS = 50
#: Send results with these actions mean "the answer was lost": ``reconcile`` while the sender
#: waits for evidence either way, ``unknown`` once it gave up at the deadline (never resent).
UNKNOWN_ACTIONS = ("reconcile", "unknown")
DELIVERED_STATES = ("DELIVERED", "READ")
TERMINAL_STATES = ("SENT", "DELIVERED", "READ", "FAILED")


def _ms(value: datetime | None) -> int | None:
    return None if value is None else int(value.timestamp() * 1000)


def failure_reason(code: int | None) -> str:
    """What a Cloud API error code means, in words a person on the morning shift can act on."""
    if code is None:
        return "no error code"
    policy = POLICIES.get(code)
    return policy.description if policy else "error code not in the Cloud API table"


class OpsBoard:
    """Latest SLA snapshot, delivery states, sends per number, numbers, templates, alerts, spend."""

    def __init__(self, *, numbers: Mapping[str, float] | None = None,
                 prices_inr: Mapping[str, float] | None = None,
                 budget_inr: float | None = None,
                 clock: Callable[[], float] = time.time, history_s: int = HISTORY_S) -> None:
        self._clock = clock
        self._history_s = history_s
        self._configured = dict(numbers or {})
        self._prices = dict(prices_inr or {})
        self._budget = budget_inr
        self.run_date: date | None = None
        self._reset_morning()
        self._health: dict[str, dict[str, Any]] = {}
        self._templates: dict[str, dict[str, Any]] = {}
        self._alerts: deque[dict[str, Any]] = deque(maxlen=MAX_ALERTS)
        self._alert_ids: set[str] = set()
        self.version = 0

    def _reset_morning(self) -> None:
        self._sla: dict[str, Any] | None = None
        self._states: dict[str, tuple[str, int | None]] = {}
        self._last_action: dict[str, str | None] = {}
        self._delivered: set[str] = set()
        self._delivered_at: dict[int, int] = Counter()
        self._sends: dict[str, Counter[int]] = defaultdict(Counter)
        self._billed: dict[str, str] = {}  # wamid -> pricing category, once per message
        self._sla_points: deque[tuple[int, float]] = deque(maxlen=self._history_s)

    # -- folding -------------------------------------------------------------------------------

    def _morning(self, run_date: date) -> bool:
        """Whether a record of ``run_date`` belongs on the board (moving on to a newer morning)."""
        if self.run_date is None or run_date > self.run_date:
            self.run_date = run_date
            self._reset_morning()
        return run_date == self.run_date

    def apply(self, topic: str, record: dict[str, Any]) -> None:
        """Fold one decoded record of ``topic`` into the board."""
        handler = {
            SLA.name: self._on_sla, DELIVERY_STATE.name: self._on_state, RESULTS.name: self._on_result,
            ALERTS.name: self._on_alert, NUMBERS_HEALTH.name: self._on_health,
            TEMPLATES.name: self._on_template, STATUSES.name: self._on_status,
        }.get(topic)
        if handler is not None:
            handler(record)
            self.version += 1

    def _on_sla(self, r: dict[str, Any]) -> None:
        if not self._morning(r["run_date"]):
            return
        if self._sla is None or r["taken_at"] >= self._sla["taken_at"]:
            self._sla = r
            pct = r["delivered_by_deadline"] * 100.0 / r["eligible"] if r["eligible"] else 0.0
            self._sla_points.append((_ms(r["taken_at"]) or 0, round(pct, 2)))

    def _on_state(self, r: dict[str, Any]) -> None:
        if not self._morning(r["run_date"]):
            return
        delivery = r["delivery_id"]
        self._states[delivery] = (r["state"], r.get("error_code"))
        if (r["state"] in DELIVERED_STATES and delivery not in self._delivered
                and r.get("delivered_at") is not None):
            self._delivered.add(delivery)
            self._delivered_at[int(r["delivered_at"].timestamp())] += 1

    def _on_result(self, r: dict[str, Any]) -> None:
        if not self._morning(r["run_date"]):
            return
        self._last_action[r["delivery_id"]] = r.get("action")
        if r["outcome"] in ("ACCEPTED", "HELD"):
            self._sends[r["phone_number_id"]][int(r["sent_at"].timestamp())] += 1

    def _on_alert(self, r: dict[str, Any]) -> None:
        if r["alert_id"] in self._alert_ids:
            return
        self._alert_ids.add(r["alert_id"])
        self._alerts.appendleft({
            "id": r["alert_id"], "kind": r["kind"], "severity": r["severity"],
            "subject": r["subject"], "message": r["message"], "at": _ms(r["raised_at"]),
        })

    def _on_health(self, r: dict[str, Any]) -> None:
        self._health[r["phone_number_id"]] = r

    def _on_template(self, r: dict[str, Any]) -> None:
        self._templates[f"{r['name']}:{r['language']}"] = r

    def _on_status(self, r: dict[str, Any]) -> None:
        pricing = r.get("pricing") or {}
        if pricing.get("billable") and r.get("wamid"):
            self._billed.setdefault(r["wamid"], (pricing.get("category") or "unknown").lower())

    # -- the view ------------------------------------------------------------------------------

    def view(self) -> dict[str, Any]:
        """Everything the page shows, as JSON-ready data."""
        now = self._clock()
        counts = Counter(state for state, _ in self._states.values())
        failures = Counter(code for state, code in self._states.values() if state == "FAILED")
        unknown = sum(
            1 for delivery, action in self._last_action.items()
            if action in UNKNOWN_ACTIONS and self._states.get(delivery, ("QUEUED",))[0] not in
            (*TERMINAL_STATES, "ACCEPTED", "HELD")
        )
        return {
            "run_date": self.run_date.isoformat() if self.run_date else None,
            "now": int(now * 1000),
            "sla": self._sla_view(now),
            "states": dict(counts),
            "deliveries": len(self._states),
            "failures": [{"code": code, "count": n, "reason": failure_reason(code)}
                         for code, n in failures.most_common()],
            "unknown": unknown,
            "numbers": self._numbers_view(now),
            "templates": [self._template_view(t) for _, t in sorted(self._templates.items())],
            "alerts": list(self._alerts),
            "delivered_series": self._series(self._delivered_at, now, cumulative=True),
            "spend": self._spend_view(),
        }

    def _sla_view(self, now: float) -> dict[str, Any] | None:
        s = self._sla
        if s is None:
            return None
        eligible = s["eligible"]
        projected = self._projection(s, now)
        return {
            "eligible": eligible, "accepted": s["accepted"], "sent": s["sent"],
            "delivered": s["delivered"], "delivered_by_deadline": s["delivered_by_deadline"],
            "read": s["read"], "failed": s["failed"], "sla_pct": round(s["sla_pct"], 2),
            "failure_pct": round(s["failure_pct"], 2), "deadline": _ms(s["deadline"]),
            "taken_at": _ms(s["taken_at"]), "projected_miss": s["projected_miss"],
            "projected_pct": projected, "unknown": s.get("unknown"),
            "series": list(self._sla_points),
        }

    def _projection(self, s: dict[str, Any], now: float) -> float | None:
        """Delivered-by-deadline at the deadline if the last 10 s's delivery pace holds."""
        eligible = s["eligible"]
        if not eligible:
            return None
        deadline = s["deadline"].timestamp()
        done = s["delivered_by_deadline"]
        if now >= deadline:
            return round(done * 100.0 / eligible, 2)
        recent = sum(n for second, n in self._delivered_at.items() if now - 10 <= second <= now)
        projected = min(eligible, done + recent / 10.0 * (deadline - now))
        return round(projected * 100.0 / eligible, 2)

    def _numbers_view(self, now: float) -> list[dict[str, Any]]:
        ids = sorted(set(self._configured) | set(self._health) | set(self._sends))
        out = []
        for number in ids:
            health = self._health.get(number)
            sends = self._sends.get(number, Counter())
            out.append({
                "id": number,
                "allowed_mps": health["allowed_mps"] if health else self._configured.get(number),
                "quality": health["quality"] if health else None,
                "role": health["role"] if health else None,
                "status": health["status"] if health else None,
                "reason": health.get("reason") if health else None,
                "sends_per_s": sends.get(int(now) - 1, 0),
                "sent": sum(sends.values()),
                "peak_mps": max(sends.values(), default=0),
                "series": self._series(sends, now, cumulative=False),
            })
        return out

    @staticmethod
    def _template_view(t: dict[str, Any]) -> dict[str, Any]:
        return {"name": t["name"], "language": t["language"], "status": t["status"],
                "quality": t["quality"], "role": t["role"], "category": t["category"],
                "paced": t["paced"], "reason": t.get("reason")}

    def _series(self, buckets: Mapping[int, int], now: float, *, cumulative: bool) -> list[list[int]]:
        """[[second_ms, value], ...] over the kept history; cumulative sums from the start."""
        if not buckets:
            return []
        end = int(now)
        start = max(min(buckets), end - self._history_s)
        total = sum(n for second, n in buckets.items() if second < start) if cumulative else 0
        out = []
        for second in range(start, end + 1):
            n = buckets.get(second, 0)
            total = total + n if cumulative else n
            out.append([second * 1000, total])
        return out

    def _spend_view(self) -> dict[str, Any]:
        by_category = Counter(self._billed.values())
        cost = {c: round(n * self._prices.get(c, 0.0), 4) for c, n in by_category.items()}
        total = round(sum(cost.values()), 2)
        return {"messages": dict(by_category), "inr": cost, "total_inr": total,
                "budget_inr": self._budget}
