"""Keyed records, consumer groups and committed offsets on the real broker, with dawn's client profile.

These are the broker behaviours the sender relies on: one number's records stay on one partition
(ordering and per-number rate limits), a group of workers splits the partitions, and a restarted
worker resumes after what it committed (nothing lost, nothing sent twice).
"""

from __future__ import annotations

import time
import uuid
from collections import defaultdict
from collections.abc import Callable

import pytest
from confluent_kafka import Consumer, Message, Producer, TopicPartition

from dawn.embedded.client_profile import consumer_config, producer_config
from dawn.embedded.stack import Stack
from dawn.topics import ensure_topics
from schemas.catalogue import NUMBER_PARTITIONS, Topic

WAIT_S = 60  # an upper bound for the broker to settle a group, never an expectation

PHONE_NUMBER_IDS = [f"10654035224{n:04d}" for n in range(12)]


def _scratch_topic(bootstrap: str, partitions: int) -> str:
    """A topic of this test alone, keyed like the number topics, so no other test reads our records."""
    t = Topic(f"test.groups.{uuid.uuid4().hex[:8]}", "phone_number_id", "DeliveryIntent",
              partitions, "delete")
    [report] = ensure_topics(bootstrap, [t])
    assert report.ok, report
    return t.name


def _produce(stack: Stack, topic: str, records: list[tuple[str, str]]) -> None:
    producer = Producer(producer_config(stack.kafka_bootstrap, stack.embedded_kafka))
    for key, value in records:
        producer.produce(topic, key=key.encode(), value=value.encode())
    assert producer.flush(30) == 0


def _consumer(stack: Stack, group: str) -> Consumer:
    return Consumer(consumer_config(stack.kafka_bootstrap, group, stack.embedded_kafka))


def _poll_until(consumers: list[Consumer], done: Callable[[], bool],
                on_message: Callable[[int, Message], None]) -> None:
    deadline = time.monotonic() + WAIT_S
    while not done():
        assert time.monotonic() < deadline, "broker did not settle the group"
        for i, consumer in enumerate(consumers):
            msg = consumer.poll(0.2)
            if msg is not None:
                assert msg.error() is None, msg.error()
                on_message(i, msg)


@pytest.fixture
def number_topic(stack: Stack) -> str:
    return _scratch_topic(stack.kafka_bootstrap, NUMBER_PARTITIONS)


@pytest.mark.slow  # two group joins: the embedded broker holds each for half the session timeout
def test_same_key_same_partition_and_two_members_split_the_partitions(stack: Stack,
                                                                      number_topic: str) -> None:
    group = f"test-{uuid.uuid4().hex[:8]}"
    members = [_consumer(stack, group), _consumer(stack, group)]
    assigned: list[set[int]] = [set(), set()]
    for i, member in enumerate(members):
        member.subscribe(
            [number_topic],
            on_assign=lambda _c, parts, i=i: assigned[i].update(p.partition for p in parts),
            on_revoke=lambda _c, parts, i=i: assigned[i].difference_update(p.partition for p in parts),
        )
    try:
        # Settle the group before producing, so no record is read by a member about to lose its
        # partition (that would be a repeat by design, not by fault).
        _poll_until(members, lambda: all(assigned) and sum(map(len, assigned)) == NUMBER_PARTITIONS,
                    lambda i, msg: pytest.fail(f"unexpected record {msg.value()!r}"))
        records = [(key, f"{key}#{n}") for n in range(5) for key in PHONE_NUMBER_IDS]
        _produce(stack, number_topic, records)
        got: list[list[Message]] = [[], []]
        _poll_until(members, lambda: sum(map(len, got)) >= len(records),
                    lambda i, msg: got[i].append(msg))
        final = [set(a) for a in assigned]  # closing revokes everything
    finally:
        for member in members:
            member.close()

    assert final[0].isdisjoint(final[1])
    assert final[0] | final[1] == set(range(NUMBER_PARTITIONS))
    partitions_of: dict[bytes, set[int]] = defaultdict(set)
    for i, messages in enumerate(got):
        for msg in messages:
            assert msg.partition() in final[i]  # each member read only its own partitions
            partitions_of[msg.key()].add(msg.partition())
    assert all(len(parts) == 1 for parts in partitions_of.values()), partitions_of
    values = sorted(msg.value().decode() for messages in got for msg in messages)
    assert values == sorted(value for _, value in records)  # every record once
    for messages in got:  # and in order per key
        for key in {m.key() for m in messages}:
            seq = [int(m.value().decode().split("#")[1]) for m in messages if m.key() == key]
            assert seq == sorted(seq)


@pytest.mark.slow  # two group joins, as above
def test_committed_offsets_survive_a_restart(stack: Stack) -> None:
    topic = _scratch_topic(stack.kafka_bootstrap, 3)
    group = f"test-{uuid.uuid4().hex[:8]}"
    records = [(PHONE_NUMBER_IDS[n % 5], f"r{n}") for n in range(30)]
    _produce(stack, topic, records)
    first_n = 12

    first: list[str] = []
    consumer = _consumer(stack, group)
    consumer.subscribe([topic])
    try:
        while len(first) < first_n:
            msgs = consumer.consume(num_messages=first_n - len(first), timeout=1)
            first += [m.value().decode() for m in msgs if m.error() is None]
        committed = consumer.commit(asynchronous=False)
    finally:
        consumer.close()
    assert sum(tp.offset for tp in committed if tp.offset >= 0) == first_n  # -1001: none yet

    rest: list[str] = []
    consumer = _consumer(stack, group)
    consumer.subscribe([topic])
    try:
        resumed = consumer.committed([TopicPartition(topic, p) for p in range(3)], timeout=10)
        assert {(tp.partition, tp.offset) for tp in resumed} == \
            {(tp.partition, tp.offset) for tp in committed}
        _poll_until([consumer], lambda: len(rest) >= len(records) - first_n,
                    lambda _i, msg: rest.append(msg.value().decode()))
    finally:
        consumer.close()
    # Exactly the records not read before: a repeat would show up here as a missing record.
    assert sorted(first + rest) == sorted(value for _, value in records)


def test_our_producers_partition_keys_as_faust_does(stack: Stack) -> None:
    """The scheduler and gateway produce with confluent-kafka, the sender's retries and failovers
    with Faust (aiokafka): one number's intents must land on one partition whoever wrote them."""
    from aiokafka.partitioner import DefaultPartitioner

    topic = _scratch_topic(stack.kafka_bootstrap, NUMBER_PARTITIONS)
    landed: dict[str, int] = {}
    producer = Producer(producer_config(stack.kafka_bootstrap, stack.embedded_kafka))
    for key in PHONE_NUMBER_IDS:
        producer.produce(topic, key=key.encode(), value=b"x",
                         on_delivery=lambda err, msg: landed.__setitem__(msg.key().decode(),
                                                                         msg.partition()))
    assert producer.flush(30) == 0
    faust_side = DefaultPartitioner()
    partitions = list(range(NUMBER_PARTITIONS))
    expected = {k: faust_side(k.encode(), partitions, partitions) for k in PHONE_NUMBER_IDS}
    assert landed == expected
    assert len(set(landed.values())) > 1  # the keys really spread, so the comparison means something
