"""What an inbound WhatsApp message asks for: STOP, START, PAUSE or RESUME, in EN, HI or MR.

Pure functions, no I/O. A message is a command only when the *whole* message (after
normalisation) is one of the phrases below, or a quick-reply payload is: "don't stop" or a
sentence that happens to contain "band" must not unsubscribe anyone, and "start" inside a longer
question must not opt anyone in. Normalisation makes the match insensitive to case, whitespace,
punctuation (Latin and Devanagari, e.g. the danda), emoji, zero-width joiners and the nukta, and
drops a leading or trailing "please" (please, pls, plz, कृपया).

The phrase list is :data:`PHRASES` below, by command and language (Latin transliterations of
Hindi and Marathi are listed under EN); the README's "Consent commands" table repeats it.

Quick-reply buttons carry the payloads ``DAWN_STOP``, ``DAWN_START``, ``DAWN_PAUSE`` and
``DAWN_RESUME``; a button whose payload is unknown is read by its visible text like any message,
so Meta's own marketing opt-out button ("Stop promotions", whatever payload it carries) is a STOP.
Interactive button and list replies are read the same way (their id, then their title), and so is
the caption of an image, video or document: people type STOP wherever the keyboard is.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from enum import StrEnum
from typing import Any


class Command(StrEnum):
    STOP = "STOP"
    START = "START"
    PAUSE = "PAUSE"
    RESUME = "RESUME"


PHRASES: dict[Command, dict[str, tuple[str, ...]]] = {
    Command.STOP: {
        "EN": ("stop", "stop all", "unsubscribe", "cancel", "opt out", "optout", "quit", "end",
               "stop promotions", "stop promotion", "stop marketing",
               "band", "band karo", "ruko", "roko"),
        "HI": ("बंद", "बंद करो", "बंद करें", "रुको", "रोको", "स्टॉप", "प्रमोशन बंद करें",
               "प्रचार बंद करें"),
        "MR": ("थांबवा", "थांबा", "बंद करा", "स्टॉप", "thambva", "thamba", "प्रमोशन थांबवा",
               "जाहिराती थांबवा"),
    },
    Command.START: {
        "EN": ("start", "subscribe", "opt in", "optin", "unstop", "shuru", "chalu"),
        "HI": ("शुरू", "शुरू करो", "शुरू करें", "चालू", "चालू करो", "स्टार्ट"),
        "MR": ("सुरू", "सुरू करा", "चालू करा", "suru"),
    },
    Command.PAUSE: {
        "EN": ("pause", "hold", "viram"),
        "HI": ("विराम", "पॉज", "कुछ दिन रोकें"),
        "MR": ("विराम", "काही दिवस थांबवा"),
    },
    Command.RESUME: {
        "EN": ("resume", "continue", "unpause", "phir se shuru", "punha suru"),
        "HI": ("फिर से शुरू", "फिर शुरू", "जारी रखें", "रिज्यूम"),
        "MR": ("पुन्हा सुरू", "पुन्हा सुरू करा"),
    },
}

BUTTON_PAYLOADS: dict[str, Command] = {f"DAWN_{c.value}": c for c in Command}

_NUKTA = "\u093c"
_POLITE = ("please", "pls", "plz", "कृपया")
_SPACES = re.compile(r"\s+")


def normalise(text: str) -> str:
    """Casefolded words separated by single spaces, with punctuation, symbols and format marks gone."""
    text = unicodedata.normalize("NFKC", text).replace(_NUKTA, "").casefold()
    kept = [
        " " if unicodedata.category(ch)[0] in "PSZ" or ch.isspace()
        else "" if unicodedata.category(ch) in ("Cf", "Cc")
        else ch
        for ch in text
    ]
    words = _SPACES.split("".join(kept).strip())
    while words and words[0] in _POLITE:
        words.pop(0)
    while words and words[-1] in _POLITE:
        words.pop()
    return " ".join(words)


def _table() -> dict[str, Command]:
    table: dict[str, Command] = {}
    for command, by_language in PHRASES.items():
        for phrases in by_language.values():
            for phrase in phrases:
                key = normalise(phrase)
                if table.setdefault(key, command) is not command:
                    raise ValueError(f"phrase {phrase!r} is listed for two commands")
    return table


_BY_PHRASE = _table()


def parse(text: str | None, button_payload: str | None = None) -> Command | None:
    """The command a message or button tap asks for, or None when it is not one."""
    if button_payload:
        by_payload = BUTTON_PAYLOADS.get(button_payload.strip().upper())
        if by_payload is not None:
            return by_payload
    if not text:
        return None
    return _BY_PHRASE.get(normalise(text))


def parse_inbound(record: Mapping[str, Any]) -> Command | None:
    """The command an InboundMessage record asks for, whichever form it came in: a button or
    interactive reply's payload, its visible text, a typed text, or a media caption."""
    texts = (record.get("text"), record.get("button_text"), record.get("reply_title"),
             record.get("caption"))
    by_payload = parse(None, record.get("button_payload"))
    if by_payload is not None:
        return by_payload
    for text in texts:
        command = parse(text)
        if command is not None:
            return command
    return None


def next_state(current: str, command: Command) -> str:
    """Consent after ``command``: only START opts in; PAUSE and RESUME act on a subscription only."""
    if command is Command.STOP:
        return "STOPPED"
    if command is Command.START:
        return "OPTED_IN"
    if command is Command.PAUSE:
        return "PAUSED" if current == "OPTED_IN" else current
    return "OPTED_IN" if current == "PAUSED" else current
