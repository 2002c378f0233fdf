"""Hypothesis strategies built from Avro schema JSON, so property tests follow the .avsc files.

Generated values are what fastavro hands back when reading, so ``decode(encode(x)) == x`` is the
round-trip property: timestamp-millis as tz-aware UTC datetimes at millisecond precision, date as
``datetime.date``, enums as their symbol. Strings mix arbitrary text with Devanagari (Hindi and
Marathi content is the normal case, not an edge case).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from hypothesis import strategies as st

PRIMITIVES = {"null", "boolean", "int", "long", "float", "double", "bytes", "string"}

DEVANAGARI = st.characters(min_codepoint=0x0900, max_codepoint=0x097F)
TEXT = st.one_of(st.text(max_size=20), st.text(DEVANAGARI, max_size=20))

# Inside 1970..2200: the morning's instants and dates; pre-epoch values are not ours to carry.
_TIMESTAMPS = st.datetimes(
    min_value=datetime(1970, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
).map(lambda d: d.replace(microsecond=d.microsecond // 1000 * 1000))
_DATES = st.dates(min_value=date(1970, 1, 1), max_value=date(2200, 1, 1))

_LOGICAL = {
    ("long", "timestamp-millis"): _TIMESTAMPS,
    ("int", "date"): _DATES,
}

_PRIMITIVE_STRATEGIES: dict[str, st.SearchStrategy[Any]] = {
    "null": st.none(),
    "boolean": st.booleans(),
    "int": st.integers(-(2**31), 2**31 - 1),
    "long": st.integers(-(2**63), 2**63 - 1),
    "float": st.floats(width=32, allow_nan=False),
    "double": st.floats(allow_nan=False),
    "bytes": st.binary(max_size=20),
    "string": TEXT,
}


def records(schema: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """Records that fit ``schema`` (a parsed .avsc JSON document)."""
    return _Builder().build(schema, schema.get("namespace"))


class _Builder:
    """Walks one schema; remembers named types so later references by name resolve."""

    def __init__(self) -> None:
        self.named: dict[str, st.SearchStrategy[Any]] = {}

    def build(self, schema: Any, namespace: str | None) -> st.SearchStrategy[Any]:
        if isinstance(schema, list):
            return st.one_of([self.build(branch, namespace) for branch in schema])
        if isinstance(schema, str):
            if schema in PRIMITIVES:
                return _PRIMITIVE_STRATEGIES[schema]
            return self.named[self._full_name(schema, namespace)]
        kind = schema["type"]
        logical = schema.get("logicalType")
        if logical is not None:
            if (kind, logical) not in _LOGICAL:
                raise NotImplementedError(f"no strategy for logical type {logical} on {kind}")
            return _LOGICAL[(kind, logical)]
        if kind in PRIMITIVES:
            return _PRIMITIVE_STRATEGIES[kind]
        if kind == "array":
            return st.lists(self.build(schema["items"], namespace), max_size=3)
        if kind == "map":
            return st.dictionaries(TEXT, self.build(schema["values"], namespace), max_size=3)
        name = self._full_name(schema["name"], schema.get("namespace", namespace))
        inner_ns = name.rpartition(".")[0] or None
        if kind == "enum":
            strategy: st.SearchStrategy[Any] = st.sampled_from(schema["symbols"])
        elif kind == "fixed":
            strategy = st.binary(min_size=schema["size"], max_size=schema["size"])
        elif kind == "record":
            strategy = st.fixed_dictionaries(
                {f["name"]: self.build(f["type"], inner_ns) for f in schema["fields"]}
            )
        else:
            raise NotImplementedError(f"no strategy for Avro type {kind}")
        self.named[name] = strategy
        return strategy

    @staticmethod
    def _full_name(name: str, namespace: str | None) -> str:
        return name if "." in name or not namespace else f"{namespace}.{name}"
