"""The send ledger: the record that a pack was, or may have been, sent to an advisor.

The Cloud API has no idempotency key and a timeout says nothing about whether Meta took the
message, so "at most one accepted send per delivery" has to be kept here, in PostgreSQL, not in a
Faust table (the embedded broker has no transactions and can lose a table's last changes).

Life of a row (one per ``delivery_id``):

- :func:`claim_batch` claims a whole batch in one transaction *before* any HTTP call. A delivery
  already ACCEPTED or HELD is never claimed again; a FAILED one is final; a RETRYING one is claimed
  only by a later attempt (the retry intent), so a replay of the original is stale; a RELEASED
  one (claimed, then given back before any call) is claimed again by the same attempt at once.
- :func:`record_outcomes` settles the claims after the calls, in one transaction. ACCEPTED/HELD
  always win; FAILED/RETRYING only settle the claim that is still ours (same ``claim_token``).
- A claim with no outcome is UNKNOWN: the worker died mid-send, or the call timed out after Meta
  accepted it. :func:`mark_accepted` (fed by status webhooks carrying
  ``biz_opaque_callback_data`` == delivery_id) proves it was sent.

Resend only on evidence. A webhook can be later than any fixed wait (Meta holds a paced template's
messages for hours without a status; a gateway 503 makes Meta retry with backoff; a stopped
reconcile agent reads statuses late), so an UNKNOWN claim is claimed again only when all of these
hold (:func:`judge_unknown`), never because a clock ran out:

1. the number's status watermark (:func:`note_statuses`: the newest gateway receive time of a
   status the reconcile agent processed for that number; statuses are keyed by number, so all
   received before it are processed) is at least ``claimed_at + max(grace, 2 x sent_delay) +
   max_lag + GATEWAY_REORDER``: Meta stamps a message's "sent" status within ``sent_delay`` of
   our claim (the largest seen today on that number, measured from our own deliveries' "sent"
   statuses; twice that for the tail not seen yet, and at least ``grace``) and delivers it to the
   gateway within ``max_lag`` of its stamp (the largest seen today);
2. no status webhook of that number is in the gateway's refused backlog (:func:`note_refused`):
   Meta retries a refused webhook later, and it may carry our proof;
3. the template has had no ``held_for_quality_assessment`` answer in the last day
   (:func:`note_paced`): a paced message gets no status for hours.

Without that evidence the claim stays UNKNOWN and is looked at again (``retry_at``); past the
delivery's deadline the sender stops looking and marks it UNKNOWN (:func:`give_up`), for ops.
The residual assumption is stated in the README's policy table.

Times are passed in by the caller (the stream context's clock), never read from the database, so
tests and a compressed ``dawn run`` morning control them.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import psycopg

from store.advisors import sendable

DEFAULT_GRACE = timedelta(seconds=30)
#: The "sent" stamp of a lost send is assumed within this many times the largest claim-to-"sent"
#: delay seen today: early in a morning few delays are seen yet, and a slow tail is not a surprise.
SENT_DELAY_MARGIN = 2.0
#: Two webhooks the gateway takes at once may reach Kafka in either order, within its
#: acknowledgement wait: a receive-time watermark is trusted only this far behind.
GATEWAY_REORDER = timedelta(seconds=5)
#: How often an UNKNOWN claim is looked at again while the evidence is missing: half its age,
#: within these bounds, so a long wait does not fill the intents and results topics.
RECHECK = timedelta(seconds=5)
RECHECK_MAX = timedelta(seconds=60)
#: A template answered held_for_quality_assessment within this long counts as paced.
PACING_MEMORY = timedelta(hours=24)

#: (conn, advisor_ids) -> the advisors that may be sent to now. store.advisors.sendable by default.
SendableCheck = Callable[[psycopg.AsyncConnection, Sequence[str]], Awaitable[set[str]]]


class State(StrEnum):
    CLAIMED = "CLAIMED"
    ACCEPTED = "ACCEPTED"
    HELD = "HELD"
    FAILED = "FAILED"
    RETRYING = "RETRYING"
    UNKNOWN = "UNKNOWN"  # the evidence never came before the deadline; not resent, for ops
    RELEASED = "RELEASED"  # claimed, then given back with no call made: claimable again at once


class Verdict(StrEnum):
    """What the sender may do with one claimed request."""

    SEND = "send"  # claimed: make the HTTP call
    SENT = "sent"  # Meta already took it (ACCEPTED/HELD): never send again
    FINAL = "final"  # it failed for good earlier: do not send
    STALE = "stale"  # an older attempt than the ledger's: a replay, drop it
    NO_CONSENT = "no_consent"  # the advisor may not be sent to now
    UNKNOWN = "unknown"  # claimed, no outcome yet: wait for a webhook until ``retry_at``


@dataclass(frozen=True, slots=True)
class ClaimRequest:
    delivery_id: str
    advisor_id: str
    attempt: int
    phone_number_id: str
    template_name: str = ""


@dataclass(frozen=True, slots=True)
class Claim:
    """The verdict on one request. ``token`` identifies our claim when ``verdict`` is SEND."""

    delivery_id: str
    verdict: Verdict
    token: uuid.UUID | None = None
    retry_at: datetime | None = None
    wamid: str | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    delivery_id: str
    token: uuid.UUID
    state: State
    at: datetime
    wamid: str | None = None
    error_code: int | None = None


_INSERT_NEW = """
INSERT INTO send_ledger (delivery_id, advisor_id, attempt, phone_number_id, state, claim_token,
                         claimed_at, template_name)
SELECT d, a, n, p, 'CLAIMED', t, %(now)s, tn
  FROM unnest(%(ids)s::text[], %(advisors)s::text[], %(attempts)s::int[], %(numbers)s::text[],
              %(tokens)s::uuid[], %(templates)s::text[]) AS r(d, a, n, p, t, tn)
ON CONFLICT (delivery_id) DO NOTHING
RETURNING delivery_id, claim_token
"""

_LOCK_EXISTING = """
SELECT delivery_id, attempt, state, claimed_at, wamid, phone_number_id, template_name
  FROM send_ledger WHERE delivery_id = ANY(%s) ORDER BY delivery_id FOR UPDATE
"""

_RECLAIM = """
UPDATE send_ledger AS l
   SET attempt = r.n, phone_number_id = r.p, state = 'CLAIMED', claim_token = r.t,
       claimed_at = %(now)s, wamid = NULL, error_code = NULL, outcome_at = NULL,
       template_name = r.tn
  FROM unnest(%(ids)s::text[], %(attempts)s::int[], %(numbers)s::text[], %(tokens)s::uuid[],
              %(templates)s::text[]) AS r(d, n, p, t, tn)
 WHERE l.delivery_id = r.d
"""


async def claim_batch(
    conn: psycopg.AsyncConnection,
    requests: Sequence[ClaimRequest],
    *,
    now: datetime,
    grace: timedelta = DEFAULT_GRACE,
    may_send: SendableCheck = sendable,
) -> dict[str, Claim]:
    """Claim ``requests`` in one transaction; delivery_id -> verdict.

    Consent is checked here, at send time, inside the same transaction as the claim: the
    scheduler's check was minutes earlier and a STOP may have arrived since.
    """
    if not requests:
        return {}
    by_id = {r.delivery_id: r for r in requests}
    out: dict[str, Claim] = {}
    async with conn.transaction():
        allowed = await may_send(conn, sorted({r.advisor_id for r in by_id.values()}))
        fresh = [r for r in by_id.values() if r.advisor_id in allowed]
        tokens = [uuid.uuid4() for _ in fresh]
        async with conn.cursor() as cur:
            await cur.execute(_INSERT_NEW, {
                "now": now,
                "ids": [r.delivery_id for r in fresh],
                "advisors": [r.advisor_id for r in fresh],
                "attempts": [r.attempt for r in fresh],
                "numbers": [r.phone_number_id for r in fresh],
                "tokens": tokens,
                "templates": [r.template_name for r in fresh],
            })
            for delivery_id, token in await cur.fetchall():
                out[delivery_id] = Claim(delivery_id, Verdict.SEND, token)
            rest = [d for d in by_id if d not in out]
            await cur.execute(_LOCK_EXISTING, (rest,))
            existing = {row[0]: row[1:] for row in await cur.fetchall()}
            open_claims = [row for row in existing.values() if row[1] in (State.CLAIMED, State.UNKNOWN)]
            evidence = await _evidence(cur, {row[4] for row in open_claims},
                                       {row[5] for row in open_claims if row[5]}, now)
        reclaim: list[tuple[ClaimRequest, uuid.UUID]] = []
        for delivery_id in rest:
            request = by_id[delivery_id]
            row = existing.get(delivery_id)
            if row is None:  # no row and no consent (a row we could insert was inserted above)
                out[delivery_id] = Claim(delivery_id, Verdict.NO_CONSENT)
                continue
            attempt, state, claimed_at, wamid, number, template = row
            verdict, retry_at = _judge(request, attempt, state, claimed_at, now=now, grace=grace,
                                       evidence=evidence.judge(number, template))
            if verdict is Verdict.SEND and request.advisor_id not in allowed:
                verdict = Verdict.NO_CONSENT
            if verdict is Verdict.SEND:
                token = uuid.uuid4()
                reclaim.append((request, token))
                out[delivery_id] = Claim(delivery_id, verdict, token)
            else:
                out[delivery_id] = Claim(delivery_id, verdict, retry_at=retry_at, wamid=wamid)
        if reclaim:
            await conn.execute(_RECLAIM, {
                "now": now,
                "ids": [r.delivery_id for r, _ in reclaim],
                "attempts": [r.attempt for r, _ in reclaim],
                "numbers": [r.phone_number_id for r, _ in reclaim],
                "tokens": [t for _, t in reclaim],
                "templates": [r.template_name for r, _ in reclaim],
            })
    return out


@dataclass(frozen=True, slots=True)
class NumberEvidence:
    """What the pipeline knows about one number's status webhooks and one template's pacing."""

    watermark: datetime | None  # newest gateway receive time of a processed status of the number
    max_lag: timedelta  # largest received-minus-stamped delay (Meta's side) seen today
    backlog: bool  # the gateway refused a status webhook of the number not yet retried
    paced: bool  # the template was answered held_for_quality_assessment lately
    sent_delay: timedelta = timedelta(0)  # largest claim-to-"sent"-stamp delay seen today


@dataclass(frozen=True)
class _Evidence:
    watermarks: dict[str, tuple[datetime, float, float]]
    backlog: set[str]
    paced: set[str]

    def judge(self, number: str, template: str | None) -> NumberEvidence:
        mark = self.watermarks.get(number)
        if mark is None:
            return NumberEvidence(None, timedelta(0), number in self.backlog,
                                  bool(template) and template in self.paced, timedelta(0))
        return NumberEvidence(mark[0], timedelta(seconds=mark[1]), number in self.backlog,
                              bool(template) and template in self.paced, timedelta(seconds=mark[2]))


async def _evidence(cur: psycopg.AsyncCursor, numbers: set[str], templates: set[str],
                    now: datetime) -> _Evidence:
    if not numbers:
        return _Evidence({}, set(), set())
    await cur.execute("SELECT phone_number_id, received_at, max_lag_s,"
                      " CASE WHEN sent_day = lag_day THEN max_sent_delay_s ELSE 0 END"
                      " FROM webhook_watermark WHERE phone_number_id = ANY(%s)", (sorted(numbers),))
    watermarks = {row[0]: (row[1], row[2], row[3]) for row in await cur.fetchall()}
    await cur.execute("SELECT DISTINCT phone_number_id FROM webhook_backlog"
                      " WHERE phone_number_id = ANY(%s)", (sorted(numbers),))
    backlog = {row[0] for row in await cur.fetchall()}
    await cur.execute("SELECT template_name FROM template_pacing WHERE template_name = ANY(%s)"
                      " AND held_at > %s", (sorted(templates), now - PACING_MEMORY))
    return _Evidence(watermarks, backlog, {row[0] for row in await cur.fetchall()})


def judge_unknown(claimed_at: datetime, evidence: NumberEvidence, *, grace: timedelta) -> bool:
    """True when the pipeline can show Meta did not accept a claim made at ``claimed_at`` (see
    the module docstring for the three conditions); False keeps it UNKNOWN."""
    if evidence.backlog or evidence.paced or evidence.watermark is None:
        return False
    sent_by = max(grace, SENT_DELAY_MARGIN * evidence.sent_delay)
    return evidence.watermark >= claimed_at + sent_by + evidence.max_lag + GATEWAY_REORDER


def _judge(
    request: ClaimRequest, attempt: int, state: str, claimed_at: datetime,
    *, now: datetime, grace: timedelta, evidence: NumberEvidence,
) -> tuple[Verdict, datetime | None]:
    """The verdict for a request whose delivery already has a (locked) ledger row."""
    if state in (State.ACCEPTED, State.HELD):
        return Verdict.SENT, None
    if request.attempt < attempt:
        return Verdict.STALE, None
    if state == State.FAILED:
        return Verdict.FINAL, None
    if state == State.RETRYING:
        return (Verdict.SEND, None) if request.attempt > attempt else (Verdict.STALE, None)
    if state == State.RELEASED:  # no call went out under that claim: nothing to wait for
        return Verdict.SEND, None
    # CLAIMED (or given up as UNKNOWN) with no outcome: resent only on evidence.
    if judge_unknown(claimed_at, evidence, grace=grace):
        return Verdict.SEND, None
    return Verdict.UNKNOWN, now + min(RECHECK_MAX, max(RECHECK, (now - claimed_at) / 2))


_SETTLE_SENT = """
UPDATE send_ledger AS l
   SET state = r.s, wamid = r.w, error_code = NULL, outcome_at = r.at
  FROM unnest(%s::text[], %s::text[], %s::text[], %s::timestamptz[]) AS r(d, s, w, at)
 WHERE l.delivery_id = r.d AND l.state NOT IN ('ACCEPTED', 'HELD')
"""

_SETTLE_UNSENT = """
UPDATE send_ledger AS l
   SET state = r.s, error_code = r.e, outcome_at = r.at
  FROM unnest(%s::text[], %s::uuid[], %s::text[], %s::bigint[], %s::timestamptz[])
       AS r(d, t, s, e, at)
 WHERE l.delivery_id = r.d AND l.claim_token = r.t AND l.state IN ('CLAIMED', 'UNKNOWN')
"""


async def record_outcomes(conn: psycopg.AsyncConnection, outcomes: Iterable[Outcome]) -> None:
    """Settle claims after their HTTP calls, in one transaction.

    Meta taking a message is a fact whoever's claim it was, so ACCEPTED/HELD are written over any
    unsent state; a failure or retry only settles a claim that is still ours and still open, so a
    late worker can never overwrite a proof of sending.
    """
    sent = [o for o in outcomes if o.state in (State.ACCEPTED, State.HELD)]
    unsent = [o for o in outcomes
              if o.state in (State.FAILED, State.RETRYING, State.UNKNOWN, State.RELEASED)]
    if not sent and not unsent:
        return
    async with conn.transaction():
        if sent:
            await conn.execute(_SETTLE_SENT, (
                [o.delivery_id for o in sent], [str(o.state) for o in sent],
                [o.wamid for o in sent], [o.at for o in sent],
            ))
        if unsent:
            await conn.execute(_SETTLE_UNSENT, (
                [o.delivery_id for o in unsent], [o.token for o in unsent],
                [str(o.state) for o in unsent], [o.error_code for o in unsent],
                [o.at for o in unsent],
            ))


_MARK_ACCEPTED = """
UPDATE send_ledger AS l
   SET state = 'ACCEPTED', wamid = COALESCE(r.w, l.wamid), outcome_at = r.at
  FROM unnest(%s::text[], %s::text[], %s::timestamptz[]) AS r(d, w, at)
 WHERE l.delivery_id = r.d AND l.state <> 'ACCEPTED'
RETURNING l.delivery_id
"""


async def mark_accepted(
    conn: psycopg.AsyncConnection, proofs: Sequence[tuple[str, str | None, datetime]]
) -> set[str]:
    """A status webhook for (delivery_id, wamid, at) proves the message was sent: mark ACCEPTED.

    Any status counts (sent, delivered, read, even failed): Meta only reports on messages it took.
    Idempotent; returns the deliveries that changed. Deliveries with no ledger row are ignored.
    """
    if not proofs:
        return set()
    latest: dict[str, tuple[str | None, datetime]] = {}
    for delivery_id, wamid, at in proofs:
        latest[delivery_id] = (wamid, at)
    async with conn.transaction(), conn.cursor() as cur:
        await cur.execute(_MARK_ACCEPTED, (
            list(latest), [w for w, _ in latest.values()], [a for _, a in latest.values()],
        ))
        return {row[0] for row in await cur.fetchall()}


async def note_statuses(
    conn: psycopg.AsyncConnection, stamps: Sequence[tuple[str, datetime, datetime]],
    processed_at: datetime, sent: Sequence[tuple[str, datetime]] = (),
) -> None:
    """The reconcile agent processed statuses of (phone_number_id, Meta timestamp, received by the
    gateway at): advance each number's watermark (the newest gateway receive time processed:
    statuses are keyed by number, so everything the gateway took for that number before it is
    processed too) and the largest delay seen today between Meta's stamp and the gateway receiving
    it (a new day starts from this batch's). Our own backlog is not a delay Meta can cause: after
    a stopped reconcile agent catches up, the watermark is current again.
    ``sent`` are (delivery_id, Meta timestamp) of "sent" statuses of our deliveries: how long
    after our claim Meta stamps "sent" on that number (the largest today is kept). Held messages
    and paced templates are left out: Meta stamps them when it releases them, hours later, and
    they are never resent on silence anyway; counting them would stop every resend of the number."""
    newest: dict[str, datetime] = {}
    received: dict[str, datetime] = {}
    delay: dict[str, float] = {}
    for number, at, got in stamps:
        newest[number] = max(newest.get(number, at), at)
        received[number] = max(received.get(number, got), got)
        delay[number] = max(delay.get(number, 0.0), (got - at).total_seconds())
    if not newest:
        return
    numbers = sorted(newest)
    await conn.execute("""
        INSERT INTO webhook_watermark AS w (phone_number_id, status_at, received_at, processed_at,
                                           max_lag_s, lag_day)
        SELECT n, s, g, %(p)s, d, %(day)s
          FROM unnest(%(n)s::text[], %(s)s::timestamptz[], %(g)s::timestamptz[],
                      %(d)s::float8[]) AS r(n, s, g, d)
        ON CONFLICT (phone_number_id) DO UPDATE SET
            status_at = GREATEST(w.status_at, EXCLUDED.status_at),
            received_at = GREATEST(w.received_at, EXCLUDED.received_at),
            processed_at = EXCLUDED.processed_at,
            max_lag_s = CASE WHEN w.lag_day = EXCLUDED.lag_day
                             THEN GREATEST(w.max_lag_s, EXCLUDED.max_lag_s)
                             ELSE EXCLUDED.max_lag_s END,
            lag_day = EXCLUDED.lag_day
    """, {"p": processed_at, "day": processed_at.date(), "n": numbers,
          "s": [newest[n] for n in numbers], "g": [received[n] for n in numbers],
          "d": [delay[n] for n in numbers]})
    if sent:
        await conn.execute("""
            UPDATE webhook_watermark AS w
               SET max_sent_delay_s = CASE WHEN w.sent_day = w.lag_day
                                           THEN GREATEST(w.max_sent_delay_s, x.d) ELSE x.d END,
                   sent_day = w.lag_day
              FROM (SELECT l.phone_number_id AS n,
                           MAX(GREATEST(0, EXTRACT(EPOCH FROM r.s - l.claimed_at))) AS d
                      FROM unnest(%s::text[], %s::timestamptz[]) AS r(id, s)
                      JOIN send_ledger AS l ON l.delivery_id = r.id
                     WHERE l.state <> 'HELD' AND NOT EXISTS (
                           SELECT 1 FROM template_pacing AS p WHERE p.template_name = l.template_name)
                     GROUP BY l.phone_number_id) AS x
             WHERE w.phone_number_id = x.n
        """, ([d for d, _ in sent], [at for _, at in sent]))


async def note_refused(
    conn: psycopg.AsyncConnection, refused: Sequence[tuple[str, str, datetime]], at: datetime
) -> None:
    """The gateway answered 503 to a webhook with these (event_id, phone_number_id, Meta
    timestamp) statuses: Meta will retry it, so their numbers' unknown claims wait for it."""
    if not refused:
        return
    await conn.execute("""
        INSERT INTO webhook_backlog (event_id, phone_number_id, status_at, refused_at)
        SELECT e, n, s, %s FROM unnest(%s::text[], %s::text[], %s::timestamptz[]) AS r(e, n, s)
        ON CONFLICT (event_id) DO NOTHING
    """, (at, [r[0] for r in refused], [r[1] for r in refused], [r[2] for r in refused]))


async def note_taken(conn: psycopg.AsyncConnection, event_ids: Sequence[str]) -> None:
    """These status events are now in Kafka: a refused webhook came back and was taken."""
    if event_ids:
        await conn.execute("DELETE FROM webhook_backlog WHERE event_id = ANY(%s)", (list(event_ids),))


async def note_paced(conn: psycopg.AsyncConnection, templates: Sequence[str], at: datetime) -> None:
    """Meta answered held_for_quality_assessment for a message of each of ``templates``."""
    if templates:
        await conn.execute("""
            INSERT INTO template_pacing AS p (template_name, held_at)
            SELECT t, %s FROM unnest(%s::text[]) AS t
            ON CONFLICT (template_name) DO UPDATE SET held_at = GREATEST(p.held_at, EXCLUDED.held_at)
        """, (at, sorted(set(templates))))


async def give_up(conn: psycopg.AsyncConnection, delivery_ids: Sequence[str], at: datetime) -> None:
    """Past the deadline with no evidence either way: UNKNOWN, never resent by the sender."""
    if delivery_ids:
        await conn.execute("UPDATE send_ledger SET state = 'UNKNOWN', outcome_at = %s"
                           " WHERE delivery_id = ANY(%s) AND state = 'CLAIMED'", (at, list(delivery_ids)))


async def unknown_deliveries(conn: psycopg.AsyncConnection, since: datetime | None = None,
                             until: datetime | None = None) -> list[tuple[Any, ...]]:
    """Claims with no outcome (CLAIMED or given up as UNKNOWN), oldest first: what ops decides."""
    cur = await conn.execute(
        "SELECT delivery_id, advisor_id, phone_number_id, attempt, state, claimed_at, template_name"
        "  FROM send_ledger WHERE state IN ('CLAIMED', 'UNKNOWN')"
        "   AND (%(since)s::timestamptz IS NULL OR claimed_at >= %(since)s)"
        "   AND (%(until)s::timestamptz IS NULL OR claimed_at < %(until)s)"
        " ORDER BY claimed_at", {"since": since, "until": until})
    return list(await cur.fetchall())


async def cached_media_id(
    conn: psycopg.AsyncConnection, phone_number_id: str, image_sha256: str, uploaded_after: datetime
) -> str | None:
    """The media id uploaded for this image from this number after ``uploaded_after`` (ids
    expire after 30 days), if the scheduler or a sender uploaded one."""
    cur = await conn.execute(
        "SELECT media_id FROM media_cache WHERE phone_number_id = %s AND image_sha256 = %s"
        " AND uploaded_at > %s",
        (phone_number_id, image_sha256, uploaded_after),
    )
    row = await cur.fetchone()
    return row[0] if row else None


async def pack_image(conn: psycopg.AsyncConnection, image_sha256: str) -> tuple[str, str] | None:
    """(image_url, mime_type) of a pack image, as the scheduler recorded it."""
    cur = await conn.execute(
        "SELECT image_url, mime_type FROM pack_media WHERE image_sha256 = %s", (image_sha256,)
    )
    row = await cur.fetchone()
    return (row[0], row[1]) if row else None


async def record_pack_image(
    conn: psycopg.AsyncConnection, image_sha256: str, image_url: str, mime_type: str
) -> None:
    """Where a pack image's bytes are, so any sender can upload it on a cache miss."""
    await conn.execute(
        "INSERT INTO pack_media (image_sha256, image_url, mime_type) VALUES (%s, %s, %s)"
        " ON CONFLICT (image_sha256) DO UPDATE SET image_url = EXCLUDED.image_url,"
        " mime_type = EXCLUDED.mime_type",
        (image_sha256, image_url, mime_type),
    )


async def cache_media_id(
    conn: psycopg.AsyncConnection, phone_number_id: str, image_sha256: str, media_id: str,
    uploaded_at: datetime,
) -> None:
    """Remember a media id; the newest upload wins (an id lives 30 days)."""
    await conn.execute(
        "INSERT INTO media_cache (phone_number_id, image_sha256, media_id, uploaded_at)"
        " VALUES (%s, %s, %s, %s) ON CONFLICT (phone_number_id, image_sha256)"
        " DO UPDATE SET media_id = EXCLUDED.media_id, uploaded_at = EXCLUDED.uploaded_at",
        (phone_number_id, image_sha256, media_id, uploaded_at),
    )
