"""Webhook authenticity: the X-Hub-Signature-256 check and the verify-token handshake.

The HMAC is computed over the raw request bytes exactly as received. Parsing and re-serialising
first is the classic bug: Meta escapes "/" as "\\/" and non-ASCII text (Hindi, Marathi) as
"\\uXXXX", and no JSON library reproduces those bytes, so every such webhook would look forged.
"""

from __future__ import annotations

import hashlib
import hmac
import re

_PREFIX = "sha256="
_HEX_DIGEST = re.compile(r"[0-9a-fA-F]{64}")
#: Meta sends a number; accept any short URL-safe token, nothing that could become markup.
_CHALLENGE = re.compile(r"[\w.~-]{1,256}", re.ASCII)


def sign(raw: bytes, app_secret: str) -> str:
    """The header value Meta would send for ``raw``: "sha256=<hex>"."""
    return _PREFIX + hmac.new(app_secret.encode(), raw, hashlib.sha256).hexdigest()


def verify_signature(raw: bytes, header: str | None, app_secret: str) -> bool:
    """True only when ``header`` is the HMAC-SHA256 of ``raw`` under ``app_secret``.

    An empty secret verifies nothing: a forger knows the empty key as well as we do.
    """
    if not app_secret or not header:
        return False
    scheme, _, digest = header.strip().partition("=")
    if scheme.lower() != "sha256" or not _HEX_DIGEST.fullmatch(digest):
        return False
    expected = hmac.new(app_secret.encode(), raw, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, digest.lower())


def verify_challenge(
    mode: str | None, token: str | None, challenge: str | None, verify_token: str
) -> str | None:
    """The challenge to echo with 200 when the subscription handshake is ours, else None (403)."""
    if mode != "subscribe" or not verify_token or token is None or challenge is None:
        return None
    if not hmac.compare_digest(token.encode(), verify_token.encode()):
        return None
    return challenge if _CHALLENGE.fullmatch(challenge) else None
