"""Starting embedded children: a failed start-up leaves nothing running, and the code between fork
and exec stays within what is safe there."""

from __future__ import annotations

import functools
import os
import signal
import subprocess
from pathlib import Path
from typing import Any

import psycopg
import pytest
from confluent_kafka import KafkaError, KafkaException

from dawn.embedded import broker as broker_module
from dawn.embedded import children
from dawn.embedded import postgres as postgres_module
from dawn.embedded.broker import EmbeddedBroker, EmbeddedBrokerError
from dawn.embedded.ports import free_port, wait_for_port
from dawn.embedded.postgres import EmbeddedPostgres, EmbeddedPostgresError

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux")


class _Spawned:
    """Wraps ``spawn`` in one module and keeps every child it started."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, module: Any) -> None:
        self.procs: list[subprocess.Popen] = []
        real = module.spawn

        def spawn(*args: Any, **kwargs: Any) -> subprocess.Popen:
            proc = real(*args, **kwargs)
            self.procs.append(proc)
            return proc

        monkeypatch.setattr(module, "spawn", spawn)


class _UnhealthyAdmin:
    """An AdminClient whose metadata requests always time out: a broker that listens but is sick."""

    def __init__(self, _config: dict[str, Any]) -> None:
        pass

    def list_topics(self, **_kwargs: Any) -> None:
        raise KafkaException(KafkaError(KafkaError._TIMED_OUT, "sick broker"))


def test_a_broker_failing_its_health_check_is_stopped(
    monkeypatch: pytest.MonkeyPatch, fresh_run_dir: Path
) -> None:
    spawned = _Spawned(monkeypatch, broker_module)
    monkeypatch.setattr("confluent_kafka.admin.AdminClient", _UnhealthyAdmin)
    with pytest.raises(EmbeddedBrokerError, match="not healthy"):
        EmbeddedBroker.start(fresh_run_dir, timeout=2)
    [proc] = spawned.procs
    assert proc.poll() is not None  # stopped before the error was raised, not left to atexit


def test_a_postgres_failing_its_health_check_is_stopped(
    monkeypatch: pytest.MonkeyPatch, fresh_run_dir: Path
) -> None:
    spawned = _Spawned(monkeypatch, postgres_module)

    def refuse(*_args: Any, **_kwargs: Any) -> None:
        raise psycopg.OperationalError("sick database")

    monkeypatch.setattr(psycopg, "connect", refuse)
    with pytest.raises(EmbeddedPostgresError, match="not healthy"):
        EmbeddedPostgres.start(fresh_run_dir, timeout=2)
    [proc] = spawned.procs
    assert proc.poll() is not None


def test_a_broker_that_exits_at_once_is_reported_as_exited(
    monkeypatch: pytest.MonkeyPatch, fresh_run_dir: Path
) -> None:
    monkeypatch.setattr(broker_module, "tansu_binary", lambda: Path("/bin/false"))
    with pytest.raises(EmbeddedBrokerError, match="exited with code 1"):
        EmbeddedBroker.start(fresh_run_dir, timeout=3600)  # would wait an hour if it did not look


@pytest.mark.timeout(60)
def test_waiting_for_a_port_stops_when_the_child_has_exited() -> None:
    answers = iter([True, True, False])
    calls: list[bool] = []

    def alive() -> bool:
        calls.append(True)
        return next(answers)

    assert wait_for_port(free_port(), timeout=3600, alive=alive) is False
    assert len(calls) == 3


# -- between fork and exec --------------------------------------------------------------------------

def test_spawn_loads_no_library_and_calls_no_setpgrp_in_the_child(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A forked child of a threaded process may deadlock in the loader; the group is Popen's job."""

    def forbidden(*_args: Any, **_kwargs: Any) -> None:
        raise AssertionError("called between fork and exec")

    monkeypatch.setattr(children.ctypes, "CDLL", forbidden)
    monkeypatch.setattr(os, "setpgrp", forbidden)
    proc = children.spawn(["sleep", "30"], tmp_path / "sleep.log")
    try:
        assert os.getpgid(proc.pid) == proc.pid  # its own group: a terminal's Ctrl-C reaches us only
    finally:
        children.stop(proc, "sleep")


def test_a_child_whose_parent_is_already_gone_exits_before_exec() -> None:
    """The parent may die between fork and prctl; then no death signal would ever come."""
    not_our_pid = 2**22 + 1  # above the kernel's pid_max: the check can only fail
    proc = subprocess.Popen(["sleep", "30"],
                            preexec_fn=functools.partial(children._die_with_parent, not_our_pid))
    try:
        assert proc.wait(timeout=30) == 1
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
