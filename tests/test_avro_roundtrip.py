"""Every record type survives encode -> decode through the codec, for generated records."""

from __future__ import annotations

from typing import Any

import pytest
from avro_strategies import records
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.catalogue import ALL_TOPICS
from schemas.codec import SINGLE_OBJECT_MAGIC, Codec, schema_fingerprint
from schemas.registry import all_record_types, raw_schema

CODEC = Codec()


def _topic_of(record_type: str) -> str:
    return next(t.name for t in ALL_TOPICS if t.value_schema == record_type)


def test_every_record_type_has_a_topic() -> None:
    """A schema no topic carries is either dead or its topic is missing from the catalogue."""
    assert {t.value_schema for t in ALL_TOPICS} == set(all_record_types())


@pytest.mark.parametrize("record_type", all_record_types())
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_round_trip(record_type: str, data: st.DataObject) -> None:
    record: dict[str, Any] = data.draw(records(raw_schema(record_type)), label=record_type)
    topic = _topic_of(record_type)
    value = CODEC.encode(topic, record)
    assert value[:2] == SINGLE_OBJECT_MAGIC
    assert value[2:10] == schema_fingerprint(raw_schema(record_type))
    assert CODEC.decode(topic, value) == record


def test_a_record_that_does_not_fit_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="does not fit Alert"):
        CODEC.encode("ops.alerts", {"alert_id": "a1"})
