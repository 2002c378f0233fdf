"""The fleet file: how dawn means to use each number Meta lists under the WABA.

Which numbers exist, their quality and status come from Meta (``GET /{waba-id}/phone_numbers``);
what Meta cannot know is our intent for each: which are hot spares, which are new and warming up,
and a rate lower than the throughput level allows. That is a small JSON file (setting
``DAWN_FLEET_FILE``)::

    {
      "default_role": "PRIMARY",
      "numbers": {
        "106540352242922": {"role": "SPARE"},
        "106540352242923": {"role": "WARMING", "warmup_start": "2026-11-20"},
        "106540352242924": {"mps": 40}
      }
    }

A number Meta lists but the file does not name gets ``default_role``; a number the file names but
Meta does not list is ignored (it cannot send). No file at all means every listed number is PRIMARY.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

FILE_ROLES = ("PRIMARY", "SPARE", "WARMING")


class FleetFileError(ValueError):
    """The fleet file cannot be used; the message says where and why."""


@dataclass(frozen=True)
class FleetEntry:
    """Our intent for one number."""

    role: str = "PRIMARY"
    mps: float | None = None  # None: what its throughput level allows
    warmup_start: date | None = None  # first day of the warm-up (WARMING only)


@dataclass(frozen=True)
class Fleet:
    default_role: str = "PRIMARY"
    numbers: dict[str, FleetEntry] = field(default_factory=dict)

    def entry(self, phone_number_id: str) -> FleetEntry:
        return self.numbers.get(phone_number_id, FleetEntry(self.default_role))

    @classmethod
    def from_json(cls, data: Any, where: str = "fleet file") -> Fleet:
        if not isinstance(data, dict):
            raise FleetFileError(f"{where}: expected a JSON object")
        default_role = data.get("default_role", "PRIMARY")
        if default_role not in FILE_ROLES:
            raise FleetFileError(f"{where}: default_role must be one of {', '.join(FILE_ROLES)}")
        numbers = data.get("numbers", {})
        if not isinstance(numbers, dict):
            raise FleetFileError(f"{where}: numbers must be an object keyed by phone_number_id")
        return cls(default_role, {str(k): _entry(v, f"{where}: number {k}") for k, v in numbers.items()})

    @classmethod
    def load(cls, path: Path | None) -> Fleet:
        """The fleet in ``path``, or the all-PRIMARY default when no file is configured."""
        if path is None:
            return cls()
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except OSError as error:
            raise FleetFileError(f"fleet file {path}: {error.strerror or error}") from None
        except ValueError as error:
            raise FleetFileError(f"fleet file {path}: not JSON ({error})") from None
        return cls.from_json(data, f"fleet file {path}")


def _entry(value: Any, where: str) -> FleetEntry:
    if not isinstance(value, dict):
        raise FleetFileError(f"{where}: expected an object")
    unknown = set(value) - {"role", "mps", "warmup_start"}
    if unknown:
        raise FleetFileError(f"{where}: unknown keys {', '.join(sorted(unknown))}")
    role = value.get("role", "PRIMARY")
    if role not in FILE_ROLES:
        raise FleetFileError(f"{where}: role must be one of {', '.join(FILE_ROLES)}")
    mps = value.get("mps")
    if mps is not None and (not isinstance(mps, int | float) or isinstance(mps, bool) or mps <= 0):
        raise FleetFileError(f"{where}: mps must be a positive number")
    start = value.get("warmup_start")
    try:
        warmup_start = date.fromisoformat(start) if start is not None else None
    except (TypeError, ValueError):
        raise FleetFileError(f"{where}: warmup_start must be a YYYY-MM-DD date") from None
    if role == "WARMING" and warmup_start is None:
        raise FleetFileError(f"{where}: a WARMING number needs warmup_start")
    return FleetEntry(role, float(mps) if mps is not None else None, warmup_start)
