"""The recovery playbook, row by row, on the pure health state machine (streams.quality.monitor).

Each test feeds the signals a row of the README's playbook names and checks the records and the
``ops.alerts`` it must produce. The oracles are the playbook's rules (stop means 0 mps, throttle is
the documented share, the unwind rises in equal steps), not values read back from the code.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from streams.quality.fleet import Fleet, FleetEntry
from streams.quality.monitor import HealthPolicy, Monitor, NumberSnapshot, Update

T0 = datetime(2026, 11, 26, 0, 0, tzinfo=UTC)
POLICY = HealthPolicy(throttle_share=0.5, recovery_s=400.0, recovery_steps=4, block_hold_s=60.0)
A, B, S = "1001", "1002", "1900"
FLEET = Fleet(numbers={S: FleetEntry("SPARE")})


def snap(pnid: str, quality: str = "GREEN", status: str = "CONNECTED", can_send: str = "AVAILABLE",
         tier: str | None = "TIER_10K") -> NumberSnapshot:
    return NumberSnapshot(pnid, f"+91 90000 {pnid}", quality, status, "STANDARD", tier, can_send)


def fleet_poll(monitor: Monitor, at: datetime, *changed: NumberSnapshot) -> Update:
    """A poll listing the whole fleet (a number left out would read as removed from the WABA)."""
    given = {c.phone_number_id: c for c in changed}
    return monitor.poll([given.get(n) or snap(n) for n in (A, B, S)], at)


def latest(monitor: Monitor, pnid: str) -> dict:
    return monitor.published[pnid]


def kinds(update: Update) -> list[tuple[str, str]]:
    return [(a["kind"], a["subject"]) for a in update.alerts]


def started() -> Monitor:
    monitor = Monitor(FLEET, POLICY)
    first = fleet_poll(monitor, T0)
    assert {r["phone_number_id"] for r in first.records} == {A, B, S}
    assert not first.alerts
    return monitor


def test_fleet_from_the_poll_and_the_fleet_file() -> None:
    monitor = started()
    assert latest(monitor, A)["role"] == "PRIMARY" and latest(monitor, A)["allowed_mps"] == 80.0
    spare = latest(monitor, S)
    assert spare["role"] == "SPARE" and spare["daily_cap"] == POLICY.spare_daily_cap
    assert latest(monitor, A)["messaging_limit_tier"] == "TIER_10K"
    # The same poll again publishes nothing: a steady fleet is silent.
    again = fleet_poll(monitor, T0 + timedelta(seconds=60))
    assert again.records == [] and again.alerts == []


def test_yellow_throttles_asks_for_conservative_template_and_warms_the_spare() -> None:
    monitor = started()
    update = fleet_poll(monitor, T0 + timedelta(seconds=10), snap(A, "YELLOW"))
    record = latest(monitor, A)
    assert record["allowed_mps"] == 80.0 * 0.5 and record["role"] == "PRIMARY"
    assert record["quality_trend"] == "FALLING"
    assert ("number_throttled", A) in kinds(update)
    assert ("conservative_template", A) in kinds(update)
    assert ("spare_promoted", S) in kinds(update)
    assert latest(monitor, S)["role"] == "PRIMARY" and latest(monitor, S)["daily_cap"] is None


def test_red_stops_the_number_and_back_to_green_unwinds_step_by_step() -> None:
    monitor = started()
    fleet_poll(monitor, T0 + timedelta(seconds=1), snap(A, "YELLOW"))
    red = fleet_poll(monitor, T0 + timedelta(seconds=2), snap(A, "RED"))
    assert latest(monitor, A)["role"] == "STOPPED" and latest(monitor, A)["allowed_mps"] == 0
    assert ("number_stopped", A) in kinds(red)
    back = T0 + timedelta(seconds=100)
    green = fleet_poll(monitor, back, snap(A, "GREEN"))
    assert ("number_recovering", A) in kinds(green)
    assert latest(monitor, A)["role"] == "PRIMARY"
    assert latest(monitor, A)["recovery_until"] == back + timedelta(seconds=400)
    shares = []
    for k in range(4):
        monitor.tick(back + timedelta(seconds=100 * k + 1))
        shares.append(latest(monitor, A)["allowed_mps"] / 80.0)
    assert shares == [0.5, 0.625, 0.75, 0.875]  # equal steps from the throttle share
    done = monitor.tick(back + timedelta(seconds=401))
    assert latest(monitor, A)["allowed_mps"] == 80.0
    assert ("number_recovered", A) in kinds(done)
    assert ("spare_released", S) in kinds(done) and latest(monitor, S)["role"] == "SPARE"


def test_131031_stops_at_once_and_holds_until_a_later_poll_clears_it() -> None:
    monitor = started()
    result = {"phone_number_id": B, "outcome": "FAILED", "error_code": 131031}
    update = monitor.send_result(result, T0 + timedelta(seconds=5))
    assert latest(monitor, B)["role"] == "STOPPED" and ("number_stopped", B) in kinds(update)
    fleet_poll(monitor, T0 + timedelta(seconds=6))  # too soon: the block holds
    assert latest(monitor, B)["role"] == "STOPPED"
    fleet_poll(monitor, T0 + timedelta(seconds=70), snap(B))
    assert latest(monitor, B)["role"] == "PRIMARY" and latest(monitor, B)["allowed_mps"] == 40.0


def test_flagged_and_restricted_webhooks_stop_the_number() -> None:
    monitor = started()
    flagged = {"field": "phone_number_quality_update", "event": "FLAGGED", "phone_number_id": A,
               "raw_json": json.dumps({"event": "FLAGGED", "current_limit": "TIER_10K"})}
    assert ("number_stopped", A) in kinds(monitor.account_event(flagged, T0 + timedelta(seconds=1)))
    # account_update names only the display number: it is matched to the number's id.
    restricted = {"field": "account_update", "event": "ACCOUNT_RESTRICTION", "phone_number_id": None,
                  "reason": "RESTRICTED_BIZ_INITIATED_MESSAGING",
                  "raw_json": json.dumps({"phone_number": f"+91 90000 {B}"})}
    update = monitor.account_event(restricted, T0 + timedelta(seconds=2))
    assert ("number_stopped", B) in kinds(update)
    assert "RESTRICTED_BIZ_INITIATED_MESSAGING" in latest(monitor, B)["reason"]
    assert latest(monitor, S)["role"] == "PRIMARY"  # the spare covers the first stopped one


def test_a_number_meta_no_longer_lists_is_stopped() -> None:
    monitor = started()
    update = monitor.poll([snap(A), snap(S)], T0 + timedelta(seconds=5))
    assert latest(monitor, B)["role"] == "STOPPED" and latest(monitor, B)["status"] == "NOT_LISTED"
    assert ("number_stopped", B) in kinds(update)
    assert latest(monitor, S)["role"] == "SPARE"  # a number gone is not a gap to cover


def test_131048_is_a_portfolio_condition_not_a_number_stop() -> None:
    monitor = started()
    update = monitor.send_result({"phone_number_id": A, "outcome": "RETRYING", "error_code": 131048},
                                 T0 + timedelta(seconds=1))
    assert latest(monitor, A)["role"] == "PRIMARY"
    assert kinds(update) == [("portfolio_limit", "portfolio")]


def test_130429_lowers_the_allowed_rate_for_a_while() -> None:
    monitor = started()
    update = monitor.send_result({"phone_number_id": A, "outcome": "RETRYING", "error_code": 130429},
                                 T0 + timedelta(seconds=1))
    assert latest(monitor, A)["allowed_mps"] == 80.0 * POLICY.rate_factor
    assert ("throughput_exceeded", A) in kinds(update)
    monitor.tick(T0 + timedelta(seconds=1 + POLICY.rate_restore_s))
    assert latest(monitor, A)["allowed_mps"] == 80.0


def test_warmup_caps_rise_day_by_day_then_the_number_is_primary() -> None:
    caps = (100, 300, 900)
    fleet = Fleet(numbers={A: FleetEntry("WARMING", warmup_start=date(2026, 11, 26))})
    monitor = Monitor(fleet, HealthPolicy(warmup_caps=caps))
    seen = []
    for day in range(4):
        monitor.poll([snap(A)], datetime(2026, 11, 26, 1, 0, tzinfo=UTC) + timedelta(days=day))
        record = latest(monitor, A)
        seen.append((record["role"], record["warmup_day"], record["daily_cap"]))
    assert seen == [("WARMING", 1, 100), ("WARMING", 2, 300), ("WARMING", 3, 900),
                    ("PRIMARY", None, None)]


SIGNALS = st.lists(st.one_of(
    st.tuples(st.just("poll"), st.sampled_from([A, B]), st.sampled_from(["GREEN", "YELLOW", "RED"])),
    st.tuples(st.just("result"), st.sampled_from([A, B]),
              st.sampled_from([None, 131031, 130429, 131048, 131026, 131000])),
    st.tuples(st.just("tick"), st.just(A), st.just("")),
), max_size=40)


@settings(max_examples=60, deadline=None)
@given(signals=SIGNALS)
def test_invariants_under_any_signal_sequence(signals: list[tuple[str, str, object]]) -> None:
    """Whatever arrives: a number whose last poll said RED is STOPPED at 0 mps; a STOPPED number
    raised a number_stopped alert when it stopped; allowed never exceeds the nominal rate."""
    monitor = started()
    stopped_alerts: set[str] = set()
    at = T0
    for kind, pnid, value in signals:
        at += timedelta(seconds=7)
        if kind == "poll":
            update = fleet_poll(monitor, at, snap(pnid, str(value)))
        elif kind == "result":
            update = monitor.send_result(
                {"phone_number_id": pnid, "outcome": "FAILED", "error_code": value}, at)
        else:
            update = monitor.tick(at)
        stopped_alerts |= {a["subject"] for a in update.alerts if a["kind"] == "number_stopped"}
        for record in monitor.published.values():
            assert 0 <= record["allowed_mps"] <= record["nominal_mps"]
            if record["quality"] == "RED":
                assert record["role"] == "STOPPED" and record["allowed_mps"] == 0
            if record["role"] == "STOPPED":
                assert record["phone_number_id"] in stopped_alerts


def test_account_events_read_from_their_typed_fields_or_their_raw_json() -> None:
    """The gateway's parser fills display_phone_number and current_limit; older records have
    them only in raw_json: both steer the same way."""
    monitor = started()
    typed = {"field": "account_update", "event": "ACCOUNT_RESTRICTION", "phone_number_id": None,
             "display_phone_number": f"+91 90000 {A}", "reason": "X", "raw_json": "{}"}
    assert ("number_stopped", A) in kinds(monitor.account_event(typed, T0 + timedelta(seconds=1)))
    capability = {"field": "business_capability_update", "event": None, "phone_number_id": None,
                  "max_daily_conversations_per_business": "100000", "raw_json": "{}"}
    monitor.account_event(capability, T0 + timedelta(seconds=2))
    assert latest(monitor, B)["messaging_limit_tier"] == "TIER_100K"
    garbage = {"field": "account_update", "event": "ACCOUNT_RESTRICTION", "phone_number_id": None,
               "raw_json": "not json"}
    monitor.account_event(garbage, T0 + timedelta(seconds=3))  # names no number: the whole WABA
    assert latest(monitor, B)["role"] == "STOPPED"
