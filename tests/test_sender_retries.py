"""The sender engine's reaction to each kind of Cloud API error, against the real send ledger.

The Cloud API is a fake that answers per recipient, Kafka is a list: what matters here is which
follow-up intent, result, ledger state and dead letter each error produces, and that every source
record is acknowledged only after them.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from store.migrations import apply_migrations
from streams.sender.engine import Item, Sender, SenderOptions
from streams.sender.retry_policy import Next, decide
from whatsapp.client import CloudApiError
from whatsapp.errors import classify
from whatsapp.responses import SendAccepted

NUMBERS = ("pn-a", "pn-b")


class FakeCloudApi:
    """Answers by recipient: ``errors[to]`` is raised, anything else is accepted."""

    def __init__(self, errors: dict[str, CloudApiError]) -> None:
        self.errors = errors
        self.sent: list[tuple[str, str]] = []

    async def upload_media(self, phone_number_id: str, data: bytes, mime_type: str, filename: str) -> str:
        return f"media-{phone_number_id}"

    async def send_template(self, phone_number_id: str, to: str, message: Any,
                            callback_data: str | None = None) -> SendAccepted:
        if to in self.errors:
            raise self.errors[to]
        self.sent.append((phone_number_id, to))
        return SendAccepted(f"wamid.{to}", to, to, "accepted", 12.0)

    async def aclose(self) -> None:
        return None


class ListEmitter:
    def __init__(self, log: list[tuple[str, str]]) -> None:
        self.log = log
        self.intents_out: list[dict[str, Any]] = []
        self.results_out: list[dict[str, Any]] = []
        self.dead: list[dict[str, Any]] = []

    async def intents(self, records: Any) -> None:
        self.intents_out += records
        self.log += [("intent", r["delivery_id"]) for r in records]

    async def results(self, records: Any) -> None:
        self.results_out += records
        self.log += [("result", r["delivery_id"]) for r in records]

    async def dead_letters(self, records: Any) -> None:
        self.dead += records


@pytest.fixture(scope="module")
def migrated(database_url: str) -> str:
    apply_migrations(database_url)
    return database_url


@pytest.fixture
async def pool(migrated: str) -> AsyncIterator[AsyncConnectionPool]:
    async with AsyncConnectionPool(migrated, min_size=1, max_size=4, open=False,
                                   kwargs={"autocommit": True}) as p:
        yield p


def _error(code: int | None, http_status: int | None = 400, maybe_sent: bool = False) -> CloudApiError:
    return CloudApiError("boom", code=code, http_status=http_status, maybe_sent=maybe_sent)


async def _run(pool: AsyncConnectionPool, errors: dict[str, CloudApiError], attempt: int = 1,
               ) -> tuple[dict[str, dict[str, Any]], ListEmitter, list[tuple[str, str]], Sender]:
    """One intent per recipient in ``errors`` plus one clean one, all on pn-a; settle them all."""
    recipients = [*errors, f"91{uuid.uuid4().hex[:8]}ok"]
    intents = await _seed(pool, recipients, attempt)
    log: list[tuple[str, str]] = []
    emitter = ListEmitter(log)
    fake = FakeCloudApi(errors)
    acked: list[str] = []

    async def ack(source: str) -> None:
        acked.append(source)
        log.append(("ack", source))

    sender = Sender(pool=pool, make_client=lambda _n: fake, emit=emitter, ack=ack,  # type: ignore[arg-type,return-value]
                    now=lambda: datetime.now(UTC), monotonic=time.monotonic,
                    options=SenderOptions(numbers=NUMBERS))
    try:
        await sender.submit([Item(i, source=i["delivery_id"]) for i in intents.values()])
        async with asyncio.timeout(30):
            while len(acked) < len(intents):
                await asyncio.sleep(0.02)
    finally:
        await sender.aclose()
    return intents, emitter, log, sender


def _by_delivery(records: list[dict[str, Any]], delivery_id: str) -> list[dict[str, Any]]:
    return [r for r in records if r["delivery_id"] == delivery_id]


async def _state(pool: AsyncConnectionPool, delivery_id: str) -> tuple[Any, ...] | None:
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT state, error_code, attempt FROM send_ledger WHERE delivery_id = %s",
                                 (delivery_id,))
        return await cur.fetchone()


async def test_each_error_class_gets_its_follow_up(pool: AsyncConnectionPool) -> None:
    errors = {"transient": _error(131000), "pair": _error(131056), "throttled": _error(130429),
              "malformed": _error(132012), "stopped_user": _error(131050),
              "timeout": _error(None, None, maybe_sent=True)}
    intents, out, log, _ = await _run(pool, errors)
    d = {k: v["delivery_id"] for k, v in intents.items()}

    for kind in ("transient", "pair", "throttled"):
        (retry,) = _by_delivery(out.intents_out, d[kind])
        assert retry["attempt"] == 2 and retry["last_error_code"] == errors[kind].code
        assert retry["send_at"] > intents[kind]["send_at"]
        assert await _state(pool, d[kind]) == ("RETRYING", errors[kind].code, 1)
    (pair_retry,) = _by_delivery(out.intents_out, d["pair"])
    assert pair_retry["send_at"] - pair_retry["created_at"] >= timedelta(seconds=0.75)  # 4**0 s, jittered

    (timeout_follow_up,) = _by_delivery(out.intents_out, d["timeout"])
    assert timeout_follow_up["attempt"] == 2
    assert await _state(pool, d["timeout"]) == ("CLAIMED", None, 1), "unknown until a webhook or grace"

    assert await _state(pool, d["malformed"]) == ("FAILED", 132012, 1)
    assert [r["stage"] for r in out.dead] == ["sender"]
    assert await _state(pool, d["stopped_user"]) == ("FAILED", 131050, 1)
    assert not _by_delivery(out.intents_out, d["stopped_user"])

    outcomes = {r["delivery_id"]: r["outcome"] for r in out.results_out}
    assert outcomes[d["malformed"]] == "FAILED" and outcomes[d["transient"]] == "RETRYING"
    assert "ACCEPTED" in outcomes.values()
    for delivery_id in d.values():  # a record is acknowledged only after what it led to is out
        position = {kind: i for i, (kind, who) in enumerate(log) if who == delivery_id}
        assert position["ack"] > max(position.get("intent", -1), position["result"])


async def test_the_third_attempt_is_the_last(pool: AsyncConnectionPool) -> None:
    intents, out, _log, _ = await _run(pool, {"transient": _error(131000)}, attempt=3)
    delivery_id = intents["transient"]["delivery_id"]
    assert not out.intents_out
    assert await _state(pool, delivery_id) == ("FAILED", 131000, 3)


async def test_a_stopped_number_hands_its_intents_to_another(pool: AsyncConnectionPool) -> None:
    intents, out, _log, _ = await _run(pool, {"blocked": _error(131031)})
    (moved,) = _by_delivery(out.intents_out, intents["blocked"]["delivery_id"])
    assert moved["phone_number_id"] == "pn-b" and moved["attempt"] == 2


def test_throughput_errors_lower_the_rate_and_timeouts_reconcile() -> None:
    assert decide(classify(130429, 400), maybe_sent=False, attempt=1).lower_rate
    assert decide(classify(None, None), maybe_sent=True, attempt=1).next is Next.RECONCILE
    assert decide(classify(None, None), maybe_sent=False, attempt=1).next is Next.RETRY
    assert decide(classify(131049, 400), maybe_sent=False, attempt=1).next is Next.FAIL


async def test_consent_withdrawn_after_planning_means_no_send(pool: AsyncConnectionPool,
                                                              migrated: str) -> None:
    prefix = uuid.uuid4().hex[:8]
    async with await psycopg.AsyncConnection.connect(migrated, autocommit=True) as conn:
        await conn.execute("INSERT INTO advisors (advisor_id, name, phone, language, consent_state)"
                           " VALUES (%s, 'A', '919811111111', 'EN', 'STOPPED')", (f"{prefix}-x",))
    fake = FakeCloudApi({})
    out = ListEmitter([])
    acked: list[str] = []

    async def ack(source: str) -> None:
        acked.append(source)

    sender = Sender(pool=pool, make_client=lambda _n: fake, emit=out, ack=ack,  # type: ignore[arg-type,return-value]
                    now=lambda: datetime.now(UTC), monotonic=time.monotonic, options=SenderOptions())
    now = datetime.now(UTC)
    intent = {"delivery_id": f"{prefix}-d", "run_date": now.date(), "advisor_id": f"{prefix}-x",
              "phone": "919811111111", "user_id": None, "pack_id": "p", "approval_id": "a",
              "language": "EN", "template_name": "t", "template_language": "en", "image_sha256": "s",
              "params": {}, "phone_number_id": "pn-a", "send_at": now, "deadline": now, "attempt": 1,
              "last_error_code": None, "created_at": now}
    try:
        await sender.submit([Item(intent, source="x")])
        async with asyncio.timeout(10):
            while not acked:
                await asyncio.sleep(0.02)
    finally:
        await sender.aclose()
    assert not fake.sent
    assert [(r["outcome"], r["error_detail"]) for r in out.results_out] == [("SKIPPED", "no consent")]


# -- copies, stale claims, moved partitions, the breaker ------------------------------------------


class GatedCloudApi(FakeCloudApi):
    """Counts every call (failed ones too); calls to recipients in ``hold`` wait for ``gate``."""

    def __init__(self, errors: dict[str, CloudApiError], hold: set[str] | None = None) -> None:
        super().__init__(errors)
        self.calls: list[tuple[str, str]] = []
        self.hold = hold if hold is not None else set()
        self.gate = asyncio.Event()

    async def send_template(self, phone_number_id: str, to: str, message: Any,
                            callback_data: str | None = None) -> SendAccepted:
        self.calls.append((phone_number_id, to))
        if to in self.hold:
            await self.gate.wait()
        return await super().send_template(phone_number_id, to, message, callback_data)


async def _seed(pool: AsyncConnectionPool, recipients: list[str],
                attempt: int = 1) -> dict[str, dict[str, Any]]:
    """Opted-in advisors and a cached image on pn-a; one intent per recipient, due now."""
    prefix = uuid.uuid4().hex[:8]
    now = datetime.now(UTC)
    async with pool.connection() as conn:
        await conn.cursor().executemany(
            "INSERT INTO advisors (advisor_id, name, phone, language, consent_state)"
            " VALUES (%s, 'A', %s, 'EN', 'OPTED_IN')", [(f"{prefix}-{to}", to) for to in recipients])
        await conn.execute("INSERT INTO media_cache (phone_number_id, image_sha256, media_id)"
                           " VALUES ('pn-a', %s, 'media-a')", (prefix,))
    return {to: {
        "delivery_id": f"{prefix}-{to}", "run_date": now.date(), "advisor_id": f"{prefix}-{to}",
        "phone": to, "user_id": None, "pack_id": "p", "approval_id": "a", "language": "EN",
        "template_name": "daily_pack_v1", "template_language": "en", "image_sha256": prefix,
        "params": {"advisor_name": "A"}, "phone_number_id": "pn-a", "send_at": now,
        "deadline": now + timedelta(minutes=5), "attempt": attempt, "last_error_code": None,
        "created_at": now} for to in recipients}


async def _until(condition: Any, timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.02)


def _sender(pool: AsyncConnectionPool, fake: FakeCloudApi, out: ListEmitter, acked: list[str],
            **kwargs: Any) -> Sender:
    async def ack(source: str) -> None:
        acked.append(source)

    options = SenderOptions(numbers=kwargs.pop("numbers", NUMBERS), **kwargs.pop("options", {}))
    return Sender(pool=pool, make_client=lambda _n: fake, emit=out, ack=ack,  # type: ignore[arg-type,return-value]
                  now=kwargs.pop("now", lambda: datetime.now(UTC)),
                  monotonic=kwargs.pop("monotonic", time.monotonic), options=options, **kwargs)


async def test_copies_in_one_batch_make_one_call(pool: AsyncConnectionPool) -> None:
    intents = await _seed(pool, ["919000000001"])
    (intent,) = intents.values()
    fake, out, acked = GatedCloudApi({}), ListEmitter([]), []
    sender = _sender(pool, fake, out, acked)
    try:  # a re-run scheduler: the same intent twice, same id and send_at
        await sender.submit([Item(dict(intent), source="first"), Item(dict(intent), source="copy")])
        await _until(lambda: len(acked) == 2)
    finally:
        await sender.aclose()
    assert len(fake.calls) == 1
    assert [r["outcome"] for r in out.results_out] == ["ACCEPTED"]
    assert not out.intents_out
    assert await _state(pool, intent["delivery_id"]) == ("ACCEPTED", None, 1)


async def test_a_copy_arriving_while_the_first_is_in_flight_is_settled_with_it(
    pool: AsyncConnectionPool,
) -> None:
    intents = await _seed(pool, ["919000000002"])
    (intent,) = intents.values()
    fake, out, acked = GatedCloudApi({}, hold={intent["phone"]}), ListEmitter([]), []
    sender = _sender(pool, fake, out, acked)
    try:
        await sender.submit([Item(dict(intent), source="first")])
        await _until(lambda: len(fake.calls) == 1)
        await sender.submit([Item(dict(intent), source="copy")])  # e.g. re-read after a rebalance
        await asyncio.sleep(0.6)  # a few ticks: the lane has looked at the copy by now
        assert len(fake.calls) == 1 and not acked
        fake.gate.set()
        await _until(lambda: len(acked) == 2)
    finally:
        await sender.aclose()
    assert len(fake.calls) == 1
    assert acked == ["first", "copy"], "the copy is acknowledged only after the first's outcome"
    assert [r["outcome"] for r in out.results_out] == ["ACCEPTED"]
    assert not out.intents_out, "no reconcile follow-up for a copy"


async def test_a_claim_too_old_to_send_is_given_back_and_comes_back_at_once(
        pool: AsyncConnectionPool) -> None:
    intents = await _seed(pool, ["919000000003", "919000000004"])
    slow, late = intents.values()
    shift = [timedelta(0)]
    fake, out, acked = GatedCloudApi({}, hold={slow["phone"]}), ListEmitter([]), []
    sender = _sender(pool, fake, out, acked, options={"in_flight": 1},  # grace 30 s: bound 15 s
                     now=lambda: datetime.now(UTC) + shift[0])
    try:
        await sender.submit([Item(slow, source="slow"), Item(late, source="late")])
        await _until(lambda: len(fake.calls) == 1)  # "late" is claimed and waits for a slot
        shift[0] = timedelta(seconds=20)
        fake.gate.set()
        await _until(lambda: len(acked) == 2)
    finally:
        await sender.aclose()
    assert fake.calls == [("pn-a", slow["phone"])]
    assert await _state(pool, late["delivery_id"]) == ("RELEASED", None, 1), "no call: given back"
    (again,) = _by_delivery(out.intents_out, late["delivery_id"])
    assert again["attempt"] == 1, "not sending is not an attempt"
    wait = again["send_at"] - again["created_at"]
    assert timedelta(0) < wait <= timedelta(seconds=2), "back at once: there is nothing to prove"
    (result,) = _by_delivery(out.results_out, late["delivery_id"])
    assert (result["outcome"], result["action"]) == ("RETRYING", "released")


async def test_a_claim_whose_partition_moved_is_not_sent(pool: AsyncConnectionPool) -> None:
    intents = await _seed(pool, ["919000000005", "919000000006"])
    slow, moved = intents.values()
    revoked: set[str] = set()
    fake, out, acked = GatedCloudApi({}, hold={slow["phone"]}), ListEmitter([]), []
    sender = _sender(pool, fake, out, acked, options={"in_flight": 1},
                     owned=lambda source: source not in revoked)
    try:
        await sender.submit([Item(slow, source="slow"), Item(moved, source="moved")])
        await _until(lambda: len(fake.calls) == 1)
        revoked.add("moved")
        fake.gate.set()
        await _until(lambda: acked == ["slow"])
        await asyncio.sleep(0.3)
    finally:
        await sender.aclose()
    assert fake.calls == [("pn-a", slow["phone"])]
    assert acked == ["slow"], "the new owner reads it again"
    assert not _by_delivery(out.results_out, moved["delivery_id"])
    assert await _state(pool, moved["delivery_id"]) == ("CLAIMED", None, 1)


@pytest.mark.parametrize("numbers", [NUMBERS, ("pn-a",)], ids=["another-number", "alone"])
async def test_an_open_breaker_keeps_calls_off_a_failing_number(
        pool: AsyncConnectionPool, numbers: tuple[str, ...]) -> None:
    """While pn-a's breaker is open its due intents go, unclaimed and on the same attempt, to
    another number at once; a number alone defers them to the end of the cool-down."""
    intents = await _seed(pool, ["919000000007", "919000000008", "919000000009", "919000000010",
                                 "919000000011"])
    bad1, bad2, deferred, probe, after_probe = intents.values()
    mono = [0.0]
    fake = GatedCloudApi({bad1["phone"]: _error(131000), bad2["phone"]: _error(None, 503, True)})
    out, acked = ListEmitter([]), []
    sender = _sender(pool, fake, out, acked, numbers=numbers,
                     options={"breaker_failures": 2, "breaker_cool_down_s": 30.0},
                     monotonic=lambda: time.monotonic() + mono[0])
    try:
        await sender.submit([Item(bad1, source="bad1"), Item(bad2, source="bad2")])
        await _until(lambda: len(acked) == 2)
        assert len(fake.calls) == 2  # two transient failures in a row: the breaker opens

        await sender.submit([Item(deferred, source="deferred")])
        await _until(lambda: len(acked) == 3)
        assert len(fake.calls) == 2, "no call while the breaker is open"
        (later,) = _by_delivery(out.intents_out, deferred["delivery_id"])
        waits = later["send_at"] - later["created_at"]
        if len(numbers) > 1:
            assert later["attempt"] == 1 and later["phone_number_id"] == "pn-b"
            assert waits <= timedelta(seconds=1), "handed over now, not after the cool-down"
            assert "pn-a" in later["tried_numbers"]
        else:
            assert later["attempt"] == 1 and later["phone_number_id"] == "pn-a"
            assert timedelta(seconds=25) < waits <= timedelta(seconds=31)
            (result,) = _by_delivery(out.results_out, deferred["delivery_id"])
            assert (result["outcome"], result["action"]) == ("RETRYING", "breaker_open")
        assert await _state(pool, deferred["delivery_id"]) is None, "never claimed"

        mono[0] += 31.0  # cool-down over: half-open lets exactly one probe out
        await sender.submit([Item(probe, source="probe"), Item(after_probe, source="after_probe")])
        await _until(lambda: len(acked) == 5)
        assert fake.calls[2:] == [("pn-a", probe["phone"])]
        assert _by_delivery(out.intents_out, after_probe["delivery_id"])[0]["attempt"] == 1
        assert sender._breakers.get("pn-a").state == "closed", "the probe's success closes it"
    finally:
        await sender.aclose()


async def test_a_lanes_bucket_never_grants_above_the_rate_in_a_second() -> None:
    clock = [1000.0]
    sender = _sender(None, FakeCloudApi({}), ListEmitter([]), [],  # type: ignore[arg-type]
                     options={"mps": 80.0}, monotonic=lambda: clock[0])
    try:
        bucket = sender._lane("pn-a").bucket
        granted = []
        for _ in range(1000):  # ask every millisecond for one second: [1000, 1001)
            while bucket.try_acquire() == 0:
                granted.append(clock[0])
            clock[0] += 0.001
    finally:
        await sender.aclose()
    assert len(granted) <= 80
