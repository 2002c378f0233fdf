"""The webhook gateway: Meta's webhooks in, Avro events in Kafka out, 200 only when Kafka has them.

Order of checks on a POST, each before any work the next needs: size (413, on the declared length
and again while reading, so a lying or chunked client cannot make us buffer more), signature over
the raw bytes (401 missing, 403 wrong: forged bodies are never parsed), JSON (400), then produce and
wait for every acknowledgement (503 if Kafka does not confirm in time: Meta retries, and the stable
event ids make the retry harmless downstream). A refused webhook's statuses are recorded in the
backlog (:mod:`producers.gateway.backlog`) until their retry is taken: the sender must not read
that number's silence as evidence meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from bus.sink import KafkaSink, SinkUnavailable
from ops.tokens import bearer_matches
from producers.gateway.backlog import Backlog
from producers.gateway.config import GatewayConfig
from producers.gateway.events import to_records
from producers.gateway.metrics import GatewayMetrics
from producers.gateway.numbers import NumberDirectory
from schemas.codec import Codec
from whatsapp.webhooks.model import WebhookFormatError, parse_notification
from whatsapp.webhooks.signature import verify_challenge, verify_signature

log = logging.getLogger("dawn.gateway")

SIGNATURE_HEADER = "x-hub-signature-256"


class _TooLarge(Exception):
    pass


async def _read_bounded(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise _TooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def create_app(config: GatewayConfig, sink: KafkaSink | None = None) -> Starlette:
    """The gateway's ASGI app. It owns ``sink`` (made from ``config.kafka`` if not given)."""
    codec = Codec(config.schema_registry_url)
    metrics = GatewayMetrics()
    state: dict[str, KafkaSink] = {}
    directory = NumberDirectory(config.numbers, config.numbers_fetch, config.numbers_refresh_s)
    backlog = Backlog(config.database_url) if config.database_url else None
    if backlog is None:
        log.warning("no database: refused status webhooks are not recorded for the sender")

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        state["sink"] = sink or KafkaSink(config.kafka, config.ack_timeout_s)
        refresher = asyncio.create_task(directory.run(), name="gateway-number-directory")
        try:
            yield
        finally:
            refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await refresher
            state["sink"].close()
            if backlog is not None:
                await backlog.aclose()

    def answer(code: int, text: str = "") -> Response:
        metrics.requests.labels(code=str(code)).inc()
        return PlainTextResponse(text, status_code=code)

    async def verify(request: Request) -> Response:
        q = request.query_params
        challenge = verify_challenge(
            q.get("hub.mode"), q.get("hub.verify_token"), q.get("hub.challenge"), config.verify_token
        )
        return answer(403, "forbidden") if challenge is None else answer(200, challenge)

    async def receive(request: Request) -> Response:
        started = time.perf_counter()
        try:
            return await _receive(request)
        finally:
            metrics.latency.observe(time.perf_counter() - started)

    async def _receive(request: Request) -> Response:
        try:
            raw = await _read_bounded(request, config.max_body_bytes)
        except _TooLarge:
            return answer(413, "payload too large")
        header = request.headers.get(SIGNATURE_HEADER)
        if not header:
            return answer(401, "missing signature")
        if not verify_signature(raw, header, config.app_secret):
            client = request.client.host if request.client else "?"
            log.warning("webhook with a wrong signature from %s", client)
            return answer(403, "bad signature")
        try:
            batch = parse_notification(raw)
        except WebhookFormatError as exc:
            return answer(400, f"malformed webhook: {exc}")
        records = to_records(batch, codec, config.now(), directory.mapping)
        try:
            await state["sink"].send(records)
        except SinkUnavailable as exc:
            log.error("webhook not acknowledged (answering 503, Meta will retry): %s", exc)
            if backlog is not None:
                await backlog.refused(batch.statuses, config.now())
            return answer(503, "kafka unavailable")
        if backlog is not None:
            await backlog.taken(batch.statuses)
        for record in records:
            metrics.events.labels(topic=record.topic).inc()
        return answer(200, "ok")

    async def healthz(_request: Request) -> Response:
        return PlainTextResponse("ok")

    async def metrics_endpoint(request: Request) -> Response:
        if not bearer_matches(request.headers.get("authorization"), config.ops_token):
            return PlainTextResponse("forbidden", status_code=403)
        return Response(metrics.render(), media_type="text/plain; version=0.0.4")

    return Starlette(
        routes=[
            Route("/webhooks/whatsapp", verify, methods=["GET"]),
            Route("/webhooks/whatsapp", receive, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/metrics", metrics_endpoint, methods=["GET"]),
        ],
        lifespan=lifespan,
    )

