"""BACKWARD compatibility: today's schemas read every record any kept version ever wrote.

Topics hold records for days (compacted ones forever), so a reader upgraded today meets values
written by every released schema version. Those versions are kept in ``schemas/history/<version>/``;
the README says how to add one.
"""

from __future__ import annotations

import copy
import io
import json
from pathlib import Path
from typing import Any

import avro.schema
import fastavro
import pytest
from avro.compatibility import ReaderWriterCompatibilityChecker, SchemaCompatibilityType
from avro_strategies import records
from fastavro.read import SchemaResolutionError
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.catalogue import ALL_TOPICS
from schemas.codec import HISTORY_DIR, SINGLE_OBJECT_MAGIC, Codec, schema_fingerprint
from schemas.registry import all_record_types, raw_schema

KEPT = sorted(HISTORY_DIR.glob("*/*.avsc"))
CODEC = Codec()


def _load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def _id(path: Path) -> str:
    return f"{path.parent.name}/{path.stem}"


def incompatibilities(reader: dict[str, Any], writer: dict[str, Any]) -> set[str]:
    """Why ``reader`` cannot read what ``writer`` wrote (empty when it can), per the Avro spec's rules."""
    result = ReaderWriterCompatibilityChecker().get_compatibility(
        avro.schema.parse(json.dumps(reader)), avro.schema.parse(json.dumps(writer))
    )
    if result.compatibility is SchemaCompatibilityType.compatible:
        return set()
    return {*map(str, result.messages), *map(str, result.locations)} or {"incompatible"}


def test_history_is_kept() -> None:
    assert KEPT, "schemas/history must hold at least the first released version"


@pytest.mark.parametrize("old", KEPT, ids=_id)
def test_current_schema_reads_kept_version(old: Path) -> None:
    writer = _load(old)
    assert writer["name"] in all_record_types(), f"{_id(old)}: record type removed"
    assert not incompatibilities(raw_schema(writer["name"]), writer)


@pytest.mark.parametrize("old", KEPT, ids=_id)
@settings(max_examples=15, deadline=None)
@given(data=st.data())
def test_codec_decodes_records_written_with_kept_version(old: Path, data: st.DataObject) -> None:
    """What production meets: a value framed with the old fingerprint, read for today's topic."""
    writer = _load(old)
    record = data.draw(records(writer))
    body = io.BytesIO()
    fastavro.schemaless_writer(body, fastavro.parse_schema(writer), record)
    value = SINGLE_OBJECT_MAGIC + schema_fingerprint(writer) + body.getvalue()
    topic = next(t.name for t in ALL_TOPICS if t.value_schema == writer["name"])
    decoded = CODEC.decode(topic, value)
    assert _written_part(record, decoded) == _written_part(decoded, record)


def _written_part(value: object, other: object) -> object:
    """``value`` restricted to the fields both sides have, nested records included: a field added
    with a default (at any depth) or removed since the writer's version is not compared."""
    if isinstance(value, dict) and isinstance(other, dict):
        return {k: _written_part(v, other[k]) for k, v in value.items() if k in other}
    if isinstance(value, list) and isinstance(other, list) and len(value) == len(other):
        return [_written_part(v, o) for v, o in zip(value, other, strict=True)]
    return value


def test_current_version_is_kept() -> None:
    """A released schema must stay decodable after the next change: its fingerprint must be kept.

    Docs do not count (the fingerprint covers the parsing canonical form only), so editing a doc
    string needs no new version.
    """
    newest = max({p.parent for p in KEPT}, key=lambda d: int(d.name.lstrip("v")))
    kept = {schema_fingerprint(_load(p)) for p in newest.glob("*.avsc")}
    changed = [t for t in all_record_types() if schema_fingerprint(raw_schema(t)) not in kept]
    assert not changed, (
        f"{changed} changed since {newest.name}: copy schemas/avsc/*.avsc into "
        f"schemas/history/v{int(newest.name.lstrip('v')) + 1}/ (see README, Schema versions)"
    )


# -- the check is not vacuous ---------------------------------------------------------------------

def _with_field(schema: dict[str, Any], field: dict[str, Any]) -> dict[str, Any]:
    changed = copy.deepcopy(schema)
    changed["fields"].append(field)
    return changed


ADVISOR = raw_schema("Advisor")
BREAKING = _with_field(ADVISOR, {"name": "pan", "type": "string"})
COMPATIBLE = _with_field(ADVISOR, {"name": "pan", "type": ["null", "string"], "default": None})


def test_new_field_without_default_is_caught() -> None:
    assert any("pan" in reason for reason in incompatibilities(BREAKING, ADVISOR))


def test_new_field_with_default_passes() -> None:
    assert not incompatibilities(COMPATIBLE, ADVISOR)


@settings(max_examples=10, deadline=None)
@given(record=records(ADVISOR))
def test_breaking_reader_fails_on_real_records(record: dict[str, Any]) -> None:
    body = io.BytesIO()
    fastavro.schemaless_writer(body, fastavro.parse_schema(ADVISOR), record)
    with pytest.raises(SchemaResolutionError):
        fastavro.schemaless_reader(
            io.BytesIO(body.getvalue()), fastavro.parse_schema(ADVISOR), fastavro.parse_schema(BREAKING)
        )
