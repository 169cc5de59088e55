"""The thread reader, the process reader and the librdkafka client behind one consumer protocol: the
same scenario, run against the real broker with each, delivers the same records once each and commits
the same offsets."""

from __future__ import annotations

import threading
import uuid

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.structs import OffsetAndMetadata

from driftwatch.cli.localbroker import LocalBroker
from driftwatch.config import KafkaSettings
from driftwatch.source.confluent import ConfluentConsumer
from driftwatch.source.kafka import KafkaSource
from driftwatch.source.protocol import Consumer
from driftwatch.source.reader import ProcessConsumer
from driftwatch.source.thread_reader import ThreadConsumer
from tests.kafkautil import committed, wait_for

SENT = {0: 30, 1: 20}  # records per partition, first run
MORE = {0: 5, 1: 7}  # sent while the source is stopped, read by the second run


class Observer:
    """A SourceObserver that keeps the last report of each kind."""

    def __init__(self) -> None:
        self.up: bool | None = None
        self.lag: dict[tuple[str, int], int] = {}
        self.commits: list[str] = []

    def set_kafka_up(self, up: bool) -> None:
        self.up = up

    def set_consumer_lag(self, topic: str, partition: int, lag: int) -> None:
        self.lag[(topic, partition)] = lag

    def drop_consumer_lag(self, topic: str, partition: int) -> None:
        self.lag.pop((topic, partition), None)

    def count_undecodable_batches(self, reason: str, count: int = 1) -> None:
        pass

    def count_offset_commit(self, outcome: str) -> None:
        self.commits.append(outcome)

    def count_dead_letters(self, outcome: str, count: int = 1) -> None:
        pass


def send(bootstrap: str, topic: str, counts: dict[int, int], start: dict[int, int]) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    try:
        for partition, count in counts.items():
            for i in range(start.get(partition, 0), start.get(partition, 0) + count):
                producer.send(topic, value=f"{partition}-{i}".encode(), partition=partition)
        producer.flush(30)
    finally:
        producer.close(5)


def rewind_group(bootstrap: str, group: str, offsets: dict[TopicPartition, int]) -> None:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    try:
        consumer.commit({tp: OffsetAndMetadata(offset, "", -1) for tp, offset in offsets.items()})
    finally:
        consumer.close(autocommit=False)


def consume(
    settings: KafkaSettings, stored: dict[tuple[str, int], int], until: dict[int, int]
) -> tuple[list[tuple[int, int, bytes | None]], dict[tuple[str, int], int], Observer]:
    """Run a source until its checkpoint covers ``until`` (next offset per partition); the records it
    handed over and its last checkpoint."""
    seen: list[tuple[int, int, bytes | None]] = []
    checkpoints: list[dict[tuple[str, int], int]] = []
    observer = Observer()
    source = KafkaSource(
        settings,
        lambda batch: seen.extend((m.partition, m.offset, m.value) for m in batch),
        observer,
        checkpoint=checkpoints.append,
        checkpointed=lambda: stored,
        checkpoint_interval=0.1,
    )
    stop = threading.Event()
    thread = threading.Thread(target=source.run, args=(stop,), daemon=True)
    thread.start()
    want = {(settings.topic, p): offset for p, offset in until.items()}
    try:
        wait_for(
            lambda: bool(checkpoints) and checkpoints[-1] == want,
            60,
            lambda: f"a checkpoint of {want} (last: {checkpoints[-1:]}, {len(seen)} records)",
        )
    finally:
        stop.set()
        thread.join(30)
    assert not thread.is_alive()
    return seen, checkpoints[-1], observer


@pytest.mark.parametrize("reader", ["thread", "process", "confluent"])
def test_every_reader_delivers_each_record_once_and_commits_what_was_checkpointed(
    broker: LocalBroker, reader: str
) -> None:
    topic = f"readers-{reader}-{uuid.uuid4().hex[:8]}"
    broker.create_topic(topic, partitions=2)
    settings = KafkaSettings(
        bootstrap_servers=[broker.bootstrap],
        topic=topic,
        group_id=f"readers-{uuid.uuid4().hex[:8]}",
        reader="thread" if reader == "confluent" else reader,  # type: ignore[arg-type]
        client="confluent" if reader == "confluent" else "kafka-python",
        options={"session_timeout_ms": 6000, "heartbeat_interval_ms": 1000},
    )
    send(broker.bootstrap, topic, SENT, {})
    seen, stored, observer = consume(settings, {}, SENT)
    assert sorted(seen) == [(p, i, f"{p}-{i}".encode()) for p in SENT for i in range(SENT[p])]
    partitions = [TopicPartition(topic, p) for p in SENT]
    assert committed(broker.bootstrap, settings.group_id, partitions) == SENT
    assert observer.up is False and "ok" in observer.commits and "error" not in observer.commits

    # a crash after the checkpoint, before the commit: the group hands out records the windows hold
    rewind_group(broker.bootstrap, settings.group_id, {TopicPartition(topic, p): 10 for p in SENT})
    assert committed(broker.bootstrap, settings.group_id, partitions) == dict.fromkeys(SENT, 10)
    # the restart: from the group's committed offsets, above the stored checkpoint's floors; only what
    # was sent since is handed over
    send(broker.bootstrap, topic, MORE, SENT)
    total = {p: SENT[p] + MORE[p] for p in SENT}
    seen, _, _ = consume(settings, stored, total)
    assert sorted(seen) == [(p, i, f"{p}-{i}".encode()) for p in SENT for i in range(SENT[p], total[p])]
    assert committed(broker.bootstrap, settings.group_id, partitions) == total


def test_every_reader_implements_the_consumer_protocol() -> None:
    """What mypy checks where the source builds them, said once more where a reader would look."""
    readers: list[type[Consumer]] = [ThreadConsumer, ProcessConsumer, ConfluentConsumer]
    members = [name for name in dir(Consumer) if not name.startswith("_")]
    for reader in readers:
        missing = [name for name in members if not callable(getattr(reader, name, None))]
        assert missing == [], f"{reader.__name__} lacks {missing}"
    assert "poll" in members and "discard_failed_batch" in members
