"""Request bodies the Cloud API expects, built from small frozen values.

Pure functions with no I/O, so the sandbox can check what it receives against the very shapes
the client sends, and tests can compare exact JSON without a network.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

#: Meta caps biz_opaque_callback_data at 512 characters.
MAX_CALLBACK_DATA = 512
#: Meta caps a text message body at 4,096 characters.
MAX_TEXT_BODY = 4096
#: A media card carousel template has 2 to 10 cards.
CAROUSEL_CARDS = range(2, 11)

BodyParams = Mapping[str, str] | Sequence[str]


def _check_params(params: BodyParams, what: str) -> None:
    # A str is a Sequence too: "Asha" would silently become four positional parameters.
    if isinstance(params, str | bytes):
        raise TypeError(f"{what} must be a mapping (named) or a sequence of str (positional)")


@dataclass(frozen=True, slots=True)
class TemplateMessage:
    """One template send. ``body_params`` as a Mapping sends named parameters (``parameter_name``),
    as a Sequence positional ones; the template's ``parameter_format`` decides which is right.
    ``card_image_ids`` makes it a media card carousel: one image-header card per id, in order
    (Meta refuses a count other than the approved template's with 132012)."""

    name: str
    language: str
    header_image_id: str | None = None
    header_image_link: str | None = None
    body_params: BodyParams = ()
    card_image_ids: Sequence[str] = ()

    def __post_init__(self) -> None:
        if self.header_image_id and self.header_image_link:
            raise ValueError("give the header image by id or by link, not both")
        if isinstance(self.card_image_ids, str):
            raise TypeError("card_image_ids must be a sequence of media ids")
        if self.card_image_ids:
            if len(self.card_image_ids) not in CAROUSEL_CARDS:
                raise ValueError("a carousel has 2 to 10 cards")
            if self.header_image_id or self.header_image_link:
                raise ValueError("a carousel template has no message header; images go on cards")
        _check_params(self.body_params, "body_params")


@dataclass(frozen=True, slots=True)
class TemplateSpec:
    """A template to submit for approval. The header image, if any, is passed to
    ``create_template`` as bytes and becomes an IMAGE header with an uploaded example handle."""

    name: str
    language: str
    body_text: str
    category: str = "MARKETING"
    body_examples: BodyParams = ()
    footer_text: str | None = None
    quick_replies: Sequence[str] = ()
    #: How long Meta keeps trying to deliver (MARKETING via the Marketing Messages API: 12 h to
    #: 30 days); None keeps Meta's default.
    ttl_seconds: int | None = None

    def __post_init__(self) -> None:
        _check_params(self.body_examples, "body_examples")
        if isinstance(self.quick_replies, str):
            raise TypeError("quick_replies must be a sequence of button texts")


#: A business-scoped user id: ISO country code, a dot, then letters and digits (US.1349...).
_BSUID = re.compile(r"^[A-Z]{2}\.[A-Za-z0-9]+$")


def is_bsuid(recipient: str) -> bool:
    """True for a business-scoped user id, False for a phone number."""
    return bool(_BSUID.match(recipient))


def addressed(recipient: str) -> dict[str, str]:
    """How a send names its recipient: ``to`` for a phone number, ``recipient`` for a BSUID
    (username users may have no phone we can see; Meta reads ``to`` first when both are set)."""
    return {"recipient": recipient} if is_bsuid(recipient) else {"to": recipient}


def _text_parameters(params: BodyParams) -> list[dict[str, str]]:
    if isinstance(params, Mapping):
        return [{"type": "text", "parameter_name": k, "text": v} for k, v in params.items()]
    return [{"type": "text", "text": v} for v in params]


def template_message_body(
    to: str, message: TemplateMessage, callback_data: str | None = None
) -> dict[str, Any]:
    """JSON for ``POST /{phone_number_id}/messages`` sending ``message`` to ``to``."""
    components: list[dict[str, Any]] = []
    if message.header_image_id:
        image: dict[str, str] = {"id": message.header_image_id}
    elif message.header_image_link:
        image = {"link": message.header_image_link}
    else:
        image = {}
    if image:
        components.append({"type": "header", "parameters": [{"type": "image", "image": image}]})
    if message.body_params:
        components.append({"type": "body", "parameters": _text_parameters(message.body_params)})
    if message.card_image_ids:
        components.append({"type": "carousel", "cards": [
            {"card_index": index, "components": [
                {"type": "header", "parameters": [{"type": "image", "image": {"id": media_id}}]}]}
            for index, media_id in enumerate(message.card_image_ids)]})
    template: dict[str, Any] = {"name": message.name, "language": {"code": message.language}}
    if components:
        template["components"] = components
    body: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        **addressed(to),
        "type": "template",
    }
    if callback_data is not None:
        if len(callback_data) > MAX_CALLBACK_DATA:
            raise ValueError(f"callback_data longer than {MAX_CALLBACK_DATA} characters")
        body["biz_opaque_callback_data"] = callback_data
    body["template"] = template
    return body


def text_message_body(to: str, text: str) -> dict[str, Any]:
    """JSON for a free-form text message (only valid inside the 24 h service window)."""
    if not text or len(text) > MAX_TEXT_BODY:
        raise ValueError(f"text body must be 1 to {MAX_TEXT_BODY} characters")
    return {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        **addressed(to),
        "type": "text",
        "text": {"preview_url": False, "body": text},
    }


def template_create_body(spec: TemplateSpec, header_handle: str | None = None) -> dict[str, Any]:
    """JSON for ``POST /{waba_id}/message_templates``; ``header_handle`` is the resumable-upload
    handle (``"h"``) of the example header image, which also makes the header an IMAGE."""
    components: list[dict[str, Any]] = []
    if header_handle:
        components.append(
            {"type": "HEADER", "format": "IMAGE", "example": {"header_handle": [header_handle]}}
        )
    body_component: dict[str, Any] = {"type": "BODY", "text": spec.body_text}
    if isinstance(spec.body_examples, Mapping):
        if spec.body_examples:
            body_component["example"] = {
                "body_text_named_params": [
                    {"param_name": k, "example": v} for k, v in spec.body_examples.items()
                ]
            }
    elif spec.body_examples:
        body_component["example"] = {"body_text": [list(spec.body_examples)]}
    components.append(body_component)
    if spec.footer_text:
        components.append({"type": "FOOTER", "text": spec.footer_text})
    if spec.quick_replies:
        components.append(
            {
                "type": "BUTTONS",
                "buttons": [{"type": "QUICK_REPLY", "text": t} for t in spec.quick_replies],
            }
        )
    body: dict[str, Any] = {
        "name": spec.name,
        "language": spec.language,
        "category": spec.category,
        "components": components,
    }
    if isinstance(spec.body_examples, Mapping) and spec.body_examples:
        body["parameter_format"] = "named"
    if spec.ttl_seconds is not None:
        body["message_send_ttl_seconds"] = spec.ttl_seconds
    return body
