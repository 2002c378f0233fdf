"""The delivery-state merge: order and duplicates never change the outcome, progress never goes back."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from streams.delivery import state as ds
from streams.delivery.book import DeliveryBook

T0 = datetime(2026, 11, 22, 0, 29, tzinfo=UTC)
RUN = date(2026, 11, 22)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def intent(d: str, attempt: int = 1, number: str = "PN1") -> tuple[str, dict]:
    return "intent", {
        "delivery_id": d, "run_date": RUN, "advisor_id": f"adv-{d}", "phone_number_id": number,
        "deadline": at(360), "attempt": attempt, "created_at": at(0),
    }


def result(d: str, outcome: str, attempt: int = 1, wamid: str | None = None,
           code: int | None = None, number: str = "PN1") -> tuple[str, dict]:
    return "result", {
        "delivery_id": d, "attempt": attempt, "run_date": RUN, "advisor_id": f"adv-{d}",
        "phone_number_id": number, "outcome": outcome, "wamid": wamid, "error_code": code,
        "sent_at": at(10 + attempt),
    }


def status(wamid: str, value: str, ts: float, callback: str | None = None,
           code: int | None = None) -> tuple[str, dict]:
    return "status", {
        "wamid": wamid, "status": value, "timestamp": at(ts), "callback_data": callback,
        "errors": [{"code": code}] if code else [],
    }


def replay(events: list[tuple[str, dict]]) -> dict[str, ds.Delivery]:
    book = DeliveryBook({}, {}, {})
    for kind, record in events:
        getattr(book, f"apply_{kind}")(record)
    return dict(book.deliveries)


def morning() -> list[tuple[str, dict]]:
    """Four deliveries covering every path: read, failed, failed-then-delivered, retried."""
    return [
        intent("d1"), result("d1", "ACCEPTED", wamid="w1"),
        status("w1", "SENT", 20, "d1"), status("w1", "DELIVERED", 21), status("w1", "READ", 30, "d1"),
        intent("d2"), result("d2", "ACCEPTED", wamid="w2"),
        status("w2", "SENT", 20, "d2"), status("w2", "FAILED", 22, "d2", code=131049),
        intent("d3"), result("d3", "HELD", wamid="w3"),
        status("w3", "FAILED", 22, "d3", code=131026), status("w3", "DELIVERED", 25),
        intent("d4"), result("d4", "RETRYING", code=131000), intent("d4", attempt=2, number="PN2"),
        result("d4", "ACCEPTED", attempt=2, wamid="w4", number="PN2"), status("w4", "SENT", 40, "d4"),
        intent("d5"), result("d5", "FAILED", code=132001),
    ]


def test_morning_in_order() -> None:
    final = replay(morning())
    assert {d: x.state for d, x in final.items()} == {
        "d1": "READ", "d2": "FAILED", "d3": "DELIVERED", "d4": "SENT", "d5": "FAILED",
    }
    assert final["d2"].error_code == 131049
    assert final["d5"].error_code == 132001
    assert ds.to_record(final["d3"], at(99))["delivered_at"] == at(25)
    assert (final["d4"].phone_number_id, final["d4"].wamid, final["d4"].attempts) == ("PN2", "w4", 2)
    assert all(ds.from_json(ds.to_json(x)) == x for x in final.values())
    record = ds.to_record(final["d1"], at(99))
    assert record["delivered_at"] == at(21) and record["read_at"] == at(30)


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_any_order_with_duplicates_gives_the_same_state(data: st.DataObject) -> None:
    events = morning()
    copies = data.draw(st.lists(st.integers(1, 3), min_size=len(events), max_size=len(events)))
    stream = [e for e, n in zip(events, copies, strict=True) for _ in range(n)]
    shuffled = data.draw(st.permutations(stream))
    assert replay(shuffled) == replay(events)


@settings(max_examples=100, deadline=None)
@given(st.permutations(morning()))
def test_progress_never_goes_back(events: list[tuple[str, dict]]) -> None:
    book = DeliveryBook({}, {}, {})
    for kind, record in events:
        before = {d: x.rank for d, x in book.deliveries.items()}
        getattr(book, f"apply_{kind}")(record)
        for d, rank in before.items():
            assert book.deliveries[d].rank >= rank


def test_duplicate_changes_nothing_and_emits_nothing() -> None:
    book = DeliveryBook({}, {}, {})
    book.apply_intent(intent("d1")[1])
    book.apply_result(result("d1", "ACCEPTED", wamid="w1")[1])
    assert book.apply_status(status("w1", "DELIVERED", 21, "d1")[1])
    assert book.apply_status(status("w1", "DELIVERED", 21, "d1")[1]) == []
    assert book.apply_status(status("w1", "SENT", 20, "d1")[1])  # earlier sent_at is still news
    assert book.deliveries["d1"].state == "DELIVERED"
