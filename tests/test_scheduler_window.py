"""The morning window in UTC from an IST date, and the compressed window of ``dawn run``."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

import pytest

from producers.scheduler.send_times import spread_send_times
from producers.scheduler.window import Window, plan_at


def test_ist_window_from_a_date_is_the_right_utc_instants():
    w = Window.for_date(date(2026, 11, 23))
    assert w.start == datetime(2026, 11, 23, 0, 29, 30, tzinfo=UTC)
    assert w.end == datetime(2026, 11, 23, 0, 34, 30, tzinfo=UTC)
    assert w.deadline == datetime(2026, 11, 23, 0, 35, 0, tzinfo=UTC)
    assert w.seconds == 300 and w.run_date() == date(2026, 11, 23)
    assert plan_at(date(2026, 11, 23)) == datetime(2026, 11, 23, 0, 29, 0, tzinfo=UTC)


def test_compressed_window_scales_the_grace():
    now = datetime(2026, 11, 22, 20, 0, tzinfo=UTC)  # 01:30 IST on the 23rd
    w = Window.compressed(now, 120)
    assert (w.start, w.end, w.deadline) == (now, now + timedelta(seconds=120), now + timedelta(seconds=132))
    assert w.run_date() == date(2026, 11, 23)


def test_window_refuses_naive_or_inverted_instants():
    with pytest.raises(ValueError, match="timezone-aware"):
        Window(datetime(2026, 1, 1), datetime(2026, 1, 2), datetime(2026, 1, 3))
    now = datetime(2026, 1, 1, tzinfo=UTC)
    with pytest.raises(ValueError, match="start < end"):
        Window(now, now, now)
    with pytest.raises(ValueError):
        Window.compressed(now, 0)


def test_spread_refuses_more_than_fits_and_is_seeded():
    start = datetime(2026, 1, 1, tzinfo=UTC)
    with pytest.raises(ValueError, match="do not fit"):
        spread_send_times(11, 5, 2, start, random.Random(1))
    assert spread_send_times(7, 5, 2, start, random.Random(3)) == \
        spread_send_times(7, 5, 2, start, random.Random(3))
