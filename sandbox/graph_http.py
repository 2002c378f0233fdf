"""What every Graph endpoint does around its own work: version and token checks, injected latency,
5xx and timeouts, and Meta's error JSON.

Faults strike here, before the handler runs, so a 5xx or a timeout never leaves a ledger entry;
the one fault that strikes after acceptance lives in the messages route.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import re
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from sandbox.graph_errors import GraphError
from sandbox.state import Sandbox

Handler = Callable[[Request], Awaitable[Response]]

_VERSION = re.compile(r"^v\d+(\.\d+)?$")


def error_response(error: GraphError) -> JSONResponse:
    return JSONResponse(error.body(), status_code=error.http_status)


def _check_auth(sandbox: Sandbox, request: Request) -> None:
    expected = sandbox.config.access_token
    if not expected:
        return
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    # The Resumable Upload API documents "OAuth <token>"; everything else uses "Bearer".
    if scheme.lower() not in ("bearer", "oauth") or not hmac.compare_digest(
            token.strip().encode(), expected.encode()):
        raise GraphError(190, "The access token could not be decrypted.", http_status=401)


async def timed_out(sandbox: Sandbox) -> Response:
    """Hold the request past the client's timeout, then answer as a gateway would: a bare 504
    with no Graph error, the same whether or not the message was accepted, because a client that
    times out cannot tell either. A server stopping meanwhile cuts the hold short: the answer is
    still the 504 (nobody is waiting for it), not a cancelled request logged as a crash."""
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.sleep(sandbox.faults.config.timeout_hold_s)
    return PlainTextResponse("upstream request timeout", status_code=504)


def graph_endpoint(sandbox: Sandbox, handler: Handler, *, counts_rejections: bool = False) -> Handler:
    """Wrap ``handler`` as a Graph API endpoint; ``counts_rejections`` records every refusal
    in the ledger (for the send endpoint)."""

    async def endpoint(request: Request) -> Response:
        faults = sandbox.faults
        try:
            if not _VERSION.match(request.path_params.get("version", "")):
                raise GraphError(100, "Unknown path components", http_status=400)
            latency = faults.latency_s()
            if latency:
                await asyncio.sleep(latency)
            _check_auth(sandbox, request)
            sandbox.catch_up()
            if faults.roll(faults.config.error_5xx_rate):
                sandbox.ledger.faults["5xx"] += 1
                if faults.rng.random() < 0.5:
                    raise GraphError(1, http_status=500)
                raise GraphError(2, http_status=503)
            if faults.roll(faults.config.timeout_rate):
                sandbox.ledger.faults["timeout"] += 1
                return await timed_out(sandbox)
            return await handler(request)
        except GraphError as error:
            if counts_rejections:
                sandbox.ledger.reject(error.code)
            return error_response(error)

    return endpoint


async def json_body(request: Request) -> Any:
    raw = await request.body()
    try:
        return json.loads(raw) if raw else {}
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise GraphError(100, "The request body is not valid JSON.") from None


def requested_fields(request: Request) -> list[str]:
    return [f.strip() for f in request.query_params.get("fields", "").split(",") if f.strip()]
