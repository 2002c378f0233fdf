"""Gateway latency under a 100,000-advisor morning, as a ratio to a trivial endpoint.

Load: 100,000 messages in 5 minutes, 3 status webhooks each = 1,000 statuses/s, plus ~5% of
messages answered by the advisor (inbound replies, ~17/s). Meta batches up to 1,000 updates per
POST, but at this rate most POSTs carry a few: batch sizes are drawn from a mix (half single
updates, a tail up to 100). The load runs open-loop (requests leave at their scheduled instants
whatever the previous ones did) from a separate process on loopback, and latency is measured from
the scheduled instant, so a stalled server cannot hide its queueing delay.

The same load hits a trivial Starlette endpoint (read the body, answer 200) served the same way,
in the same run; the printed ratio is gateway p99 / baseline p99. Goal: gateway p99 < 50 ms.

    python bench/gateway_p99.py [--seconds 20] [--statuses-per-s 1000]

Uses KAFKA_BOOTSTRAP_SERVERS when set (client defaults), else starts an embedded broker with its
client profile (statuses up to 200 a batch, no idempotence; ``--client-defaults`` measures the
client's own defaults, as a real Kafka would get them). The output says which ran.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import random
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from dawn.embedded.broker import EmbeddedBroker
from dawn.embedded.client_profile import gateway_producer_config
from dawn.gateway_server import GatewayServer
from dawn.settings import Secret
from dawn.topics import ensure_topics
from producers.gateway.config import GatewayConfig
from sandbox.server import UvicornThread
from whatsapp.webhooks.signature import sign

SECRET = "bench-secret"
NUMBERS = [f"1065{n:08}" for n in range(5)]  # ~80 mps each carries 100,000 in 5 minutes
BATCH_MIX = ((0.50, 1, 1), (0.30, 2, 5), (0.15, 6, 25), (0.05, 26, 100))
WARM_UP_S = 2.0

Request_ = tuple[float, bytes, str]  # (scheduled offset s, body, signature)


def _batch_size(rng: random.Random) -> int:
    roll = rng.random()
    for share, low, high in BATCH_MIX:
        if roll < share:
            return rng.randint(low, high)
        roll -= share
    return 1


def _envelope(number: str, **value: object) -> bytes:
    doc = {"object": "whatsapp_business_account", "entry": [{"id": "102290129340398", "changes": [
        {"field": "messages", "value": {"messaging_product": "whatsapp", "metadata": {
            "display_phone_number": "15550783881", "phone_number_id": number}, **value}}]}]}
    return json.dumps(doc, ensure_ascii=True).replace("/", "\\/").encode()


def build_load(seconds: float, statuses_per_s: float, reply_share: float, seed: int) -> list[Request_]:
    """The whole schedule, built before timing starts so the load process only sends."""
    rng = random.Random(seed)
    requests: list[Request_] = []
    total = int(seconds * statuses_per_s)
    made = 0
    kinds = ("sent", "delivered", "read")
    while made < total:
        size = min(_batch_size(rng), total - made)
        number = rng.choice(NUMBERS)
        ts = str(int(time.time()))
        statuses = [{
            "id": f"wamid.HBgMOTE5ODEyMzQ1Njc4FQIAERgS{made + k:010d}", "status": kinds[(made + k) % 3],
            "timestamp": ts, "recipient_id": "919812345678",
            "biz_opaque_callback_data": f"2026-11-22:adv{(made + k) // 3:06d}:pack-1",
            "pricing": {"billable": True, "pricing_model": "PMP", "type": "regular", "category": "marketing"},
        } for k in range(size)]
        body = _envelope(number, statuses=statuses)
        requests.append((rng.uniform(0, seconds), body, sign(body, SECRET)))
        made += size
    replies = int(seconds * statuses_per_s / 3 * reply_share)
    for r in range(replies):
        body = _envelope(
            rng.choice(NUMBERS),
            contacts=[{"profile": {"name": "आशा"}, "wa_id": "919812345678"}],
            messages=[{"from": "919812345678", "id": f"wamid.reply{r:08d}",
                       "timestamp": str(int(time.time())), "type": "text",
                       "text": {"body": rng.choice(["धन्यवाद", "STOP", "थांबवा", "thanks"])}}],
        )
        requests.append((rng.uniform(0, seconds), body, sign(body, SECRET)))
    requests.sort(key=lambda r: r[0])
    return requests


def _load_process(url: str, requests: list[Request_], out: mp.Queue) -> None:
    import httpx

    async def run() -> list[tuple[float, float, float, int]]:
        limits = httpx.Limits(max_connections=128, max_keepalive_connections=128)
        async with httpx.AsyncClient(limits=limits, timeout=30) as client:
            start = time.perf_counter() + 0.5

            async def fire(offset: float, body: bytes, signature: str) -> tuple[float, float, float, int]:
                await asyncio.sleep(max(0.0, start + offset - time.perf_counter()))
                lag = time.perf_counter() - (start + offset)  # the load process's own delay
                try:
                    response = await client.post(url, content=body, headers={
                        "content-type": "application/json", "x-hub-signature-256": signature})
                    code = response.status_code
                except httpx.HTTPError:  # counted as a failure, like any non-200
                    code = 0
                return offset, lag, time.perf_counter() - (start + offset), code

            return await asyncio.gather(*(fire(*r) for r in requests))

    out.put(asyncio.run(run()))


def measure(url: str, requests: list[Request_]) -> tuple[list[float], list[float], int]:
    """Latencies and the load process's own send lags (s) after warm-up, and the number of
    non-200 answers, from a separate process. A large send lag means the load generator, not
    the server, was short of CPU: the figures of that run say little."""
    ctx = mp.get_context("spawn")
    queue: mp.Queue = ctx.Queue()
    proc = ctx.Process(target=_load_process, args=(url, requests, queue))
    proc.start()
    results = queue.get(timeout=600)
    proc.join(timeout=30)
    counted = [r for r in results if r[0] >= WARM_UP_S]
    return [r[2] for r in counted], [r[1] for r in counted], sum(1 for *_, code in results if code != 200)


def _pct(values: list[float], p: float) -> float:
    return statistics.quantiles(values, n=1000)[int(p * 10) - 1] * 1000


async def _trivial(request: Request) -> PlainTextResponse:
    await request.body()
    return PlainTextResponse("ok")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="load duration per target (<= 120)")
    parser.add_argument("--statuses-per-s", type=float, default=1000.0)
    parser.add_argument("--reply-share", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=6)
    parser.add_argument("--client-defaults", action="store_true",
                        help="on the embedded broker, produce with the client defaults as a real Kafka "
                             "would, instead of the embedded profile's")
    args = parser.parse_args()
    seconds = min(args.seconds, 120.0)
    requests = build_load(seconds, args.statuses_per_s, args.reply_share, args.seed)
    updates = round(seconds * args.statuses_per_s * (1 + args.reply_share / 3))
    print(f"load: {len(requests)} POSTs carrying ~{updates} updates over {seconds:g}s "
          f"({args.statuses_per_s:g} statuses/s + {args.reply_share:.0%} replies), open loop, "
          f"first {WARM_UP_S:g}s not counted")

    with ExitStack() as stack:
        bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
        embedded = not bootstrap
        if embedded:
            run_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="dawn-bench-")))
            bootstrap = stack.enter_context(_broker(run_dir)).bootstrap
        assert bootstrap
        failed = [r for r in ensure_topics(bootstrap) if not r.ok]
        if failed:
            print(f"topics not usable: {failed}")
            return 1
        profile_on = embedded and not args.client_defaults
        if not embedded:
            profile = bootstrap
        elif profile_on:
            profile = "embedded broker, embedded client profile (1 record/batch, 32 requests in flight)"
        else:
            profile = "embedded broker, client defaults (batching)"
        print(f"kafka: {profile}")

        trivial = Starlette(routes=[Route("/webhooks/whatsapp", _trivial, methods=["POST"])])
        with UvicornThread(trivial) as base:
            base_lat, base_lag, base_bad = measure(f"{base.base_url}/webhooks/whatsapp", requests)
        config = GatewayConfig(app_secret=Secret(SECRET), verify_token=Secret("v"), ops_token=Secret(""),
                               kafka=gateway_producer_config(bootstrap, profile_on))
        with GatewayServer(config) as gw:
            gw_lat, gw_lag, gw_bad = measure(gw.webhook_url, requests)

    for name, lat, lag, bad in (("baseline", base_lat, base_lag, base_bad),
                                ("gateway", gw_lat, gw_lag, gw_bad)):
        print(f"{name:9} n={len(lat)} non-200={bad} p50={_pct(lat, 50):.1f} ms "
              f"p99={_pct(lat, 99):.1f} ms max={max(lat) * 1000:.1f} ms "
              f"(load process send lag p99={_pct(lag, 99):.1f} ms)")
    p99 = _pct(gw_lat, 99)
    print(f"gateway p99 / baseline p99 = {p99 / _pct(base_lat, 99):.2f}; "
          f"goal p99 < 50 ms: {'met' if p99 < 50 and not gw_bad else 'NOT met'}")
    return 0 if p99 < 50 and not gw_bad else 1


class _broker:
    """The embedded broker as a context manager, for the ExitStack above."""

    def __init__(self, run_dir: Path) -> None:
        self.broker = EmbeddedBroker.start(run_dir)

    def __enter__(self) -> EmbeddedBroker:
        return self.broker

    def __exit__(self, *exc: object) -> None:
        self.broker.stop()


if __name__ == "__main__":
    sys.exit(main())
