"""A number's pace: lowered after 130429 and recovered step by step, carried over to a new owner,
held below the rate by the headroom arrival jitter needs and by a hand-over reserve. A fake
clock, so nothing sleeps; the oracle is the rule in streams/rates.py's docstring."""

from __future__ import annotations

import math
import random

from streams.rates import DEFAULT_SPREAD_S, SIGMAS, NumberRate, NumberRates, PaceConfig

CONFIG = PaceConfig(recover_s=30.0, handover_s=2.0, in_flight=32)


def rate(clock: list[float], allowed: float = 80.0) -> NumberRate:
    return NumberRate("pn", allowed, clock=lambda: clock[0], config=CONFIG)


def test_a_130429_lowers_the_cap_which_climbs_back_a_tenth_every_recover_s() -> None:
    clock = [0.0]
    r = rate(clock)
    assert r.cap() == 80.0 and r.lowered() is None
    assert r.lower() == 64.0
    clock[0] += 29.9
    assert r.cap() == 64.0, "no step before recover_s"
    clock[0] += 0.1
    assert r.cap() == 72.0
    clock[0] += 30
    assert r.cap() == 80.0 and r.lowered() is None, "back at the allowed rate, never above"
    clock[0] += 300
    assert r.cap() == 80.0


def test_a_second_130429_while_recovering_lowers_from_where_it_is() -> None:
    clock = [0.0]
    r = rate(clock)
    r.lower()
    clock[0] += 30  # 72
    assert math.isclose(r.lower(), 72 * 0.8)


def test_a_new_owner_carries_on_from_the_stored_cap_and_its_age() -> None:
    clock = [1000.0]
    r = rate(clock)
    r.restore(40.0, age_s=65.0)  # lowered 65 s ago: two steps of 8 since
    assert r.cap() == 56.0
    fresh = rate(clock)
    fresh.restore(90.0, age_s=0)  # a stored cap above the allowed rate is ignored
    assert fresh.cap() == 80.0


def test_the_target_keeps_a_hand_over_reserve_then_only_the_jitter_headroom() -> None:
    clock = [0.0]
    r = rate(clock)
    first = r.target()
    assert first <= 80 - 32, "calls of the previous owner may still land"
    clock[0] += 2.0
    expected = 80 - math.ceil(SIGMAS * math.sqrt(80 * DEFAULT_SPREAD_S / 3))
    assert r.target() == expected < 80


def test_the_headroom_follows_the_measured_latency_spread() -> None:
    clock = [10.0]
    r = rate(clock)
    rng = random.Random(1)
    for _ in range(200):
        r.observe(0.1 + rng.random() * 0.01)  # a steady 100-110 ms
    steady = r.headroom(80)
    for _ in range(256):
        r.observe(0.1 + rng.random() * 0.6)  # 100-700 ms
    jittery = r.headroom(80)
    assert 1 <= steady < jittery
    assert 0.4 < r.spread_s() < 0.6


def test_every_agent_of_a_process_shares_one_rate_per_number() -> None:
    rates = NumberRates(lambda n: {"pn-a": 20.0}.get(n, 80.0))
    assert rates.get("pn-a") is rates.get("pn-a")
    assert rates.get("pn-a").allowed == 20.0 and rates.get("pn-b").allowed == 80.0


async def test_consent_replies_and_packs_share_one_limiter_per_number() -> None:
    """Packs through the rate's limiter and confirmations through the consent agent's wrapper,
    interleaved in one second of a fake clock: together never above the number's capacity."""
    from streams.consent.agent import limited

    clock = [100.0]
    rates = NumberRates(lambda _n: 20.0, clock=lambda: clock[0], config=PaceConfig(handover_s=0.0))
    rate = rates.get("pn-a")
    sent: list[float] = []

    async def send_text(number: str, to: str, body: str) -> None:
        sent.append(clock[0])

    reply = limited(rates, send_text)
    packs = 0
    for _ in range(1000):  # every millisecond for one second, a pack and a reply try to go
        if rate.limiter.try_acquire() == 0:  # what both await, without sleeping
            if packs > len(sent):  # the grants alternate between them
                await send_text("pn-a", "91", "ok")
            else:
                packs += 1
        clock[0] += 0.001
    assert packs + len(sent) <= rate.limiter.capacity <= 20
    assert sent, "replies got through too"
    clock[0] += 5.0
    await reply("pn-a", "91", "ok")  # the wrapper itself goes through the same limiter
    assert len(rate.limiter._grants) and rate.limiter._grants[-1] == clock[0]
