"""Random consent histories: what ``sendable`` says always equals a tiny model of the rules.

Each example imports a few advisors, then applies a random sequence of inbound commands (text in
EN/HI/MR and buttons), marketing preference webhooks, 131050 failures, re-imports and replays of
earlier events, through the same processing function the consent agent runs. After every step
the set of advisors the sender may send to must be exactly the model's: opted in (only an import
or a START does that) and not marketing-suppressed. This is the consent half of "no send ever
reaches an advisor without opt-in"; the sandbox-ledger half needs the sender.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.codec import Codec
from store import advisors
from store.migrations import apply_migrations
from streams.consent.processor import ConsentProcessor, open_pool
from tests.consent_oracle import COMMANDS, after, dress, readme_phrases

CODEC = Codec()
ADVISORS = 3
STATES = ("NONE", "OPTED_IN", "PAUSED", "STOPPED")
T0 = datetime(2026, 1, 1, tzinfo=UTC)

phrase = st.builds(
    lambda cp, upper, punct, polite, spaces: (cp[0], dress(cp[1], upper=upper, punctuation=punct,
                                                           polite=polite, spaces=spaces)),
    st.sampled_from([(c, p) for c, ps in readme_phrases().items() for p in ps]),
    st.booleans(), st.sampled_from(["", "!", ".", "?!", "।", " ..."]), st.booleans(), st.integers(1, 3))
#: A command phrase inside a longer message is not a command (the README: "a whole message").
sentence = st.builds(lambda cp, tail: (None, f"{cp[1]} {tail}"),
                     st.sampled_from([(c, p) for c, ps in readme_phrases().items() for p in ps]),
                     st.sampled_from(["tomorrow", "the reports please", "karo na yaar", "why"]))
ops = st.one_of(
    st.tuples(st.just("import"), st.integers(0, ADVISORS - 1), st.sampled_from(STATES)),
    st.tuples(st.just("text"), st.integers(0, ADVISORS - 1), phrase),
    st.tuples(st.just("text"), st.integers(0, ADVISORS - 1), sentence),
    st.tuples(st.just("button"), st.integers(0, ADVISORS - 1), st.sampled_from(COMMANDS)),
    st.tuples(st.just("prefs"), st.integers(0, ADVISORS - 1), st.sampled_from(["stop", "resume"])),
    st.tuples(st.just("131050"), st.integers(0, ADVISORS - 1), st.none()),
    st.tuples(st.just("replay"), st.integers(0, 50), st.none()),
)


@pytest.fixture(scope="module")
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


@pytest.fixture(scope="module")
def processor(database_url: str, loop: asyncio.AbstractEventLoop) -> Iterator[tuple[ConsentProcessor, list]]:
    apply_migrations(database_url)
    sent: list[tuple[str, str, str]] = []

    async def send_text(number: str, to: str, body: str) -> None:
        sent.append((number, to, body))

    pool = loop.run_until_complete(open_pool(database_url))
    yield ConsentProcessor(pool, CODEC, send_text), sent
    loop.run_until_complete(pool.close())


def _phone(tag: str, i: int) -> str:
    return f"9197{i}{int(tag[:6], 16) % 10_000_000:07d}"


def _row(tag: str, i: int, state: str) -> advisors.AdvisorRow:
    return advisors.AdvisorRow(f"{tag}-{i}", f"Advisor {i}", _phone(tag, i), None,
                               ("EN", "HI", "MR")[i % 3], state, False, None)


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(initial=st.lists(st.sampled_from(STATES), min_size=ADVISORS, max_size=ADVISORS),
       steps=st.lists(ops, min_size=4, max_size=20))
def test_sendable_matches_the_model(processor, loop, initial: list[str], steps: list[tuple]) -> None:
    proc, sent = processor
    loop.run_until_complete(_run(proc, sent, initial, steps))


async def _run(proc: ConsentProcessor, sent: list, initial: list[str], steps: list[tuple]) -> None:
    tag = uuid.uuid4().hex[:10]
    ids = [f"{tag}-{i}" for i in range(ADVISORS)]
    consent = dict(zip(ids, initial, strict=True))
    suppressed = dict.fromkeys(ids, False)
    async with proc.pool.connection() as conn:
        await advisors.upsert_advisors(conn, [_row(tag, i, s) for i, s in enumerate(initial)],
                                       source="import", evidence="t", at=T0)
    history: list[tuple[str, bytes]] = []
    confirmations = len(sent)
    commands_seen = 0
    for n, (kind, who, arg) in enumerate(steps, start=1):
        at = T0 + timedelta(minutes=n)
        advisor_id = ids[who % ADVISORS]
        if kind == "import":
            async with proc.pool.connection() as conn:
                await advisors.upsert_advisors(conn, [_row(tag, who, arg)], source="import",
                                               evidence="t", at=at)
            consent[advisor_id] = arg
            continue
        if kind == "replay":
            if history:
                topic, value = history[who % len(history)]
                await proc.handle(topic, None, value)
        else:
            topic, record = _event(tag, n, kind, who, arg, at)
            value = CODEC.encode(topic, record)
            history.append((topic, value))
            await proc.handle(topic, None, value)
            if kind in ("text", "button"):
                command = arg[0] if kind == "text" else arg
                if command is not None:
                    consent[advisor_id] = after(consent[advisor_id], command)
                    commands_seen += 1
            elif kind == "prefs":
                suppressed[advisor_id] = arg == "stop"
            else:
                suppressed[advisor_id] = True
        async with proc.pool.connection() as conn:
            actual = await advisors.sendable(conn, ids)
        expected = {a for a in ids if consent[a] == "OPTED_IN" and not suppressed[a]}
        assert actual == expected, (kind, arg, consent, suppressed)
    assert len(sent) - confirmations == commands_seen  # each command confirmed once, replays never
    async with proc.pool.connection() as conn:
        cur = await conn.execute(
            "SELECT advisor_id, kind, old_value, new_value FROM consent_history "
            "WHERE advisor_id = ANY(%s) ORDER BY id", (ids,))
        history_rows = await cur.fetchall()
    last: dict[tuple[str, str], str | None] = {}
    for advisor_id, kind, old_value, new_value in history_rows:  # one unbroken chain of real changes
        assert old_value != new_value
        assert old_value == last.get((advisor_id, kind), None if kind == "consent" else "false")
        last[(advisor_id, kind)] = new_value
    assert {a: last[(a, "consent")] for a in ids} == consent


def _event(tag: str, n: int, kind: str, who: int, arg: Any, at: datetime) -> tuple[str, dict[str, Any]]:
    phone = _phone(tag, who)
    if kind in ("text", "button"):
        return "wa.inbound.messages", {
            "event_id": f"wamid.{tag}.{n}", "waba_id": "W", "phone_number_id": "PN1",
            "from_wa_id": phone, "from_user_id": None, "profile_name": None,
            "type": "text" if kind == "text" else "button",
            "text": arg[1] if kind == "text" else "tap", "context_wamid": None,
            "button_payload": None if kind == "text" else f"DAWN_{arg}",
            "timestamp": at, "received_at": at,
        }
    if kind == "prefs":
        return "wa.account.events", {
            "event_id": f"pref.{tag}.{n}", "waba_id": "W", "field": "user_preferences", "event": arg,
            "phone_number_id": "PN1", "template_id": None, "template_name": None,
            "template_language": None, "subject_wa_id": phone, "subject_user_id": None,
            "reason": None, "raw_json": "{}", "timestamp": at,
        }
    return "wa.send.results", {
        "delivery_id": f"D.{tag}.{n}", "attempt": 1, "run_date": at.date(),
        "advisor_id": f"{tag}-{who}", "phone_number_id": "PN1", "outcome": "FAILED", "wamid": None,
        "wa_id": phone, "error_code": 131050, "error_detail": None, "action": None,
        "latency_ms": 1, "template_name": "t", "sent_at": at,
    }


@pytest.mark.parametrize("command,phrase", [(c, p) for c, ps in readme_phrases().items() for p in ps])
def test_every_readme_phrase_dressed_any_way_is_its_command(command: str, phrase: str) -> None:
    """Exhaustive over the README's table, where the random histories only sample it."""
    from streams.consent.commands import parse

    for upper in (False, True):
        for punctuation in ("", "!", "।", " ..."):
            for polite in (False, True):
                text = dress(phrase, upper=upper, punctuation=punctuation, polite=polite, spaces=2)
                assert parse(text) == command, text
    assert parse(f"{phrase} tomorrow") is None, "a phrase inside a longer message is not a command"
