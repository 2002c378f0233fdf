"""Sending: ``POST /{phone_number_id}/messages``, ``/marketing_messages`` (the Marketing Messages
API, same body, MARKETING templates only) and ``POST /{phone_number_id}/media``."""

from __future__ import annotations

import hashlib

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandbox import multipart
from sandbox.graph_errors import GraphError, unknown_node
from sandbox.graph_http import graph_endpoint, json_body, timed_out
from sandbox.messages import send
from sandbox.state import Sandbox

MEDIA_TYPES = ("image/jpeg", "image/png")
MAX_IMAGE_BYTES = 5 * 1024 * 1024


def routes(sandbox: Sandbox) -> list[Route]:
    async def messages(request: Request) -> Response:
        endpoint = request.url.path.rsplit("/", 1)[-1]
        if endpoint == "marketing_messages" and not sandbox.config.marketing_messages_api:
            # what Graph answers for an edge this business may not use
            raise GraphError(100, "Unsupported post request: the Marketing Messages API is not "
                             "available for this business", subcode=33)
        response, entry = send(sandbox, request.path_params["node"], await json_body(request), endpoint)
        faults = sandbox.faults
        if faults.roll(faults.config.accept_then_timeout_rate):
            # Sent, but the client never hears so: the double-send case the sender must survive.
            entry.client_saw = "timeout"
            sandbox.ledger.faults["accept_then_timeout"] += 1
            return await timed_out(sandbox)
        return JSONResponse(response)

    async def media(request: Request) -> Response:
        number_id = request.path_params["node"]
        if number_id not in sandbox.numbers:
            raise unknown_node(number_id)
        try:
            form = multipart.parse(request.headers.get("content-type", ""), await request.body())
        except ValueError as exc:
            raise GraphError(100, str(exc)) from None
        product = form.get("messaging_product")
        if product is None or product.data != b"whatsapp":
            raise GraphError(100, "The parameter messaging_product is required and must be whatsapp.")
        file = form.get("file")
        if file is None or not file.data:
            raise GraphError(100, "The parameter file is required.")
        declared = form.get("type")
        mime = (declared.data.decode() if declared else None) or file.content_type or ""
        if mime not in MEDIA_TYPES:
            raise GraphError(131053, f"media type {mime or 'unknown'} is not a supported image type")
        if len(file.data) > MAX_IMAGE_BYTES:
            raise GraphError(131053, "images are limited to 5 MB")
        media_id = sandbox.new_id("9")
        sandbox.media[media_id] = (number_id, mime, sandbox.clock())
        sandbox.media_files[media_id] = (hashlib.sha256(file.data).hexdigest(), len(file.data))
        if sandbox.config.keep_media_bytes:
            sandbox.media_bytes[media_id] = file.data
        return JSONResponse({"id": media_id})

    return [
        Route("/{version}/{node}/messages",
              graph_endpoint(sandbox, messages, counts_rejections=True), methods=["POST"]),
        Route("/{version}/{node}/marketing_messages",
              graph_endpoint(sandbox, messages, counts_rejections=True), methods=["POST"]),
        Route("/{version}/{node}/media", graph_endpoint(sandbox, media), methods=["POST"]),
    ]
