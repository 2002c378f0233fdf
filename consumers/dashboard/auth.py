"""Who may open the ops dashboard: the ops token, as a Bearer header or a login cookie.

A person gets a login link (``/login?token=...``) from ``dawn run`` or the operator; opening it
sets an HttpOnly, SameSite=Strict cookie and redirects to ``/``, so the token leaves the address
bar at once and page scripts never see it. The cookie holds an HMAC of the token, not the token:
a copied cookie opens this dashboard but is not the bearer token the metrics endpoints accept.
Servers here never log request lines, so the token in the login URL is not written anywhere.
"""

from __future__ import annotations

import hashlib
import hmac

from starlette.requests import HTTPConnection, Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response

from ops.tokens import bearer_matches, same_secret

COOKIE = "dawn_ops"
#: The login cookie lasts a long morning, not forever.
COOKIE_MAX_AGE_S = 12 * 3600


def session_value(ops_token: str) -> str:
    """The cookie's value for ``ops_token``."""
    return hmac.new(ops_token.encode(), b"dawn dashboard session", hashlib.sha256).hexdigest()


def ops_authorised(conn: HTTPConnection, ops_token: str) -> bool:
    """A Bearer ops token or a login cookie; with no ops token configured nobody gets in."""
    if not ops_token:
        return False
    return (bearer_matches(conn.headers.get("authorization"), ops_token)
            or same_secret(conn.cookies.get(COOKIE), session_value(ops_token)))


def login(request: Request, ops_token: str) -> Response:
    """``/login?token=``: the cookie and a redirect to the page, or 403."""
    if not same_secret(request.query_params.get("token"), ops_token):
        return PlainTextResponse("forbidden: wrong or missing ops token", status_code=403)
    response = RedirectResponse("/", status_code=303)
    response.set_cookie(COOKIE, session_value(ops_token), max_age=COOKIE_MAX_AGE_S, path="/",
                        httponly=True, samesite="strict", secure=request.url.scheme == "https")
    return response
