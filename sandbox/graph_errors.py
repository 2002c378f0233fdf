"""Graph API errors exactly as Meta shapes them, for the responses and the failed-status webhooks.

One catalogue of titles and details, so a send refused at the API and the same failure reported
later in a status webhook read alike, as they do from Meta.
"""

from __future__ import annotations

import secrets
import string
from typing import Any

_TRACE_ALPHABET = string.ascii_letters + string.digits
#: Codes whose message Meta does not prefix with "(#code)".
_UNPREFIXED = frozenset({1, 2, 190})

#: code -> (title, default details). Titles follow Meta's error-code reference.
CATALOGUE: dict[int, tuple[str, str]] = {
    1: ("An unknown error has occurred.", "Please retry your request later."),
    2: ("Service temporarily unavailable", "Please retry your request later."),
    100: ("Invalid parameter", "A parameter is missing, misspelled or not valid."),
    190: ("Invalid OAuth access token - Cannot parse access token", "Access token is invalid."),
    130429: ("Rate limit hit", "Cloud API message throughput has been reached."),
    131008: ("Required parameter is missing", "A required parameter is missing."),
    131009: ("Parameter value is not valid", "A parameter value is not valid."),
    131026: ("Message undeliverable", "Unable to deliver message: the recipient is not a WhatsApp user "
             "or has not accepted the latest terms and privacy policy."),
    131031: ("Business Account locked", "The business account is restricted or disabled."),
    131047: ("Re-engagement message", "More than 24 hours have passed since the recipient last "
             "replied to the sender number."),
    131048: ("Spam rate limit hit", "Message failed to send because there are restrictions on how "
             "many messages can be sent from this phone number."),
    131049: ("This message was not delivered to maintain healthy ecosystem engagement.",
             "In order to maintain a healthy ecosystem engagement, the message failed to be delivered."),
    131050: ("Unable to deliver the message. This recipient has chosen to stop receiving marketing "
             "messages on WhatsApp from your business", "The recipient stopped marketing messages."),
    131053: ("Media upload error", "Unable to upload the media used in the message."),
    131056: ("(Business Account, Consumer Account) pair rate limit hit",
             "Message failed to send because there were too many messages sent from this phone "
             "number to the same phone number in a short period of time."),
    131057: ("Account in maintenance mode", "Business account is in maintenance mode. This could be "
             "due to the account undergoing a throughput upgrade."),
    132000: ("Number of parameters does not match the expected number of params",
             "The number of variable parameter values does not match the template."),
    132001: ("Template name does not exist in the translation",
             "The template does not exist in this language or is not approved."),
    132012: ("Parameter format does not match format in the created template",
             "The header parameter does not match the template's header format."),
    132015: ("Template is Paused", "Template is paused due to low quality so it cannot be sent in a "
             "template message."),
    132016: ("Template is disabled", "Template has been paused too many times due to low quality and "
             "is now permanently disabled."),
}


def title(code: int) -> str:
    return CATALOGUE.get(code, ("Unknown error", ""))[0]


def fbtrace_id() -> str:
    return "".join(secrets.choice(_TRACE_ALPHABET) for _ in range(22))


class GraphError(Exception):
    """A refusal the Graph API answers with ``{"error": {...}}`` and an HTTP status."""

    def __init__(self, code: int, details: str | None = None, *, subcode: int | None = None,
                 http_status: int = 400, message: str | None = None) -> None:
        self.code = code
        self.details = details if details is not None else CATALOGUE.get(code, ("", ""))[1]
        self.subcode = subcode
        self.http_status = http_status
        self.message = message or (title(code) if code in _UNPREFIXED else f"(#{code}) {title(code)}")
        super().__init__(self.message)

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"message": self.message, "type": "OAuthException", "code": self.code}
        if self.subcode is not None:
            error["error_subcode"] = self.subcode
        error["error_data"] = {"messaging_product": "whatsapp", "details": self.details}
        error["fbtrace_id"] = fbtrace_id()
        return {"error": error}


def unknown_node(node_id: str, method: str = "post") -> GraphError:
    """Meta's answer for an id that is no node this token can see (code 100, subcode 33)."""
    return GraphError(
        100, f"Object with ID '{node_id}' does not exist, cannot be loaded due to missing "
        "permissions, or does not support this operation.", subcode=33,
        message=f"Unsupported {method} request. Object with ID '{node_id}' does not exist, cannot be "
        "loaded due to missing permissions, or does not support this operation.")


def status_error(code: int, details: str | None = None) -> dict[str, Any]:
    """The ``errors[]`` item of a failed status webhook."""
    return {"code": code, "title": title(code), "message": title(code),
            "error_data": {"details": details or CATALOGUE.get(code, ("", ""))[1]}}
