"""The ops board folds records the way the rules say, whatever order or how often they come:
latest state per delivery (a replay counts once), the newest SLA snapshot wins, a newer morning
replaces the last, a message is billed once whatever its statuses, absent feeds show as absent."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from consumers.dashboard.board import OpsBoard

DAY = date(2026, 11, 26)
T0 = datetime(2026, 11, 26, 0, 30, tzinfo=UTC)


def state(delivery: str, value: str, *, day: date = DAY, error: int | None = None,
          at: datetime = T0) -> dict:
    return {"delivery_id": delivery, "run_date": day, "advisor_id": "A", "state": value,
            "error_code": error, "delivered_at": at if value in ("DELIVERED", "READ") else None,
            "updated_at": at}


def sla(taken: datetime, delivered: int, *, eligible: int = 10, day: date = DAY) -> dict:
    return {"run_date": day, "deadline": T0 + timedelta(minutes=5), "taken_at": taken,
            "eligible": eligible, "accepted": eligible, "sent": eligible, "delivered": delivered,
            "delivered_by_deadline": delivered, "read": 0, "failed": 0,
            "sla_pct": 100.0 * delivered / eligible, "failure_pct": 0.0, "failed_by_code": {},
            "sent_by_number": {}, "projected_miss": False}


def result(delivery: str, number: str, at: datetime, outcome: str = "ACCEPTED",
           action: str | None = None) -> dict:
    return {"delivery_id": delivery, "run_date": DAY, "phone_number_id": number,
            "outcome": outcome, "action": action, "sent_at": at}


@given(st.lists(st.tuples(st.integers(0, 9), st.sampled_from(["QUEUED", "SENT", "DELIVERED", "FAILED"])),
                max_size=60), st.integers(1, 3))
def test_counts_are_the_latest_state_per_delivery_however_often_replayed(
        events: list[tuple[int, str]], copies: int) -> None:
    board = OpsBoard(clock=lambda: T0.timestamp())
    latest: dict[int, str] = {}
    ever_delivered = set()
    for delivery, value in events:
        if value == "DELIVERED":
            ever_delivered.add(delivery)
        for _ in range(copies):
            board.apply("wa.delivery.state", state(f"D{delivery}", value, error=131026))
        latest[delivery] = value
    view = board.view()
    expected: dict[str, int] = {}
    for value in latest.values():
        expected[value] = expected.get(value, 0) + 1
    assert view["states"] == expected
    failed = expected.get("FAILED", 0)
    assert view["failures"] == ([{"code": 131026, "count": failed,
                                  "reason": "recipient is the sender or undeliverable"}]
                                if failed else [])
    delivered_total = view["delivered_series"][-1][1] if view["delivered_series"] else 0
    assert delivered_total == len(ever_delivered)


def test_an_older_snapshot_arriving_late_does_not_move_the_sla_back() -> None:
    board = OpsBoard(clock=lambda: T0.timestamp())
    board.apply("ops.sla", sla(T0 + timedelta(seconds=2), 8))
    board.apply("ops.sla", sla(T0 + timedelta(seconds=1), 5))
    assert board.view()["sla"]["delivered_by_deadline"] == 8


def test_a_newer_morning_replaces_the_last_and_older_records_are_ignored() -> None:
    board = OpsBoard(clock=lambda: T0.timestamp())
    board.apply("wa.delivery.state", state("D1", "DELIVERED", day=DAY - timedelta(days=1)))
    board.apply("wa.delivery.state", state("D2", "QUEUED"))
    board.apply("wa.delivery.state", state("D3", "DELIVERED", day=DAY - timedelta(days=1)))
    board.apply("ops.sla", sla(T0, 9, day=DAY - timedelta(days=1)))
    view = board.view()
    assert view["run_date"] == DAY.isoformat()
    assert view["states"] == {"QUEUED": 1} and view["sla"] is None


def test_sends_per_second_per_number_and_unknown_outcomes() -> None:
    now = T0 + timedelta(seconds=3)
    board = OpsBoard(numbers={"PN1": 80.0, "PN2": 80.0}, clock=now.timestamp)
    for i in range(5):
        board.apply("wa.send.results", result(f"D{i}", "PN1", T0 + timedelta(seconds=2)))
    board.apply("wa.send.results", result("D9", "PN1", T0, outcome="RETRYING", action="reconcile"))
    board.apply("wa.send.results", result("D8", "PN1", T0, outcome="RETRYING", action="reconcile"))
    board.apply("wa.send.results", result("D7", "PN1", T0, outcome="RETRYING", action="unknown"))
    board.apply("wa.delivery.state", state("D8", "DELIVERED"))  # evidence came: no longer unknown
    view = board.view()
    pn1, pn2 = view["numbers"]
    assert (pn1["id"], pn1["sends_per_s"], pn1["sent"], pn1["allowed_mps"]) == ("PN1", 5, 5, 80.0)
    assert pn1["quality"] is None and pn2["sent"] == 0  # no health feed: shown as absent
    assert view["unknown"] == 2  # D9 awaiting evidence, D7 given up at its deadline


def test_health_and_templates_show_when_published() -> None:
    board = OpsBoard(numbers={"PN1": 80.0}, clock=T0.timestamp)
    board.apply("wa.numbers.health", {"phone_number_id": "PN1", "quality": "YELLOW", "role": "SPARE",
                                      "status": "CONNECTED", "allowed_mps": 40.0, "reason": "quality",
                                      "updated_at": T0})
    board.apply("wa.templates", {"name": "daily", "language": "en", "status": "APPROVED",
                                 "quality": "GREEN", "role": "PRIMARY", "category": "MARKETING",
                                 "paced": False, "reason": None, "updated_at": T0})
    view = board.view()
    assert (view["numbers"][0]["quality"], view["numbers"][0]["role"],
            view["numbers"][0]["allowed_mps"]) == ("YELLOW", "SPARE", 40.0)
    assert view["templates"][0]["status"] == "APPROVED"


def test_each_message_is_billed_once_at_its_category_price() -> None:
    board = OpsBoard(prices_inr={"marketing": 0.5, "utility": 0.1}, budget_inr=1.0, clock=T0.timestamp)
    billable = {"billable": True, "pricing_model": "PMP", "type": "regular", "category": "marketing"}
    for wamid in ("w1", "w1", "w2"):
        for status in ("SENT", "DELIVERED"):
            board.apply("wa.status.events", {"wamid": wamid, "status": status, "pricing": billable})
    board.apply("wa.status.events", {"wamid": "w3", "status": "SENT",
                                     "pricing": {**billable, "category": "utility"}})
    board.apply("wa.status.events", {"wamid": "w4", "status": "SENT",
                                     "pricing": {**billable, "billable": False}})
    spend = board.view()["spend"]
    assert spend["messages"] == {"marketing": 2, "utility": 1}
    assert spend["total_inr"] == 1.1 and spend["budget_inr"] == 1.0


def test_alerts_are_listed_once_newest_first() -> None:
    board = OpsBoard(clock=T0.timestamp)
    for i in (1, 2, 1):
        board.apply("ops.alerts", {"alert_id": f"a{i}", "kind": "sla", "severity": "WARNING",
                                   "subject": "morning", "message": f"m{i}", "raised_at": T0})
    assert [a["id"] for a in board.view()["alerts"]] == ["a2", "a1"]
