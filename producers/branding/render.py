"""Rendering an advisor's branded copy of a pack image: the base image over an identity strip.

The strip carries the name as registered, the registration (described in the advisor's language)
and number, and the phone, on a dark band under the image so it never hides the approved content.
Hindi and Marathi need complex-text layout: Devanagari conjuncts (क्ष, श्री) and vowel signs are
glyph substitutions and reorderings that only a shaper (Pillow's raqm layout, HarfBuzz inside)
does; without it Pillow draws the code points one by one, which reads as misspelt text. So a
missing raqm is an error, never a silently broken strip. The fonts ship with the package (Noto
Sans and Noto Sans Devanagari, OFL, see fonts/OFL.txt) so a fresh machine renders the same pixels.
"""

from __future__ import annotations

import hashlib
import io
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

from PIL import Image, ImageDraw, ImageFont, features

from producers.identity import Identity, registration_types

#: Part of the render cache key: bump it when the strip's look changes, so every advisor re-renders.
RENDERER_VERSION = "strip-2"
#: Meta's limit for an image header (JPEG or PNG, 8-bit RGB/RGBA, at most 5 MB).
MAX_BYTES = 5 * 1024 * 1024
#: Wider images are scaled down first: WhatsApp shows them at phone width anyway.
MAX_WIDTH = 1600
MIN_FONT = 12
STRIP_COLOUR = (11, 37, 69)
TEXT_COLOUR = (255, 255, 255)
MUTED_COLOUR = (196, 214, 236)
_DEVANAGARI = re.compile(r"[\u0900-\u097F\uA8E0-\uA8FF]")
_LANGUAGE_TAGS = {"EN": "en", "HI": "hi", "MR": "mr"}


class BrandingError(RuntimeError):
    """An image that cannot be branded correctly (no text shaper, bad base image, incomplete identity)."""


@dataclass(frozen=True)
class Rendered:
    data: bytes
    mime_type: str
    sha256: str
    width: int
    height: int


def shaping_available() -> bool:
    """Whether Pillow can shape Devanagari (raqm with its fribidi and harfbuzz libraries)."""
    return bool(features.check_feature("raqm"))


@cache
def font(bold: bool, devanagari: bool, size: int, layout: int = ImageFont.Layout.RAQM
         ) -> ImageFont.FreeTypeFont:
    """A packaged Noto font. Noto Sans Devanagari also has Latin letters and digits, so a line
    mixing scripts (a Hindi label and an ARN) is drawn in one font."""
    family = "NotoSansDevanagari" if devanagari else "NotoSans"
    name = f"{family}-{'Bold' if bold else 'Regular'}.ttf"
    path = resources.files("producers.branding").joinpath("fonts", name)
    with resources.as_file(path) as real:
        return ImageFont.truetype(str(real), size, layout_engine=layout)


def strip_lines(identity: Identity, language: str) -> list[tuple[str, bool]]:
    """The strip's lines (text, bold): name; registration described; number and phone."""
    kind = registration_types().get(identity.registration_type or "")
    if kind is None or not identity.registered_name or not identity.registration_number:
        raise BrandingError("identity is incomplete: registered_name, a known registration_type "
                            "and registration_number are needed")
    label = kind.label.get(language) or kind.label["EN"]
    details = identity.registration_number
    if identity.phone:
        details += f"  |  {format_phone(identity.phone)}"
    return [(identity.registered_name, True), (label, False), (details, False)]


def format_phone(digits: str) -> str:
    """+91 98123 45678 for an Indian mobile, +<digits> otherwise."""
    if len(digits) == 12 and digits.startswith("91"):
        return f"+91 {digits[2:7]} {digits[7:]}"
    return f"+{digits}"


def render_branded(base: bytes, identity: Identity, language: str, logo: bytes | None = None
                   ) -> Rendered:
    """The advisor's branded JPEG of ``base``; BrandingError when it cannot be rendered right."""
    lines = strip_lines(identity, language)
    needs_shaping = any(_DEVANAGARI.search(text) for text, _ in lines)
    if needs_shaping and not shaping_available():
        raise BrandingError(
            "Pillow has no complex-text layout (raqm), so Hindi and Marathi would be drawn "
            "unshaped; install the system's fribidi library (Debian: libfribidi0) and retry")
    try:
        image = Image.open(io.BytesIO(base))
        image.load()
    except Exception as exc:
        raise BrandingError(f"base image cannot be read: {exc}") from exc
    image = image.convert("RGB")
    if image.width > MAX_WIDTH:
        image = image.resize((MAX_WIDTH, round(image.height * MAX_WIDTH / image.width)),
                             Image.Resampling.LANCZOS)
    width = image.width
    strip_h = max(96, round(width * 0.2))
    canvas = Image.new("RGB", (width, image.height + strip_h), STRIP_COLOUR)
    canvas.paste(image, (0, 0))
    pad = max(8, strip_h // 10)
    left = pad
    if logo:
        left = _paste_logo(canvas, logo, (pad, image.height + pad), strip_h - 2 * pad) + pad
    draw = ImageDraw.Draw(canvas)
    shares = (0.34, 0.22, 0.22)
    y = image.height + pad
    room = width - left - pad
    tag = _LANGUAGE_TAGS.get(language, "en")
    for (text, bold), share in zip(lines, shares, strict=True):
        devanagari = bool(_DEVANAGARI.search(text))
        face, text = _fit(draw, text, bold, devanagari, round(strip_h * share * 0.78), room,
                          tag if devanagari else None)
        draw.text((left, y), text, font=face, fill=TEXT_COLOUR if bold else MUTED_COLOUR,
                  language=tag if devanagari else None)
        y += round(strip_h * share * 1.12)
    return _encode(canvas)


def _fit(draw: ImageDraw.ImageDraw, text: str, bold: bool, devanagari: bool, size: int, room: int,
         language: str | None) -> tuple[ImageFont.FreeTypeFont, str]:
    """The largest font up to ``size`` (down to MIN_FONT) at which ``text`` fits in ``room``
    pixels; a text too long even then is cut at a word or character and ends in an ellipsis,
    never drawn past the edge."""
    size = max(MIN_FONT, size)
    face = font(bold, devanagari, size)
    while draw.textlength(text, font=face, language=language) > room and size > MIN_FONT:
        size -= 1
        face = font(bold, devanagari, size)
    if draw.textlength(text, font=face, language=language) <= room:
        return face, text
    words = text.split(" ")
    while len(words) > 1 and draw.textlength(" ".join(words) + "…", font=face, language=language) > room:
        words.pop()
    cut = " ".join(words)
    while cut and draw.textlength(cut + "…", font=face, language=language) > room:
        cut = cut[:-1]
    return face, cut.rstrip() + "…"


def _paste_logo(canvas: Image.Image, logo: bytes, at: tuple[int, int], side: int) -> int:
    try:
        mark = Image.open(io.BytesIO(logo))
        mark.load()
    except Exception as exc:
        raise BrandingError(f"logo cannot be read: {exc}") from exc
    mark = mark.convert("RGBA")
    mark.thumbnail((side, side), Image.Resampling.LANCZOS)
    canvas.paste(mark, at, mark)
    return at[0] + mark.width


def _encode(canvas: Image.Image) -> Rendered:
    """JPEG under Meta's 5 MB: lower quality first, then smaller, never an oversize file."""
    for quality in (88, 80, 70, 60):
        out = io.BytesIO()
        canvas.save(out, "JPEG", quality=quality)
        if out.tell() <= MAX_BYTES:
            data = out.getvalue()
            return Rendered(data, "image/jpeg", hashlib.sha256(data).hexdigest(), *canvas.size)
    smaller = canvas.resize((canvas.width * 3 // 4, canvas.height * 3 // 4), Image.Resampling.LANCZOS)
    return _encode(smaller)
