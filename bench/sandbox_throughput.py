"""How many sends per second the sandbox serves on one core, against a plain Starlette endpoint.

The sandbox must never be what limits a benchmark of the pipeline, so this measures it alone: the
server in one process (pinned to one core where the machine has two), the load from another (pinned
to the other), limits set far above anything reachable, webhooks off. The same load is then aimed at
a hello-world Starlette endpoint served the same way, and the ratio is printed: it says how much of
uvicorn + Starlette's own ceiling the sandbox's checks and ledger cost.

    python bench/sandbox_throughput.py [--seconds 3] [--connections 32] [--rounds 3]

The two servers are measured in alternating rounds and the best round of each is compared:
on a machine shared with other work, interference only ever lowers a figure.

The load generator speaks HTTP/1.1 keep-alive over raw asyncio streams, because an HTTP client
library would spend more CPU per request than the server and measure itself.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from starlette.applications import Starlette

from dawn.embedded.ports import free_port, wait_for_port

NUMBER = "110000000000001"
SERVER_CORE, LOAD_CORE = 0, 1


def _pin(core: int) -> None:
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {core})


def _sandbox_app() -> Starlette:
    from sandbox.app import build_app
    from sandbox.config import LimitsConfig, NumberConfig, SandboxConfig
    from sandbox.state import Sandbox

    config = SandboxConfig(
        numbers=[NumberConfig(id=NUMBER, display_phone_number="912240000001", mps=1e9)],
        limits=LimitsConfig(pair_burst=10**9, messaging_tier="TIER_UNLIMITED"))
    return build_app(Sandbox(config))


def _hello_app() -> Starlette:
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def hello(_request: object) -> JSONResponse:
        return JSONResponse({"hello": "world"})

    return Starlette(routes=[Route("/{version}/{node}/messages", hello, methods=["POST"])])


def serve(kind: str, port: int) -> None:
    import uvicorn

    _pin(SERVER_CORE)
    app = _sandbox_app() if kind == "sandbox" else _hello_app()
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def _request(port: int, serial: int) -> bytes:
    body = json.dumps({
        "messaging_product": "whatsapp", "recipient_type": "individual",
        "to": f"91{serial:010d}", "type": "template", "biz_opaque_callback_data": f"d-{serial}",
        "template": {"name": "daily_pack_v1", "language": {"code": "hi"}, "components": [
            {"type": "header", "parameters": [{"type": "image",
                                               "image": {"link": "https://example.com/p.jpg"}}]},
            {"type": "body", "parameters": [{"type": "text", "parameter_name": "advisor_name",
                                             "text": "आशा"}]}]}}).encode()
    head = (f"POST /v26.0/{NUMBER}/messages HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n")
    return head.encode() + body


async def _connection(port: int, start: int, stop_at: float, counts: dict[str, int]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    serial = start
    try:
        while time.monotonic() < stop_at:
            writer.write(_request(port, serial))
            serial += 1
            status_line = await reader.readline()
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            await reader.readexactly(length)
            counts["ok" if status_line.split()[1] == b"200" else "errors"] += 1
    finally:
        writer.close()


async def _load(port: int, seconds: float, connections: int) -> dict[str, float]:
    warm: dict[str, int] = {"ok": 0, "errors": 0}
    await asyncio.gather(*(_connection(port, 10**9 + i * 10**6, time.monotonic() + 1.0, warm)
                           for i in range(connections)))
    counts: dict[str, int] = {"ok": 0, "errors": 0}
    started = time.monotonic()
    await asyncio.gather(*(_connection(port, i * 10**6, started + seconds, counts)
                           for i in range(connections)))
    elapsed = time.monotonic() - started
    return {"per_s": counts["ok"] / elapsed, "ok": counts["ok"], "errors": counts["errors"]}


def load(port: int, seconds: float, connections: int) -> None:
    _pin(LOAD_CORE)
    print(json.dumps(asyncio.run(_load(port, seconds, connections))))


def _measure(kind: str, seconds: float, connections: int) -> dict[str, float]:
    port = free_port()
    script = str(Path(__file__).resolve())
    server = subprocess.Popen([sys.executable, script, "--serve", kind, "--port", str(port)])
    try:
        if not wait_for_port(port, timeout=30.0):
            raise RuntimeError(f"{kind} server did not start")
        out = subprocess.run([sys.executable, script, "--load", "--port", str(port),
                              "--seconds", str(seconds), "--connections", str(connections)],
                             check=True, capture_output=True, text=True).stdout
        result = json.loads(out)
        if kind == "sandbox":
            import httpx

            ledger = httpx.get(f"http://127.0.0.1:{port}/sandbox/ledger?entries=0").json()
            result["ledger_accepted"] = ledger["accepted"]
        return result
    finally:
        server.terminate()
        server.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--serve", choices=("sandbox", "hello"), help=argparse.SUPPRESS)
    parser.add_argument("--load", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port)
        return
    if args.load:
        load(args.port, args.seconds, args.connections)
        return
    rounds: dict[str, list[dict[str, float]]] = {"sandbox": [], "hello": []}
    for _ in range(args.rounds):
        for kind, results in rounds.items():
            results.append(_measure(kind, args.seconds, args.connections))
    sandbox = max(rounds["sandbox"], key=lambda r: r["per_s"])
    hello = max(rounds["hello"], key=lambda r: r["per_s"])
    every = {kind: " ".join(f"{r['per_s']:.0f}" for r in results) for kind, results in rounds.items()}
    print(f"sandbox sends/s  {sandbox['per_s']:8.0f}   (rounds: {every['sandbox']}; best round "
          f"{sandbox['ok']} accepted, {sandbox['errors']} errors, ledger {sandbox['ledger_accepted']} "
          "incl. warm-up)")
    print(f"hello-world /s   {hello['per_s']:8.0f}   (rounds: {every['hello']}; plain Starlette, "
          "same server and load)")
    print(f"ratio            {sandbox['per_s'] / hello['per_s']:8.2f}   "
          f"({args.connections} connections, {args.seconds:g} s rounds, server on one core)")


if __name__ == "__main__":
    main()
