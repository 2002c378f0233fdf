"""The shared token checks: bearer ops token and signed advisor tokens, including forgeries."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ops.tokens import advisor_of, bearer_matches, mint_advisor_token, same_secret

SECRET = "k" * 32
NOW = 1_800_000_000.0


@pytest.mark.parametrize(("header", "ok"), [
    ("Bearer tok", True), ("bearer tok", True), ("Bearer  tok ", True), ("Bearer tok2", False),
    ("Basic tok", False), ("tok", False), ("", False), (None, False), ("Bearer ", False),
])
def test_bearer(header: str | None, ok: bool) -> None:
    assert bearer_matches(header, "tok") is ok


def test_no_configured_secret_matches_nothing() -> None:
    assert not same_secret("", "")
    assert not bearer_matches("Bearer ", "")
    assert advisor_of(mint_advisor_token("A1", SECRET), "") is None
    with pytest.raises(ValueError):
        mint_advisor_token("A1", "")


def test_a_token_names_its_advisor_until_it_expires() -> None:
    token = mint_advisor_token("A1", SECRET, ttl_s=60, now=NOW)
    assert advisor_of(token, SECRET, now=NOW + 59) == "A1"
    assert advisor_of(token, SECRET, now=NOW + 61) is None
    assert advisor_of(token, "other", now=NOW) is None


def test_a_non_ascii_digit_in_the_expiry_is_refused_not_a_crash() -> None:
    advisor, expires, signature = mint_advisor_token("A1", SECRET, now=NOW).split(".")
    assert advisor_of(f"{advisor}.{expires[:-1]}\u00b9.{signature}", SECRET, now=NOW) is None


@pytest.mark.parametrize("advisor", ["", "A.1", "अ1", "\ud800"])
def test_ids_that_would_make_an_ambiguous_token_are_refused(advisor: str) -> None:
    with pytest.raises(ValueError):
        mint_advisor_token(advisor, SECRET)


@given(advisor=st.text(st.characters(min_codepoint=0, max_codepoint=127, blacklist_characters="."),
                       min_size=1, max_size=20),
       position=st.integers(min_value=0), replacement=st.characters())
def test_any_single_character_change_is_refused(advisor: str, position: int, replacement: str) -> None:
    token = mint_advisor_token(advisor, SECRET, now=NOW)
    i = position % len(token)
    forged = token[:i] + replacement + token[i + 1:]
    if forged != token:
        assert advisor_of(forged, SECRET, now=NOW) is None


@given(st.text())
def test_any_text_compares_without_raising(given_text: str) -> None:
    assert same_secret(given_text, "tok") == (given_text == "tok")
    assert bearer_matches(f"Bearer {given_text}", "tok") == (given_text.strip() == "tok")
    assert advisor_of(given_text, SECRET, now=NOW) is None
