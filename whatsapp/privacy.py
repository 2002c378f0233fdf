"""Phone numbers out of log lines.

An advisor's number is personal data: any run of 10 to 15 digits, grouped with single spaces or
dashes or not (an MSISDN, ``+91 98123 45678``), keeps its first 4 and last 2 digits only. It lives
here, with the WhatsApp types whose logs it guards, so every package can mask without importing
the command line's logging setup.
"""

from __future__ import annotations

import re

_PHONE = re.compile(
    r"(?<!\d)(?<!\d[ -])\+?\d(?:[ -]?\d){9,14}(?![ -]?\d)(?!:\d)"  # grouped: 10-15 digits in all
    r"|(?<!\d)\+?\d{10,}"  # one run of any length
)
_KEEP_HEAD, _KEEP_TAIL = 4, 2


def _mask(match: re.Match[str]) -> str:
    text = match[0]
    digits = sum(ch.isdigit() for ch in text)
    out, seen = [], 0
    for ch in text:
        if ch.isdigit():
            seen += 1
            if _KEEP_HEAD < seen <= digits - _KEEP_TAIL:
                ch = "*"
        out.append(ch)
    return "".join(out)


def mask_phones(text: str) -> str:
    """Mask every phone-number-like digit run in ``text``: 919812345678 -> 9198******78."""
    return _PHONE.sub(_mask, text)
