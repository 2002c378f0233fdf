"""The brand overlay, checked with pixels: golden strips per language, Devanagari really shaped,
Meta's image limits kept, and a missing shaper refused instead of drawing broken Hindi."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageChops, ImageDraw, ImageFont, ImageStat

from producers.branding import render
from producers.branding.render import BrandingError, Rendered, font, render_branded
from producers.identity import Identity, identity_problems
from tests.shaping import needs_shaping

GOLDEN = Path(__file__).parent / "golden"
IDENTITIES = {
    "EN": Identity("Ananya Iyer", "SEBI_RIA", "INA000012345", "919812345678"),
    "HI": Identity("राहुल त्रिपाठी", "AMFI_ARN", "ARN-12345", "919812345678"),
    "MR": Identity("अश्विनी क्षीरसागर", "SEBI_RIA", "INA000067890", "917012345678"),
}
BASE_SIZE = (480, 320)


def base_png(size: tuple[int, int] = BASE_SIZE, colour: tuple[int, int, int] = (214, 200, 170)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, "PNG")
    return out.getvalue()


def strip_of(rendered: Rendered) -> Image.Image:
    image = Image.open(io.BytesIO(rendered.data)).convert("RGB")
    return image.crop((0, BASE_SIZE[1], image.width, image.height))


@needs_shaping
@pytest.mark.parametrize("language", ["EN", "HI", "MR"])
def test_strip_matches_its_golden_image(language: str) -> None:
    rendered = render_branded(base_png(), IDENTITIES[language], language)
    strip = strip_of(rendered)
    golden_path = GOLDEN / f"strip_{language.lower()}.png"
    if os.environ.get("DAWN_REGEN_GOLDEN") == "1":
        strip.save(golden_path)
    golden = Image.open(golden_path).convert("RGB")
    assert strip.size == golden.size
    diff = ImageStat.Stat(ImageChops.difference(strip, golden)).mean
    # JPEG noise is a fraction of a level; a missing line, a wrong font or unshaped text moves
    # the mean by several levels.
    assert max(diff) < 1.5, diff
    # The base image is untouched above the strip.
    image = Image.open(io.BytesIO(rendered.data)).convert("RGB")
    top = ImageStat.Stat(image.crop((0, 0, BASE_SIZE[0], BASE_SIZE[1] - 2))).mean
    assert all(abs(a - b) < 3 for a, b in zip(top, (214, 200, 170), strict=True))


@needs_shaping
@pytest.mark.parametrize("language", ["EN", "HI", "MR"])
def test_strip_is_text_on_the_band_not_blank(language: str) -> None:
    strip = strip_of(render_branded(base_png(), IDENTITIES[language], language))
    band = Image.new("RGB", strip.size, render.STRIP_COLOUR)
    inked = ImageChops.difference(strip, band).convert("L").point(lambda v: 255 if v > 80 else 0)
    # Each of the three lines has ink: a row band with no text pixels would be a missing line.
    thirds = [inked.crop((0, k * strip.height // 3, strip.width, (k + 1) * strip.height // 3))
              for k in range(3)]
    assert all(t.getbbox() is not None for t in thirds)


def _width(text: str, layout: int) -> float:
    face = font(True, True, 48, layout)
    draw = ImageDraw.Draw(Image.new("RGB", (10, 10)))
    return draw.textlength(text, font=face)


@needs_shaping
@pytest.mark.parametrize("conjunct", ["क्ष", "श्री", "त्रि"])
def test_devanagari_conjuncts_are_shaped(conjunct: str) -> None:
    # Unshaped, a conjunct is drawn as its parts (consonant, virama, consonant...) side by side;
    # shaped it becomes one ligature glyph, which is narrower.
    shaped = _width(conjunct, ImageFont.Layout.RAQM)
    unshaped = _width(conjunct, ImageFont.Layout.BASIC)
    assert shaped < unshaped * 0.85, (shaped, unshaped)


def test_missing_shaper_is_a_clear_error_for_devanagari(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(render, "shaping_available", lambda: False)
    with pytest.raises(BrandingError, match="fribidi"):
        render_branded(base_png(), IDENTITIES["HI"], "HI")
    render_branded(base_png(), IDENTITIES["EN"], "EN")  # English needs no shaping


def test_within_meta_limits_for_a_huge_noisy_base() -> None:
    noisy = Image.effect_noise((4000, 4000), 120).convert("RGB")
    out = io.BytesIO()
    noisy.save(out, "PNG")
    rendered = render_branded(out.getvalue(), IDENTITIES["EN"], "EN")
    assert rendered.mime_type == "image/jpeg" and len(rendered.data) <= 5 * 1024 * 1024
    assert Image.open(io.BytesIO(rendered.data)).format == "JPEG"
    assert rendered.width <= render.MAX_WIDTH


def test_logo_is_drawn_left_of_the_text() -> None:
    logo = io.BytesIO()
    Image.new("RGB", (64, 64), (255, 0, 0)).save(logo, "PNG")
    strip = strip_of(render_branded(base_png(), IDENTITIES["EN"], "EN", logo.getvalue()))
    r, g, b = strip.getpixel((30, strip.height // 2))
    assert r > 200 and g < 60 and b < 60


def test_incomplete_identity_is_refused_and_reported() -> None:
    blank = Identity("Ananya Iyer", None, None, "919812345678")
    assert identity_problems(blank) == ["registration_type is missing"]
    assert "registration_number is missing" in identity_problems(
        Identity("Ananya Iyer", "AMFI_ARN", None, "919812345678"))
    assert identity_problems(Identity("A", "AMFI_ARN", "INA000012345", "91981")) == [
        "registration_number 'INA000012345' is not a AMFI_ARN number (like ARN-12345)"]
    with pytest.raises(BrandingError, match="incomplete"):
        render_branded(base_png(), blank, "EN")


def test_unreadable_base_is_a_branding_error() -> None:
    with pytest.raises(BrandingError, match="base image"):
        render_branded(b"not an image", IDENTITIES["EN"], "EN")


_NAME_CHARS = st.sampled_from(list("abcdefghijklmnopqrstuvwxyz ABCDEFGHIJ.-'")
                              + list("कखगघचछजझटठडढणतथदधनपफबभमयरलवशषसहािीुूेैोौंः्"))


@needs_shaping
@settings(max_examples=25, deadline=None)
@given(name=st.text(_NAME_CHARS, min_size=1, max_size=90).filter(str.strip),
       language=st.sampled_from(["EN", "HI", "MR"]),
       kind=st.sampled_from(["SEBI_RIA", "AMFI_ARN"]),
       width=st.integers(200, 1400))
def test_any_identity_renders_inside_the_strip(name: str, language: str, kind: str, width: int) -> None:
    number = "INA000012345" if kind == "SEBI_RIA" else "ARN-123456"
    rendered = render_branded(base_png((width, 150)), Identity(name, kind, number, "919812345678"),
                              language)
    image = Image.open(io.BytesIO(rendered.data)).convert("RGB")
    assert image.width == min(width, render.MAX_WIDTH) and len(rendered.data) <= render.MAX_BYTES
    strip = image.crop((0, 150, image.width, image.height))
    band = Image.new("RGB", strip.size, render.STRIP_COLOUR)
    inked = ImageChops.difference(strip, band).convert("L").point(lambda v: 255 if v > 80 else 0)
    box = inked.getbbox()
    assert box is not None  # never a blank strip
    pad = max(8, strip.height // 10)
    # Nothing drawn into the right margin: a long name is shrunk or cut, never runs off the edge.
    assert box[2] <= strip.width - pad + 2, (box, strip.size)
