"""The test server's own endpoints under ``/sandbox/``: read the running config and the ledger,
change faults, reset, and play a user writing in (which Meta's API has no call for).

No token is asked for: this is a test server, and the config it returns includes its secrets.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandbox.loader import load_config
from sandbox.recipients import wa_id_of
from sandbox.state import Sandbox
from sandbox.webhooks_out import Update

SERVICE_WINDOW_S = 24 * 3600.0


def _bad(message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=400)


async def _json_object(request: Request) -> dict[str, Any]:
    raw = await request.body()
    data = json.loads(raw) if raw.strip() else {}
    if not isinstance(data, dict):
        raise ValueError("expected a JSON object")
    return data


def routes(sandbox: Sandbox) -> list[Route]:
    async def get_config(_: Request) -> Response:
        sandbox.catch_up()
        return JSONResponse(sandbox.config.to_dict())

    async def get_ledger(request: Request) -> Response:
        entries = request.query_params.get("entries", "1") not in ("0", "false")
        sandbox.catch_up()
        return JSONResponse(sandbox.ledger_json(entries))

    async def post_faults(request: Request) -> Response:
        try:
            sandbox.apply_faults(await _json_object(request))
        except ValueError as exc:
            return _bad(str(exc))
        return JSONResponse(sandbox.config.to_dict()["faults"])

    async def post_reset(request: Request) -> Response:
        try:
            data = await _json_object(request)
            config = load_config(data) if data else None
        except ValueError as exc:
            return _bad(str(exc))
        await sandbox.reset(config)
        return JSONResponse({"reset": True})

    async def post_inbound(request: Request) -> Response:
        """A user writes to a business number (``text`` or ``button``), or turns marketing messages
        off or on (``marketing``: stop | resume); Meta reports either by webhook."""
        try:
            data = await _json_object(request)
        except ValueError as exc:
            return _bad(str(exc))
        number = sandbox.numbers.get(str(data.get("phone_number_id") or next(iter(sandbox.numbers))))
        wa_id = wa_id_of(str(data.get("from", "")))
        if number is None or not wa_id:
            return _bad("from must be a phone number and phone_number_id one of the sandbox's")
        now = sandbox.clock()
        contact = {"profile": {"name": str(data.get("profile_name", ""))}, "wa_id": wa_id}
        marketing = data.get("marketing")
        if marketing is not None:
            if marketing not in ("stop", "resume"):
                return _bad("marketing must be stop or resume")
            sandbox.recipients.marketing_stopped[wa_id] = marketing == "stop"
            item = {"wa_id": wa_id, "detail": f"User requested to {marketing} marketing messages",
                    "category": "marketing_messages", "value": marketing, "timestamp": int(now)}
            sandbox.outbox.schedule(Update("user_preferences", number, item, contact), now,
                                    disorder=False)
            return JSONResponse({"wa_id": wa_id, "marketing": marketing})
        wamid = "wamid.IN" + sandbox.new_id("")
        message: dict[str, Any] = {"from": wa_id, "id": wamid, "timestamp": str(int(now))}
        if "button" in data:
            text = str(data["button"])
            message.update(type="button", button={"payload": text, "text": text})
        else:
            message.update(type="text", text={"body": str(data.get("text", ""))})
        sandbox.windows[(number.id, wa_id)] = now + SERVICE_WINDOW_S
        sandbox.outbox.schedule(Update("messages", number, message, contact), now, disorder=False)
        return JSONResponse({"id": wamid})

    async def get_media(request: Request) -> Response:
        """An upload's bytes as received (with ``keep_media_bytes``), so a test can check what a
        message really showed."""
        media_id = request.path_params["media_id"]
        data = sandbox.media_bytes.get(media_id)
        if data is None:
            return JSONResponse({"error": f"no kept bytes for media {media_id}"}, status_code=404)
        return Response(data, media_type=sandbox.media[media_id][1])

    return [
        Route("/sandbox/media/{media_id}", get_media, methods=["GET"]),
        Route("/sandbox/config", get_config, methods=["GET"]),
        Route("/sandbox/ledger", get_ledger, methods=["GET"]),
        Route("/sandbox/faults", post_faults, methods=["POST"]),
        Route("/sandbox/reset", post_reset, methods=["POST"]),
        Route("/sandbox/inbound", post_inbound, methods=["POST"]),
    ]
