"""Parsing consent commands: every listed phrase in every language, and only whole messages."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.consent.commands import BUTTON_PAYLOADS, PHRASES, Command, next_state, parse, parse_inbound

ALL_PHRASES = [
    (command, language, phrase)
    for command, by_language in PHRASES.items()
    for language, phrases in by_language.items()
    for phrase in phrases
]


@pytest.mark.parametrize(("command", "language", "phrase"), ALL_PHRASES,
                         ids=[f"{c}-{lang}-{p}" for c, lang, p in ALL_PHRASES])
def test_every_listed_phrase_parses_to_its_command(command: Command, language: str, phrase: str) -> None:
    assert parse(phrase) is command


@pytest.mark.parametrize(("text", "expected"), [
    ("STOP", Command.STOP), ("Stop.", Command.STOP), ("  stop!! ", Command.STOP),
    ("बंद", Command.STOP), ("बंद करो।", Command.STOP), ("रुको", Command.STOP),
    ("थांबवा", Command.STOP), ("Please STOP", Command.STOP), ("कृपया बंद करें", Command.STOP),
    ("START", Command.START), ("शुरू", Command.START), ("सुरू", Command.START),
    ("पॉज़", Command.PAUSE), ("Pause 🙏", Command.PAUSE), ("विराम", Command.PAUSE),
    ("Resume", Command.RESUME), ("फिर से शुरू", Command.RESUME), ("पुन्हा सुरू", Command.RESUME),
])
def test_table(text: str, expected: Command) -> None:
    assert parse(text) is expected


@pytest.mark.parametrize("text", [
    "", "   ", "don't stop", "stop sending me this at 6am?", "when does it start",
    "बंद मत करो", "hello", "thanks", "stopstop", "yes",
])
def test_not_commands(text: str) -> None:
    assert parse(text) is None


@pytest.mark.parametrize(("payload", "command"), sorted(BUTTON_PAYLOADS.items()))
def test_button_payloads(payload: str, command: Command) -> None:
    assert parse("Some button text", payload) is command
    assert parse(None, payload.lower()) is command


def test_unknown_payload_falls_back_to_the_button_text() -> None:
    # Meta's marketing opt-out button: its payload is not ours, its visible text is a STOP.
    assert parse("Stop promotions", "SOMETHING_ELSE") is Command.STOP
    assert parse("See promotions", "SOMETHING_ELSE") is None
    assert parse("STOP", "SOMETHING_ELSE") is Command.STOP


@pytest.mark.parametrize(("record", "expected"), [
    ({"type": "image", "text": None, "caption": "STOP"}, Command.STOP),
    ({"type": "document", "text": None, "caption": "कृपया बंद करो।"}, Command.STOP),
    ({"type": "video", "text": None, "caption": "थांबवा"}, Command.STOP),
    ({"type": "image", "text": None, "caption": "look at this stop sign"}, None),
    ({"type": "button", "text": "Stop promotions", "button_text": "Stop promotions",
      "button_payload": "Stop promotions"}, Command.STOP),
    ({"type": "button", "text": "प्रमोशन बंद करें", "button_payload": "OPT_OUT_42"}, Command.STOP),
    ({"type": "interactive", "text": "Pause for now", "interactive_type": "button_reply",
      "reply_id": "DAWN_PAUSE", "reply_title": "Pause for now", "button_payload": "DAWN_PAUSE"},
     Command.PAUSE),
    ({"type": "interactive", "text": "सुरू करा", "interactive_type": "list_reply",
      "reply_id": "row-7", "reply_title": "सुरू करा", "button_payload": "row-7"}, Command.START),
])
def test_a_command_is_read_from_every_form_of_message(record: dict, expected: Command | None) -> None:
    assert parse_inbound(record) is expected


spacing = st.text(alphabet=" \t\n\u00a0\u200b", max_size=4)
punctuation = st.text(alphabet=".,!?;:-'\"()।", max_size=3)


@given(st.sampled_from(ALL_PHRASES), spacing, spacing, punctuation, st.data())
def test_case_whitespace_and_punctuation_do_not_matter(entry, before, after, punct, data) -> None:
    command, _, phrase = entry
    cased = "".join(
        ch.upper() if data.draw(st.booleans(), label="upper") else ch.lower() for ch in phrase
    )
    spaced = cased.replace(" ", data.draw(st.sampled_from([" ", "  ", "\t", " \u00a0"]), label="gap"))
    assert parse(f"{before}{spaced}{punct}{after}") is command


@given(st.text(max_size=40))
def test_parse_never_raises_and_only_returns_commands(text: str) -> None:
    assert parse(text) in (None, *Command)


@given(st.sampled_from(["NONE", "OPTED_IN", "PAUSED", "STOPPED"]), st.sampled_from(list(Command)))
def test_only_start_opts_in_from_outside_a_subscription(current: str, command: Command) -> None:
    after = next_state(current, command)
    if current in ("NONE", "STOPPED") and after == "OPTED_IN":
        assert command is Command.START
    if command is Command.STOP:
        assert after == "STOPPED"


def test_readme_lists_every_phrase() -> None:
    """The README's table is what advisors' support staff read; it must not drift from the code."""
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("Consent commands"):readme.index("## Questions ops and compliance ask")]
    missing = [p for _, _, p in ALL_PHRASES if p not in section]
    assert not missing
    assert all(payload in section for payload in BUTTON_PAYLOADS)
