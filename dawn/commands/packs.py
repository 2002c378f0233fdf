"""``dawn packs publish FILE.json``: put a compliance-approved ContentPack into Kafka.

For people and tests; the compliance engine may produce the same records itself. The pack is
validated first (its fields, then every image it names is fetched and checked as Meta will check
it) and every problem printed, so nothing half-right reaches the scheduler.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path

from confluent_kafka import KafkaException
from rich.console import Console

from dawn.commands.topics import NoBroker, resolve_bootstrap
from dawn.embedded.client_profile import consumer_config, producer_config
from dawn.settings import Settings
from dawn.topics import ensure_topics
from producers.intake.packs import PackError, check_media, fetch_url, load_pack_file, publish_pack
from producers.kafka_io import KafkaConfigs, ProduceError
from schemas.catalogue import PACKS
from schemas.codec import Codec


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("packs", help="publish compliance-approved content packs")
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    publish = actions.add_parser("publish", help="validate a ContentPack JSON file and publish it")
    publish.add_argument("file", type=Path, metavar="FILE.json")
    publish.add_argument("--bootstrap", metavar="HOST:PORT",
                         help="Kafka to use (default: KAFKA_BOOTSTRAP_SERVERS, else a running dawn up)")
    publish.set_defaults(handler=run_publish)


def kafka_configs(bootstrap: str, settings: Settings) -> KafkaConfigs:
    """Client configs for the scheduler's Kafka I/O, with the embedded profile where it applies.

    An explicit bootstrap without KAFKA_BOOTSTRAP_SERVERS is most likely a ``dawn up`` broker, and
    the embedded profile is only slower on a real Kafka, never wrong, so it applies then too.
    """
    embedded = settings.embedded_kafka
    return KafkaConfigs(producer=producer_config(bootstrap, embedded),
                        consumer=consumer_config(bootstrap, "dawn-scheduler", embedded))


def run_publish(args: argparse.Namespace, settings: Settings) -> int:
    try:
        record = load_pack_file(args.file, published_at=datetime.now(UTC))
        check_media(record, fetch_url)
    except PackError as exc:
        print(f"dawn packs publish: {exc}", file=sys.stderr)
        return 2
    try:
        bootstrap = resolve_bootstrap(args.bootstrap, settings)
        report = ensure_topics(bootstrap, [PACKS])[0]
        if not report.ok:
            print(f"dawn packs publish: topic {PACKS.name}: {report.outcome}. {report.detail}",
                  file=sys.stderr)
            return 2
        publish_pack(kafka_configs(bootstrap, settings), record,
                     Codec(schema_registry_url=settings.schema_registry_url))
    except (NoBroker, KafkaException, ProduceError) as exc:
        print(f"dawn packs publish: {exc}", file=sys.stderr)
        return 2
    Console().print(f"published pack [bold]{record['pack_id']}[/bold] for {record['run_date']} "
                    f"({len(record['variants'])} variant(s)) to {PACKS.name}")
    return 0
