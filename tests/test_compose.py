"""The production compose file, checked without a Docker engine: every service runs a real dawn
command, every variable it sets is one dawn reads, every file it mounts exists, and the Grafana
dashboard queries metrics the services really export."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from consumers.audit.metrics import AuditMetrics
from dawn.cli import build_parser
from dawn.settings import SETTINGS_DOC
from ops.metrics import METRICS
from producers.gateway.metrics import GatewayMetrics
from producers.scheduler.metrics import SchedulerMetrics
from streams.metrics import WorkerMetrics

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


SERVICE_METRICS = {"gateway": GatewayMetrics, "worker": WorkerMetrics, "scheduler": SchedulerMetrics,
                   "audit": AuditMetrics}
SUFFIXES = {"counter": ("_total",), "gauge": ("",), "histogram": ("_bucket", "_sum", "_count")}


def exported_series() -> set[str]:
    """Every series name the services' own metric classes export (declared in ops.metrics)."""
    names = set()
    for service, make in SERVICE_METRICS.items():
        families = {f.name for f in make().registry.collect()}
        declared = {m.name for m in METRICS[service]}
        assert families == declared, service  # a class exports exactly what is declared
        names |= {m.name + suffix for m in METRICS[service] for suffix in SUFFIXES[m.kind]}
    return names


def test_dashboard_queries_metrics_the_services_export() -> None:
    names = exported_series()
    dashboard = json.loads((ROOT / "deploy/grafana/dashboards/dawn.json").read_text())
    used_anywhere = set()
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            used = set(re.findall(r"dawn_\w+", target["expr"]))
            assert used and used <= names, (panel["title"], used - names)
            used_anywhere |= used
    # the whole pipeline is on the dashboard: every service has a panel
    for service in SERVICE_METRICS:
        assert any(name.startswith(f"dawn_{service}_") for name in used_anywhere), service


ANY_ADDRESS = "0.0.0.0"  # noqa: S104 - inside a container, where Prometheus must reach it
PROMETHEUS = yaml.safe_load((ROOT / "deploy/prometheus.yml").read_text())


def test_prometheus_scrapes_every_service_with_the_mounted_ops_token() -> None:
    prometheus = SERVICES["prometheus"]
    secrets = {s if isinstance(s, str) else s["source"] for s in prometheus.get("secrets", [])}
    mounted = {f"/run/secrets/{name}" for name in secrets}
    mounted |= {v.split(":")[1] for v in prometheus.get("volumes", [])}
    for name in secrets:  # from the operator's environment, never a file in the repository
        assert set(COMPOSE["secrets"][name]) == {"environment"}
        assert COMPOSE["secrets"][name]["environment"] == "DAWN_OPS_TOKEN"
    parser = build_parser()
    scraped = set()
    for job in PROMETHEUS["scrape_configs"]:
        assert job["authorization"]["credentials_file"] in mounted, job["job_name"]
        for target in (t for group in job["static_configs"] for t in group["targets"]):
            host, port = target.split(":")
            service = SERVICES[host]
            args = parser.parse_args(service["command"])
            listens = getattr(args, "metrics_port", None) or getattr(args, "port", None)
            assert listens == int(port), (job["job_name"], "the service does not serve that port")
            listen_host = getattr(args, "metrics_host", None) or getattr(args, "host", None)
            assert listen_host == ANY_ADDRESS, f"{host} listens on loopback only"
            scraped.add(host)
    assert {"gateway", "worker", "scheduler", "audit"} <= scraped
