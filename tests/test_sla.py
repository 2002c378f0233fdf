"""SLA arithmetic, the miss projection and alerts that fire once per episode."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from streams.sla import policy as sla

RUN = date(2026, 11, 22)
T0 = datetime(2026, 11, 22, 0, 29, 30, tzinfo=UTC)
DEADLINE = T0 + timedelta(seconds=330)
POLICY = sla.SlaPolicy(settle_s=10, min_settled=20)


def tally(state: str, accepted: float | None = None, delivered: float | None = None,
          code: int | None = None, number: str = "pn1") -> sla.Tally:
    def t(s: float | None) -> datetime | None:
        return None if s is None else T0 + timedelta(seconds=s)
    return sla.Tally(RUN, state, number, code, t(accepted), t(accepted), t(delivered), None)


def test_counts_and_percentages() -> None:
    tallies = [tally("DELIVERED", 1, 5)] * 97 + [tally("DELIVERED", 1, 400)] + [
        tally("FAILED", 1, code=131049), tally("QUEUED")]
    snap = sla.snapshot(RUN, DEADLINE, tallies, DEADLINE + timedelta(seconds=60), POLICY)
    assert (snap["eligible"], snap["accepted"], snap["delivered"], snap["delivered_by_deadline"]) == (
        100, 99, 98, 97)
    assert snap["sla_pct"] == 97.0 and snap["failure_pct"] == 1.0
    assert snap["failed_by_code"] == {"131049": 1} and snap["sent_by_number"] == {"pn1": 99}
    assert snap["projected_miss"]  # after the deadline the projection is the final count: 97 < 99


def test_projection_waits_for_warm_up_then_extrapolates() -> None:
    early = [tally("SENT", 1)] * 5 + [tally("QUEUED")] * 995
    assert not sla.snapshot(RUN, DEADLINE, early, T0 + timedelta(seconds=20), POLICY)["projected_miss"]
    healthy = [tally("DELIVERED", 1, 3)] * 100 + [tally("SENT", 30)] * 50 + [tally("QUEUED")] * 850
    assert not sla.snapshot(RUN, DEADLINE, healthy, T0 + timedelta(seconds=35), POLICY)["projected_miss"]
    # Half of the settled messages never reached the phone: the rest will not make 99% either.
    sick = [tally("DELIVERED", 1, 3)] * 50 + [tally("SENT", 1)] * 50 + [tally("QUEUED")] * 900
    assert sla.snapshot(RUN, DEADLINE, sick, T0 + timedelta(seconds=35), POLICY)["projected_miss"]


def test_alert_fires_when_a_condition_starts_not_on_every_tick() -> None:
    latch = sla.AlertLatch(set())
    failing = [tally("FAILED", 1, code=131026)] * 3 + [tally("DELIVERED", 1, 3)] * 97
    snap = sla.snapshot(RUN, DEADLINE, failing, T0 + timedelta(seconds=30), POLICY)
    holding = sla.conditions(snap, POLICY)
    assert set(holding) == {"failure_rate", "sla_projected_miss"}  # 3% failing cannot make 99%
    first = latch.update(RUN, holding, T0)
    assert [a["alert_id"] for a in first] == ["failure_rate:2026-11-22", "sla_projected_miss:2026-11-22"]
    assert latch.update(RUN, holding, T0 + timedelta(seconds=5)) == []
    only_failures = {"failure_rate": holding["failure_rate"]}
    assert latch.update(RUN, only_failures, T0 + timedelta(seconds=10)) == []
    again = latch.update(RUN, holding, T0 + timedelta(seconds=15))  # a new episode of the miss
    assert [a["kind"] for a in again] == ["sla_projected_miss"]
