"""Where a big morning's time goes: each stage's throughput and each process's CPU and memory,
against the embedded broker's own ceiling measured in the same run with the same client settings.

    python -m bench.morning_scale --advisors 30000 [--numbers 4 --mps 1000 --window 300]

Runs a real ``dawn run --stages`` (embedded broker and PostgreSQL, sandbox, gateway, one ``dawn
worker``) as a child process and reads from /proc, every half second, the CPU time and resident
size of each process of its tree: the broker, PostgreSQL (all its processes), the worker, and the
``dawn run`` process itself, which hosts the sandbox, the webhook gateway, the scheduler and the
dashboard (so the gateway's memory is that process's). The stages come from the run's report
(``dawn.morning.stages``): seed, plan, publish, send, results, statuses, state, SLA; the audit sink
is not part of ``dawn run`` and is reported as not run.

Then, with the morning over, the broker's ceiling on a fresh embedded broker of the bench's own,
for each producer profile a stage writes with (dawn.embedded.client_profile): a plain
confluent-kafka producer writes as many records as the morning's busiest topic held, of the
morning's mean record size, queued as fast as the client takes them and flushed once, with the
intents' and results' settings (idempotent, up to 200 a batch), then with the statuses' and states'
(no idempotence, 32 requests in flight); a consumer with the project's consumer settings reads the
first back; and the one-record-a-batch profile (Faust's producer, so the SLA snapshots) writes
ONE_PER_BATCH_RECORDS. Each stage's records/s is printed against the ceiling of its own profile,
and the whole morning's writes to the broker (all stages' records over the window) against the
intents' and results' one.

The machine is shared: the CPU table also shows how busy the whole machine was, so a run slowed by
other work shows it. Absolute figures move with that; compare ratios and shares.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, Producer, TopicPartition

from dawn.embedded.broker import EmbeddedBroker
from dawn.embedded.client_profile import (
    batched_producer_config,
    consumer_config,
    ordered_batched_producer_config,
    producer_config,
)
from dawn.topics import ensure_topics
from schemas.catalogue import DELIVERY_STATE, RESULTS, STATUSES

#: The stages the report gives, in a delivery's order; audit is not part of ``dawn run``.
STAGES = ("seed", "plan", "publish", "send", "results", "statuses", "state", "sla")
#: The producer profile of each stage's records (the ceiling its ratio is against); the others
#: are written with the intents' and results' profile ("ordered_batched").
STAGE_PROFILES = {"statuses": "batched", "state": "batched", "sla": "one_per_batch"}
#: One record a batch is slow on the embedded broker and only the SLA snapshots use it: this many
#: records measure its ceiling.
ONE_PER_BATCH_RECORDS = 5000
#: Stages whose records are written to the broker (seed and plan are timed by the run itself,
#: send is the sandbox's ledger).
BROKER_STAGES = ("publish", "results", "statuses", "state", "sla")
#: Kinds of process: "worker" runs the agents that send, "tracker" those that follow what was sent.
PROCESSES = ("broker", "postgres", "worker", "tracker", "dawn run")
SAMPLE_S = 0.5
_TICKS = os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------- processes, from /proc


def _stat(pid: int) -> tuple[int, str, float]:
    """(parent pid, command name, CPU seconds user+system) of a live process."""
    raw = Path(f"/proc/{pid}/stat").read_text()
    name = raw[raw.index("(") + 1:raw.rindex(")")]
    fields = raw.rsplit(")", 1)[1].split()
    return int(fields[1]), name, (int(fields[11]) + int(fields[12])) / _TICKS


def _memory_kb(pid: int) -> tuple[int, int]:
    """(resident now, peak resident) of a process, in kB."""
    rss = hwm = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1])
        elif line.startswith("VmHWM:"):
            hwm = int(line.split()[1])
    return rss, hwm


def _machine_busy_s() -> tuple[float, float]:
    """(busy CPU seconds of all cores, all CPU seconds) since boot, from /proc/stat."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    total = sum(fields[:8])
    return (total - idle) / _TICKS, total / _TICKS


def classify(pid: int, root: int, name: str, cmdline: str) -> str:
    """Which of the morning's processes ``pid`` is."""
    if pid == root:
        return "dawn run"
    if name == "tansu":
        return "broker"
    if name.startswith("postgres") or "postgres" in cmdline.split(" ", 1)[0]:
        return "postgres"
    if "dawn.cli" in cmdline and " worker" in cmdline:
        return "tracker" if "-track" in cmdline else "worker"
    return "other"


@dataclass
class Sample:
    at: float
    cpu_s: dict[str, float]
    rss_kb: dict[str, int]
    machine_busy_s: float
    machine_total_s: float


@dataclass
class TreeSampler:
    """Samples a process tree's CPU and memory by process kind, in a background thread.

    A process's CPU counts with its last reading, so one that exits loses at most a sample's worth.
    """

    root: int
    samples: list[Sample] = field(default_factory=list)
    peak_kb: dict[str, int] = field(default_factory=dict)
    _cpu: dict[int, tuple[str, float]] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)

    def start(self) -> TreeSampler:
        self._thread = threading.Thread(target=self._run, daemon=True, name="tree-sampler")
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(SAMPLE_S)

    def _tree(self) -> dict[int, tuple[int, str, float]]:
        stats: dict[int, tuple[int, str, float]] = {}
        for entry in os.scandir("/proc"):
            if entry.name.isdigit():
                try:
                    stats[int(entry.name)] = _stat(int(entry.name))
                except (OSError, ValueError):
                    continue  # gone meanwhile
        tree, frontier = {}, [self.root]
        while frontier:
            pid = frontier.pop()
            if pid in stats:
                tree[pid] = stats[pid]
                frontier.extend(p for p, (parent, _, _) in stats.items() if parent == pid)
        return tree

    def sample(self) -> None:
        rss: dict[str, int] = dict.fromkeys(PROCESSES, 0)
        for pid, (_, name, cpu) in self._tree().items():
            known = self._cpu.get(pid)
            try:
                kind = known[0] if known else classify(
                    pid, self.root, name,
                    Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"))
                now_kb, hwm_kb = _memory_kb(pid)
            except OSError:
                continue
            self._cpu[pid] = (kind, cpu)
            rss[kind] = rss.get(kind, 0) + now_kb
            if kind != "postgres":  # one process each: its own peak; postgres's is summed below
                self.peak_kb[kind] = max(self.peak_kb.get(kind, 0), hwm_kb)
        self.peak_kb["postgres"] = max(self.peak_kb.get("postgres", 0), rss["postgres"])
        cpu: dict[str, float] = {}
        for kind, seconds in self._cpu.values():
            cpu[kind] = cpu.get(kind, 0.0) + seconds
        busy, total = _machine_busy_s()
        self.samples.append(Sample(time.time(), cpu, rss, busy, total))


def cpu_between(samples: list[Sample], start: float, end: float) -> dict[str, Any]:
    """CPU seconds per process kind between the samples nearest ``start`` and ``end``, with the
    share of one core each used on average, its share of the morning's processes' CPU, and how
    busy the whole machine was (all cores, anyone's work)."""
    inside = [s for s in samples if start <= s.at <= end] or samples[-1:]
    first = max((s for s in samples if s.at <= start), key=lambda s: s.at, default=inside[0])
    last = min((s for s in samples if s.at >= end), key=lambda s: s.at, default=inside[-1])
    seconds = max(last.at - first.at, 1e-9)
    used = {k: last.cpu_s.get(k, 0.0) - first.cpu_s.get(k, 0.0) for k in (*PROCESSES, "other")}
    ours = sum(used.values())
    cores = os.cpu_count() or 1
    machine = (last.machine_busy_s - first.machine_busy_s) / max(
        last.machine_total_s - first.machine_total_s, 1e-9)
    return {
        "seconds": round(seconds, 1),
        "processes": {k: {"cpu_s": round(v, 1), "core_pct": round(100 * v / seconds, 1),
                          "share_pct": round(100 * v / ours, 1) if ours else 0.0}
                      for k, v in used.items()},
        "ours_machine_pct": round(100 * ours / seconds / cores, 1),
        "machine_busy_pct": round(100 * machine, 1),
        "cores": cores,
    }


# ---------------------------------------------------------------- the broker's ceiling


def _produce(config: dict[str, Any], topic: str, records: int, value: bytes) -> float:
    producer = Producer(config)
    started = time.monotonic()
    for i in range(records):
        while True:
            try:
                producer.produce(topic, key=f"1100000000{i % 4:05d}".encode(), value=value)
                break
            except BufferError:
                producer.poll(0.1)
    left = producer.flush()
    if left:
        raise RuntimeError(f"{left} ceiling records were not acknowledged")
    return records / (time.monotonic() - started)


def _consume(config: dict[str, Any], topic: str, partitions: int, records: int) -> float:
    consumer = Consumer(config)
    consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    started, seen = time.monotonic(), 0
    idle_since = time.monotonic()
    while seen < records:
        batch = consumer.consume(num_messages=1000, timeout=0.5)
        seen += sum(1 for m in batch if not m.error())
        if batch:
            idle_since = time.monotonic()
        elif time.monotonic() - idle_since > 30:
            raise RuntimeError(f"the ceiling consumer stopped at {seen} of {records} records")
    elapsed = time.monotonic() - started
    consumer.close()
    return records / elapsed


def measure_ceiling(records: int, value_bytes: int) -> dict[str, float]:
    """Records/s of a plain producer with each embedded profile, and of a consumer reading the
    first one's records back, on a fresh embedded broker (a topic per profile)."""
    value = os.urandom(value_bytes)
    with tempfile.TemporaryDirectory() as tmp:
        broker = EmbeddedBroker.start(Path(tmp))
        try:
            ensure_topics(broker.bootstrap)
            bootstrap = broker.bootstrap
            ordered = _produce(ordered_batched_producer_config(bootstrap, True), RESULTS.name,
                               records, value)
            consume = _consume(consumer_config(bootstrap, "bench-ceiling", True), RESULTS.name,
                               RESULTS.partitions, records)
            batched = _produce(batched_producer_config(bootstrap, True), STATUSES.name, records, value)
            one = _produce(producer_config(bootstrap, True), DELIVERY_STATE.name,
                           min(records, ONE_PER_BATCH_RECORDS), value)
        finally:
            broker.stop()
    return {"ordered_batched": ordered, "batched": batched, "one_per_batch": one, "consume": consume}


# ---------------------------------------------------------------- the figures


def stage_rows(stages: dict[str, dict[str, Any]], ceiling: dict[str, float]) -> list[dict[str, Any]]:
    """One row per stage: its records/s and that over the producer ceiling with its settings."""
    rows = []
    for name in STAGES:
        stage = stages.get(name, {})
        per_s = stage.get("per_s")
        base = ceiling[STAGE_PROFILES.get(name, "ordered_batched")]
        peak = stage.get("peak_per_s")
        rows.append({"stage": name, "count": stage.get("count", 0), "per_s": per_s,
                     "ratio": per_s / base if per_s and base else None,
                     "peak_per_s": peak, "peak_ratio": peak / base if peak and base else None,
                     "first_s": stage.get("first_s"), "last_s": stage.get("last_s"),
                     "lag_s": stage.get("lag_s")})
    return rows


def broker_writes(stages: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The morning's records written to the broker, from the first to the last, and their rate."""
    written = [stages[s] for s in BROKER_STAGES if stages.get(s, {}).get("count")]
    count = sum(s["count"] for s in written)
    first = min((s["first"] for s in written), default=0.0)
    last = max((s["last"] for s in written), default=0.0)
    return {"count": count, "seconds": round(last - first, 1),
            "per_s": count / (last - first) if last > first else None}


def mean_value_bytes(stages: dict[str, dict[str, Any]]) -> int:
    """The mean size of the morning's records written to the broker (400 when none)."""
    sized = [(s["count"], s["value_bytes"]) for s in stages.values() if s.get("value_bytes")]
    total = sum(c for c, _ in sized)
    return round(sum(c * b for c, b in sized) / total) if total else 400


def _fmt(value: float | None, spec: str = ",.0f") -> str:
    return "-" if value is None else format(value, spec)


def print_figures(report: dict[str, Any], ceiling: dict[str, float], cpu_window: dict[str, Any],
                  cpu_run: dict[str, Any], peak_kb: dict[str, int]) -> None:
    stages = report["stages"]
    print(f"\nmorning: {report['advisors']} advisors, window {report['window']['seconds']:.0f} s, "
          f"SLA {report['sla_pct']}%, duplicates {report['duplicates_sent']}, "
          f"130429 {report['throttled_130429']}, wall {report['wall_seconds']} s")
    print(f"broker ceiling (fresh embedded broker, same client settings): produce "
          f"{ceiling['ordered_batched']:,.0f}/s (intents and results), "
          f"{ceiling['batched']:,.0f}/s (statuses and states), "
          f"{ceiling['one_per_batch']:,.0f}/s (one record a batch: SLA); "
          f"consume {ceiling['consume']:,.0f}/s")
    print(f"\n{'stage':<9}{'records':>9}{'records/s':>11}{'/ceiling':>10}{'peak 1 s':>10}"
          f"{'/ceiling':>10}{'from s':>9}{'to s':>9}"
          f"{'lag p50':>9}{'lag p99':>9}{'lag max':>9}")
    for row in stage_rows(stages, ceiling):
        lag = row["lag_s"] or {}
        print(f"{row['stage']:<9}{row['count']:>9,}{_fmt(row['per_s']):>11}"
              f"{_fmt(row['ratio'], '.2g'):>10}{_fmt(row['peak_per_s']):>10}"
              f"{_fmt(row['peak_ratio'], '.2g'):>10}{_fmt(row['first_s'], '.1f'):>9}"
              f"{_fmt(row['last_s'], '.1f'):>9}{_fmt(lag.get('p50'), '.2f'):>9}"
              f"{_fmt(lag.get('p99'), '.2f'):>9}{_fmt(lag.get('max'), '.2f'):>9}")
    print(f"{'audit':<9}  not run (the audit sink is not part of `dawn run`)")
    writes = broker_writes(stages)
    share = writes["per_s"] / ceiling["ordered_batched"] if writes["per_s"] else None
    print(f"\nbroker writes of the morning: {writes['count']:,} records in {writes['seconds']} s = "
          f"{_fmt(writes['per_s'])}/s, {_fmt(share, '.3f')} of the intents' and results' ceiling")
    window = report["window"]
    deadline_s = (datetime.fromisoformat(window["deadline"])
                  - datetime.fromisoformat(window["start"])).total_seconds()
    print(f"(times: seconds after the window's start; the deadline is at {deadline_s:.0f} s; "
          "lag: seconds after the stage's input existed, see dawn/morning/stages.py)")
    for title, cpu in (("from the window's start to the last stage record", cpu_window),
                       ("whole run (start-up, seeding and read-back included)", cpu_run)):
        print(f"\nCPU {title}: {cpu['seconds']} s; machine busy {cpu['machine_busy_pct']}% of "
              f"{cpu['cores']} cores, this morning's processes {cpu['ours_machine_pct']}%")
        print(f"{'process':<10}{'CPU s':>8}{'% of a core':>13}{'share':>8}")
        for kind, figures in cpu["processes"].items():
            print(f"{kind:<10}{figures['cpu_s']:>8.1f}{figures['core_pct']:>13.1f}"
                  f"{figures['share_pct']:>7.1f}%")
    print("\npeak resident memory: " + ", ".join(
        f"{kind} {peak_kb.get(kind, 0) / 1024:,.0f} MB" for kind in PROCESSES)
        + " (postgres: all its processes at the sampled peak; dawn run hosts the gateway)")


def run_morning(args: argparse.Namespace, tmp: Path) -> tuple[int, TreeSampler, Path]:
    """Run ``dawn run --stages`` on an embedded stack of its own, sampling its process tree."""
    report = tmp / "report.json"
    argv = [sys.executable, "-m", "dawn.cli", "run", "--advisors", str(args.advisors),
            "--numbers", str(args.numbers), "--mps", str(args.mps), "--window", str(args.window),
            "--report", str(report), "--stages"]
    env = {k: v for k, v in os.environ.items()
           if k not in ("KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL")}  # always the embedded stack
    env["DAWN_RUN_DIR"] = str(tmp / "run")
    with open(tmp / "run.log", "wb") as out:
        child = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env)
        sampler = TreeSampler(child.pid).start()
        code = child.wait()
        sampler.stop()
    return code, sampler, report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--advisors", type=int, default=30_000)
    parser.add_argument("--numbers", type=int, default=4)
    parser.add_argument("--mps", type=float, default=1000.0)
    parser.add_argument("--window", type=float, default=300.0)
    parser.add_argument("--ceiling-records", type=int, default=0,
                        help="records for the ceiling (default: as many as the busiest topic held, "
                             "at least 5,000)")
    parser.add_argument("--json", type=Path, help="also write every figure here as JSON")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="dawn-morning-scale-"))
    try:
        code, sampler, report_path = run_morning(args, tmp)
        if code not in (0, 1) or not report_path.exists():
            print((tmp / "run.log").read_text(errors="replace")[-3000:], file=sys.stderr)
            print(f"morning_scale: dawn run exited {code} without a report", file=sys.stderr)
            return 1
        report = json.loads(report_path.read_text())
        stages = report["stages"]
        window_start = stages["plan"]["first"]
        last = max(s["last"] for s in stages.values() if s.get("count") and "last" in s)
        cpu_window = cpu_between(sampler.samples, window_start, last)
        cpu_run = cpu_between(sampler.samples, sampler.samples[0].at, sampler.samples[-1].at)
        busiest = max(stages[s]["count"] for s in BROKER_STAGES)
        ceiling = measure_ceiling(args.ceiling_records or max(busiest, 5000), mean_value_bytes(stages))
        print_figures(report, ceiling, cpu_window, cpu_run, sampler.peak_kb)
        if args.json:
            args.json.write_text(json.dumps({
                "report": report, "ceiling": ceiling, "stages": stage_rows(stages, ceiling),
                "broker_writes": broker_writes(stages), "cpu_window": cpu_window, "cpu_run": cpu_run,
                "peak_rss_kb": sampler.peak_kb}, indent=2) + "\n")
        return 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
