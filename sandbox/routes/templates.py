"""Template management: list and create (``/{waba_id}/message_templates``), the Resumable Upload
API for example header images (``/{app_id}/uploads``, ``/{upload_id}``) and ``/{template_id}/unpause``."""

from __future__ import annotations

import base64

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandbox.graph_errors import GraphError, unknown_node
from sandbox.graph_http import graph_endpoint, json_body, requested_fields
from sandbox.state import Sandbox

UPLOAD_TYPES = ("image/jpeg", "image/jpg", "image/png", "video/mp4", "application/pdf")


def routes(sandbox: Sandbox) -> list[Route]:
    def check_waba(request: Request) -> None:
        if request.path_params["node"] != sandbox.config.waba_id:
            raise unknown_node(request.path_params["node"], request.method.lower())

    async def list_templates(request: Request) -> Response:
        check_waba(request)
        fields = requested_fields(request)
        query = request.query_params
        data = [t.listing(fields) for t in sandbox.templates.variants.values()
                if all(not query.get(k) or getattr(t, k) == query[k]
                       for k in ("name", "language", "status"))]
        return JSONResponse({"data": data, "paging": {"cursors": {"before": "", "after": ""}}})

    async def create_template(request: Request) -> Response:
        check_waba(request)
        template = sandbox.templates.create(await json_body(request), sandbox.handles)
        sandbox.approve_later(template)
        return JSONResponse({"id": template.id, "status": template.status,
                             "category": template.category})

    async def start_upload(request: Request) -> Response:
        if request.path_params["node"] != sandbox.config.app_id:
            raise unknown_node(request.path_params["node"])
        query = request.query_params
        try:
            length = int(query.get("file_length", ""))
        except ValueError:
            raise GraphError(100, "file_length must be the file's size in bytes") from None
        mime = query.get("file_type", "")
        if length <= 0 or mime not in UPLOAD_TYPES:
            raise GraphError(100, f"file_length must be positive and file_type one of "
                             f"{', '.join(UPLOAD_TYPES)}")
        upload_id = "upload:" + sandbox.new_id("")
        sandbox.uploads[upload_id] = (length, mime)
        return JSONResponse({"id": upload_id})

    async def upload_chunk(request: Request) -> Response:
        upload_id = request.path_params["node"]
        upload = sandbox.uploads.get(upload_id)
        if upload is None:
            raise unknown_node(upload_id)
        length, mime = upload
        data = await request.body()
        if request.headers.get("file_offset", "0") != "0" or len(data) != length:
            raise GraphError(100, f"expected the whole file ({length} bytes) at file_offset 0")
        del sandbox.uploads[upload_id]
        handle = f"4::{base64.b64encode(mime.encode()).decode()}:{sandbox.new_id('ARb')}"
        sandbox.handles.add(handle)
        return JSONResponse({"h": handle})

    async def unpause(request: Request) -> Response:
        template = sandbox.templates.by_id.get(request.path_params["node"])
        if template is None:
            raise unknown_node(request.path_params["node"])
        if template.status != "PAUSED":
            raise GraphError(100, f"template {template.name} ({template.language}) is "
                             f"{template.status}, not PAUSED")
        sandbox.unpause_template(template)
        return JSONResponse({"success": True})

    return [
        Route("/{version}/{node}/message_templates", graph_endpoint(sandbox, list_templates),
              methods=["GET"]),
        Route("/{version}/{node}/message_templates", graph_endpoint(sandbox, create_template),
              methods=["POST"]),
        Route("/{version}/{node}/uploads", graph_endpoint(sandbox, start_upload), methods=["POST"]),
        Route("/{version}/{node}/unpause", graph_endpoint(sandbox, unpause), methods=["POST"]),
        Route("/{version}/{node}", graph_endpoint(sandbox, upload_chunk), methods=["POST"]),
    ]
