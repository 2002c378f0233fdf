"""``dawn fleet``: every sender number as the quality agent last published it on wa.numbers.health.

One row per number: its role (PRIMARY, SPARE, WARMING, PAUSED, STOPPED), quality and trend, Meta
status, the rate it may send at now out of its nominal rate, today's cap and warm-up day, why it
is where it is and since when. It reads the compacted topic, so it shows what every sender lane
and the scheduler act on, not a fresh poll of Meta.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from confluent_kafka import KafkaException
from rich.console import Console
from rich.table import Table

from dawn.commands.topics import NoBroker, resolve_bootstrap
from dawn.embedded.client_profile import consumer_config, producer_config
from dawn.settings import Settings
from producers.kafka_io import KafkaConfigs, read_to_end
from producers.scheduler.window import IST
from schemas.catalogue import NUMBERS_HEALTH
from schemas.codec import Codec


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("fleet", help="show each sender number's role, quality, rate, cap and reason")
    p.add_argument("--bootstrap", help="Kafka bootstrap servers (default: KAFKA_BOOTSTRAP_SERVERS "
                                       "or a running dawn up)")
    p.add_argument("--embedded-broker", action="store_true",
                   help="apply the embedded broker's client profile")
    p.add_argument("--json", action="store_true", help="print the records as JSON lines")
    p.set_defaults(handler=run)


def latest_health(kafka: KafkaConfigs, codec: Codec) -> list[dict[str, Any]]:
    """The newest NumberHealth record per number, by phone_number_id."""
    latest: dict[str, dict[str, Any]] = {}
    for stored in read_to_end(kafka, NUMBERS_HEALTH.name, codec):
        latest[stored.record["phone_number_id"]] = stored.record
    return [latest[k] for k in sorted(latest)]


def run(args: argparse.Namespace, settings: Settings) -> int:
    try:
        bootstrap = resolve_bootstrap(args.bootstrap, settings)
        embedded = args.embedded_broker or not settings.kafka_bootstrap_servers
        kafka = KafkaConfigs(producer_config(bootstrap, embedded),
                             consumer_config(bootstrap, "dawn-fleet", embedded))
        records = latest_health(kafka, Codec(settings.schema_registry_url))
    except (NoBroker, KafkaException, TimeoutError) as exc:
        print(f"dawn fleet: {exc}", file=sys.stderr)
        return 2
    if args.json:
        for record in records:
            print(json.dumps(record, default=str, sort_keys=True))
        return 0
    print_fleet(records, Console())
    return 0


def print_fleet(records: Sequence[Mapping[str, Any]], console: Console) -> None:
    if not records:
        console.print("no number health yet: is the quality agent running (dawn worker with "
                      "WHATSAPP_WABA_ID set)?", style="yellow")
        return
    table = Table("number", "role", "quality", "status", "mps now / nominal", "today's cap",
                  "warm-up day", "reason", "since (IST)")
    for r in records:
        nominal = r.get("nominal_mps")
        rate = f"{r['allowed_mps']:g} / {nominal:g}" if nominal is not None else f"{r['allowed_mps']:g}"
        trend = {"FALLING": " ↓", "RISING": " ↑"}.get(r.get("quality_trend") or "", "")
        since = r.get("since") or r["updated_at"]
        table.add_row(r["phone_number_id"], r["role"], f"{r['quality']}{trend}", r["status"], rate,
                      "-" if r.get("daily_cap") is None else str(r["daily_cap"]),
                      "-" if r.get("warmup_day") is None else str(r["warmup_day"]),
                      r.get("reason") or "", f"{since.astimezone(IST):%Y-%m-%d %H:%M:%S}")
    console.print(table)
    tiers = {r["messaging_limit_tier"] for r in records if r.get("messaging_limit_tier")}
    console.print(f"portfolio tier {', '.join(sorted(tiers)) or 'unknown'}  numbers {len(records)}  "
                  f"sending {sum(r['role'] != 'STOPPED' and r['allowed_mps'] > 0 for r in records)}")
