"""What a sender lane asks the health view: may this number send, and where does a moved intent go.

The property: follow one delivery through any sequence of its numbers being stopped, moving it
each time with the sender's own follow-up record; it never lands on a number it has left nor on
a stopped one, and it fails only when no untried number can send.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from streams.health_view import HealthView
from streams.sender.records import follow_up

T0 = datetime(2026, 11, 26, tzinfo=UTC)
NUMBERS = ["n1", "n2", "n3", "n4", "n5"]


def record(pnid: str, role: str = "PRIMARY", allowed: float = 80.0, at: int = 0) -> dict:
    return {"phone_number_id": pnid, "role": role, "allowed_mps": allowed,
            "updated_at": T0 + timedelta(seconds=at)}


def test_unknown_numbers_are_trusted_and_stopped_ones_are_not() -> None:
    view = HealthView()
    assert view.can_send("n1") and view.allowed_mps("n1") is None
    view.update(record("n1", "STOPPED", 0.0, at=5))
    view.update(record("n1", "PRIMARY", 80.0, at=1))  # older, arrived late: ignored
    assert not view.can_send("n1")


def test_failover_prefers_primaries_and_keeps_to_the_configured_pool() -> None:
    view = HealthView()
    for pnid in ("n1", "n2"):
        view.update(record(pnid))
    view.update(record("n3", "SPARE"))
    view.update(record("other-waba", "PRIMARY"))
    targets = {view.failover_target(f"d{i}", "n1", [], ["n1", "n2", "n3"]) for i in range(50)}
    assert targets == {"n2"}  # the spare only when no primary is left
    assert view.failover_target("d", "n1", ["n2"], ["n1", "n2", "n3"]) == "n3"
    # Without configured numbers the pool is every number with a record.
    assert "other-waba" in {view.failover_target(f"d{i}", "n1", [], []) for i in range(50)}


@settings(max_examples=100, deadline=None)
@given(stops=st.lists(st.sampled_from(NUMBERS), max_size=8), delivery=st.text(min_size=1, max_size=8))
def test_a_moved_intent_never_returns_to_a_number_it_left(stops: list[str], delivery: str) -> None:
    view = HealthView()
    for pnid in NUMBERS:
        view.update(record(pnid))
    intent = {"delivery_id": delivery, "phone_number_id": "n1", "attempt": 1, "tried_numbers": [],
              "last_error_code": None}
    visited = ["n1"]
    for k, stopped in enumerate(stops, start=1):
        view.update(record(stopped, "STOPPED", 0.0, at=k))
        if view.can_send(intent["phone_number_id"]):
            continue
        target = view.failover_target(delivery, intent["phone_number_id"], intent["tried_numbers"],
                                      NUMBERS)
        if target is None:
            untried = set(NUMBERS) - set(visited)
            assert not any(view.can_send(n) for n in untried)
            return
        assert target not in visited and view.can_send(target)
        intent = follow_up(intent, at=T0, send_at=T0, next_attempt=False, phone_number_id=target)
        visited.append(target)
        assert intent["tried_numbers"] == visited[:-1]
