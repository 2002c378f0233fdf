"""Which business number a display number is: ``phone_number_quality_update`` names only the
display number, while the fleet (health, limits, the sender) is keyed by ``phone_number_id``.

The directory is the WABA's own list, ``GET /{waba_id}/phone_numbers`` (the Graph API and the
sandbox both serve it), read when the gateway starts and again every ``refresh_s``, plus any
mapping the gateway is configured with (which wins). The webhook path only reads a dict: a Graph
outage never delays an acknowledgement, it leaves the id of a number added since the last read
unresolved (null in the record, the display number and the raw JSON still there).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping

from whatsapp.client import CloudApiClient

log = logging.getLogger("dawn.gateway")

#: Returns display number (digits) -> phone_number_id for the whole WABA.
Fetch = Callable[[], Awaitable[Mapping[str, str]]]

REFRESH_S = 600.0
RETRY_S = 30.0


def digits(phone: str | None) -> str | None:
    """A display number as digits only: "+1 555-078-3881" and "15550783881" are one number."""
    if not phone:
        return None
    only = "".join(ch for ch in phone if ch.isdigit())
    return only or None


def graph_fetch(client: CloudApiClient, waba_id: str) -> Fetch:
    """The WABA's numbers from the Graph API, as a directory."""

    async def fetch() -> Mapping[str, str]:
        numbers = await client.list_phone_numbers(waba_id)
        return {d: n.id for n in numbers if (d := digits(n.display_phone_number))}

    return fetch


class NumberDirectory:
    """display digits -> phone_number_id, configured entries over fetched ones."""

    def __init__(self, configured: Mapping[str, str] | None = None, fetch: Fetch | None = None,
                 refresh_s: float = REFRESH_S) -> None:
        self._configured = {d: v for k, v in (configured or {}).items() if (d := digits(k))}
        self._fetch = fetch
        self._refresh_s = refresh_s
        self.mapping: dict[str, str] = dict(self._configured)

    async def refresh(self) -> bool:
        """Read the WABA's numbers once; False (mapping kept) when the read failed."""
        if self._fetch is None:
            return False
        try:
            fetched = await self._fetch()
        except Exception as exc:  # any Graph failure: keep what we had, try again later
            log.warning("number directory not refreshed: %s", type(exc).__name__)
            return False
        self.mapping = {**fetched, **self._configured}
        return True

    async def run(self) -> None:
        """Refresh for ever (a background task of the gateway), sooner after a failure."""
        while self._fetch is not None:
            ok = await self.refresh()
            await asyncio.sleep(self._refresh_s if ok else min(RETRY_S, self._refresh_s))
