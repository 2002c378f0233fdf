"""Just enough multipart/form-data parsing for ``POST /{phone_number_id}/media``.

Starlette's form parser needs an optional dependency dawn does not otherwise use; a media upload is
one small, well-formed body, which a boundary split handles exactly (binary-safe, no decoding).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_BOUNDARY = re.compile(r'boundary="?([^";]+)"?', re.IGNORECASE)
_PARAM = re.compile(r'(\w+)="([^"]*)"')


@dataclass(frozen=True, slots=True)
class Part:
    data: bytes
    content_type: str | None
    filename: str | None


def parse(content_type: str, body: bytes) -> dict[str, Part]:
    """The named parts of a multipart/form-data ``body``; raises ValueError when it is not one."""
    if not content_type.lower().startswith("multipart/form-data"):
        raise ValueError("expected multipart/form-data")
    match = _BOUNDARY.search(content_type)
    if not match:
        raise ValueError("multipart/form-data without a boundary")
    delimiter = b"--" + match.group(1).encode("latin-1")
    parts: dict[str, Part] = {}
    chunks = body.split(delimiter)
    if len(chunks) < 3:
        raise ValueError("multipart body has no parts")
    for chunk in chunks[1:]:
        if chunk.startswith(b"--"):
            break
        head, sep, data = chunk.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        if not sep:
            raise ValueError("multipart part without headers")
        headers = {}
        for line in head.decode("latin-1").split("\r\n"):
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        params = dict(_PARAM.findall(headers.get("content-disposition", "")))
        if "name" not in params:
            raise ValueError("multipart part without a name")
        parts[params["name"]] = Part(data.removesuffix(b"\r\n"), headers.get("content-type"),
                                     params.get("filename"))
    return parts
