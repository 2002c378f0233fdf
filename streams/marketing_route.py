"""Which edge a template send takes: ``/messages`` or the Marketing Messages API.

With the setting ``DAWN_MARKETING_MESSAGES=auto`` (sender option ``marketing_messages``), templates
whose current category is MARKETING go through ``/{phone-number-id}/marketing_messages`` (Meta's
delivery optimisation and the template's time-to-live); everything else, and everything when the
setting is ``off``, through ``/messages``. The category is the templates agent's, so a template
Meta recategorises takes its new category's route from the next refresh on.

Falling back is safe only when the marketing edge certainly did not take the message: a definitive
4xx saying the edge is not available to this business (Graph 100 "unsupported request", or a
permission error) makes the same claim go out at once through ``/messages`` and keeps the number
on ``/messages`` for :data:`RECHECK`; a 131009 saying the template is not MARKETING (recategorised
before our refresh) sends that one message through ``/messages``. A timeout or a 5xx is never a
reason to resend elsewhere: Meta may have the message (the usual reconcile path applies).

Shared at the package top: the sender uses it, and it depends on nothing of the sender's.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from whatsapp.client import CloudApiError

log = logging.getLogger("dawn.sender")

MODES = ("off", "auto")
#: Graph errors meaning "this business may not use this edge": unsupported request, permissions.
#: Meta documents no single code for a business that has not accepted the API's terms; these are
#: Graph's generic answers for an edge or a permission the caller does not have.
UNAVAILABLE_CODES = frozenset({100, 3, 10, *range(200, 300)})
NOT_MARKETING = 131009
RECHECK = timedelta(hours=1)


class MarketingRoute:
    def __init__(self, mode: str, now: Callable[[], datetime]) -> None:
        if mode not in MODES:
            raise ValueError(f"marketing_messages must be one of {', '.join(MODES)}, not {mode!r}")
        self._mode = mode
        self._now = now
        self._unavailable_until: dict[str, datetime] = {}

    def use(self, phone_number_id: str, category: str | None) -> bool:
        """Send this template from this number through the Marketing Messages API?"""
        if self._mode != "auto" or category != "MARKETING":
            return False
        until = self._unavailable_until.get(phone_number_id)
        return until is None or self._now() >= until

    def fall_back(self, phone_number_id: str, error: CloudApiError) -> bool:
        """After ``error`` on the marketing edge: True when the message was certainly not taken
        and should go out through ``/messages`` now."""
        if error.maybe_sent or error.http_status is None or error.http_status >= 500:
            return False
        if error.code in UNAVAILABLE_CODES:
            if phone_number_id not in self._unavailable_until:
                log.warning("Marketing Messages API not available to %s (%s); sending through "
                            "/messages", phone_number_id, error)
            self._unavailable_until[phone_number_id] = self._now() + RECHECK
            return True
        return error.code == NOT_MARKETING
