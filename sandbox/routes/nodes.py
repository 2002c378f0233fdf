"""Reading nodes: ``GET /{node_id}?fields=...`` for a number, the WABA or a template (including
``health_status``), and ``GET /{waba_id}/phone_numbers``."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandbox.config import NumberConfig
from sandbox.graph_errors import GraphError, unknown_node
from sandbox.graph_http import graph_endpoint, requested_fields
from sandbox.state import Sandbox
from sandbox.templates import Template

_SEVERITY = {"AVAILABLE": 0, "LIMITED": 1, "BLOCKED": 2}
_NUMBER_DEFAULT_FIELDS = ["verified_name", "code_verification_status", "display_phone_number",
                          "quality_rating", "platform_type", "throughput"]
_TEMPLATE_DEFAULT_FIELDS = ["name", "language", "status", "category"]


def _pick(node: str, values: dict[str, Any], fields: list[str], node_type: str) -> dict[str, Any]:
    fields = [name for name in fields if name != "id"]  # always answered
    for name in fields:
        if name not in values:
            raise GraphError(100, f"Tried accessing nonexisting field ({name}) on node type "
                             f"({node_type})", message=f"(#100) Tried accessing nonexisting field "
                             f"({name}) on node type ({node_type})")
    doc = {name: values[name] for name in fields}
    doc["id"] = node
    return doc


def _entity(entity_type: str, node: str, verdict: str = "AVAILABLE",
            error: tuple[int, str, str] | None = None) -> dict[str, Any]:
    entity: dict[str, Any] = {"entity_type": entity_type, "id": node, "can_send_message": verdict}
    if error is not None:
        code, description, solution = error
        entity["errors"] = [{"error_code": code, "error_description": description,
                             "possible_solution": solution}]
    return entity


def routes(sandbox: Sandbox) -> list[Route]:
    def account_entities() -> list[dict[str, Any]]:
        return [_entity("WABA", sandbox.config.waba_id), _entity("BUSINESS", sandbox.config.business_id),
                _entity("APP", sandbox.config.app_id)]

    def health(first: dict[str, Any] | None) -> dict[str, Any]:
        entities = ([first] if first else []) + account_entities()
        worst = max((e["can_send_message"] for e in entities), key=_SEVERITY.__getitem__)
        return {"can_send_message": worst, "entities": entities}

    def number_health(number: NumberConfig) -> dict[str, Any]:
        if number.status != "CONNECTED":
            entity = _entity("PHONE_NUMBER", number.id, "BLOCKED", (
                sandbox.config.limits.number_blocked_code, f"The phone number is {number.status}.",
                "Resolve the restriction in WhatsApp Manager."))
        elif sandbox.maintenance_until.get(number.id, 0.0) > sandbox.clock():
            entity = _entity("PHONE_NUMBER", number.id, "LIMITED", (
                131057, "The phone number is in maintenance mode.", "Retry in about a minute."))
        else:
            entity = _entity("PHONE_NUMBER", number.id)
        return health(entity)

    def number_values(number: NumberConfig) -> dict[str, Any]:
        return {
            "verified_name": number.verified_name, "code_verification_status": "VERIFIED",
            "display_phone_number": number.display_phone_number, "quality_rating": number.quality,
            "platform_type": "CLOUD_API", "status": number.status,
            "throughput": {"level": number.throughput_level},
            "whatsapp_business_manager_messaging_limit": sandbox.config.limits.messaging_tier,
            "health_status": number_health(number),
        }

    def template_health(template: Template) -> dict[str, Any]:
        blocked = {"PAUSED": 132015, "DISABLED": 132016, "PENDING": 132001, "REJECTED": 132001}
        code = blocked.get(template.status)
        if code is None:
            return health(_entity("TEMPLATE", template.id))
        return health(_entity("TEMPLATE", template.id, "BLOCKED", (
            code, f"The template is {template.status}.", "Send another template.")))

    async def node(request: Request) -> Response:
        node_id = request.path_params["node"]
        fields = requested_fields(request)
        number = sandbox.numbers.get(node_id)
        if number is not None:
            return JSONResponse(_pick(node_id, number_values(number), fields or _NUMBER_DEFAULT_FIELDS,
                                      "WhatsAppBusinessPhoneNumber"))
        if node_id == sandbox.config.waba_id:
            values = {"name": "Dawn Advisors", "health_status": health(None),
                      "message_template_namespace": "dawn_sandbox"}
            return JSONResponse(_pick(node_id, values, fields or ["name"], "WhatsAppBusinessAccount"))
        template = sandbox.templates.by_id.get(node_id)
        if template is not None:
            values = {**template.listing(None), "health_status": template_health(template)}
            return JSONResponse(_pick(node_id, values, fields or _TEMPLATE_DEFAULT_FIELDS,
                                      "WhatsAppMessageTemplate"))
        media = sandbox.media.get(node_id)
        if media is not None:
            # Meta's media node: where to download it (for an hour), its type, hash and size.
            sha, size = sandbox.media_files[node_id]
            return JSONResponse({"messaging_product": "whatsapp", "id": node_id,
                                 "url": f"{request.base_url}sandbox/media/{node_id}",
                                 "mime_type": media[1], "sha256": sha, "file_size": size})
        raise unknown_node(node_id, "get")

    async def phone_numbers(request: Request) -> Response:
        if request.path_params["node"] != sandbox.config.waba_id:
            raise unknown_node(request.path_params["node"], "get")
        fields = requested_fields(request) or [*_NUMBER_DEFAULT_FIELDS, "status"]
        data = [_pick(n.id, number_values(n), fields, "WhatsAppBusinessPhoneNumber")
                for n in sandbox.numbers.values()]
        return JSONResponse({"data": data, "paging": {"cursors": {"before": "", "after": ""}}})

    return [
        Route("/{version}/{node}/phone_numbers", graph_endpoint(sandbox, phone_numbers),
              methods=["GET"]),
        Route("/{version}/{node}", graph_endpoint(sandbox, node), methods=["GET"]),
    ]
