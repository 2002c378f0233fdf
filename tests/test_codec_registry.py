"""The codec with a schema registry: Confluent wire format, dead letters, and registry outages.

``mock://`` URLs get confluent-kafka's in-process mock registry, so no registry server is needed.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from confluent_kafka.schema_registry.common._httpx_compat import httpx
from confluent_kafka.schema_registry.error import SchemaRegistryError

from schemas.codec import CONFLUENT_MAGIC, Codec, DecodeError

TOPIC = "ops.alerts"
ALERT = {
    "alert_id": "a-1", "kind": "auth", "severity": "CRITICAL", "subject": "+919812345678",
    "message": "टोकन अमान्य", "run_date": None, "details": {"k": "v"}, "raised_at": 0,
}


@pytest.fixture
def codec() -> Codec:
    """A codec on a mock registry of its own (the mock keeps its schemas per client)."""
    return Codec(f"mock://{uuid.uuid4().hex}")


def test_round_trip_in_confluent_wire_format(codec: Codec) -> None:
    value = codec.encode(TOPIC, ALERT)
    assert value[0] == CONFLUENT_MAGIC
    record = codec.decode(TOPIC, value)
    assert record is not None
    assert {k: record[k] for k in ("alert_id", "message", "details")} == {
        "alert_id": "a-1", "message": "टोकन अमान्य", "details": {"k": "v"}}
    assert codec.decode_or_dead_letter(TOPIC, value)[1] is None


def test_a_record_that_does_not_fit_is_a_value_error(codec: Codec) -> None:
    with pytest.raises(ValueError, match="Alert"):
        codec.encode(TOPIC, {**ALERT, "severity": "NOT_A_SEVERITY"})
    with pytest.raises(ValueError, match="Alert"):
        codec.encode(TOPIC, {**ALERT, "raised_at": "yesterday"})


@pytest.mark.parametrize(
    ("mangle", "reason"),
    [
        (lambda good: good[:-3], "not a Alert"),
        (lambda good: good[:5] + b"\xff" * 4, "not a Alert"),
        (lambda good: b"\x00\x00\x00\x7f\x7f" + good[5:], "not a Alert"),  # an id the registry never gave
    ],
    ids=["truncated", "garbage-body", "unknown-schema-id"],
)
def test_unreadable_confluent_values_become_dead_letters(codec: Codec, mangle: Any, reason: str) -> None:
    value = mangle(codec.encode(TOPIC, ALERT))
    record, dead = codec.decode_or_dead_letter(TOPIC, value, key=b"k", partition=1, offset=9)
    assert record is None and dead is not None
    assert reason in dead["error"] and dead["value"] == value
    codec.encode(f"{TOPIC}.dlq", dead)  # the dead letter fits its own topic in this mode too


@pytest.mark.parametrize(
    "outage",
    [SchemaRegistryError(503, 50301, "registry unavailable"), httpx.ConnectError("connection refused")],
    ids=["registry-5xx", "connection-refused"],
)
def test_a_registry_outage_is_raised_not_dead_lettered(
    codec: Codec, monkeypatch: pytest.MonkeyPatch, outage: Exception
) -> None:
    """A registry blip would otherwise dead-letter every record of a stream while it lasts."""
    value = codec.encode(TOPIC, ALERT)  # nothing decoded yet: the writer schema is fetched on decode

    def unavailable(*_args: object, **_kwargs: object) -> None:
        raise outage

    monkeypatch.setattr(codec._registry, "get_schema", unavailable)
    with pytest.raises(type(outage)):
        codec.decode_or_dead_letter(TOPIC, value)
    with pytest.raises(type(outage)):
        codec.decode(TOPIC, value)
    monkeypatch.undo()
    assert codec.decode(TOPIC, value)["alert_id"] == "a-1"  # and reads fine once it is back


def test_decode_error_is_still_a_value_error() -> None:
    assert issubclass(DecodeError, ValueError)
