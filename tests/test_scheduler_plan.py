"""Properties of the scheduler's pure planning core: ids, assignment, languages, send times."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from dawn import cli
from producers.scheduler.assignment import SenderNumber
from producers.scheduler.capacity import PlanPolicy, numbers_needed, tier_needed
from producers.scheduler.plan import delivery_id, plan_morning
from producers.scheduler.window import Window

RUN_DATE = date(2026, 11, 23)
WINDOW = Window.for_date(RUN_DATE)
CREATED = datetime(2026, 11, 23, 0, 29, tzinfo=UTC)
SHA = "ab" * 32


@dataclass(frozen=True)
class Adv:
    advisor_id: str
    name: str
    language: str
    sticky_sender: str | None
    phone: str | None = None
    user_id: str | None = "u"


def pack(pack_id: str, languages: tuple[str, ...] = ("EN", "HI", "MR")) -> dict:
    return {
        "pack_id": pack_id, "approval_id": f"ap-{pack_id}", "run_date": RUN_DATE,
        "variants": [{"language": lang, "template_name": f"t_{pack_id}", "template_language":
                      lang.lower(), "image_url": "file:///x.png", "image_sha256": SHA}
                     for lang in languages],
    }


numbers_st = st.lists(
    st.builds(SenderNumber, st.sampled_from(["pn-a", "pn-b", "pn-c", "pn-d"]),
              st.floats(min_value=1, max_value=100)),
    min_size=1, max_size=4, unique_by=lambda n: n.phone_number_id,
)


@st.composite
def morning(draw):
    numbers = draw(numbers_st)
    window = Window.compressed(WINDOW.start, draw(st.floats(min_value=5, max_value=300)))
    n = draw(st.integers(min_value=0, max_value=120))
    stickies = [None, "pn-gone"] + [x.phone_number_id for x in numbers]
    advisors = [
        Adv(f"adv-{i:04d}", f"Name {i}", draw(st.sampled_from(["EN", "HI", "MR"])),
            draw(st.sampled_from(stickies)))
        for i in range(n)
    ]
    packs = [pack("p1", draw(st.sampled_from([("EN",), ("EN", "HI"), ("EN", "HI", "MR")])))]
    if draw(st.booleans()):
        packs.append(pack("p2"))
    return window, numbers, advisors, packs


def _plan(window, numbers, advisors, packs, **kw):
    return plan_morning(window=window, packs=packs, advisors=advisors, numbers=numbers,
                        created_at=CREATED, **kw)


@settings(max_examples=60, deadline=None)
@given(morning(), st.randoms(use_true_random=False))
def test_same_inputs_same_plan_whatever_the_order(m, rnd):
    window, numbers, advisors, packs = m
    shuffled = list(advisors)
    rnd.shuffle(shuffled)
    first = _plan(window, numbers, advisors, packs)
    second = _plan(window, list(reversed(numbers)), shuffled, packs)
    assert first.intents == second.intents
    assert len({i["delivery_id"] for i in first.intents}) == len(first.intents)


@settings(max_examples=60, deadline=None)
@given(morning())
def test_each_advisor_once_per_pack_within_capacity_and_rate(m):
    window, numbers, advisors, packs = m
    policy = PlanPolicy()
    plan = _plan(window, numbers, advisors, packs)
    s = plan.summary
    per_pair = Counter((i["advisor_id"], i["pack_id"]) for i in plan.intents)
    assert all(c == 1 for c in per_pair.values())
    placed = {i["advisor_id"] for i in plan.intents}
    assert len(placed) + s.unassigned == len(advisors)
    if s.unassigned == 0:
        assert set(per_pair) == {(a.advisor_id, p["pack_id"]) for a in advisors for p in packs}
    rate = {n.phone_number_id: n.allowed_mps for n in numbers}
    cutoff = window.start + timedelta(seconds=policy.first_attempt_seconds(window))
    per_second = Counter()
    for i in plan.intents:
        assert window.start <= i["send_at"] < cutoff <= window.end
        assert i["deadline"] == window.deadline
        assert i["params"] == {"advisor_name": next(a.name for a in advisors
                                                      if a.advisor_id == i["advisor_id"])}
        second = int((i["send_at"] - window.start).total_seconds())
        per_second[(i["phone_number_id"], second)] += 1
    for (pnid, _), count in per_second.items():
        assert count <= policy.per_second(rate[pnid]) <= rate[pnid]
    for load in s.numbers:
        assert load.planned <= load.capacity
    times = [i["send_at"] for i in plan.intents]
    assert times == sorted(times)  # so every partition, whichever numbers share it, is in order
    if len(packs) == 2:  # one advisor's two messages are a whole sub-window apart (pair rate)
        gap = timedelta(seconds=policy.first_attempt_seconds(window) // 2)
        times = {(i["advisor_id"], i["pack_id"]): i["send_at"] for i in plan.intents}
        for a in placed:
            assert times[(a, "p2")] - times[(a, "p1")] == gap


@settings(max_examples=60, deadline=None)
@given(morning())
def test_sticky_sender_kept_when_healthy_and_room(m):
    window, numbers, advisors, packs = m
    plan = _plan(window, numbers, advisors, packs)
    capacity = {n.phone_number_id: n.capacity for n in plan.summary.numbers}
    sticky_load = Counter(a.sticky_sender for a in advisors)
    got = {i["advisor_id"]: i["phone_number_id"] for i in plan.intents}
    for a in advisors:
        if a.sticky_sender in capacity and sticky_load[a.sticky_sender] <= capacity[a.sticky_sender]:
            assert got[a.advisor_id] == a.sticky_sender
            assert a.advisor_id not in plan.sticky_updates
        elif a.advisor_id in got:  # moved only off a full or unhealthy number; the move is recorded
            assert plan.sticky_updates.get(a.advisor_id, a.sticky_sender) == got[a.advisor_id]
            if got[a.advisor_id] != a.sticky_sender and a.sticky_sender in capacity:
                assert Counter(got.values())[a.sticky_sender] == capacity[a.sticky_sender]


def test_rerun_adds_no_ids_and_new_advisor_adds_exactly_one():
    numbers = [SenderNumber("pn-a", 80)]
    advisors = [Adv(f"adv-{i}", f"N{i}", "HI", None) for i in range(50)]
    first = _plan(WINDOW, numbers, advisors, [pack("p1")])
    again = _plan(WINDOW, numbers, advisors, [pack("p1")])
    more = _plan(WINDOW, numbers, [*advisors, Adv("adv-new", "New", "EN", None)], [pack("p1")])
    ids = {i["delivery_id"] for i in first.intents}
    assert ids == {i["delivery_id"] for i in again.intents}
    assert {i["delivery_id"] for i in more.intents} - ids == {delivery_id("adv-new", "p1", RUN_DATE)}
    assert delivery_id("adv-1", "p1", RUN_DATE) != delivery_id("adv-1", "p1", RUN_DATE + timedelta(1))


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(["EN", "HI", "MR"]), st.sampled_from([("EN",), ("EN", "HI"), ("EN", "HI", "MR")]),
       st.sets(st.sampled_from([("t_p1", "en"), ("t_p1", "hi"), ("t_p1", "mr")])))
def test_language_variant_or_english_fallback(language, languages, approved):
    plan = _plan(WINDOW, [SenderNumber("pn-a", 80)], [Adv("a", "Asha", language, None)],
                 [pack("p1", languages)], approved=approved)
    own_ok = language in languages and ("t_p1", language.lower()) in approved
    en_ok = ("t_p1", "en") in approved
    if own_ok:
        expected = language
    elif en_ok:
        expected = "EN"
    else:
        assert plan.intents == [] and plan.summary.unsendable == 1
        return
    [intent] = plan.intents
    assert (intent["language"], intent["template_language"]) == (expected, expected.lower())
    assert plan.summary.fallbacks == (expected != language)


def test_capacity_numbers_and_tier_for_the_ambition():
    policy = PlanPolicy()
    assert numbers_needed(100_000, 80, WINDOW, policy) == math.ceil(100_000 / (80 * 300 * policy.utilisation))
    assert numbers_needed(100_000, 80, WINDOW, policy) == 6
    plan = _plan(WINDOW, [SenderNumber(f"pn-{k}", 80) for k in range(3)],
                 [Adv(f"a{i:06d}", "n", "EN", None) for i in range(60_000)], [pack("p1")],
                 tier="TIER_10K")
    s = plan.summary
    assert not s.ok and s.unassigned == 60_000 - 3 * 17_280 and s.numbers_needed == 4
    assert any("add 1 healthy sender number" in p for p in s.problems)
    assert any("TIER_10K" in p and "TIER_100K" in p for p in s.problems)
    assert [tier_needed(n) for n in (250, 251, 2_000, 10_001, 100_001)] == \
        ["TIER_250", "TIER_2K", "TIER_2K", "TIER_100K", "TIER_UNLIMITED"]


def test_no_healthy_number_is_a_problem_not_a_crash():
    plan = _plan(WINDOW, [], [Adv("a", "Asha", "EN", None)], [pack("p1")])
    assert plan.intents == [] and plan.summary.unassigned == 1 and not plan.summary.ok


def test_dawn_plan_prints_the_numbers_and_tier_needed(capsys):
    assert cli.main(["plan", "--advisors", "100000", "--numbers", "3", "--tier", "TIER_10K"]) == 1
    out = " ".join(capsys.readouterr().out.split())
    assert "numbers needed at 80 mps: 6" in out and "needed: TIER_100K" in out
    assert "17280" in out and "add 3 healthy sender number(s)" in out
    assert cli.main(["plan", "--advisors", "2000", "--numbers", "3", "--window", "120"]) == 0
    assert "plan fits" in capsys.readouterr().out


def test_the_tier_counts_the_rolling_24_h_across_all_numbers():
    """Unique recipients of the last 24 h who are not planned today still use the portfolio's
    limit: 200 today + 60 others yesterday evening do not fit TIER_250, 200 + 50 do; an advisor
    messaged yesterday and planned again today counts once."""
    advisors = [Adv(f"a{i:03d}", "n", "EN", None) for i in range(200)]
    numbers = [SenderNumber("pn-a", 80), SenderNumber("pn-b", 80, "SPARE", 100)]
    others = [f"b{i:03d}" for i in range(60)]
    refused = _plan(WINDOW, numbers, advisors, [pack("p1")], tier="TIER_250",
                    recent_recipients=others)
    assert refused.summary.recent_recipients == 60 and refused.summary.tier_needed == "TIER_2K"
    assert any("60 others were messaged in the last 24 h" in p for p in refused.summary.problems)
    fits = _plan(WINDOW, numbers, advisors, [pack("p1")], tier="TIER_250",
                 recent_recipients=others[:50] + [a.advisor_id for a in advisors])
    assert fits.summary.ok and fits.summary.recent_recipients == 50
    spare = next(n for n in fits.summary.numbers if n.role == "SPARE")
    assert spare.planned <= 100 and spare.daily_cap == 100  # a spare's small daily share
