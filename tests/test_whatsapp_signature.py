"""X-Hub-Signature-256 over raw bytes, and the verify-token handshake."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from whatsapp.webhooks.model import parse_notification
from whatsapp.webhooks.signature import sign, verify_challenge, verify_signature

SECRET = "app-secret-for-tests"

# As Meta sends it: "/" escaped as "\/", Devanagari as \uXXXX escapes (Hindi, then Marathi).
ESCAPED = (
    b'{"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[{"value":'
    b'{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550783881",'
    b'"phone_number_id":"106540352242922"},"contacts":[{"profile":{"name":"\\u0906\\u0936\\u093e"},'
    b'"wa_id":"919812345678"}],"messages":[{"from":"919812345678","id":"wamid.HBgL\\/abc==",'
    b'"timestamp":"1750030080","type":"text","text":{"body":"\\u0928\\u092e\\u0938\\u094d\\u0924\\u0947 '
    b"https:\\/\\/example.com\\/pack \\u0915\\u0943\\u092a\\u092f\\u093e "
    b'\\u0925\\u093e\\u0902\\u092c\\u093e"}}]},'
    b'"field":"messages"}]}]}'
)
TEXT = "नमस्ते https://example.com/pack कृपया थांबा"

# The same notification with Devanagari as raw UTF-8 bytes, as other senders (and the sandbox) may.
UTF8 = ESCAPED.replace(b"\\/", b"/").decode("unicode_escape").encode()


def test_sign_is_hmac_sha256_of_the_raw_bytes() -> None:
    expected = hmac.new(SECRET.encode(), ESCAPED, hashlib.sha256).hexdigest()
    assert sign(ESCAPED, SECRET) == "sha256=" + expected


@pytest.mark.parametrize("raw", [ESCAPED, UTF8], ids=["escaped", "utf8"])
def test_valid_signature_over_hindi_and_marathi_bodies(raw: bytes) -> None:
    assert verify_signature(raw, sign(raw, SECRET), SECRET)
    message = parse_notification(raw).messages[0]
    assert message.text == TEXT
    assert message.id == "wamid.HBgL/abc=="
    assert message.profile_name == "आशा"


def test_the_escaped_body_is_really_escaped() -> None:
    assert b"\\/" in ESCAPED and b"\\u0928" in ESCAPED and not any(b > 127 for b in ESCAPED)
    assert "नमस्ते".encode() in UTF8


@pytest.mark.parametrize("ensure_ascii", [True, False])
def test_re_serialising_would_break_the_signature(ensure_ascii: bool) -> None:
    """The bug peer libraries have: hash json.dumps(json.loads(body)) instead of the body."""
    header = sign(ESCAPED, SECRET)
    reserialised = json.dumps(json.loads(ESCAPED), ensure_ascii=ensure_ascii, separators=(",", ":")).encode()
    assert reserialised != ESCAPED
    assert not verify_signature(reserialised, header, SECRET)


def test_forged_and_tampered_bodies_fail() -> None:
    assert not verify_signature(ESCAPED, sign(ESCAPED, "someone-else"), SECRET)
    tampered = ESCAPED.replace(b"919812345678", b"919812345679")
    assert not verify_signature(tampered, sign(ESCAPED, SECRET), SECRET)


@pytest.mark.parametrize("header", [None, "", "   "])
def test_missing_signature_fails(header: str | None) -> None:
    assert not verify_signature(ESCAPED, header, SECRET)


def test_wrong_prefix_or_shape_fails() -> None:
    digest = sign(ESCAPED, SECRET).removeprefix("sha256=")
    for header in (
        digest,
        "sha1=" + digest,
        "sha256:" + digest,
        "sha512=" + digest,
        "sha256=" + digest[:-1],
        "sha256=" + digest + "00",
        "sha256=" + "z" * 64,
        "sha256=" + "é" * 64,
    ):
        assert not verify_signature(ESCAPED, header, SECRET), header


def test_upper_case_hex_and_surrounding_space_are_tolerated() -> None:
    digest = sign(ESCAPED, SECRET).removeprefix("sha256=")
    assert verify_signature(ESCAPED, f" SHA256={digest.upper()} ", SECRET)


def test_an_empty_secret_verifies_nothing() -> None:
    assert not verify_signature(ESCAPED, sign(ESCAPED, ""), "")


def test_challenge_is_echoed_only_for_our_token() -> None:
    assert verify_challenge("subscribe", "verify-me", "1158201444", "verify-me") == "1158201444"
    assert verify_challenge("subscribe", "wrong", "1158201444", "verify-me") is None
    assert verify_challenge("unsubscribe", "verify-me", "1158201444", "verify-me") is None
    assert verify_challenge(None, None, None, "verify-me") is None
    assert verify_challenge("subscribe", "verify-me", None, "verify-me") is None
    assert verify_challenge("subscribe", "", "1", "") is None  # unset verify token refuses all
    assert verify_challenge("subscribe", "टोकन", "1", "टोकन") == "1"


def test_challenge_that_could_become_markup_is_refused() -> None:
    assert verify_challenge("subscribe", "t", "<script>alert(1)</script>", "t") is None
    assert verify_challenge("subscribe", "t", "x" * 257, "t") is None
