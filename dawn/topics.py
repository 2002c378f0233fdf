"""Creating the catalogue's topics before anything produces to them, and reading back what exists.

Topics are created up front, never auto-created: an auto-created topic gets the broker's default
partition count (4 on the embedded broker), and keyed topics must have the catalogue's count so that
one sender number's intents, results and statuses share a partition number. A topic that already
exists with fewer partitions is reported, not "fixed": adding partitions moves keys to other
partitions (breaking per-number ordering), and the embedded broker cannot add partitions anyway.
The way out is to delete and recreate the topic, which is an operator's decision. A topic whose
cleanup.policy differs from the catalogue's is reported the same way: a compacted topic that
deletes loses the latest record of every key after retention, a deleting topic that compacts keeps
what should expire, and switching either way changes data, so that too is an operator's decision.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic

from schemas.catalogue import ALL_TOPICS, Topic

log = logging.getLogger("dawn.topics")

TIMEOUT_S = 15.0

#: Errors meaning "this broker will not take these topic configs". The embedded broker (Tansu
#: 0.6.0) accepts and stores every config, even unknown names, so it never sends these; managed
#: Kafka services do reject some (e.g. a retention.ms above their limit). The topic then is created
#: with the broker's defaults and the report says so, because a topic with default retention is
#: better than no topic and a pipeline that cannot start.
_CONFIG_REJECTED = {KafkaError.INVALID_CONFIG, KafkaError.POLICY_VIOLATION}


class Outcome(StrEnum):
    CREATED = "created"
    CREATED_WITHOUT_CONFIG = "created without its config"
    EXISTS = "exists"
    SHORT = "too few partitions"
    WRONG_CLEANUP = "wrong cleanup policy"
    FAILED = "failed"


@dataclass(frozen=True)
class TopicReport:
    """What happened to one catalogue topic; ``detail`` says what an operator should know."""

    name: str
    outcome: Outcome
    partitions: int | None
    wanted: int
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.outcome not in (Outcome.SHORT, Outcome.WRONG_CLEANUP, Outcome.FAILED)


def admin_client(bootstrap: str) -> AdminClient:
    return AdminClient({"bootstrap.servers": bootstrap})


def list_topics(bootstrap: str, timeout: float = TIMEOUT_S) -> dict[str, int]:
    """Every topic on the broker -> its partition count. KafkaException if the broker is unreachable."""
    return _partition_counts(admin_client(bootstrap), timeout)


def _partition_counts(admin: Any, timeout: float) -> dict[str, int]:
    metadata = admin.list_topics(timeout=timeout)
    return {name: len(t.partitions) for name, t in metadata.topics.items() if t.error is None}


def cleanup_policies(bootstrap: str, names: Iterable[str], timeout: float = TIMEOUT_S) -> dict[str, str]:
    """Topic -> its cleanup.policy as the broker reports it; "?" where the broker would not say."""
    return _cleanup_policies(admin_client(bootstrap), names, timeout)


def cleanup_mismatch(t: Topic, policy: str | None) -> str:
    """What an operator should know when the broker's cleanup.policy is not the catalogue's; ""
    when it is, or when the broker would not say (a topic is not reported on a guess)."""
    if policy is None or policy == "?":
        return ""
    if {part.strip() for part in policy.split(",")} == {t.cleanup_policy}:
        return ""
    return (
        f"cleanup.policy is {policy}, the catalogue says {t.cleanup_policy}. Alter the topic's "
        "cleanup.policy (or delete and recreate it) once its data allows"
    )


def _cleanup_policies(admin: Any, names: Iterable[str], timeout: float) -> dict[str, str]:
    resources = [ConfigResource(ConfigResource.Type.TOPIC, name) for name in names]
    if not resources:
        return {}
    out: dict[str, str] = {}
    for resource, future in admin.describe_configs(resources, request_timeout=timeout).items():
        try:
            entry = future.result(timeout=timeout).get("cleanup.policy")
            out[resource.name] = entry.value if entry is not None and entry.value else "?"
        except (KafkaException, TimeoutError):
            out[resource.name] = "?"
    return out


def ensure_topics(bootstrap: str, topics: Iterable[Topic] = ALL_TOPICS, admin: Any = None,
                  timeout: float = TIMEOUT_S) -> list[TopicReport]:
    """Create the missing ones of ``topics``; report on every one. Safe to run any number of times.

    Raises KafkaException only when the broker cannot be reached at all; per-topic problems are
    in the reports, so one bad topic never hides the state of the others. ``admin`` stands in for
    the AdminClient in tests of broker behaviour the embedded broker does not have.
    """
    admin = admin or admin_client(bootstrap)
    topics = list(topics)
    existing = _partition_counts(admin, timeout)
    present = [t for t in topics if t.name in existing]
    policies = _cleanup_policies(admin, [t.name for t in present], timeout)
    reports = {t.name: _existing_report(t, existing[t.name], policies.get(t.name)) for t in present}
    missing = [t for t in topics if t.name not in existing]
    rejected: list[Topic] = []
    for t, error in _create(admin, missing, timeout, with_config=True).items():
        if error is None:
            reports[t.name] = TopicReport(t.name, Outcome.CREATED, t.partitions, t.partitions)
        elif error.code() in _CONFIG_REJECTED:
            log.warning("broker rejected the config of %s (%s); creating it with defaults",
                        t.name, error.str())
            rejected.append(t)
        else:
            reports[t.name] = _create_error_report(t, error, admin, timeout)
    for t, error in _create(admin, rejected, timeout, with_config=False).items():
        if error is None:
            reports[t.name] = TopicReport(
                t.name, Outcome.CREATED_WITHOUT_CONFIG, t.partitions, t.partitions,
                f"broker rejected {t.config}; it has the broker's default cleanup and retention",
            )
        else:
            reports[t.name] = _create_error_report(t, error, admin, timeout)
    for report in reports.values():
        if not report.ok:
            log.warning("topic %s: %s. %s", report.name, report.outcome, report.detail)
    return [reports[t.name] for t in topics]


def _create(admin: Any, topics: list[Topic], timeout: float,
            with_config: bool) -> dict[Topic, KafkaError | None]:
    if not topics:
        return {}
    new = [NewTopic(t.name, t.partitions, config=t.config if with_config else {}) for t in topics]
    futures = admin.create_topics(new, request_timeout=timeout, operation_timeout=timeout)
    out: dict[Topic, KafkaError | None] = {}
    for t in topics:
        try:
            futures[t.name].result(timeout=timeout)
            out[t] = None
        except KafkaException as exc:
            out[t] = exc.args[0]
        except TimeoutError:
            out[t] = KafkaError(KafkaError._TIMED_OUT, f"no answer within {timeout:.0f} s")
    return out


def _create_error_report(t: Topic, error: KafkaError, admin: Any, timeout: float) -> TopicReport:
    if error.code() == KafkaError.TOPIC_ALREADY_EXISTS:  # someone created it since we listed
        partitions = _partition_counts(admin, timeout).get(t.name)
        if partitions is not None:
            return _existing_report(t, partitions, _cleanup_policies(admin, [t.name], timeout).get(t.name))
    return TopicReport(t.name, Outcome.FAILED, None, t.partitions, error.str())


def _existing_report(t: Topic, partitions: int, policy: str | None) -> TopicReport:
    mismatch = cleanup_mismatch(t, policy)
    if partitions < t.partitions:
        return TopicReport(
            t.name, Outcome.SHORT, partitions, t.partitions,
            f"has {partitions} partitions, the catalogue says {t.partitions}; keyed records would "
            "not spread as designed. Delete and recreate it (partitions cannot be added in place "
            "without moving keys)" + (f". Also: {mismatch}" if mismatch else ""),
        )
    if mismatch:
        return TopicReport(t.name, Outcome.WRONG_CLEANUP, partitions, t.partitions, mismatch)
    detail = f"has {partitions} partitions, more than the catalogue's {t.partitions}" \
        if partitions > t.partitions else ""
    return TopicReport(t.name, Outcome.EXISTS, partitions, t.partitions, detail)
