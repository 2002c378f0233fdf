"""Creating the catalogue's topics on the real broker, and the ``dawn topics`` commands."""

from __future__ import annotations

import os
import uuid
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import NewTopic

from dawn import endpoints
from dawn.cli import main
from dawn.topics import Outcome, TopicReport, admin_client, cleanup_policies, ensure_topics, list_topics
from schemas.catalogue import ALL_TOPICS, Topic


def _scratch(partitions: int, cleanup: str = "delete") -> Topic:
    """A topic of this test alone, so tests sharing the session broker never meet."""
    return Topic(f"test.topics.{uuid.uuid4().hex[:8]}", "k", "Alert", partitions, cleanup)


def test_catalogue_topics_exist_with_their_partitions(bootstrap: str, topics: list[TopicReport]) -> None:
    existing = list_topics(bootstrap)
    assert {t.name: t.partitions for t in ALL_TOPICS}.items() <= existing.items()
    policies = cleanup_policies(bootstrap, [t.name for t in ALL_TOPICS])
    assert policies == {t.name: t.cleanup_policy for t in ALL_TOPICS}


def test_creating_again_changes_nothing(bootstrap: str, topics: list[TopicReport]) -> None:
    again = ensure_topics(bootstrap)
    assert [(r.name, r.outcome, r.partitions) for r in again] == \
        [(t.name, Outcome.EXISTS, t.partitions) for t in ALL_TOPICS]


def test_a_topic_with_fewer_partitions_is_reported_not_raised(bootstrap: str) -> None:
    wanted = _scratch(partitions=3)
    admin = admin_client(bootstrap)  # held: a collected client cancels its pending requests
    admin.create_topics([NewTopic(wanted.name, 1)])[wanted.name].result(10)
    [report] = ensure_topics(bootstrap, [wanted])
    assert (report.outcome, report.partitions, report.wanted, report.ok) == (Outcome.SHORT, 1, 3, False)
    assert "has 1 partitions, the catalogue says 3" in report.detail


def test_a_topic_with_the_wrong_cleanup_policy_is_reported(bootstrap: str) -> None:
    """E.g. ``advisors`` created by hand with delete: its latest record per key would expire."""
    wanted = _scratch(partitions=2, cleanup="compact")
    admin = admin_client(bootstrap)
    delete = {"cleanup.policy": "delete"}
    admin.create_topics([NewTopic(wanted.name, 2, config=delete)])[wanted.name].result(10)
    [report] = ensure_topics(bootstrap, [wanted])
    assert (report.outcome, report.partitions, report.ok) == (Outcome.WRONG_CLEANUP, 2, False)
    assert "cleanup.policy is delete, the catalogue says compact" in report.detail


def test_list_marks_a_topic_with_the_wrong_cleanup_policy(
    bootstrap: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    wanted = _scratch(partitions=1, cleanup="compact")
    admin = admin_client(bootstrap)
    delete = {"cleanup.policy": "delete"}
    admin.create_topics([NewTopic(wanted.name, 1, config=delete)])[wanted.name].result(10)
    monkeypatch.setattr("dawn.commands.topics.ALL_TOPICS", [wanted])
    monkeypatch.setattr("dawn.commands.topics.BY_NAME", {wanted.name: wanted})
    monkeypatch.setenv("COLUMNS", "300")  # one table row per line, nothing cut
    assert main(["topics", "list", "--bootstrap", bootstrap]) == 1
    out = capsys.readouterr().out
    assert "catalogue says compact" in out and "wrong cleanup policy" in out


class _RejectsConfigs:
    """An AdminClient that refuses topic configs, as some managed Kafka services do.

    The embedded broker accepts every config (even unknown names), so this path cannot be met on
    it; everything else goes to the real broker.
    """

    def __init__(self, bootstrap: str) -> None:
        self.real = admin_client(bootstrap)

    def list_topics(self, **kwargs: Any) -> Any:
        return self.real.list_topics(**kwargs)

    def create_topics(self, new: list[NewTopic], **kwargs: Any) -> dict[str, Future]:
        if any(t.config for t in new):
            refused: dict[str, Future] = {}
            for t in new:
                refused[t.topic] = Future()
                refused[t.topic].set_exception(
                    KafkaException(KafkaError(KafkaError.POLICY_VIOLATION, "retention.ms too big"))
                )
            return refused
        return self.real.create_topics(new, **kwargs)


def test_a_rejected_config_still_creates_the_topic(bootstrap: str) -> None:
    wanted = _scratch(partitions=2, cleanup="compact")
    [report] = ensure_topics(bootstrap, [wanted], admin=_RejectsConfigs(bootstrap))
    assert report.outcome is Outcome.CREATED_WITHOUT_CONFIG and report.ok
    assert "cleanup.policy" in report.detail
    assert list_topics(bootstrap)[wanted.name] == 2


# -- the commands ---------------------------------------------------------------------------------

@pytest.fixture
def no_kafka_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No KAFKA_BOOTSTRAP_SERVERS and an empty run dir: the commands must find the broker otherwise."""
    monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)
    monkeypatch.setenv("DAWN_RUN_DIR", str(tmp_path))
    return tmp_path


def test_list_without_any_broker_says_how_to_give_one(no_kafka_env: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["topics", "list"]) == 2
    err = capsys.readouterr().err
    assert "--bootstrap" in err and "KAFKA_BOOTSTRAP_SERVERS" in err and "dawn up" in err


def test_list_with_flag_marks_missing_catalogue_topics(bootstrap: str, topics: list[TopicReport],
                                                       no_kafka_env: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["topics", "list", "--bootstrap", bootstrap]) == 0
    out = capsys.readouterr().out
    assert "wa.delivery.intents" in out and "compact" in out and "missing" not in out


def test_list_finds_a_running_dawn_up(bootstrap: str, topics: list[TopicReport], no_kafka_env: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    endpoints.write(no_kafka_env, endpoints.Endpoints(os.getpid(), bootstrap, "postgresql://x"))
    assert main(["topics", "list"]) == 0
    assert f"kafka {bootstrap}" in capsys.readouterr().out


def test_a_dead_dawn_up_is_not_used(bootstrap: str, no_kafka_env: Path) -> None:
    dead_pid = 2**22 + 1  # above the kernel's pid_max: no process has it
    endpoints.write(no_kafka_env, endpoints.Endpoints(dead_pid, bootstrap, "postgresql://x"))
    assert main(["topics", "list"]) == 2


def test_create_uses_the_environment(bootstrap: str, topics: list[TopicReport], no_kafka_env: Path,
                                     monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", bootstrap)
    assert main(["topics", "create"]) == 0
    assert "exists" in capsys.readouterr().out
