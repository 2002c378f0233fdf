"""``dawn up`` leaves no broker or database behind, however it ends.

A killed parent that leaves its children running is how shared machines fill up with orphaned
brokers and databases holding ports and memory. These tests run the real ``dawn up`` in a
subprocess, note every process under it, end it, and look for survivors in /proc.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from dawn import endpoints

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")

WAIT_S = 60  # bound for dawn up to be ready; an upper limit, not an expectation
GONE_S = 10  # "within a few seconds": PostgreSQL needs a moment for its shutdown checkpoint


def _stat(pid: int) -> tuple[str, int, int] | None:
    """(state, parent pid, start time) of ``pid``, or None if there is no such process."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2:].split()  # the command name may hold spaces and parens
    return fields[0], int(fields[1]), int(fields[19])


def _descendants(root: int) -> dict[int, int]:
    """pid -> start time of every process under ``root`` (start time tells a reused pid apart)."""
    parents: dict[int, int] = {}
    starts: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := _stat(int(entry.name))) is not None:
            parents[int(entry.name)] = stat[1]
            starts[int(entry.name)] = stat[2]
    found: dict[int, int] = {}
    frontier = [root]
    while frontier:
        parent = frontier.pop()
        for pid, ppid in parents.items():
            if ppid == parent and pid not in found:
                found[pid] = starts[pid]
                frontier.append(pid)
    return found


def _survivors(processes: dict[int, int]) -> list[int]:
    alive = []
    for pid, start in processes.items():
        stat = _stat(pid)
        if stat is not None and stat[2] == start and stat[0] != "Z":
            alive.append(pid)
    return alive


@dataclass
class RunningUp:
    proc: subprocess.Popen
    run_dir: Path
    children: dict[str, int]  # from endpoints.json
    processes: dict[int, int]  # every process under dawn up, pid -> start time

    def output(self) -> str:
        return (self.run_dir / "up.out").read_text() + (self.run_dir / "up.err").read_text()


@pytest.fixture
def dawn_up(fresh_run_dir: Path) -> Iterator[RunningUp]:
    """A real ``dawn up`` on embedded services, ready (its endpoints.json written)."""
    env = {k: v for k, v in os.environ.items() if k not in ("KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL")}
    env["DAWN_RUN_DIR"] = str(fresh_run_dir)
    with open(fresh_run_dir / "up.out", "wb") as out, open(fresh_run_dir / "up.err", "wb") as err:
        proc = subprocess.Popen([sys.executable, "-m", "dawn.cli", "up"], env=env, stdout=out,
                                stderr=err, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + WAIT_S
        running = endpoints.read(fresh_run_dir)
        while running is None or running.pid != proc.pid:
            assert proc.poll() is None, (fresh_run_dir / "up.err").read_text()
            assert time.monotonic() < deadline, "dawn up did not get ready"
            time.sleep(0.1)
            running = endpoints.read(fresh_run_dir)
        yield RunningUp(proc, fresh_run_dir, running.children, _descendants(proc.pid))
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def _wait_gone(processes: dict[int, int]) -> list[int]:
    deadline = time.monotonic() + GONE_S
    while (alive := _survivors(processes)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return alive


def test_sigkill_leaves_no_process_behind(dawn_up: RunningUp) -> None:
    assert set(dawn_up.children) == {"broker", "postgres"}
    assert set(dawn_up.children.values()) <= set(dawn_up.processes)
    dawn_up.proc.send_signal(signal.SIGKILL)
    dawn_up.proc.wait()
    assert _wait_gone(dawn_up.processes) == []


def test_ctrl_c_stops_cleanly(dawn_up: RunningUp) -> None:
    assert "wa.delivery.intents" in dawn_up.output()  # it printed the topics it created
    dawn_up.proc.send_signal(signal.SIGINT)
    assert dawn_up.proc.wait(timeout=WAIT_S) == 0, dawn_up.output()
    assert _survivors(dawn_up.processes) == []  # stopped before it exited, not after
    assert not endpoints.path(dawn_up.run_dir).exists()
    assert "stopping" in dawn_up.output()
    assert "Traceback" not in dawn_up.output()


def test_ctrl_c_during_start_up_stops_cleanly(fresh_run_dir: Path) -> None:
    """Ctrl-C while the broker and database are still starting must not wait for them to finish."""
    env = {k: v for k, v in os.environ.items() if k not in ("KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL")}
    env["DAWN_RUN_DIR"] = str(fresh_run_dir)
    with open(fresh_run_dir / "up.out", "wb") as out, open(fresh_run_dir / "up.err", "wb") as err:
        proc = subprocess.Popen([sys.executable, "-m", "dawn.cli", "up"], env=env, stdout=out,
                                stderr=err, stdin=subprocess.DEVNULL)
    seen: dict[int, int] = {}
    try:
        deadline = time.monotonic() + WAIT_S
        while not seen:  # the first child (the broker) is up: start-up is under way
            assert proc.poll() is None and time.monotonic() < deadline, "dawn up started no child"
            seen.update(_descendants(proc.pid))
            time.sleep(0.02)
        assert endpoints.read(fresh_run_dir) is None, "start-up finished before the test could interrupt it"
        proc.send_signal(signal.SIGINT)
        while proc.poll() is None and time.monotonic() < deadline:
            seen.update(_descendants(proc.pid))  # it may still spawn before the signal lands
            time.sleep(0.02)
        output = (fresh_run_dir / "up.out").read_text() + (fresh_run_dir / "up.err").read_text()
        assert proc.wait(timeout=GONE_S) == 130, output
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
    assert _survivors(seen) == []  # stopped by dawn up itself, before it exited
    assert "running; Ctrl-C" not in output and "Traceback" not in output
    assert not endpoints.path(fresh_run_dir).exists()
