"""The SLA kept as states arrive (streams.sla.live) equals the recount of the latest tallies.

The oracle is :func:`streams.sla.policy.snapshot`, the SLA's definition: a from-scratch count of
each run date's latest tallies. Hypothesis drives the hostile sequences: states of one delivery
replacing one another in any order (a later state may even lose a time an earlier one had), a
delivery moving run date, deadlines learned after the states or changed, and the snapshot clock
standing still, jumping, or going backwards.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from streams.sla import policy as sla
from streams.sla.live import LiveSla

T0 = datetime(2026, 11, 22, 0, 29, 30, tzinfo=UTC)
DATES = (date(2026, 11, 22), date(2026, 11, 23))
POLICY = sla.SlaPolicy(settle_s=10, min_settled=1)
LINGER = timedelta(seconds=100)
STATES = ("QUEUED", "ACCEPTED", "SENT", "DELIVERED", "READ", "FAILED")


def at(seconds: int | None) -> datetime | None:
    return None if seconds is None else T0 + timedelta(seconds=seconds)


times = st.one_of(st.none(), st.integers(0, 40))
tallies = st.builds(
    lambda run_date, state, number, code, accepted, sent, delivered, read: sla.Tally(
        run_date, state, number, code, at(accepted), at(sent), at(delivered), at(read)),
    st.sampled_from(DATES), st.sampled_from(STATES), st.sampled_from(("pn1", "pn2", None)),
    st.one_of(st.none(), st.sampled_from((131026, 131049))), times, times, times, times)
put = st.tuples(st.just("put"), st.sampled_from([f"d{i}" for i in range(8)]), tallies)
tick = st.tuples(st.just("snapshot"), st.integers(-5, 80),
                 st.fixed_dictionaries({}, optional={d.isoformat(): st.sampled_from((40, 70, 250))
                                                     for d in DATES}))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(put, tick), max_size=60))
def test_live_counts_equal_the_recount(steps: list[tuple]) -> None:
    live = LiveSla(POLICY)
    latest: dict[str, sla.Tally] = {}
    for step in steps:
        if step[0] == "put":
            _, delivery_id, tally = step
            live.put(delivery_id, tally)
            latest[delivery_id] = tally
            continue
        _, seconds, deadline_s = step
        now = T0 + timedelta(seconds=seconds)
        deadlines = {d: int((T0 + timedelta(seconds=s)).timestamp() * 1000)
                     for d, s in deadline_s.items()}
        expected = []
        for run_date in sorted({t.run_date for t in latest.values()}):
            if run_date.isoformat() not in deadlines:
                continue
            deadline = T0 + timedelta(seconds=deadline_s[run_date.isoformat()])
            if now - deadline > LINGER:
                continue
            group = [t for t in latest.values() if t.run_date == run_date]
            expected.append(sla.snapshot(run_date, deadline, group, now, POLICY))
        assert live.snapshots(now, deadlines, LINGER) == expected


def test_a_snapshot_does_not_recount_the_morning() -> None:
    """Once counted, a run date's snapshot reads its counters: replacing the stored tallies behind
    the counters' back changes nothing, which a recount would see."""
    live = LiveSla(POLICY)
    run_date = DATES[0]
    for i in range(50):
        live.put(f"d{i}", sla.Tally(run_date, "DELIVERED", "pn1", None, at(1), at(1), at(2), None))
    deadlines = {run_date.isoformat(): int((T0 + timedelta(seconds=300)).timestamp() * 1000)}
    first = live.snapshots(T0 + timedelta(seconds=30), deadlines, LINGER)
    assert first[0]["delivered_by_deadline"] == 50
    live._tallies[run_date].clear()  # behind the counters: only a recount would see it
    again = live.snapshots(T0 + timedelta(seconds=31), deadlines, LINGER)
    assert (again[0]["eligible"], again[0]["delivered_by_deadline"]) == (50, 50)


def test_a_later_accepted_time_is_not_settled_by_the_earlier_one() -> None:
    """A delivery first seen accepted at 20 s, then (a later state, another attempt) at 35 s: at
    a mark between the two it is not settled yet, though its first time is in the heap."""
    live = LiveSla(POLICY)
    run_date = DATES[0]
    deadlines = {run_date.isoformat(): int((T0 + timedelta(seconds=300)).timestamp() * 1000)}
    live.put("d0", sla.Tally(run_date, "QUEUED", None, None, None, None, None, None))
    live.snapshots(T0, deadlines, LINGER)  # the run date's counts now exist
    live.put("d0", sla.Tally(run_date, "ACCEPTED", "pn1", None, at(20), None, None, None))
    live.put("d0", sla.Tally(run_date, "ACCEPTED", "pn1", None, at(35), None, None, None))
    now = T0 + timedelta(seconds=40)  # settled before 30 s
    latest = sla.Tally(run_date, "ACCEPTED", "pn1", None, at(35), None, None, None)
    assert live.snapshots(now, deadlines, LINGER) == [
        sla.snapshot(run_date, T0 + timedelta(seconds=300), [latest], now, POLICY)]
    live.put("d0", sla.Tally(run_date, "DELIVERED", "pn1", None, at(35), at(36), at(37), None))
    now = T0 + timedelta(seconds=50)
    latest = sla.Tally(run_date, "DELIVERED", "pn1", None, at(35), at(36), at(37), None)
    assert live.snapshots(now, deadlines, LINGER) == [
        sla.snapshot(run_date, T0 + timedelta(seconds=300), [latest], now, POLICY)]
