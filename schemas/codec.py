"""Encoding and decoding topic values.

Two standard framings, so any Avro library can read dawn's topics:

- without a schema registry, Avro single-object encoding: ``C3 01``, the 8-byte little-endian
  CRC-64-AVRO fingerprint of the writer schema's canonical form, then the Avro binary body;
- with ``SCHEMA_REGISTRY_URL``, the Confluent wire format (``00``, 4-byte schema id, body) through
  confluent-kafka's registry client and serializers.

Decoding looks at the first byte to tell them apart, resolves the writer schema (the current one or
a previous version kept in ``schemas/history``) against the topic's current reader schema, and never
raises past :meth:`Codec.decode_or_dead_letter`: a record that cannot be read becomes a DeadLetter
with the reason. A schema registry that cannot answer is not such a record: its errors are raised,
so a consumer stops and retries instead of dead-lettering a whole stream during an outage.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import fastavro
from fastavro.schema import fingerprint, to_parsing_canonical_form

from schemas.catalogue import topic as catalogue_topic
from schemas.registry import parsed_schema, raw_schema

SINGLE_OBJECT_MAGIC = b"\xc3\x01"
CONFLUENT_MAGIC = 0
HISTORY_DIR = Path(__file__).parent / "history"


class DecodeError(ValueError):
    """A value that is not a readable record of its topic's type."""


def schema_fingerprint(schema: dict[str, Any]) -> bytes:
    """CRC-64-AVRO fingerprint of the schema's parsing canonical form, little-endian bytes."""
    return bytes.fromhex(fingerprint(to_parsing_canonical_form(schema), "CRC-64-AVRO"))


@cache
def _current_fingerprint(schema_name: str) -> bytes:
    """Cached: canonical form and CRC-64 in pure Python cost about 0.8 ms, per record otherwise."""
    return schema_fingerprint(raw_schema(schema_name))


def _registry_errors() -> tuple[type[BaseException], ...]:
    """Exceptions meaning "the registry could not answer", as opposed to "this value is unreadable"."""
    from confluent_kafka.schema_registry.error import OAuthTokenError, SchemaRegistryError

    errors: tuple[type[BaseException], ...] = (SchemaRegistryError, OAuthTokenError, OSError)
    try:  # the HTTP library the registry client uses (httpx or httpx2, chosen by confluent-kafka)
        from confluent_kafka.schema_registry.common._httpx_compat import httpx
    except ImportError:  # a private module; should it move, a connection error would be dead-lettered
        return errors
    return (*errors, httpx.TransportError)


@cache
def _writers_by_fingerprint() -> dict[bytes, dict[str, Any]]:
    """Every schema we may meet on the wire: current ones and the kept previous versions, each
    parsed with fastavro's "already parsed" hint: without it every read parses the writer's schema
    again, three times the cost of reading a status event (52 against 157 us)."""
    schemas: list[dict[str, Any]] = []
    for path in sorted((Path(__file__).parent / "avsc").glob("*.avsc")):
        schemas.append(json.loads(path.read_text(encoding="utf-8")))
    for path in sorted(HISTORY_DIR.glob("*/*.avsc")):
        schemas.append(json.loads(path.read_text(encoding="utf-8")))
    return {schema_fingerprint(s): fastavro.parse_schema(s) for s in schemas}


@dataclass
class Codec:
    """Turns records (dicts) into topic values and back. One per process; cheap to share."""

    schema_registry_url: str | None = None

    def __post_init__(self) -> None:
        self._serializers: dict[str, Any] = {}
        self._deserializers: dict[str, Any] = {}
        self._registry = None
        if self.schema_registry_url:
            from confluent_kafka.schema_registry import SchemaRegistryClient

            # new_client hands ``mock://`` URLs to the library's in-process mock registry.
            self._registry = SchemaRegistryClient.new_client({"url": self.schema_registry_url})

    # -- encoding ---------------------------------------------------------------------------

    def encode(self, topic: str, record: dict[str, Any]) -> bytes:
        """The value bytes of ``record`` for ``topic``; ValueError if it does not fit the schema."""
        schema_name = catalogue_topic(topic).value_schema
        if self._registry is not None:
            return self._confluent_encode(topic, schema_name, record)
        return self.encode_single_object(schema_name, record)

    @staticmethod
    def encode_single_object(schema_name: str, record: dict[str, Any]) -> bytes:
        parsed = parsed_schema(schema_name)
        buf = io.BytesIO()
        buf.write(SINGLE_OBJECT_MAGIC)
        buf.write(_current_fingerprint(schema_name))
        try:
            fastavro.schemaless_writer(buf, parsed, record, strict_allow_default=True)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise ValueError(f"record does not fit {schema_name}: {exc}") from exc
        return buf.getvalue()

    def _confluent_encode(self, topic: str, schema_name: str, record: dict[str, Any]) -> bytes:
        from confluent_kafka.schema_registry.avro import AvroSerializer
        from confluent_kafka.serialization import MessageField, SerializationContext, SerializationError

        serializer = self._serializers.get(topic)
        if serializer is None:
            serializer = AvroSerializer(self._registry, json.dumps(raw_schema(schema_name)))
            self._serializers[topic] = serializer
        try:
            return serializer(record, SerializationContext(topic, MessageField.VALUE))
        except (ValueError, TypeError, KeyError, AttributeError, SerializationError) as exc:
            # The single-object path's contract: callers catch ValueError for a record that does not fit.
            raise ValueError(f"record does not fit {schema_name}: {exc}") from exc

    # -- decoding ---------------------------------------------------------------------------

    def decode(self, topic: str, value: bytes | None) -> dict[str, Any]:
        """The record in ``value``, read with ``topic``'s current schema; DecodeError if not."""
        if not value:
            raise DecodeError("empty value")
        schema_name = catalogue_topic(topic).value_schema
        if value[:2] == SINGLE_OBJECT_MAGIC:
            written_with = bytes(value[2:10])
            writer = _writers_by_fingerprint().get(written_with)
            if writer is None:
                raise DecodeError(f"unknown schema fingerprint {written_with.hex()}")
            # Resolving against the reader's schema costs as much again as the read itself, and is
            # needed only for values written with a previous version.
            reader = (None if written_with == _current_fingerprint(schema_name)
                      else parsed_schema(schema_name))
            body = io.BytesIO(value[10:])
            try:
                record = fastavro.schemaless_reader(body, writer, reader)
            except Exception as exc:  # fastavro raises many types on corrupt or foreign bodies
                raise DecodeError(f"not a {schema_name}: {type(exc).__name__}: {exc}") from exc
            # fastavro stops after the last field; bytes left over mean the value is not what
            # its fingerprint claims (corrupt, or two values glued together).
            left = len(value) - 10 - body.tell()
            if left:
                raise DecodeError(f"not a {schema_name}: {left} bytes after the record")
            return record
        if value[0] == CONFLUENT_MAGIC and len(value) > 5:
            return self._confluent_decode(topic, schema_name, value)
        raise DecodeError(f"unknown framing (first bytes {bytes(value[:2]).hex()})")

    def _confluent_decode(self, topic: str, schema_name: str, value: bytes) -> dict[str, Any]:
        if self._registry is None:
            raise DecodeError("Confluent-framed value but no SCHEMA_REGISTRY_URL is configured")
        from confluent_kafka.schema_registry.avro import AvroDeserializer
        from confluent_kafka.serialization import MessageField, SerializationContext

        deserializer = self._deserializers.get(topic)
        if deserializer is None:
            deserializer = AvroDeserializer(self._registry, json.dumps(raw_schema(schema_name)))
            self._deserializers[topic] = deserializer
        from confluent_kafka.schema_registry.error import SchemaRegistryError

        try:
            return deserializer(value, SerializationContext(topic, MessageField.VALUE))
        except SchemaRegistryError as exc:
            if exc.http_status_code != 404:
                raise
            # The registry answered: this schema id does not exist, so the value can never be read.
            raise DecodeError(f"not a {schema_name}: writer schema not in the registry: {exc}") from exc
        except _registry_errors():
            raise
        except Exception as exc:  # fastavro raises many types on corrupt or foreign bodies
            raise DecodeError(f"not a {schema_name}: {type(exc).__name__}: {exc}") from exc

    def decode_or_dead_letter(
        self, topic: str, value: bytes | None, *, key: bytes | None = None,
        partition: int = -1, offset: int = -1, stage: str = "decode",
    ) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        """(record, None) when ``value`` decodes, else (None, a DeadLetter record).

        A schema registry that cannot answer raises instead: the value may be fine, and the caller
        should retry it later rather than dead-letter it.
        """
        try:
            return self.decode(topic, value), None
        except DecodeError as exc:
            return None, dead_letter(topic, value, str(exc), key=key, partition=partition,
                                     offset=offset, stage=stage)


def dead_letter(
    topic: str, value: bytes | None, error: str, *, key: bytes | None = None,
    partition: int = -1, offset: int = -1, stage: str = "decode",
) -> dict[str, Any]:
    """A DeadLetter record for ``topic``'s DLQ, keeping the original bytes and the reason."""
    return {
        "source_topic": topic,
        "source_partition": partition,
        "source_offset": offset,
        "key": key,
        "value": value,
        "error": error,
        "stage": stage,
        "failed_at": datetime.now(UTC),
    }
