"""The production compose file, checked without a Docker engine: every service runs a real dawn
command, every variable it sets is one dawn reads, every file it mounts exists, and the Grafana
dashboard queries metrics the services really export."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from dawn.cli import build_parser
from dawn.settings import SETTINGS_DOC
from producers.gateway.metrics import GatewayMetrics

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
DAWN_SERVICES = {n: s for n, s in SERVICES.items() if s.get("image") == "dawn:latest"}


def test_every_dawn_service_runs_a_command_dawn_has() -> None:
    parser = build_parser()
    commands = {s["command"][0] for s in DAWN_SERVICES.values()}
    assert {"worker", "schedule", "gateway", "audit", "topics"} <= commands
    for name, service in DAWN_SERVICES.items():
        args = parser.parse_args(service["command"])  # exits (fails the test) on a wrong command
        assert args.handler, name


def test_dawn_services_set_only_variables_dawn_reads() -> None:
    documented = {name for name, _, _ in SETTINGS_DOC}
    for name, service in DAWN_SERVICES.items():
        assert set(service["environment"]) <= documented, name
        assert "KAFKA_BOOTSTRAP_SERVERS" in service["environment"]  # never the embedded broker
        assert "DATABASE_URL" in service["environment"]


def test_secrets_are_required_from_the_environment_not_written_here() -> None:
    env = COMPOSE["x-dawn-env"]
    for name in ("WHATSAPP_ACCESS_TOKEN", "WHATSAPP_APP_SECRET", "WHATSAPP_VERIFY_TOKEN",
                 "DAWN_OPS_TOKEN"):
        assert re.fullmatch(r"\$\{\w+:\?[^}]+\}", env[name]), name


def test_mounted_files_exist_and_dependencies_are_services() -> None:
    for name, service in SERVICES.items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), f"{name} mounts missing {source}"
        for dependency in service.get("depends_on", {}):
            assert dependency in SERVICES, f"{name} depends on unknown {dependency}"


def test_dashboard_queries_metrics_the_gateway_exports() -> None:
    metrics = GatewayMetrics()
    metrics.requests.labels("200").inc()
    metrics.events.labels("wa.status.events").inc()
    names = {s.name for family in metrics.registry.collect() for s in family.samples}
    dashboard = json.loads((ROOT / "deploy/grafana/dashboards/dawn.json").read_text())
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            used = re.findall(r"dawn_\w+", target["expr"])
            assert used and set(used) <= names, (panel["title"], set(used) - names)
