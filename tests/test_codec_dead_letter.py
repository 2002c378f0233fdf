"""Values the codec cannot read become DeadLetter records with the reason, never exceptions."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.codec import SINGLE_OBJECT_MAGIC, Codec, schema_fingerprint
from schemas.registry import all_record_types, raw_schema

CODEC = Codec()
TOPIC = "ops.alerts"
ALERT = {
    "alert_id": "a-1", "kind": "auth", "severity": "CRITICAL", "subject": "+919812345678",
    "message": "टोकन अमान्य", "run_date": None, "details": {}, "raised_at": 0,
}
GOOD = CODEC.encode(TOPIC, ALERT)


def _reason(value: bytes | None) -> str:
    record, dead = CODEC.decode_or_dead_letter(TOPIC, value, key=b"k", partition=2, offset=7)
    assert record is None and dead is not None
    assert dead["value"] == value and dead["key"] == b"k"
    assert (dead["source_topic"], dead["source_partition"], dead["source_offset"]) == (TOPIC, 2, 7)
    CODEC.encode(f"{TOPIC}.dlq", dead)  # the dead letter itself always fits its own topic
    return dead["error"]


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (None, "empty value"),
        (b"", "empty value"),
        (b"hello, world", "unknown framing"),
        (GOOD[:-3], "not a Alert: EOFError"),
        (GOOD[:11], "not a Alert"),
        (GOOD + b"\x00", "1 bytes after the record"),
        (SINGLE_OBJECT_MAGIC + b"\x01" * 8 + GOOD[10:], "unknown schema fingerprint 0101010101010101"),
        (b"\x00\x00\x00\x00\x2a" + GOOD[10:], "no SCHEMA_REGISTRY_URL is configured"),
        # A valid record of another type: its fingerprint is known, but it cannot be read as an Alert.
        (SINGLE_OBJECT_MAGIC + schema_fingerprint(raw_schema("Advisor")) + GOOD[10:], "not a Alert"),
    ],
    ids=["none", "empty", "garbage", "truncated", "header-only", "trailing", "unknown-fingerprint",
         "confluent-without-registry", "other-type"],
)
def test_unreadable_values_become_dead_letters(value: bytes | None, reason: str) -> None:
    assert reason in _reason(value)


def test_a_good_value_is_no_dead_letter() -> None:
    record, dead = CODEC.decode_or_dead_letter(TOPIC, GOOD)
    assert dead is None and record is not None and record["message"] == "टोकन अमान्य"


_FINGERPRINTS = [schema_fingerprint(raw_schema(t)) for t in all_record_types()]

#: Arbitrary bytes mostly fail on the framing; the other branches put garbage where fastavro and
#: the Confluent path read it, which is where surprising exception types would come from.
_VALUES = st.one_of(
    st.binary(max_size=64),
    st.builds(lambda fp, body: SINGLE_OBJECT_MAGIC + fp + body,
              st.sampled_from(_FINGERPRINTS), st.binary(max_size=64)),
    st.binary(max_size=64).map(lambda body: b"\x00" + body),
)


@settings(max_examples=300, deadline=None)
@given(value=_VALUES)
def test_arbitrary_bytes_never_raise(value: bytes) -> None:
    record, dead = CODEC.decode_or_dead_letter(TOPIC, value)
    assert (record is None) != (dead is None)
    if dead is not None:
        assert dead["error"] and dead["value"] == value


def test_encoding_does_not_recompute_the_schema_fingerprint(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CRC-64 of the canonical form was nearly all of an encode's cost: once per schema is enough."""
    calls: list[object] = []

    def counting(schema: dict) -> bytes:
        calls.append(schema)
        return schema_fingerprint(schema)

    monkeypatch.setattr("schemas.codec.schema_fingerprint", counting)
    values = [CODEC.encode(TOPIC, {**ALERT, "alert_id": f"a-{i}"}) for i in range(3)]
    assert calls == []  # the module-level GOOD already paid for this schema
    assert {v[2:10] for v in values} == {GOOD[2:10]}
