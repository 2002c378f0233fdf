"""The sandbox's quality model: recipients block or report, and ratings follow.

Meta rates a number (and each template) by how its recent recipients react: blocks and reports
lower it, a quiet stretch restores it. Here each accepted template send is blocked with the
probability ``faults.block_rate_by_template[template]`` (else ``faults.block_rate``); a number's
and a template's rating is their block share over the last ``quality.window_s`` seconds, against
``yellow_at`` and ``red_at``, once ``min_sends`` sends are in the window (a window with no block
at all is GREEN whatever its size). A rating the model did not set (a fault event, a template
pause) is left alone while there are no blocks to judge by. The sandbox then tells the business
what Meta would:

- a number reaching RED: ``phone_number_quality_update`` FLAGGED (UNFLAGGED when it leaves RED);
  YELLOW shows only in the Graph API fields, as with Meta, whose webhook no longer carries it;
- a template's rating changing: ``message_template_quality_update``;
- a number left RED for ``restrict_after_s``: RESTRICTED, with an ``account_update``.

Blocks are counted by the number that sent and the template sent; nothing else in the sandbox
changes because of them (the message itself is accepted and delivered as usual).
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sandbox.config import NumberConfig, QualityModelConfig

RANK = {"RED": 0, "YELLOW": 1, "GREEN": 2, "UNKNOWN": 2}


@dataclass
class Window:
    """(time, blocked) of recent sends, oldest first."""

    sends: deque[tuple[float, bool]] = field(default_factory=deque)
    blocked: int = 0

    def add(self, at: float, blocked: bool) -> None:
        self.sends.append((at, blocked))
        self.blocked += blocked

    def trim(self, since: float) -> None:
        while self.sends and self.sends[0][0] < since:
            _, blocked = self.sends.popleft()
            self.blocked -= blocked


class QualityModel:
    """Block counting and the ratings it drives. ``block_rate(template name)`` reads the fault
    profile in force; ``emit(field, value)`` sends a WABA webhook; ``at(when, action)`` schedules
    a check on the sandbox's scheduler."""

    def __init__(self, config: QualityModelConfig, clock: Callable[[], float], rng: random.Random,
                 block_rate: Callable[[str], float], emit: Callable[[str, dict[str, Any]], None],
                 at: Callable[[float, Callable[[], None]], None]) -> None:
        self.config = config
        self._clock = clock
        self._rng = rng
        self._block_rate = block_rate
        self._emit = emit
        self._at = at
        self._numbers: dict[str, Window] = {}
        self._templates: dict[tuple[str, str], Window] = {}
        #: the rating the model last gave each number id / (template, language)
        self._given: dict[Any, str] = {}
        self.blocks = 0

    def observe(self, number: NumberConfig, template: Any, now: float) -> None:
        """One accepted template send from ``number``: does its recipient block it?"""
        rate = self._block_rate(template.name)
        blocked = rate > 0 and self._rng.random() < rate
        self.blocks += blocked
        self._numbers.setdefault(number.id, Window()).add(now, blocked)
        key = (template.name, template.language)
        self._templates.setdefault(key, Window()).add(now, blocked)
        self.rate_number(number, now)
        self.rate_template(template, now)
        if blocked:  # ratings recover as blocks leave the window: look again once this one has
            self._at(now + self.config.window_s + 0.001, lambda: self._recheck(number, template))

    def _recheck(self, number: NumberConfig, template: Any) -> None:
        now = self._clock()
        self.rate_number(number, now)
        self.rate_template(template, now)

    def rating(self, window: Window, now: float, current: str, given: str | None) -> str:
        window.trim(now - self.config.window_s)
        if window.blocked == 0:
            return "GREEN" if current == given else current
        if len(window.sends) < self.config.min_sends:
            return current
        share = window.blocked / len(window.sends)
        if share >= self.config.red_at:
            return "RED"
        return "YELLOW" if share >= self.config.yellow_at else "GREEN"

    def rate_number(self, number: NumberConfig, now: float) -> None:
        window = self._numbers.get(number.id)
        if window is None:
            return
        old = number.quality
        new = self.rating(window, now, old, self._given.get(number.id))
        if new == old:
            return
        number.quality = self._given[number.id] = new
        if new == "RED":
            self._emit("phone_number_quality_update", {
                "display_phone_number": number.display_phone_number, "event": "FLAGGED",
                "current_limit": "TIER_10K"})
            self._at(now + self.config.restrict_after_s, lambda: self._restrict_if_red(number))
        elif old == "RED":
            self._emit("phone_number_quality_update", {
                "display_phone_number": number.display_phone_number, "event": "UNFLAGGED",
                "current_limit": "TIER_10K"})

    def _restrict_if_red(self, number: NumberConfig) -> None:
        if number.quality == "RED" and number.status == "CONNECTED":
            number.status = "RESTRICTED"
            self._emit("account_update", {
                "phone_number": number.display_phone_number, "event": "ACCOUNT_RESTRICTION",
                "restriction_info": [{"restriction_type": "RESTRICTED_BIZ_INITIATED_MESSAGING",
                                      "expiration": int(self._clock() + 24 * 3600)}]})

    def rate_template(self, template: Any, now: float) -> None:
        window = self._templates.get((template.name, template.language))
        if window is None:
            return
        key = (template.name, template.language)
        old = template.quality
        new = self.rating(window, now, old, self._given.get(key))
        if new == old:
            return
        template.quality = self._given[key] = new
        self._emit("message_template_quality_update", {
            "previous_quality_score": old, "new_quality_score": new,
            "message_template_id": int(template.id), "message_template_name": template.name,
            "message_template_language": template.language})
