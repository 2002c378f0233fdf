"""Achieved send rate over the allowed rate, per number, with the sandbox's own count of 130429s.

A backlog of intents (all due now) for three numbers goes through ``dawn worker`` against the
sandbox at its default 80 mps per number, with realistic API latency (median 150 ms, p99 300 ms),
so each number's lane runs flat out at its allowed rate. The rate is read from the sandbox's
ledger (first to last acceptance of each number), never from the sender's own counts.

    python -m bench.sender_rate [--per-number 1200] [--latency-ms 150]   # from the repo root

Goal, judged on both sides: ratio >= 0.95 for every number AND the sandbox's arrival peak (most
acceptances in any sliding second) never above the allowed rate, with zero 130429. The sandbox
allows no burst, so an overshoot shows as 130429s as well as in the peak. The broker client
profile in use is printed
(the embedded broker's profile unless KAFKA_BOOTSTRAP_SERVERS is set).
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from collections import defaultdict
from pathlib import Path

from dawn.embedded.stack import Stack
from dawn.settings import Settings
from dawn.topics import ensure_topics
from sandbox.config import FaultConfig, SandboxConfig
from sandbox.server import SandboxServer
from store.migrations import apply_migrations
from tests import sender_morning as m

ALLOWED_MPS = 80.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-number", type=int, default=1200)
    parser.add_argument("--latency-ms", type=float, default=150.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, Stack.start(Settings.from_env(), run_dir=Path(tmp)) as stack:
        apply_migrations(stack.database_url)
        ensure_topics(stack.kafka_bootstrap)
        faults = FaultConfig(latency_median_ms=args.latency_ms, latency_p99_ms=args.latency_ms * 2)
        with SandboxServer(SandboxConfig(faults=faults)) as sandbox:
            morning = m.seed(stack.database_url, stack.kafka_bootstrap, stack.embedded_kafka, Path(tmp),
                             n=args.per_number * len(m.NUMBERS), spread_s=0.0)
            worker = m.start_worker(stack.kafka_bootstrap, stack.database_url, sandbox.base_url,
                                    stack.embedded_kafka, f"bench-{uuid.uuid4().hex[:6]}",
                                    Path(tmp) / "worker.log", {"mps": ALLOWED_MPS})
            started = time.monotonic()
            try:
                doc = m.wait_until_all_accepted(sandbox.base_url, morning.eligible, 600, worker)
            finally:
                worker.terminate()
                worker.wait(30)
        profile = "embedded (intents and results up to 200 a batch)" if stack.embedded_kafka else "default"
        print(f"broker client profile: {profile}")
    print(f"{len(morning.eligible)} sends over {len(m.NUMBERS)} numbers in {time.monotonic() - started:.1f} s"
          f" (including worker start), API latency median {args.latency_ms:.0f} ms")
    times: dict[str, list[float]] = defaultdict(list)
    wanted = set(morning.eligible)
    for entry in doc["entries"]:
        if entry["callback_data"] in wanted:
            times[entry["phone_number_id"]].append(entry["time"])
    worst = 1.0
    for number, stamps in sorted(times.items()):
        stamps.sort()
        rate = (len(stamps) - 1) / (stamps[-1] - stamps[0])
        worst = min(worst, rate / ALLOWED_MPS)
        print(f"number {number}: {len(stamps)} sends, {rate:.1f} mps achieved / {ALLOWED_MPS:.0f} allowed"
              f" = {rate / ALLOWED_MPS:.3f}; peak 1-s window {doc['peak_mps'].get(number)}")
    peak = max(doc["peak_mps"].values(), default=0)
    met = worst >= 0.95 and peak <= ALLOWED_MPS and doc["throttled_130429"] == 0
    print(f"throttled_130429: {doc['throttled_130429']}")
    print(f"ratio (worst number): {worst:.3f}; highest arrival peak {peak} / {ALLOWED_MPS:.0f};"
          f" goal >= 0.95 AND peak <= rate with zero 130429: {'MET' if met else 'NOT MET'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
