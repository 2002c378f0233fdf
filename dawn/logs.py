"""Structured logging with the component tag and masked phone numbers.

Masking happens in one formatter at the root, so no component has to remember to do it: any run of
10 or more digits (an MSISDN, with or without '+') keeps its first 4 and last 2 digits only. Runs
are masked wherever they stand and however long they are: a number glued to a word ("wa_id919...")
or longer than 15 digits may still be someone's number. Ids and epoch timestamps of 10+ digits get
masked too; their first 4 and last 2 digits are usually enough to tell them apart in a log.

People write numbers in groups ("+91 98123 45678", "98123-45678"), so digit groups joined by single
spaces or dashes count as one number when they hold 10 to 15 digits in all; the separators stay, so
the masked text keeps its shape. A group run followed by ":" and a digit is a date and clock time
("2026-11-22 03:12:29"), not a number, and is left alone. Only digits are looked at: a wamid's
base64 text is not masked.
"""

from __future__ import annotations

import json
import logging
import sys
import time

from whatsapp.privacy import mask_phones


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
