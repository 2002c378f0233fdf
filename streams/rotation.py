"""Template rotation mid-morning: which template an intent goes out with, given what is known now.

A pack names, per language, a primary and ordered backups; the scheduler copies them onto every
intent (``template_name``/``template_language`` and ``template_backups``). When the template is
paused or disabled (132015/132016), missing in the language (132001) or rated RED, the remaining
intents and the one that just failed go out with the next usable backup, under the same delivery
id (the ledger still lets one attempt per delivery be accepted). The sender asks
:class:`TemplateBook` twice: before a call (:meth:`TemplateBook.resolve`: skip a template already
known to be unusable) and after a template error (:meth:`TemplateBook.rotate`: learn it, and pick
the next). Knowledge comes from the templates agent's states in PostgreSQL, refreshed every few
seconds, and from the worker's own errors, which are faster than any webhook.

Shared at the package top because the sender (which rotates) and the templates agent (which keeps
the states) are separate capabilities.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg_pool import AsyncConnectionPool

from store.templates import TemplateRow, load_all

log = logging.getLogger("dawn.rotation")

REFRESH_S = 2.0


@dataclass(frozen=True, slots=True)
class Choice:
    template_name: str
    template_language: str


def candidates(intent: dict[str, Any]) -> list[Choice]:
    """The pack's templates for this intent's variant in rotation order: the one it carries first,
    then its backups (without repeats)."""
    ordered = [Choice(intent["template_name"], intent["template_language"])]
    ordered += [Choice(b["template_name"], b["template_language"])
                for b in intent.get("template_backups") or ()]
    return list(dict.fromkeys(ordered))


def choose(options: Sequence[Choice], usable: Callable[[Choice], bool]) -> Choice | None:
    """The first usable template of ``options``, or None when none is."""
    return next((c for c in options if usable(c)), None)


def with_template(intent: dict[str, Any], choice: Choice) -> dict[str, Any]:
    return {**intent, "template_name": choice.template_name,
            "template_language": choice.template_language}


class TemplateBook:
    """What this worker knows about templates: the agent's states plus the errors it met itself.

    An error mark stays until the templates agent reports the template sendable on evidence newer
    than the error (an unpause after the pause), so a stale APPROVED row read before the pause
    webhook arrived does not send the rest of the morning into 132015s again.
    """

    def __init__(self, now: Callable[[], datetime]) -> None:
        self._now = now
        self._states: dict[Choice, TemplateRow] = {}
        self._failed: dict[Choice, tuple[int | None, datetime]] = {}

    def replace(self, rows: Iterable[TemplateRow]) -> None:
        self._states = {Choice(r.name, r.language): r for r in rows}

    def usable(self, choice: Choice) -> bool:
        row = self._states.get(choice)
        failed = self._failed.get(choice)
        if failed is not None:
            if row is None or not row.sendable or row.status_at <= failed[1]:
                return False
            del self._failed[choice]  # reinstated since our error
        return row is None or row.sendable  # unknown to the agent: Meta decides

    def category(self, intent: dict[str, Any]) -> str | None:
        """The current category of the intent's template, as the templates agent last saw it."""
        row = self._states.get(Choice(intent["template_name"], intent["template_language"]))
        return row.category if row is not None else None

    def failed(self, choice: Choice, code: int | None) -> None:
        if choice not in self._failed:
            log.warning("template %s (%s) failed with %s: rotating to backups",
                        choice.template_name, choice.template_language, code)
            self._failed[choice] = (code, self._now())

    def resolve(self, intent: dict[str, Any]) -> dict[str, Any]:
        """``intent`` as it should go out now: with the first usable template from the one it
        carries on; unchanged when that one is usable or nothing better is known."""
        choice = choose(candidates(intent), self.usable)
        if choice is None or choice == Choice(intent["template_name"], intent["template_language"]):
            return intent
        return with_template(intent, choice)

    def rotate(self, intent: dict[str, Any], code: int | None) -> dict[str, Any] | None:
        """After a template error on ``intent``: the intent with the next usable backup, or None
        when the pack has none left (the send then fails as it would without backups)."""
        self.failed(Choice(intent["template_name"], intent["template_language"]), code)
        choice = choose(candidates(intent), self.usable)
        return None if choice is None else with_template(intent, choice)

    async def refresh_forever(self, pool: AsyncConnectionPool, every_s: float = REFRESH_S) -> None:
        """Reload the agent's states every ``every_s`` seconds until cancelled."""
        while True:
            try:
                async with pool.connection() as conn:
                    self.replace(await load_all(conn))
            except asyncio.CancelledError:
                raise
            except Exception as error:  # keep the last states; the sender's own errors still count
                log.debug("template states not refreshed: %s", error)
            await asyncio.sleep(every_s)
