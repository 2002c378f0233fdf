"""``POST /{phone_number_id}/messages``: the checks Meta makes on a send, in the order it makes them.

Number state first (blocked, maintenance, throughput), then the message (template, header,
parameters, service window), then the recipient and the pair and portfolio limits; only a send that
passes everything spends throughput and quota and gets a wamid. Recipient failures Meta reports
later (not on WhatsApp, marketing stopped, per-user cap) are accepted here and fail in a webhook.
"""

from __future__ import annotations

import base64
from typing import Any

from sandbox.graph_errors import GraphError, unknown_node
from sandbox.ledger import LedgerEntry
from sandbox.recipients import wa_id_of
from sandbox.state import Sandbox
from whatsapp.payloads import is_bsuid

MEDIA_TTL_S = 30 * 24 * 3600.0
MAX_TEXT_BODY = 4096
HELD = "held_for_quality_assessment"


def _check_media(sandbox: Sandbox, number_id: str, media_id: str, now: float) -> None:
    media = sandbox.media.get(media_id)
    if (media is None or now - media[2] > MEDIA_TTL_S
            or (media[0] != number_id and not sandbox.config.media_shared_across_numbers)):
        raise GraphError(131009, f"header image id {media_id} is not a live upload of this number")


def _text(body: dict[str, Any]) -> str:
    text = body.get("text")
    content = text.get("body") if isinstance(text, dict) else None
    if not isinstance(content, str) or not content:
        raise GraphError(131008, "text.body is required for type text")
    if len(content) > MAX_TEXT_BODY:
        raise GraphError(131009, f"text.body is longer than {MAX_TEXT_BODY} characters")
    return content


def send(sandbox: Sandbox, number_id: str, body: Any,
         endpoint: str = "messages") -> tuple[dict[str, Any], LedgerEntry]:
    """Accept ``body`` from ``number_id`` (the response JSON and the ledger entry) or raise.
    ``endpoint`` "marketing_messages" is the Marketing Messages API: MARKETING templates only."""
    now = sandbox.clock()
    number = sandbox.numbers.get(number_id)
    if number is None:
        raise unknown_node(number_id)
    if not isinstance(body, dict) or body.get("messaging_product") != "whatsapp":
        raise GraphError(100, "The parameter messaging_product is required and must be whatsapp.")
    to = body.get("to")
    by_user_id = not isinstance(to, str) and isinstance(body.get("recipient"), str)
    if by_user_id:  # a BSUID send: the user may have no phone we know; `to` wins when both are set
        to = body["recipient"]
        wa_id = to if is_bsuid(to) else ""
    else:
        wa_id = wa_id_of(to) if isinstance(to, str) else ""
    if not wa_id:
        raise GraphError(131008, "The parameter to (or recipient, a business-scoped user id) is "
                                 "required.")
    kind = body.get("type", "text")
    if kind not in ("template", "text"):
        raise GraphError(131009, f"message type {kind!r} is not simulated (template and text are)")
    limits = sandbox.config.limits
    if number.status != "CONNECTED":
        raise GraphError(limits.number_blocked_code, f"phone number {number_id} is {number.status}")
    if sandbox.maintenance_until.get(number_id, 0.0) > now:
        raise GraphError(131057)
    bucket = sandbox.buckets[number_id]
    if not bucket.available(now):
        raise GraphError(130429)

    callback_data = body.get("biz_opaque_callback_data")
    if callback_data is not None and (not isinstance(callback_data, str) or len(callback_data) > 512):
        raise GraphError(131009, "biz_opaque_callback_data must be a string of at most 512 characters")
    window_open = sandbox.windows.get((number_id, wa_id), 0.0) > now
    template = None
    params: dict[str, str] | list[str] | None = None
    media_ids: list[str] = []
    if kind == "template":
        template, media_ids, params = sandbox.templates.check_send(body.get("template"))
        for media_id in media_ids:
            _check_media(sandbox, number_id, media_id, now)
    else:
        _text(body)
        if not window_open:
            raise GraphError(131047)
    category = template.category if template else None
    if endpoint == "marketing_messages" and category != "MARKETING":
        raise GraphError(131009, "the Marketing Messages API sends MARKETING templates only")

    rule = sandbox.recipients.rule(wa_id)
    failure: int | None = None
    refuse_now = sandbox.config.recipients.undeliverable_as == "error"
    if not rule.on_whatsapp:
        failure = 131026
    elif rule.marketing_stopped and category == "MARKETING":
        failure = 131050
    if failure is not None and refuse_now:
        raise GraphError(failure, f"recipient {wa_id}")
    pair = (number_id, wa_id)
    if not sandbox.pairs.allowed(pair, now):
        raise GraphError(131056)
    business_initiated = template is not None and not window_open
    counts_towards_limit = business_initiated
    if business_initiated and not sandbox.unique.allowed(wa_id, now):
        details = (f"the portfolio's messaging limit ({limits.messaging_tier}) of unique recipients "
                   "in 24 hours is reached")
        if limits.messaging_limit_as == "error":
            raise GraphError(limits.messaging_limit_code, details)
        failure = failure or limits.messaging_limit_code
        counts_towards_limit = False

    bucket.take(now)
    sandbox.pairs.take(pair, now)
    if counts_towards_limit:
        sandbox.unique.take(wa_id, now)
    if failure is None and category == "MARKETING" and rule.marketing_cap is not None:
        if sandbox.marketing.count(wa_id, now) >= rule.marketing_cap:
            failure = 131049
        else:
            sandbox.marketing.add(wa_id, now)

    serial = sandbox.new_id("")
    wamid = "wamid.HBgM" + base64.b64encode(f"{wa_id}{number_id}{serial}".encode()).decode()
    status = HELD if template is not None and template.paced else "accepted"
    entry = LedgerEntry(
        wamid=wamid, phone_number_id=number_id, to=to, wa_id=wa_id, type=kind,
        template=template.name if template else None,
        language=template.language if template else None, category=category,
        callback_data=callback_data, params=params, time=now, message_status=status,
        media_ids=tuple(media_ids), endpoint=endpoint)
    sandbox.ledger.accept(entry)
    if template is not None:
        sandbox.quality.observe(number, template, now)
    if status == HELD:
        sandbox.hold(entry, rule, failure)
    else:
        sandbox.deliver(entry, rule, failure, now)
    contact = {"input": to, "user_id": wa_id} if by_user_id else {"input": to, "wa_id": wa_id}
    response = {"messaging_product": "whatsapp", "contacts": [contact],
                "messages": [{"id": wamid, "message_status": status}]}
    return response, entry
