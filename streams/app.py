"""The Faust app every agent registers on.

Agents live one per module and expose ``register(app, ctx)``; the worker builds the app, hands it a
:class:`~streams.context.StreamContext`, and registers the agents it runs. Values stay raw bytes on
the Faust side: decoding goes through :class:`schemas.codec.Codec` so a bad record becomes a
dead letter instead of a serializer exception that would stop the stream.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import faust

from schemas.catalogue import NUMBER_PARTITIONS
from schemas.catalogue import topic as catalogue_topic


def create_app(
    app_id: str,
    bootstrap: str,
    *,
    data_dir: Path,
    broker_profile: dict[str, Any] | None = None,
    **overrides: Any,
) -> faust.App:
    """A Faust app on ``bootstrap``.

    ``broker_profile`` carries the broker-specific client settings (the embedded broker's profile
    comes from ``dawn.embedded.client_profile.faust_config``); it is passed in rather than imported
    so the streams never depend on how the broker was started.
    """
    settings: dict[str, Any] = {
        "broker": f"kafka://{bootstrap}",
        "store": "memory://",
        "key_serializer": "raw",
        "value_serializer": "raw",
        "web_enabled": False,
        "web_bind": "127.0.0.1",
        "datadir": str(data_dir),
        "topic_partitions": NUMBER_PARTITIONS,
        "topic_disable_leader": True,
        "consumer_auto_offset_reset": "earliest",
        "stream_wait_empty": False,
    }
    settings.update(broker_profile or {})
    settings.update(overrides)
    return faust.App(app_id, **settings)


def catalogue_channel(app: faust.App, name: str) -> faust.TopicT:
    """A Faust topic for catalogue topic ``name``, raw bytes, never declared by Faust.

    The catalogue creates topics with their partitions before any worker starts (the embedded
    broker cannot add partitions later), so Faust must not create them with its own defaults.
    """
    entry = catalogue_topic(name)
    return app.topic(
        entry.name,
        key_type=bytes,
        value_type=bytes,
        partitions=entry.partitions,
        internal=False,
    )

