"""The history topic without a broker: `ensure_topics` creates ``G.history`` with the history's retention
(and only with a history), and `HistoryFeed` reads every partition from where the history file says
(offset 0 for one it never read), hands each batch over with the positions it reaches, and after a
batch it could not store reads it again from the stored positions."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from kafka import TopicPartition

from driftwatch.config import KafkaSettings
from driftwatch.source.exchange import HistoryFeed, InternalTopics, ensure_topics
from tests.waiting import wait_for

SETTINGS = KafkaSettings(bootstrap_servers=["127.0.0.1:9"], topic="predictions", group_id="g")
TOPICS = InternalTopics.of("g")


class FakeAdmin:
    def __init__(self, **_: Any) -> None:
        self.created: list[Any] = []

    def list_topics(self) -> list[str]:
        return []

    def create_topics(self, topics: list[Any]) -> None:
        self.created += topics

    def describe_topics(self, names: list[str]) -> list[dict[str, Any]]:
        return [{"topic": name, "partitions": [{}] * 4} for name in names]

    def close(self) -> None:
        pass


def created(history_retention: float | None) -> dict[str, dict[str, str]]:
    admin = FakeAdmin()
    ensure_topics(SETTINGS, TOPICS, 4, admin_factory=lambda **_: admin, history_retention=history_retention)
    assert {t.num_partitions for t in admin.created} == {4}
    return {t.name: t.topic_configs for t in admin.created}


def test_the_history_topic_is_created_with_the_history_retention() -> None:
    topics = created(30 * 86400.0)
    assert TOPICS.history == "g.history"
    assert topics["g.history"] == {"cleanup.policy": "delete", "retention.ms": str(30 * 86400 * 1000)}
    assert set(topics) == {"g.samples", "g.state", "g.thresholds", "g.history"}
    assert set(created(None)) == {"g.samples", "g.state", "g.thresholds"}  # no history, no topic


@dataclass
class Record:
    offset: int
    value: bytes | None


class FakeConsumer:
    """Three partitions of the history topic; partition 2 has a tombstone (no value)."""

    LOG = {0: [b"a0", b"a1", b"a2"], 1: [b"b0"], 2: [b"c0", None, b"c2"]}

    def __init__(self, opened: list[dict[int, int]], **config: Any) -> None:
        assert config["group_id"] is None and config["auto_offset_reset"] == "earliest"
        self.opened = opened
        self.position: dict[int, int] = {}

    def partitions_for_topic(self, topic: str) -> set[int]:
        assert topic == "g.history"
        return set(self.LOG)

    def assign(self, tps: list[TopicPartition]) -> None:
        assert [tp.partition for tp in tps] == [0, 1, 2]

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.position[tp.partition] = offset
        if len(self.position) == len(self.LOG):
            self.opened.append(dict(self.position))

    def poll(self, timeout_ms: int, max_records: int) -> dict[TopicPartition, list[Record]]:
        out = {}
        for partition, values in self.LOG.items():
            start = self.position[partition]
            if start < len(values):
                out[TopicPartition("g.history", partition)] = [Record(start, values[start])]  # one at a time
                self.position[partition] = start + 1
        if not out:
            threading.Event().wait(timeout_ms / 1000)
        return out

    def close(self, autocommit: bool) -> None:
        pass


def test_the_feed_reads_every_partition_from_its_stored_position_and_again_after_a_failed_batch() -> None:
    stored: dict[int, int] = {1: 1}  # partition 1 read already; the others never
    applied: list[tuple[int, int, bytes]] = []
    opened: list[dict[int, int]] = []
    failures = [True]  # the first batch cannot be stored

    def apply(batch: list[tuple[int, int, bytes]], positions: dict[int, int]) -> None:
        if failures and failures.pop():
            raise OSError("disk full")
        applied.extend(batch)
        stored.update(positions)

    feed = HistoryFeed(
        SETTINGS,
        TOPICS,
        lambda: dict(stored),
        apply,
        factory=lambda **config: FakeConsumer(opened, **config),
        poll_timeout=0.01,
    )
    feed.start()
    try:
        wait_for(lambda: stored == {0: 3, 1: 1, 2: 3}, 10, lambda: f"every partition read (stored {stored})")
    finally:
        feed.stop()
    assert opened[0] == {0: 0, 1: 1, 2: 0}  # where the file said; offset 0 for a partition never read
    assert opened[1] == opened[0]  # after the failed batch, from the stored positions again
    assert sorted(applied) == [(0, 0, b"a0"), (0, 1, b"a1"), (0, 2, b"a2"), (2, 0, b"c0"), (2, 2, b"c2")]
