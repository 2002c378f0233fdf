"""The sender's sends per CPU-second against a plain httpx loop, same unthrottled sandbox, same run.

The sandbox gets three numbers with no throughput limit and no injected latency. First ``dawn
worker`` sends a backlog of intents through the whole pipeline (Kafka in, ledger claim and
outcome in PostgreSQL, result out); then a bare asyncio + httpx loop in its own process posts the
same template messages. Each side's whole CPU for the work is compared, start-up excluded: the
worker is started first and left to go idle, then the intents are produced, and its CPU is read
from /proc from then until the last intent is acknowledged (its group's committed offsets reach the
end of the topic), so consuming, claiming, recording outcomes, producing results and committing
all count; the loop's from its own process clock. Sends per CPU-second are compared:

    python -m bench.sender_vs_httpx [--sends 3000]      # from the repo root

Goal: ratio >= 0.8. The broker client profile in use is printed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
from confluent_kafka import Consumer, TopicPartition

from dawn.embedded.stack import Stack
from dawn.settings import Settings
from dawn.topics import ensure_topics
from sandbox.config import LimitsConfig, NumberConfig, SandboxConfig
from sandbox.server import SandboxServer
from schemas.catalogue import INTENTS
from store.migrations import apply_migrations
from tests import sender_morning as m

UNLIMITED_MPS = 1_000_000.0
IN_FLIGHT = 32
_TICKS = os.sysconf("SC_CLK_TCK")


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS  # utime + stime


def _sandbox_config() -> SandboxConfig:
    numbers = [NumberConfig(id=n, display_phone_number=f"9122400000{i}", mps=UNLIMITED_MPS)
               for i, n in enumerate(m.NUMBERS)]
    return SandboxConfig(numbers=numbers, limits=LimitsConfig(messaging_tier="TIER_UNLIMITED"))


def _idle(worker: subprocess.Popen, tmp: Path) -> None:
    """Wait until the worker has started and settled: under 2% of a core for two seconds."""
    time.sleep(5.0)
    while True:
        if worker.poll() is not None:
            raise SystemExit(f"worker exited with {worker.returncode}; see {tmp / 'worker.log'}")
        before = _cpu_s(worker.pid)
        time.sleep(2.0)
        if _cpu_s(worker.pid) - before < 0.04:
            return


def _all_acknowledged(bootstrap: str, group: str) -> bool:
    """The group's committed offsets on the intents topic are at the end of every partition."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group,
                         "enable.auto.commit": False})
    try:
        topic = consumer.list_topics(INTENTS.name, timeout=10).topics[INTENTS.name]
        partitions = [TopicPartition(INTENTS.name, p) for p in topic.partitions]
        for tp in consumer.committed(partitions, timeout=10):
            high = consumer.get_watermark_offsets(tp, timeout=10)[1]
            if high > 0 and tp.offset < high:
                return False
        return True
    finally:
        consumer.close()


def _measure_worker(stack: Stack, sandbox: SandboxServer, tmp: Path, sends: int) -> tuple[int, float]:
    group = f"bench-{uuid.uuid4().hex[:6]}"
    worker = m.start_worker(stack.kafka_bootstrap, stack.database_url, sandbox.base_url,
                            stack.embedded_kafka, group, tmp / "worker.log",
                            {"mps": UNLIMITED_MPS, "in_flight": IN_FLIGHT})
    try:
        _idle(worker, tmp)
        cpu0 = _cpu_s(worker.pid)
        m.seed(stack.database_url, stack.kafka_bootstrap, stack.embedded_kafka, tmp, n=sends, spread_s=0.0)
        while True:
            if worker.poll() is not None:
                raise SystemExit(f"worker exited with {worker.returncode}; see {tmp / 'worker.log'}")
            accepted = m.ledger(sandbox.base_url, entries=False)["accepted"]
            if accepted >= sends and _all_acknowledged(stack.kafka_bootstrap, group):
                return accepted, _cpu_s(worker.pid) - cpu0
            time.sleep(0.2)
    finally:
        worker.terminate()
        worker.wait(30)


async def _httpx_loop(base_url: str, sends: int) -> dict[str, float]:
    """The plain loop: one keep-alive client per number, IN_FLIGHT requests in flight each."""
    clients = {n: httpx.AsyncClient(base_url=f"{base_url}/v26.0", limits=httpx.Limits(
        max_connections=IN_FLIGHT, max_keepalive_connections=IN_FLIGHT)) for n in m.NUMBERS}
    media = {}
    for number, client in clients.items():
        image = ("p.jpg", b"\xff\xd8\xff\xe0" + b"0" * 256, "image/jpeg")
        response = await client.post(f"/{number}/media", data={"messaging_product": "whatsapp"},
                                     files={"file": image})
        media[number] = response.json()["id"]
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(sends):
        queue.put_nowait(i)
    ok = 0

    async def run(number: str) -> None:
        nonlocal ok
        client = clients[number]
        while not queue.empty():
            i = queue.get_nowait()
            body = {"messaging_product": "whatsapp", "recipient_type": "individual",
                    "to": f"91{8000000000 + i}", "type": "template", "biz_opaque_callback_data": f"h{i}",
                    "template": {"name": "daily_pack_v1", "language": {"code": "en"}, "components": [
                        {"type": "header", "parameters": [{"type": "image", "image": {"id": media[number]}}]},
                        {"type": "body", "parameters": [
                            {"type": "text", "parameter_name": "advisor_name", "text": "Asha"}]}]}}
            response = await client.post(f"/{number}/messages", json=body)
            ok += response.status_code == 200

    cpu0 = time.process_time()
    await asyncio.gather(*(run(n) for n in m.NUMBERS for _ in range(IN_FLIGHT)))
    cpu = time.process_time() - cpu0
    for client in clients.values():
        await client.aclose()
    return {"sends": ok, "cpu_s": cpu}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sends", type=int, default=3000)
    parser.add_argument("--httpx-loop", metavar="BASE_URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.httpx_loop:
        print(json.dumps(asyncio.run(_httpx_loop(args.httpx_loop, args.sends))))
        return 0
    with tempfile.TemporaryDirectory() as tmp, Stack.start(Settings.from_env(), run_dir=Path(tmp)) as stack:
        apply_migrations(stack.database_url)
        ensure_topics(stack.kafka_bootstrap)
        with SandboxServer(_sandbox_config()) as sandbox:
            sender_sends, sender_cpu = _measure_worker(stack, sandbox, Path(tmp), args.sends)
            loop = json.loads(subprocess.run(
                [sys.executable, "-m", "bench.sender_vs_httpx", "--sends", str(args.sends),
                 "--httpx-loop", sandbox.base_url], check=True, capture_output=True, text=True,
            ).stdout)
        profile = "embedded (intents and results up to 200 a batch)" if stack.embedded_kafka else "default"
    sender_rate = sender_sends / sender_cpu
    loop_rate = loop["sends"] / loop["cpu_s"]
    print(f"broker client profile: {profile}")
    print(f"sender (dawn worker): {sender_sends} sends in {sender_cpu:.2f} CPU-s"
          f" = {sender_rate:.0f} sends/s per core")
    print(f"plain httpx loop:     {loop['sends']} sends in {loop['cpu_s']:.2f} CPU-s"
          f" = {loop_rate:.0f} sends/s per core")
    ratio = sender_rate / loop_rate
    print(f"ratio: {ratio:.3f}  goal >= 0.8: {'MET' if ratio >= 0.8 else 'NOT MET'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
