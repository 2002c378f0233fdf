"""The sandbox's quality model: ratings follow the recent block share, the business is told what
Meta would tell it, and a number left RED is restricted. Driven on a manual clock."""

from __future__ import annotations

import random
from types import SimpleNamespace

from sandbox.config import NumberConfig, QualityModelConfig
from sandbox.quality import QualityModel
from sandbox.scheduler import Scheduler

CONFIG = QualityModelConfig(window_s=10.0, min_sends=50, yellow_at=0.1, red_at=0.4,
                            restrict_after_s=30.0)


def model(rates: dict[str, float]) -> tuple[QualityModel, list, list, Scheduler]:
    clock = [0.0]
    sent: list[tuple[str, dict]] = []
    scheduler = Scheduler()
    m = QualityModel(CONFIG, lambda: clock[0], random.Random(7), lambda name: rates.get(name, 0.0),
                     lambda field, value: sent.append((field, value)), scheduler.at)
    return m, sent, clock, scheduler


def send(m: QualityModel, clock: list, scheduler: Scheduler, number, template, n: int,
         per_s: float = 10.0) -> None:
    for _ in range(n):
        clock[0] += 1 / per_s
        scheduler.run_due(clock[0])
        m.observe(number, template, clock[0])


def test_blocks_lower_the_rating_then_a_quiet_window_restores_it() -> None:
    rates = {"t": 0.2}
    m, sent, clock, scheduler = model(rates)
    number = NumberConfig("n1", "+91 90000 00001")
    template = SimpleNamespace(name="t", language="en", id="77", quality="GREEN")
    send(m, clock, scheduler, number, template, 100)
    assert number.quality == "YELLOW" and template.quality == "YELLOW"
    changes = [v for f, v in sent if f == "message_template_quality_update"]
    assert changes and changes[-1]["new_quality_score"] == "YELLOW"
    assert changes[-1]["message_template_id"] == 77 and changes[-1]["message_template_name"] == "t"
    assert not [f for f, _ in sent if f == "phone_number_quality_update"]  # YELLOW: poll only
    rates["t"] = 0.0  # recipients stop blocking
    send(m, clock, scheduler, number, template, 150)
    assert number.quality == "GREEN" and template.quality == "GREEN"


def test_red_flags_the_number_and_left_red_it_is_restricted() -> None:
    m, sent, clock, scheduler = model({"t": 0.6})
    number = NumberConfig("n1", "+91 90000 00001")
    template = SimpleNamespace(name="t", language="en", id="77", quality="GREEN")
    send(m, clock, scheduler, number, template, 60)
    assert number.quality == "RED" and number.status == "CONNECTED"
    assert ("phone_number_quality_update", {"display_phone_number": "+91 90000 00001",
                                            "event": "FLAGGED", "current_limit": "TIER_10K"}) in sent
    send(m, clock, scheduler, number, template, int(CONFIG.restrict_after_s * 10) + 10)  # still bad
    assert number.status == "RESTRICTED"
    assert [v["event"] for f, v in sent if f == "account_update"] == ["ACCOUNT_RESTRICTION"]


def test_no_blocks_no_change_and_no_scheduled_work() -> None:
    m, sent, clock, scheduler = model({})
    number = NumberConfig("n1", "+91 90000 00001")
    template = SimpleNamespace(name="t", language="en", id="77", quality="GREEN")
    send(m, clock, scheduler, number, template, 200)
    assert number.quality == "GREEN" and sent == [] and scheduler.next_due() is None


def test_a_rating_set_by_a_fault_is_not_undone_without_blocks() -> None:
    m, sent, clock, scheduler = model({})
    number = NumberConfig("n1", "+91 90000 00001", quality="RED")  # a fault event set it
    template = SimpleNamespace(name="t", language="en", id="77", quality="RED")  # a pause set it
    send(m, clock, scheduler, number, template, 100)
    assert number.quality == "RED" and template.quality == "RED" and sent == []
