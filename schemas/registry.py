"""Loading the .avsc files: one file per record type, each self-contained.

Each file inlines the named types it uses, so a consumer outside this project can decode any topic
with a standard Avro library and that one file.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import fastavro

AVSC_DIR = Path(__file__).parent / "avsc"


def schema_path(name: str) -> Path:
    """File of record type ``name`` (e.g. DeliveryIntent -> avsc/delivery_intent.avsc)."""
    snake = "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_")
    return AVSC_DIR / f"{snake}.avsc"


@cache
def raw_schema(name: str) -> dict[str, Any]:
    """The JSON of record type ``name``, as written in its .avsc file."""
    path = schema_path(name)
    if not path.is_file():
        raise KeyError(f"no schema file for record type {name!r} at {path}")
    return json.loads(path.read_text(encoding="utf-8"))


@cache
def parsed_schema(name: str) -> dict[str, Any]:
    """``name``'s schema parsed by fastavro, cached: parsing is the slow part of encoding. The
    parse keeps fastavro's "already parsed" hint: without it every write parses the schema again
    (a large record type then costs about three times as much to encode)."""
    return fastavro.parse_schema(raw_schema(name))


def all_record_types() -> list[str]:
    """Every record type that has a schema file, by its Avro name."""
    return sorted(json.loads(p.read_text())["name"] for p in AVSC_DIR.glob("*.avsc"))
