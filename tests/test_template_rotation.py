"""Choosing templates (issue 12): the sender's book rotating to backups, the scheduler's daily
primary and A/B arms."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from producers.scheduler.template_choice import ab_arm, pick
from store.templates import TemplateRow
from streams.rotation import Choice, TemplateBook

T0 = datetime(2026, 11, 23, 0, 30, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def intent(name: str = "a", backups: tuple[str, ...] = ("b", "c")) -> dict:
    return {"delivery_id": "d1", "attempt": 1, "template_name": name, "template_language": "en",
            "template_backups": [{"template_name": b, "template_language": "en"} for b in backups]}


def row(name: str, status: str = "APPROVED", quality: str = "GREEN", at: datetime = T0) -> TemplateRow:
    return TemplateRow(name, "en", status, at, quality=quality)


def test_a_paused_template_rotates_to_the_next_approved_backup_and_later_intents_skip_it() -> None:
    clock = Clock()
    book = TemplateBook(clock)
    book.replace([row("a"), row("b", "PENDING"), row("c")])
    rotated = book.rotate(intent(), 132015)
    assert rotated is not None and rotated["template_name"] == "c"  # b is not approved yet
    assert rotated["delivery_id"] == "d1"
    assert book.resolve(intent())["template_name"] == "c"


def test_red_and_missing_templates_are_skipped_before_the_call() -> None:
    book = TemplateBook(Clock())
    book.replace([row("a", quality="RED"), row("b"), row("c")])
    assert book.resolve(intent())["template_name"] == "b"
    book.rotate(intent("b"), 132001)  # missing in this language
    assert book.resolve(intent())["template_name"] == "c"


def test_no_backup_left_means_no_rotation() -> None:
    book = TemplateBook(Clock())
    assert book.rotate(intent(backups=()), 132016) is None
    assert book.resolve(intent(backups=()))["template_name"] == "a"  # nothing better known


def test_an_error_outlives_a_stale_approved_row_until_a_newer_unpause() -> None:
    clock = Clock()
    book = TemplateBook(clock)
    book.replace([row("a", at=T0 - timedelta(hours=1))])
    clock.now = T0 + timedelta(minutes=1)
    book.rotate(intent(), 132015)
    book.replace([row("a", at=T0 - timedelta(hours=1))])  # a refresh from before the pause
    assert book.resolve(intent())["template_name"] == "b"
    book.replace([row("a", at=T0 + timedelta(hours=3))])  # reinstated after our error
    assert book.resolve(intent())["template_name"] == "a"


def test_unknown_templates_are_tried() -> None:
    book = TemplateBook(Clock())
    assert book.usable(Choice("never-heard-of", "en"))


VARIANT = {"language": "EN", "template_name": "p", "template_language": "en",
           "backups": [{"template_name": "q", "template_language": "en"},
                       {"template_name": "r", "template_language": "en"}]}


def test_primaries_rotate_across_days_among_approved_warmed_templates() -> None:
    approved = {("p", "en"), ("q", "en"), ("r", "en")}
    days = [date(2026, 11, 23) + timedelta(days=k) for k in range(6)]
    firsts = [pick(VARIANT, advisor_id="x", pack_id="k", run_date=d, approved=approved,
                   warmed=approved).template_name for d in days]
    assert Counter(firsts) == {"p": 2, "q": 2, "r": 2}
    one = pick(VARIANT, advisor_id="x", pack_id="k", run_date=days[0], approved=approved, warmed=approved)
    assert [b["template_name"] for b in one.backups] == sorted({"p", "q", "r"} - {one.template_name})
    # a paced (new) template is not chosen as primary while a warmed one exists; an unapproved never
    warmed_only = [pick(VARIANT, advisor_id="x", pack_id="k", run_date=d, approved={("p", "en"), ("q", "en")},
                        warmed={("q", "en")}).template_name for d in days]
    assert set(warmed_only) == {"q"}


@given(st.lists(st.text(min_size=1, max_size=12), min_size=1, max_size=50, unique=True))
def test_ab_assignment_is_deterministic_per_advisor(advisors: list[str]) -> None:
    arms = [{"arm": "A", "template_name": "p", "template_language": "en", "weight": 1},
            {"arm": "B", "template_name": "q", "template_language": "en", "weight": 1}]
    first = [ab_arm(arms, a, "pack")["arm"] for a in advisors]
    assert first == [ab_arm(arms, a, "pack")["arm"] for a in advisors]


def test_ab_split_follows_the_weights() -> None:
    arms = [{"arm": "A", "template_name": "p", "template_language": "en", "weight": 3},
            {"arm": "B", "template_name": "q", "template_language": "en", "weight": 1}]
    counts = Counter(ab_arm(arms, f"adv-{i}", "pack")["arm"] for i in range(8000))
    assert abs(counts["A"] / 8000 - 0.75) < 0.02
    variant = {**VARIANT, "ab_variants": arms}
    chosen = pick(variant, advisor_id="adv-1", pack_id="pack", run_date=date(2026, 11, 23),
                  approved=None, warmed=None)
    assert chosen.ab_arm in ("A", "B")
    assert chosen.template_name == {"A": "p", "B": "q"}[chosen.ab_arm]
