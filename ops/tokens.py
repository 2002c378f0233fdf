"""Constant-time token checks.

The ops token guards whole-fleet views (metrics, the dashboard): one shared secret, presented as a
``Bearer`` header by machines or kept in an HttpOnly cookie by a browser. An advisor sees only their
own deliveries, so their token names them: ``<advisor_id>.<expiry>.<HMAC-SHA256>`` under a server
secret. A signed token needs no table of issued tokens, and a leaked one expires by itself.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

#: How long a minted advisor token is valid unless the caller says otherwise: one week.
ADVISOR_TOKEN_TTL_S = 7 * 24 * 3600


def same_secret(given: str | None, expected: str) -> bool:
    """``given == expected`` in constant time; with no secret configured nothing matches."""
    if not expected or not given:
        return False
    # surrogatepass: a lone surrogate (from a badly decoded input) must compare unequal, not raise
    return hmac.compare_digest(given.encode("utf-8", "surrogatepass"), expected.encode())


def bearer_matches(authorization: str | None, expected: str) -> bool:
    """Whether an ``Authorization: Bearer <token>`` header carries ``expected``."""
    scheme, _, given = (authorization or "").partition(" ")
    return scheme.lower() == "bearer" and same_secret(given.strip(), expected)


def _signature(secret: str, advisor_id: str, expires: int) -> str:
    mac = hmac.new(secret.encode(), f"advisor:{advisor_id}.{expires}".encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(mac.digest()).rstrip(b"=").decode()


def mint_advisor_token(advisor_id: str, secret: str, *, ttl_s: float = ADVISOR_TOKEN_TTL_S,
                       now: float | None = None) -> str:
    """A token that lets its bearer follow ``advisor_id``'s deliveries until it expires."""
    if not secret:
        raise ValueError("no advisor token secret configured")
    if not advisor_id or "." in advisor_id or not advisor_id.isascii():
        # a token travels in a URL and is checked as ASCII (advisor_of): any other id could never
        # be used, so it is refused here rather than minted useless
        raise ValueError(f"advisor id {advisor_id!r} must be non-empty ASCII and contain no '.'")
    expires = int((time.time() if now is None else now) + ttl_s)
    return f"{advisor_id}.{expires}.{_signature(secret, advisor_id, expires)}"


def advisor_of(token: str | None, secret: str, *, now: float | None = None) -> str | None:
    """The advisor id a valid, unexpired token was minted for; None for anything else."""
    if not secret or not token or not token.isascii() or token.count(".") != 2:
        return None
    advisor_id, expires_text, signature = token.split(".")
    if not advisor_id or not (expires_text.isascii() and expires_text.isdigit()):
        return None
    expires = int(expires_text)
    if not hmac.compare_digest(signature.encode(), _signature(secret, advisor_id, expires).encode()):
        return None
    if expires < (time.time() if now is None else now):
        return None
    return advisor_id
