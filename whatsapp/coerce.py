"""Tolerant readers for JSON from Meta, which mixes "1750030073" and 1750030073, ids as numbers
and strings, and adds fields without notice. Each returns None instead of raising, so one odd
field never costs a whole webhook batch."""

from __future__ import annotations

from typing import Any


def as_str(value: Any) -> str | None:
    """A string, or an integer id rendered as one (template ids arrive as JSON numbers)."""
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def as_int(value: Any) -> int | None:
    """An integer from an int, an integral float or a numeric string ("1750030073")."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else None
    if isinstance(value, str):
        text = value.strip()
        try:
            return int(text)
        except ValueError:
            pass
        try:
            number = float(text)
        except ValueError:
            return None
        return int(number) if number.is_integer() else None
    return None


def as_bool(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def first(value: Any) -> dict[str, Any]:
    """The first object of a JSON array, or {}."""
    items = as_list(value)
    return as_dict(items[0]) if items else {}
