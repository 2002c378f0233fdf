"""The sandbox's ground truth: every message it accepted and what became of it, plus counters.

Tests and ``dawn run`` read it to prove the pipeline's guarantees from the outside: a pack sent
twice shows up as a duplicate here even when the sender's own records say otherwise, and a burst
above a number's rate shows up as 130429s and as the peak messages per second.

``GET /sandbox/ledger`` (``?entries=0`` for the counters alone) answers::

    {"accepted": n, "held": n, "released": n, "dropped": n,
     "rejected": {"<code>": n}, "throttled_130429": n,
     "duplicates": {"callback_data": n, "recipient_template_day": n,
                    "callback_data_keys": [...], "recipient_template_day_keys": [...]},
     "peak_mps": {"<phone_number_id>": n},       # most accepted in any 1-s window
     "faults": {"5xx": n, "timeout": n, "accept_then_timeout": n},
     "webhooks": {"posts": n, "failed_posts": n, "updates_delivered": n, "updates_given_up": n,
                  "duplicates_injected": n, "pending": n},
     "unique_recipients_24h": n,
     "entries": [LedgerEntry as JSON, in acceptance order]}

A duplicate counts every acceptance after the first: of one ``biz_opaque_callback_data``, and of
one recipient + template on one Indian day.
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import asdict, dataclass
from typing import Any

#: Advisors' days are Indian days (UTC+05:30, no DST): "the same pack twice on one day" uses them.
IST_OFFSET_S = 5.5 * 3600
_MAX_KEYS_SHOWN = 100


@dataclass(slots=True)
class LedgerEntry:
    wamid: str
    phone_number_id: str
    to: str
    wa_id: str
    type: str
    template: str | None
    language: str | None
    category: str | None
    callback_data: str | None
    #: Body parameters as received (name -> text, or a list when positional), for checking that
    #: Hindi and Marathi text arrives intact.
    params: dict[str, str] | list[str] | None
    time: float
    message_status: str
    #: What will become of it: sent, delivered, read, failed, or pending while held.
    outcome: str = "pending"
    error_code: int | None = None
    #: When the delivered (or read) status happens, by the sandbox clock; None if never.
    delivered_at: float | None = None
    #: "timeout" when an accept-then-timeout fault hid the acceptance from the client.
    client_saw: str = "response"
    #: The uploaded media the message showed (header, or each carousel card in card order).
    media_ids: tuple[str, ...] = ()
    #: "messages" or "marketing_messages" (the Marketing Messages API).
    endpoint: str = "messages"


class Ledger:
    def __init__(self) -> None:
        self.entries: list[LedgerEntry] = []
        self.by_wamid: dict[str, LedgerEntry] = {}
        self.counts: Counter[str] = Counter()
        self.rejected: Counter[int] = Counter()
        self.faults: Counter[str] = Counter()
        #: Webhook delivery: posts, failed_posts, updates_delivered, duplicates_injected, ...
        self.webhooks: Counter[str] = Counter()
        self._callbacks: Counter[str] = Counter()
        self._daily: Counter[tuple[str, str, int]] = Counter()
        self._dup_callbacks: list[str] = []
        self._dup_daily: list[str] = []
        self._windows: dict[str, deque[float]] = {}
        self.peak_mps: dict[str, int] = {}
        #: Accepted messages per sending number, kept as they come: a live view reads it twice a
        #: second, and counting the entries each time grows with the morning.
        self.sent_by_number: Counter[str] = Counter()

    def accept(self, entry: LedgerEntry) -> None:
        self.entries.append(entry)
        self.by_wamid[entry.wamid] = entry
        self.counts["accepted"] += 1
        self.sent_by_number[entry.phone_number_id] += 1
        if entry.message_status != "accepted":
            self.counts["held"] += 1
        if entry.callback_data is not None:
            self._callbacks[entry.callback_data] += 1
            if self._callbacks[entry.callback_data] == 2:
                self._note(self._dup_callbacks, entry.callback_data)
            if self._callbacks[entry.callback_data] > 1:
                self.counts["duplicate_callback_data"] += 1
        if entry.template is not None:
            day = int((entry.time + IST_OFFSET_S) // 86400)
            key = (entry.wa_id, entry.template, day)
            self._daily[key] += 1
            if self._daily[key] == 2:
                self._note(self._dup_daily, f"{entry.wa_id}/{entry.template}/day {day}")
            if self._daily[key] > 1:
                self.counts["duplicate_recipient_template_day"] += 1
        self._track_rate(entry.phone_number_id, entry.time)

    def _track_rate(self, number: str, now: float) -> None:
        window = self._windows.setdefault(number, deque())
        window.append(now)
        while window[0] <= now - 1.0:
            window.popleft()
        if len(window) > self.peak_mps.get(number, 0):
            self.peak_mps[number] = len(window)

    @staticmethod
    def _note(keys: list[str], key: str) -> None:
        if len(keys) < _MAX_KEYS_SHOWN:
            keys.append(key)

    def reject(self, code: int) -> None:
        self.rejected[code] += 1

    def to_json(self, webhooks_pending: int, entries: bool = True) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "accepted": self.counts["accepted"],
            "held": self.counts["held"],
            "released": self.counts["released"],
            "dropped": self.counts["dropped"],
            "rejected": {str(code): n for code, n in sorted(self.rejected.items())},
            "throttled_130429": self.rejected[130429],
            "duplicates": {
                "callback_data": self.counts["duplicate_callback_data"],
                "recipient_template_day": self.counts["duplicate_recipient_template_day"],
                "callback_data_keys": list(self._dup_callbacks),
                "recipient_template_day_keys": list(self._dup_daily),
            },
            "peak_mps": dict(self.peak_mps),
            "faults": dict(self.faults),
            "webhooks": {**self.webhooks, "pending": webhooks_pending},
        }
        if entries:
            doc["entries"] = [asdict(e) for e in self.entries]
        return doc
