"""Turning inbound commands, preference webhooks and 131050 failures into consent changes.

Kept apart from the Faust agent so the same code runs in a worker and, record by record, in tests
and tools. PostgreSQL is written first and is the record; what :meth:`ConsentProcessor.handle`
returns (Advisor records, dead letters) is published afterwards, so a crash in between leaves
Kafka behind PostgreSQL, never ahead of it. Each source event is claimed in ``consent_events`` in
the same transaction as its change, so a replayed wamid changes nothing and is confirmed once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

from schemas.catalogue import ACCOUNT, ADVISORS, ALERTS, INBOUND, RESULTS
from schemas.codec import Codec, dead_letter
from store import advisors, consent_events
from streams.consent.commands import Command, next_state, parse_inbound
from streams.consent.identity import IDENTITY_CHANGED, SystemEvent, alert, system_event
from streams.consent.replies import reply_for
from whatsapp.privacy import mask_phones

log = logging.getLogger("dawn.consent")

#: Cloud API error: the user has turned marketing messages off in WhatsApp.
MARKETING_OPT_OUT = 131050

#: (phone_number_id, to, body) -> anything; CloudApiClient.send_text in a worker.
SendText = Callable[[str, str, str], Awaitable[Any]]

#: The database is unreachable or the transaction was aborted by the server (connection lost,
#: pool timeout, deadlock, admin shutdown): worth waiting for, however long it takes.
TRANSIENT = (psycopg.OperationalError, psycopg.InterfaceError)


@dataclass(frozen=True)
class Outgoing:
    """A record to publish once the database has committed."""

    topic: str
    key: bytes | None
    value: bytes


async def open_pool(database_url: str) -> AsyncConnectionPool:
    """Autocommit connections: each change opens its own transaction, and nothing stays open
    (holding advisor row locks the sender waits on) while a confirmation travels to Meta."""
    pool = AsyncConnectionPool(database_url, min_size=1, max_size=2, open=False,
                               kwargs={"autocommit": True})
    await pool.open(wait=True)
    return pool


class ConsentProcessor:
    """Applies consent events to PostgreSQL, confirms commands, and says what to publish."""

    def __init__(self, pool: AsyncConnectionPool, codec: Codec, send_text: SendText, *,
                 backoff_s: float = 0.5, max_backoff_s: float = 10.0, max_failures: int = 5,
                 sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep) -> None:
        self.pool = pool
        self.codec = codec
        self.send_text = send_text
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.max_failures = max_failures
        self.sleep = sleep

    async def handle_retrying(self, topic: str, key: bytes | None, value: bytes | None,
                              partition: int = -1, offset: int = -1) -> list[Outgoing]:
        """:meth:`handle`, retried in place until it succeeds; never raises (but cancellation).

        A database that is down or a transaction the server aborted is waited out with capped
        exponential backoff, for as long as it takes: the record is a STOP until proven otherwise,
        and Faust acks it as soon as the agent's loop body leaves it, returning or raising. Any
        other error is retried ``max_failures`` times and then the record goes to its topic's DLQ
        with the reason (kept, not lost), so one poisonous record cannot stall every consent
        change behind it. A try that failed committed nothing but, at most, the change with its
        event claim (one transaction), so a retry applies each change once; a confirmation sent
        but not recorded as sent may go out once more, as on a replay.
        """
        delay, failures = self.backoff_s, 0
        while True:
            try:
                return await self.handle(topic, key, value, partition, offset)
            except TRANSIENT as exc:
                log.warning("PostgreSQL unavailable on %s[%d]@%d (%s); retrying in %.1f s", topic,
                            partition, offset, type(exc).__name__, delay)
            except Exception as exc:  # the agent must not die on a record
                failures += 1
                error = f"{type(exc).__name__}: {mask_phones(str(exc))}"
                if failures >= self.max_failures:
                    log.error("giving up on %s[%d]@%d after %d tries, to the DLQ: %s", topic,
                              partition, offset, failures, error)
                    letter = dead_letter(topic, value, error, key=key, partition=partition,
                                         offset=offset, stage="consent")
                    return [Outgoing(f"{topic}.dlq", key, self.codec.encode(f"{topic}.dlq", letter))]
                log.warning("consent event %s[%d]@%d failed (%s); try %d of %d in %.1f s", topic,
                            partition, offset, error, failures, self.max_failures, delay)
            await self.sleep(delay)
            delay = min(delay * 2, self.max_backoff_s)

    async def handle(self, topic: str, key: bytes | None, value: bytes | None,
                     partition: int = -1, offset: int = -1) -> list[Outgoing]:
        """Process one record of ``topic``; returns what to publish (never raises on bad input)."""
        record, dead = self.codec.decode_or_dead_letter(
            topic, value, key=key, partition=partition, offset=offset, stage="consent")
        if record is None:
            assert dead is not None
            log.warning("dead letter from %s[%d]@%d: %s", topic, partition, offset, dead["error"])
            return [Outgoing(f"{topic}.dlq", key, self.codec.encode(f"{topic}.dlq", dead))]
        alerts: list[dict[str, Any]] = []
        if topic == INBOUND.name:
            event = system_event(record)
            changed = await (self._identity(event, alerts) if event else self._inbound(record))
        elif topic == ACCOUNT.name:
            changed = await self._preferences(record)
        elif topic == RESULTS.name:
            changed = await self._send_failure(record)
        else:
            raise ValueError(f"the consent processor does not read {topic}")
        out = await self._advisor_updates(changed)
        return out + [Outgoing(ALERTS.name, a["kind"].encode(), self.codec.encode(ALERTS.name, a))
                      for a in alerts]

    async def _identity(self, event: SystemEvent, alerts: list[dict[str, Any]]) -> str | None:
        """A number, user id or identity change (policy in streams/consent/identity.py)."""
        async with self.pool.connection() as conn:
            advisor = await advisors.find_by_contact(conn, wa_id=event.old_phone,
                                                     user_id=event.old_user_id)
            changed = await self._apply_identity(conn, event, advisor, alerts)
            # Outside the transaction (no row locks held while a reply travels), and on a replay
            # too: a confirmation that did not go out the first time goes out now.
            for kept in await consent_events.unmatched_since(conn, event.new_phone,
                                                             event.new_user_id, event.at):
                moved = await advisors.find_by_contact(conn, wa_id=kept["wa_id"],
                                                       user_id=kept["user_id"])
                if moved is not None:
                    await self._confirm_once(conn, kept["event_id"], kept["phone_number_id"],
                                             kept["wa_id"] or kept["user_id"], moved)
        return changed

    async def _apply_identity(self, conn: psycopg.AsyncConnection, event: SystemEvent,
                              advisor: advisors.AdvisorRow | None,
                              alerts: list[dict[str, Any]]) -> str | None:
        """The change and the commands kept for the new ids, in one transaction with its claim."""
        advisor_id = advisor.advisor_id if advisor else None
        evidence = f"wamid {event.event_id}: {event.kind}"
        async with conn.transaction():
            if not await consent_events.claim(conn, event.event_id, advisor_id, event.kind):
                return None
            if event.kind in IDENTITY_CHANGED:
                if advisor is not None:
                    async with conn.cursor() as cur:
                        await advisors.record_identity(cur, advisors.IdentityChange(
                            advisor.advisor_id, "identity_changed", advisor.phone, advisor.phone,
                            advisor.user_id, advisor.user_id), at=event.at, evidence=evidence)
                alerts.append(alert(event, "customer_identity_changed", advisor_id,
                                    "an advisor's WhatsApp identity changed (new device or "
                                    "reinstall): confirm it is still them", {}))
                return None
            if advisor is None:
                log.info("%s from unknown contact %s ignored", event.kind,
                         mask_phones(event.old_phone or "?"))
                return None
            change = await advisors.change_identity(
                conn, advisor.advisor_id, new_phone=event.new_phone,
                new_user_id=event.new_user_id, at=event.at, evidence=evidence)
            if change is None:
                return None
            if change.kind == "number_change_refused":
                alerts.append(alert(event, "number_change_refused", advisor_id,
                                    "an advisor's new WhatsApp number belongs to another advisor: "
                                    "kept on the old number until a person settles it",
                                    {"new_phone": mask_phones(change.new_phone or "")}))
                return None
            for kept in await consent_events.unmatched_since(conn, event.new_phone,
                                                             event.new_user_id, event.at):
                moved = await advisors.get_advisor(conn, advisor.advisor_id) or advisor
                record = {"event_id": kept["event_id"], "from_user_id": kept["user_id"],
                          "timestamp": kept["sent_at"]}
                await self._apply_command(conn, moved, Command(kept["command"]), record)
        log.info("advisor %s moved to a new WhatsApp %s", advisor_id,
                 "number" if change.kind == "number_changed" else "user id")
        return advisor_id

    async def _inbound(self, record: dict[str, Any]) -> str | None:
        command = parse_inbound(record)
        if command is None:
            return None
        event_id = record["event_id"]
        wa_id, user_id = record.get("from_wa_id"), record.get("from_user_id")
        async with self.pool.connection() as conn:
            advisor = await advisors.find_by_contact(conn, wa_id=wa_id, user_id=user_id)
            if advisor is None:
                # Kept: the number change that makes this contact an advisor may come later.
                log.info("%s from unknown contact %s kept unmatched", command,
                         mask_phones(wa_id or "?"))
                await consent_events.keep_unmatched(conn, event_id, wa_id, user_id, command.value,
                                                    record["timestamp"], record["phone_number_id"])
                return None
            changed = await self._apply_command(conn, advisor, command, record)
            await self._confirm_once(conn, event_id, record["phone_number_id"], wa_id or user_id,
                                     advisor)
        return changed

    async def _confirm_once(self, conn: psycopg.AsyncConnection, event_id: str,
                            phone_number_id: str | None, to: str | None,
                            advisor: advisors.AdvisorRow) -> None:
        if phone_number_id and await consent_events.needs_confirmation(conn, event_id):
            current = await advisors.get_advisor(conn, advisor.advisor_id) or advisor
            if await self._confirm(phone_number_id, to, current):
                await consent_events.mark_confirmed(conn, event_id)

    async def _apply_command(self, conn: psycopg.AsyncConnection, advisor: advisors.AdvisorRow,
                             command: Command, record: dict[str, Any]) -> str | None:
        event_id = record["event_id"]
        async with conn.transaction():
            if not await consent_events.claim(conn, event_id, advisor.advisor_id, command.value):
                return None
            user_id = record.get("from_user_id")
            if user_id and advisor.user_id is None:
                await advisors.link_user_id(conn, advisor.advisor_id, user_id)
            row = await advisors.apply_consent(
                conn, advisor.advisor_id, next_state(advisor.consent_state, command),
                source="inbound", evidence=f"wamid {event_id}: {command.value}",
                at=record["timestamp"],
            )
        return row.advisor_id if row else None

    async def _confirm(self, phone_number_id: str, to: str | None,
                       advisor: advisors.AdvisorRow) -> bool:
        if not to:
            return False
        try:
            await self.send_text(phone_number_id, to,
                                 reply_for(advisor.consent_state, advisor.language))
        except Exception as exc:  # any client failure: retried when the event is replayed
            log.warning("confirmation to %s not sent: %s", mask_phones(to), mask_phones(str(exc)))
            return False
        return True

    async def _preferences(self, record: dict[str, Any]) -> str | None:
        if record.get("field") != "user_preferences":
            return None
        value = (record.get("event") or "").strip().lower()
        if value not in ("stop", "resume"):
            return None
        async with self.pool.connection() as conn:
            advisor = await advisors.find_by_contact(
                conn, wa_id=record.get("subject_wa_id"), user_id=record.get("subject_user_id"))
            if advisor is None:
                return None
            return await self._suppress(
                conn, record["event_id"], advisor.advisor_id, value == "stop",
                source="user_preferences", evidence=f"webhook {record['event_id']}: marketing {value}",
                at=record["timestamp"])

    async def _send_failure(self, record: dict[str, Any]) -> str | None:
        if record.get("error_code") != MARKETING_OPT_OUT:
            return None
        delivery, attempt = record["delivery_id"], record["attempt"]
        async with self.pool.connection() as conn:
            return await self._suppress(
                conn, f"result:{delivery}:{attempt}", record["advisor_id"], True,
                source="send_failure", evidence=f"{MARKETING_OPT_OUT} on {delivery} attempt {attempt}",
                at=record["sent_at"])

    @staticmethod
    async def _suppress(conn: psycopg.AsyncConnection, event_id: str, advisor_id: str,
                        suppressed: bool, *, source: str, evidence: str, at: datetime) -> str | None:
        async with conn.transaction():
            if not await consent_events.claim(conn, event_id, advisor_id, source):
                return None
            row = await advisors.set_marketing_suppressed(
                conn, advisor_id, suppressed, source=source, evidence=evidence, at=at)
        return row.advisor_id if row else None

    async def _advisor_updates(self, advisor_id: str | None) -> list[Outgoing]:
        if advisor_id is None:
            return []
        async with self.pool.connection() as conn:
            records = await advisors.advisor_records(conn, [advisor_id])
        return [
            Outgoing(ADVISORS.name, r["advisor_id"].encode(), self.codec.encode(ADVISORS.name, r))
            for r in records
        ]
