"""Structured logging with the component tag and masked phone numbers.

Masking happens in one formatter at the root, so no component has to remember to do it: any run of
10 or more digits (an MSISDN, with or without '+') keeps its first 4 and last 2 digits only. Runs
are masked wherever they stand and however long they are: a number glued to a word ("wa_id919...")
or longer than 15 digits may still be someone's number. Ids and epoch timestamps of 10+ digits get
masked too; their first 4 and last 2 digits are usually enough to tell them apart in a log.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time

_PHONE = re.compile(r"(?<!\d)(\+?)(\d{4})(\d{4,})(\d{2})(?!\d)")


def mask_phones(text: str) -> str:
    """Mask every phone-number-like digit run in ``text``: 919812345678 -> 9198******78."""
    return _PHONE.sub(lambda m: f"{m[1]}{m[2]}{'*' * len(m[3])}{m[4]}", text)


class _MaskingFormatter(logging.Formatter):
    def __init__(self, as_json: bool) -> None:
        super().__init__()
        self.as_json = as_json

    def format(self, record: logging.LogRecord) -> str:
        message = mask_phones(record.getMessage())
        component = record.name.removeprefix("dawn.")
        if self.as_json:
            doc = {
                "ts": round(record.created, 3),
                "level": record.levelname,
                "component": component,
                "msg": message,
            }
            if record.exc_info:
                doc["exc"] = mask_phones(self.formatException(record.exc_info))
            return json.dumps(doc, ensure_ascii=False)
        stamp = time.strftime("%H:%M:%S", time.localtime(record.created))
        line = f"{stamp} {record.levelname:<7} [{component}] {message}"
        if record.exc_info:
            line += "\n" + mask_phones(self.formatException(record.exc_info))
        return line


def configure(level: str = "INFO", fmt: str = "text", stream=None) -> None:
    """Install the masking formatter on the root logger (idempotent)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_dawn", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(_MaskingFormatter(as_json=fmt == "json"))
    handler._dawn = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
    for noisy in ("httpx", "httpcore", "aiokafka", "faust", "mode", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
