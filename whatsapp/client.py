"""Async Graph API client for the Cloud API calls dawn makes.

One ``httpx.AsyncClient`` per instance keeps connections alive across sends: at 80 messages/s per
number and 100-300 ms per call, each number needs about 24 requests in flight (Little's law), so
the default pool allows 256 connections for several numbers with headroom. Every failure becomes
a ``CloudApiError`` carrying the taxonomy's policy, so callers branch on one exception type.

There is no idempotency key on ``/messages``: ``CloudApiError.maybe_sent`` tells the sender
whether the request may have reached Meta (a read timeout) or certainly did not (a refused
connection), which decides between "resend" and "reconcile through the status webhook first".
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from types import TracebackType
from typing import Any, Self
from urllib.parse import quote

import httpx

from whatsapp.aiohttp_transport import AiohttpTransport
from whatsapp.coerce import as_dict, as_int, as_list, as_str
from whatsapp.errors import ErrorPolicy, classify
from whatsapp.payloads import (
    TemplateMessage,
    TemplateSpec,
    template_create_body,
    template_message_body,
    text_message_body,
)
from whatsapp.responses import HealthStatus, PhoneNumberInfo, SendAccepted, TemplateCreated, TemplateInfo

log = logging.getLogger("dawn.whatsapp")

DEFAULT_TIMEOUT = httpx.Timeout(connect=5.0, read=10.0, write=10.0, pool=5.0)
#: Uploads move up to 5 MB; give the body time to travel, keep connect/pool as tight.
UPLOAD_TIMEOUT = httpx.Timeout(connect=5.0, read=60.0, write=60.0, pool=5.0)
DEFAULT_LIMITS = httpx.Limits(max_connections=256, max_keepalive_connections=128, keepalive_expiry=30.0)
MAX_IMAGE_BYTES = 5 * 1024 * 1024
_PAGE_SIZE = 100
_MAX_PAGES = 50

_PHONE_FIELDS = (
    "id,display_phone_number,verified_name,quality_rating,status,throughput,"
    "whatsapp_business_manager_messaging_limit"
)
_TEMPLATE_FIELDS = "id,name,language,status,category,quality_score"

#: Failures raised before any byte of the request can have left: safe to resend.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)


class CloudApiError(Exception):
    """A Graph API call that did not succeed, with what to do about it in ``policy``.

    Transport errors and timeouts have ``code`` None and a transient policy. ``maybe_sent`` is
    True when the request may have been processed anyway (read timeout, dropped connection, any
    HTTP 5xx, even one carrying a Graph error code: a server that failed after handing the message
    on cannot take it back): never blindly resend a message after such an error.
    """

    def __init__(
        self,
        message: str,
        *,
        code: int | None = None,
        subcode: int | None = None,
        http_status: int | None = None,
        details: str | None = None,
        fbtrace_id: str | None = None,
        error_type: str | None = None,
        maybe_sent: bool = False,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.subcode = subcode
        self.http_status = http_status
        self.details = details
        self.fbtrace_id = fbtrace_id
        self.error_type = error_type
        self.maybe_sent = maybe_sent
        self.policy: ErrorPolicy = classify(code, http_status)

    def __str__(self) -> str:
        where = f"code {self.code}" if self.code is not None else "no code"
        text = f"Cloud API error ({where}, HTTP {self.http_status}): {self.message}"
        return f"{text} [{self.details}]" if self.details else text

    @classmethod
    def from_response(cls, response: httpx.Response) -> CloudApiError:
        """Read Meta's error object; a body without one (a proxy's 502) keeps only the status."""
        try:
            body = response.json()
        except ValueError:
            body = None
        error = as_dict(body.get("error")) if isinstance(body, dict) else {}
        code = as_int(error.get("code"))
        return cls(
            as_str(error.get("message")) or response.reason_phrase or "HTTP error",
            code=code,
            subcode=as_int(error.get("error_subcode")),
            http_status=response.status_code,
            details=as_str(as_dict(error.get("error_data")).get("details")),
            fbtrace_id=as_str(error.get("fbtrace_id")),
            error_type=as_str(error.get("type")),
            maybe_sent=response.status_code >= 500,
        )

    @classmethod
    def from_transport(cls, exc: httpx.RequestError) -> CloudApiError:
        return cls(
            f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__,
            maybe_sent=not isinstance(exc, _NOT_SENT),
        )


class CloudApiClient:
    """The Cloud API calls dawn makes, against ``{base_url}/{version}``.

    Requests go over aiohttp's pool (whatsapp.aiohttp_transport; ``limits`` are its limits);
    pass ``transport`` to talk to an in-process app (the sandbox) or a mock in tests.
    """

    def __init__(
        self,
        base_url: str = "https://graph.facebook.com",
        version: str = "v26.0",
        access_token: str = "",
        *,
        timeout: httpx.Timeout | None = None,
        limits: httpx.Limits | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._root = f"{base_url.rstrip('/')}/{version.strip('/')}"
        self._access_token = access_token
        headers = {"Authorization": f"Bearer {access_token}"} if access_token else {}
        self._http = httpx.AsyncClient(
            headers=headers,
            timeout=timeout or DEFAULT_TIMEOUT,
            transport=transport or AiohttpTransport(limits or DEFAULT_LIMITS),
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    def _url(self, *parts: str) -> str:
        return "/".join([self._root, *(quote(part, safe=":") for part in parts)])

    async def _call(self, method: str, url: str, **kwargs: Any) -> tuple[dict[str, Any], float]:
        """One request; the JSON object it answered and the round trip in ms, or CloudApiError."""
        where = url.split("?", 1)[0]  # an upload session's query carries a signature
        started = time.perf_counter()
        try:
            response = await self._http.request(method, url, **kwargs)
        except httpx.RequestError as exc:
            error = CloudApiError.from_transport(exc)
            log.debug("%s %s failed: %s", method, where, error)
            raise error from exc
        latency_ms = (time.perf_counter() - started) * 1000.0
        if not response.is_success:
            error = CloudApiError.from_response(response)
            log.debug("%s %s -> %s in %.0f ms (%s)", method, where, response.status_code, latency_ms, error)
            raise error
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            # A success we cannot read: the call may well have taken effect.
            raise CloudApiError(
                "success response is not a JSON object", http_status=response.status_code, maybe_sent=True
            )
        log.debug("%s %s -> %s in %.0f ms", method, where, response.status_code, latency_ms)
        return body, latency_ms

    async def _send(self, phone_number_id: str, to: str, payload: dict[str, Any],
                    edge: str = "messages") -> SendAccepted:
        body, latency_ms = await self._call("POST", self._url(phone_number_id, edge), json=payload)
        accepted = SendAccepted.from_json(body, to, latency_ms)
        if accepted is None:
            raise CloudApiError("send answered without a message id", http_status=200, maybe_sent=True)
        return accepted

    async def send_template(
        self, phone_number_id: str, to: str, message: TemplateMessage, callback_data: str | None = None,
        *, marketing_api: bool = False,
    ) -> SendAccepted:
        """Send a template; ``callback_data`` comes back in every status webhook of the message.
        ``marketing_api`` sends it through the Marketing Messages API
        (``/{phone-number-id}/marketing_messages``: same body, MARKETING templates only, the
        template's time-to-live and Meta's delivery optimisation)."""
        return await self._send(phone_number_id, to, template_message_body(to, message, callback_data),
                                "marketing_messages" if marketing_api else "messages")

    async def send_text(self, phone_number_id: str, to: str, body: str) -> SendAccepted:
        """Free-form text: only inside the 24 h window (consent confirmations), else 131047."""
        return await self._send(phone_number_id, to, text_message_body(to, body))

    async def upload_media(
        self, phone_number_id: str, data: bytes, mime_type: str, filename: str = "image.jpg"
    ) -> str:
        """Upload once per sender number and cache the id (it lives 30 days)."""
        if mime_type.startswith("image/") and len(data) > MAX_IMAGE_BYTES:
            raise ValueError(f"images are limited to {MAX_IMAGE_BYTES} bytes")
        body, _ = await self._call(
            "POST",
            self._url(phone_number_id, "media"),
            data={"messaging_product": "whatsapp", "type": mime_type},
            files={"file": (filename, data, mime_type)},
            timeout=UPLOAD_TIMEOUT,
        )
        return _required_id(body, "media upload")

    async def phone_number(self, phone_number_id: str) -> PhoneNumberInfo:
        body, _ = await self._call("GET", self._url(phone_number_id), params={"fields": _PHONE_FIELDS})
        return PhoneNumberInfo.from_json(body, phone_number_id)

    async def health_status(self, node_id: str) -> HealthStatus:
        body, _ = await self._call("GET", self._url(node_id), params={"fields": "health_status"})
        return HealthStatus.from_json(body, node_id)

    async def list_phone_numbers(self, waba_id: str) -> list[PhoneNumberInfo]:
        url = self._url(waba_id, "phone_numbers")
        return [PhoneNumberInfo.from_json(item) async for item in self._pages(url, _PHONE_FIELDS)]

    async def list_templates(self, waba_id: str) -> list[TemplateInfo]:
        url = self._url(waba_id, "message_templates")
        return [TemplateInfo.from_json(item) async for item in self._pages(url, _TEMPLATE_FIELDS)]

    async def _pages(self, url: str, fields: str) -> AsyncIterator[dict[str, Any]]:
        """Every item of a paged list, following ``paging.cursors.after`` on our own URL: the
        ``paging.next`` link is never fetched, so the bearer token only goes where we point it."""
        params: dict[str, Any] = {"fields": fields, "limit": _PAGE_SIZE}
        for _ in range(_MAX_PAGES):
            body, _latency = await self._call("GET", url, params=params)
            for item in as_list(body.get("data")):
                if isinstance(item, dict):
                    yield item
            paging = as_dict(body.get("paging"))
            after = as_str(as_dict(paging.get("cursors")).get("after"))
            if not paging.get("next") or not after:
                return
            params = {**params, "after": after}
        log.warning("stopped listing %s after %d pages", url, _MAX_PAGES)

    async def create_template(
        self, waba_id: str, app_id: str, spec: TemplateSpec, header_image: bytes | None = None
    ) -> TemplateCreated:
        """Submit a template for approval; a header image is first sent through the resumable
        upload API, whose handle becomes the header's example."""
        handle = await self._upload_example(app_id, header_image) if header_image else None
        body, _ = await self._call(
            "POST", self._url(waba_id, "message_templates"), json=template_create_body(spec, handle)
        )
        created = TemplateCreated.from_json(body)
        if not created.id:
            raise CloudApiError("template creation answered without an id", http_status=200, maybe_sent=True)
        return created

    async def _upload_example(self, app_id: str, data: bytes) -> str:
        file_type = _image_type(data)
        body, _ = await self._call(
            "POST",
            self._url(app_id, "uploads"),
            params={"file_length": len(data), "file_type": file_type},
        )
        session = _required_id(body, "upload session")
        if "/" in session:
            raise CloudApiError("malformed upload session id", http_status=200)
        # The session id is used verbatim: it can carry its own query ("upload:...?sig=...").
        # Meta documents this one call with the "OAuth" scheme rather than "Bearer".
        headers = {"file_offset": "0", "Content-Type": file_type}
        if self._access_token:
            headers["Authorization"] = f"OAuth {self._access_token}"
        body, _ = await self._call(
            "POST",
            f"{self._root}/{session}",
            headers=headers,
            content=data,
            timeout=UPLOAD_TIMEOUT,
        )
        handle = as_str(body.get("h"))
        if not handle:
            raise CloudApiError("upload answered without a handle", http_status=200)
        return handle

    async def unpause_template(self, template_id: str) -> bool:
        body, _ = await self._call("POST", self._url(template_id, "unpause"))
        return body.get("success") is True


def _required_id(body: dict[str, Any], what: str) -> str:
    value = as_str(body.get("id"))
    if not value:
        raise CloudApiError(f"{what} answered without an id", http_status=200)
    return value


def _image_type(data: bytes) -> str:
    """The MIME type the upload session must declare, from the file's magic bytes."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    raise ValueError("header image must be a JPEG or PNG")
