"""Request shapes and error mapping of the Graph API client, against an in-test MockTransport."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest

from whatsapp.client import CloudApiClient, CloudApiError
from whatsapp.errors import Action
from whatsapp.payloads import TemplateMessage, TemplateSpec

TOKEN = "test-token"
PNID = "106540352242922"
TO = "919812345678"

Handler = Callable[[httpx.Request], httpx.Response]


class Recorder:
    """A MockTransport that records every request and answers from a handler."""

    def __init__(self, handler: Handler) -> None:
        self.requests: list[httpx.Request] = []
        self._handler = handler
        self.transport = httpx.MockTransport(self._handle)

    def _handle(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        return self._handler(request)

    @property
    def last(self) -> httpx.Request:
        return self.requests[-1]


def accepted(wa_id: str = TO, status: str | None = "accepted") -> httpx.Response:
    message = {"id": "wamid.HBgLOTE5ODEyMzQ1Njc4FQIAERgS"}
    if status is not None:
        message["message_status"] = status
    return httpx.Response(
        200,
        json={
            "messaging_product": "whatsapp",
            "contacts": [{"input": TO, "wa_id": wa_id}],
            "messages": [message],
        },
    )


def client_for(recorder: Recorder, **kwargs) -> CloudApiClient:
    return CloudApiClient(access_token=TOKEN, transport=recorder.transport, **kwargs)


async def test_named_template_with_image_by_id_has_the_exact_body() -> None:
    recorder = Recorder(lambda _: accepted())
    async with client_for(recorder) as client:
        message = TemplateMessage(
            "daily_pack_v1", "hi", header_image_id="1037543291543636", body_params={"advisor_name": "आशा"}
        )
        result = await client.send_template(PNID, TO, message, callback_data="delivery-42")
    request = recorder.last
    assert request.method == "POST"
    assert str(request.url) == f"https://graph.facebook.com/v26.0/{PNID}/messages"
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert json.loads(request.content) == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": TO,
        "type": "template",
        "biz_opaque_callback_data": "delivery-42",
        "template": {
            "name": "daily_pack_v1",
            "language": {"code": "hi"},
            "components": [
                {"type": "header", "parameters": [{"type": "image", "image": {"id": "1037543291543636"}}]},
                {
                    "type": "body",
                    "parameters": [{"type": "text", "parameter_name": "advisor_name", "text": "आशा"}],
                },
            ],
        },
    }
    assert result.wamid.startswith("wamid.")
    assert result.input == result.wa_id == TO
    assert not result.held
    assert result.latency_ms >= 0


async def test_positional_template_with_image_by_link_has_the_exact_body() -> None:
    recorder = Recorder(lambda _: accepted())
    async with client_for(recorder) as client:
        message = TemplateMessage(
            "daily_pack_v2",
            "mr",
            header_image_link="https://cdn.example/pack.jpg",
            body_params=["Asha", "12"],
        )
        await client.send_template(PNID, TO, message)
    body = json.loads(recorder.last.content)
    assert "biz_opaque_callback_data" not in body
    assert body["template"] == {
        "name": "daily_pack_v2",
        "language": {"code": "mr"},
        "components": [
            {
                "type": "header",
                "parameters": [{"type": "image", "image": {"link": "https://cdn.example/pack.jpg"}}],
            },
            {
                "type": "body",
                "parameters": [{"type": "text", "text": "Asha"}, {"type": "text", "text": "12"}],
            },
        ],
    }


async def test_template_without_parameters_sends_no_components() -> None:
    recorder = Recorder(lambda _: accepted())
    async with client_for(recorder) as client:
        await client.send_template(PNID, TO, TemplateMessage("hello_world", "en_US"))
    assert json.loads(recorder.last.content)["template"] == {
        "name": "hello_world",
        "language": {"code": "en_US"},
    }


async def test_base_url_and_version_are_honoured_and_no_token_sends_no_auth() -> None:
    recorder = Recorder(lambda _: accepted())
    async with CloudApiClient("http://127.0.0.1:8711/", "v25.0", transport=recorder.transport) as client:
        await client.send_text(PNID, TO, "नमस्ते")
    assert str(recorder.last.url) == f"http://127.0.0.1:8711/v25.0/{PNID}/messages"
    assert "authorization" not in recorder.last.headers


async def test_send_text_body() -> None:
    recorder = Recorder(lambda _: accepted())
    async with client_for(recorder) as client:
        await client.send_text(PNID, TO, "You are subscribed. Reply STOP to opt out.")
    assert json.loads(recorder.last.content) == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": TO,
        "type": "text",
        "text": {"preview_url": False, "body": "You are subscribed. Reply STOP to opt out."},
    }


async def test_held_response_and_a_wa_id_that_differs_from_input() -> None:
    recorder = Recorder(lambda _: accepted(wa_id="919812345679", status="held_for_quality_assessment"))
    async with client_for(recorder) as client:
        result = await client.send_template(PNID, TO, TemplateMessage("t", "en"))
    assert result.held
    assert (result.input, result.wa_id) == (TO, "919812345679")


async def test_missing_message_status_means_accepted() -> None:
    recorder = Recorder(lambda _: accepted(status=None))
    async with client_for(recorder) as client:
        result = await client.send_template(PNID, TO, TemplateMessage("t", "en"))
    assert result.message_status == "accepted"


async def test_graph_error_becomes_a_classified_cloud_api_error() -> None:
    error = {
        "error": {
            "message": "(#131056) (Business Account, Consumer Account) pair rate limit hit",
            "type": "OAuthException",
            "code": 131056,
            "error_subcode": 2494055,
            "error_data": {"messaging_product": "whatsapp", "details": "Message failed to send"},
            "fbtrace_id": "Az8or2yhqkZfEZ-_4Qn_Bam",
        }
    }
    recorder = Recorder(lambda _: httpx.Response(400, json=error))
    async with client_for(recorder) as client:
        with pytest.raises(CloudApiError) as caught:
            await client.send_template(PNID, TO, TemplateMessage("t", "en"))
    exc = caught.value
    assert (exc.code, exc.subcode, exc.http_status) == (131056, 2494055, 400)
    assert exc.details == "Message failed to send"
    assert exc.fbtrace_id == "Az8or2yhqkZfEZ-_4Qn_Bam"
    assert exc.error_type == "OAuthException"
    assert exc.policy.action is Action.RETRY_PAIR
    assert not exc.maybe_sent
    assert TOKEN not in str(exc)


@pytest.mark.parametrize(("status", "code"), [(500, 131000), (503, 2), (500, 1), (502, 133004)])
async def test_any_5xx_may_have_sent_even_with_a_graph_error_code(status: int, code: int) -> None:
    """No idempotency key: a server that failed after handing the message on cannot take it back."""
    error = {"error": {"message": "Something went wrong", "type": "OAuthException", "code": code}}
    recorder = Recorder(lambda _: httpx.Response(status, json=error))
    async with client_for(recorder) as client:
        with pytest.raises(CloudApiError) as caught:
            await client.send_template(PNID, TO, TemplateMessage("t", "en"))
    assert (caught.value.code, caught.value.http_status) == (code, status)
    assert caught.value.maybe_sent


async def test_gateway_5xx_without_a_graph_error_is_transient_and_maybe_sent() -> None:
    recorder = Recorder(lambda _: httpx.Response(502, text="<html>Bad Gateway</html>"))
    async with client_for(recorder) as client:
        with pytest.raises(CloudApiError) as caught:
            await client.send_template(PNID, TO, TemplateMessage("t", "en"))
    assert caught.value.code is None and caught.value.http_status == 502
    assert caught.value.policy.action is Action.RETRY_BACKOFF and caught.value.policy.transient
    assert caught.value.maybe_sent


@pytest.mark.parametrize(
    ("exc", "maybe_sent"),
    [
        (httpx.ConnectError("refused"), False),
        (httpx.ConnectTimeout("slow connect"), False),
        (httpx.PoolTimeout("pool exhausted"), False),
        (httpx.ReadTimeout("no answer"), True),
        (httpx.RemoteProtocolError("peer closed"), True),
    ],
)
async def test_transport_failures_say_whether_the_send_may_have_happened(
    exc: httpx.RequestError, maybe_sent: bool
) -> None:
    def fail(request: httpx.Request) -> httpx.Response:
        raise exc

    async with client_for(Recorder(fail)) as client:
        with pytest.raises(CloudApiError) as caught:
            await client.send_template(PNID, TO, TemplateMessage("t", "en"))
    assert caught.value.code is None and caught.value.http_status is None
    assert caught.value.policy.transient
    assert caught.value.maybe_sent is maybe_sent


@pytest.mark.parametrize(
    "response",
    [httpx.Response(200, text="ok"), httpx.Response(200, json={"messaging_product": "whatsapp"})],
)
async def test_unreadable_success_is_an_error_that_may_have_sent(response: httpx.Response) -> None:
    async with client_for(Recorder(lambda _: response)) as client:
        with pytest.raises(CloudApiError) as caught:
            await client.send_template(PNID, TO, TemplateMessage("t", "en"))
    assert caught.value.maybe_sent


async def test_upload_media_is_multipart_with_messaging_product() -> None:
    recorder = Recorder(lambda _: httpx.Response(200, json={"id": "1037543291543636"}))
    async with client_for(recorder) as client:
        media_id = await client.upload_media(PNID, b"\xff\xd8\xff\xe0fake-jpeg", "image/jpeg", "pack.jpg")
    request = recorder.last
    assert media_id == "1037543291543636"
    assert str(request.url) == f"https://graph.facebook.com/v26.0/{PNID}/media"
    assert request.headers["content-type"].startswith("multipart/form-data")
    assert b'name="messaging_product"\r\n\r\nwhatsapp' in request.content
    assert b'name="file"; filename="pack.jpg"' in request.content
    assert b"\xff\xd8\xff\xe0fake-jpeg" in request.content


async def test_upload_media_refuses_images_over_5_mb() -> None:
    async with client_for(Recorder(lambda _: httpx.Response(500))) as client:
        with pytest.raises(ValueError):
            await client.upload_media(PNID, b"\0" * (5 * 1024 * 1024 + 1), "image/png")


async def test_phone_number_reads_quality_throughput_and_tier() -> None:
    body = {
        "id": PNID,
        "display_phone_number": "+91 98123 45678",
        "verified_name": "Dawn Advisors",
        "quality_rating": "GREEN",
        "status": "CONNECTED",
        "throughput": {"level": "STANDARD"},
        "whatsapp_business_manager_messaging_limit": "TIER_2K",
    }
    recorder = Recorder(lambda _: httpx.Response(200, json=body))
    async with client_for(recorder) as client:
        info = await client.phone_number(PNID)
    fields = recorder.last.url.params["fields"].split(",")
    assert {"quality_rating", "status", "throughput", "whatsapp_business_manager_messaging_limit"} <= set(
        fields
    )
    assert (info.quality_rating, info.status, info.throughput_level) == ("GREEN", "CONNECTED", "STANDARD")
    assert info.messaging_limit_tier == "TIER_2K"
    assert info.connected


async def test_health_status_flattens_entity_errors() -> None:
    body = {
        "id": PNID,
        "health_status": {
            "can_send_message": "BLOCKED",
            "entities": [
                {"entity_type": "PHONE_NUMBER", "id": PNID, "can_send_message": "AVAILABLE"},
                {
                    "entity_type": "WABA",
                    "id": "102290129340398",
                    "can_send_message": "BLOCKED",
                    "errors": [
                        {
                            "error_code": 141006,
                            "error_description": "There is an error with the payment method.",
                            "possible_solution": "Add a new payment method.",
                        }
                    ],
                },
            ],
        },
    }
    recorder = Recorder(lambda _: httpx.Response(200, json=body))
    async with client_for(recorder) as client:
        health = await client.health_status(PNID)
    assert recorder.last.url.params["fields"] == "health_status"
    assert health.can_send_message == "BLOCKED" and not health.available
    assert [e.code for e in health.errors] == [141006]
    assert [e.entity_type for e in health.entities] == ["PHONE_NUMBER", "WABA"]


async def test_list_templates_follows_cursors_on_its_own_url() -> None:
    pages = {
        None: {
            "data": [
                {
                    "id": "1",
                    "name": "daily_pack_v1",
                    "language": "hi",
                    "status": "APPROVED",
                    "category": "MARKETING",
                    "quality_score": {"score": "GREEN", "date": 1750000000},
                },
            ],
            "paging": {"cursors": {"before": "b", "after": "c1"}, "next": "https://elsewhere.example/next"},
        },
        "c1": {
            "data": [
                {
                    "id": "2",
                    "name": "daily_pack_v1",
                    "language": "mr",
                    "status": "PAUSED",
                    "category": "MARKETING",
                    "quality_score": "RED",
                }
            ],
            "paging": {"cursors": {"before": "c1", "after": "c2"}},
        },
    }
    recorder = Recorder(lambda r: httpx.Response(200, json=pages[r.url.params.get("after")]))
    async with client_for(recorder) as client:
        templates = await client.list_templates("102290129340398")
    assert [(t.id, t.language, t.status, t.quality_score) for t in templates] == [
        ("1", "hi", "APPROVED", "GREEN"),
        ("2", "mr", "PAUSED", "RED"),
    ]
    assert all(r.url.host == "graph.facebook.com" for r in recorder.requests)
    assert recorder.requests[0].url.path == "/v26.0/102290129340398/message_templates"


async def test_list_phone_numbers() -> None:
    body = {"data": [{"id": PNID, "quality_rating": "YELLOW", "status": "CONNECTED"}]}
    recorder = Recorder(lambda _: httpx.Response(200, json=body))
    async with client_for(recorder) as client:
        numbers = await client.list_phone_numbers("102290129340398")
    assert recorder.last.url.path == "/v26.0/102290129340398/phone_numbers"
    assert [(n.id, n.quality_rating) for n in numbers] == [(PNID, "YELLOW")]


async def test_create_template_uploads_the_header_through_the_resumable_api() -> None:
    png = b"\x89PNG\r\n\x1a\n" + b"pixels" * 10

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/uploads"):
            return httpx.Response(200, json={"id": "upload:MTphdHRhY2htZW50?sig=ARZ"})
        if request.url.path.endswith("/upload:MTphdHRhY2htZW50"):
            return httpx.Response(200, json={"h": "4::aW1hZ2UvcG5n:ARb"})
        return httpx.Response(
            200, json={"id": "594425479261596", "status": "PENDING", "category": "MARKETING"}
        )

    recorder = Recorder(handler)
    spec = TemplateSpec(
        "daily_pack_v3",
        "hi",
        "नमस्ते {{advisor_name}}, आज का पैक तैयार है।",
        body_examples={"advisor_name": "आशा"},
        footer_text="Reply STOP to opt out",
        quick_replies=["STOP"],
    )
    async with client_for(recorder) as client:
        created = await client.create_template("102290129340398", "1234567890", spec, header_image=png)
    session, upload, create = recorder.requests
    assert session.url.path == "/v26.0/1234567890/uploads"
    assert dict(session.url.params) == {"file_length": str(len(png)), "file_type": "image/png"}
    assert upload.url.path == "/v26.0/upload:MTphdHRhY2htZW50" and upload.url.params["sig"] == "ARZ"
    assert upload.headers["file_offset"] == "0"
    # Meta documents "OAuth <token>" for the upload step only; every other call stays "Bearer".
    assert upload.headers["authorization"] == f"OAuth {TOKEN}"
    assert session.headers["authorization"] == create.headers["authorization"] == f"Bearer {TOKEN}"
    assert upload.content == png
    assert create.url.path == "/v26.0/102290129340398/message_templates"
    assert json.loads(create.content) == {
        "name": "daily_pack_v3",
        "language": "hi",
        "category": "MARKETING",
        "parameter_format": "named",
        "components": [
            {"type": "HEADER", "format": "IMAGE", "example": {"header_handle": ["4::aW1hZ2UvcG5n:ARb"]}},
            {
                "type": "BODY",
                "text": "नमस्ते {{advisor_name}}, आज का पैक तैयार है।",
                "example": {"body_text_named_params": [{"param_name": "advisor_name", "example": "आशा"}]},
            },
            {"type": "FOOTER", "text": "Reply STOP to opt out"},
            {"type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY", "text": "STOP"}]},
        ],
    }
    assert (created.id, created.status, created.category) == ("594425479261596", "PENDING", "MARKETING")


async def test_create_positional_template_without_image_makes_one_call() -> None:
    recorder = Recorder(
        lambda _: httpx.Response(200, json={"id": "7", "status": "PENDING", "category": "UTILITY"})
    )
    spec = TemplateSpec("pack", "en", "Hi {{1}}", category="UTILITY", body_examples=["Asha"])
    async with client_for(recorder) as client:
        await client.create_template("102290129340398", "1234567890", spec)
    (create,) = recorder.requests
    body = json.loads(create.content)
    assert "parameter_format" not in body
    assert body["components"] == [{"type": "BODY", "text": "Hi {{1}}", "example": {"body_text": [["Asha"]]}}]


async def test_unpause_template() -> None:
    recorder = Recorder(lambda _: httpx.Response(200, json={"success": True}))
    async with client_for(recorder) as client:
        assert await client.unpause_template("594425479261596")
    assert recorder.last.method == "POST"
    assert recorder.last.url.path == "/v26.0/594425479261596/unpause"


def test_template_message_refuses_ambiguous_input() -> None:
    with pytest.raises(ValueError):
        TemplateMessage("t", "en", header_image_id="1", header_image_link="https://x/y.jpg")
    with pytest.raises(TypeError):
        TemplateMessage("t", "en", body_params="Asha")  # type: ignore[arg-type]


async def test_callback_data_over_512_characters_is_refused_before_sending() -> None:
    recorder = Recorder(lambda _: accepted())
    async with client_for(recorder) as client:
        with pytest.raises(ValueError):
            await client.send_template(PNID, TO, TemplateMessage("t", "en"), callback_data="x" * 513)
    assert recorder.requests == []
