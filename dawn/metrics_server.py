"""A service's ``/metrics`` on a port of its own, behind the ops token, for the processes that
have no web server of their own (the worker, the scheduler, the audit sink).

Served by the same uvicorn thread as the sandbox and the gateway, so it lives in ``dawn/``.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from ops.metrics import ServiceMetrics
from ops.tokens import bearer_matches
from sandbox.server import UvicornThread


def metrics_app(metrics: ServiceMetrics, ops_token: str) -> Starlette:
    async def endpoint(request: Request) -> Response:
        if not bearer_matches(request.headers.get("authorization"), ops_token):
            return PlainTextResponse("forbidden", status_code=403)
        return Response(metrics.render(), media_type="text/plain; version=0.0.4")

    return Starlette(routes=[Route("/metrics", endpoint, methods=["GET"])])


class MetricsServer(UvicornThread):
    """``with MetricsServer(metrics, token, port=9100):`` serves ``/metrics`` until the block ends."""

    def __init__(self, metrics: ServiceMetrics, ops_token: str, host: str = "127.0.0.1",
                 port: int = 0) -> None:
        super().__init__(metrics_app(metrics, ops_token), host, port)
