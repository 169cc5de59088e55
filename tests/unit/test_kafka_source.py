"""KafkaSource without a broker: consumer lag from fetch high watermarks, and its series lifecycle;
checkpoint writes deferred to the writer thread."""

from __future__ import annotations

import json
import threading
import time
from collections import namedtuple
from typing import Any

from driftwatch.config import KafkaSettings
from driftwatch.service.metrics import Metrics
from driftwatch.source.kafka import KafkaSource

TP = namedtuple("TP", "topic partition")


class FakeConsumer:
    """Two partitions; the broker's high watermarks are 100 and 7, the consumer is at 40 and 7."""

    def __init__(self, stop: threading.Event, **config: Any) -> None:
        self.stop = stop
        self.config = config
        self.listener: Any = None
        self.partitions = [TP("predictions", 0), TP("predictions", 1)]
        self.highwaters = {self.partitions[0]: 100, self.partitions[1]: 7}
        self.positions = {self.partitions[0]: 40, self.partitions[1]: 7}

    def subscribe(self, topics: list[str], listener: Any) -> None:
        self.listener = listener

    def poll(self, timeout_ms: int) -> dict[Any, list[Any]]:
        self.stop.set()  # one poll is enough
        return {}

    def assignment(self) -> set[TP]:
        return set(self.partitions)

    def highwater(self, tp: TP) -> int | None:
        return self.highwaters.get(tp)

    def position(self, tp: TP, timeout_ms: int | None = None) -> int:
        return self.positions[tp]

    def commit(self, offsets: Any = None) -> None:
        pass

    def close(self, autocommit: bool = False) -> None:
        pass


def lag(metrics: Metrics, partition: int) -> float | None:
    return metrics.registry.get_sample_value(
        "driftwatch_consumer_lag_records", {"topic": "predictions", "partition": str(partition)}
    )


def test_lag_is_the_fetch_high_watermark_minus_the_position_and_is_dropped_on_revoke() -> None:
    metrics = Metrics()
    stop = threading.Event()
    consumers: list[FakeConsumer] = []

    def factory(**config: Any) -> FakeConsumer:
        consumers.append(FakeConsumer(stop, **config))
        return consumers[-1]

    settings = KafkaSettings(bootstrap_servers=["127.0.0.1:9"], topic="predictions", group_id="g")
    source = KafkaSource(settings, lambda batch: None, metrics, consumer_factory=factory)
    source.run(stop)
    assert lag(metrics, 0) == 60.0
    assert lag(metrics, 1) == 0.0
    consumers[0].listener.on_partitions_revoked([TP("predictions", 0)])
    assert lag(metrics, 0) is None, "a partition given to another replica must not keep reporting lag"
    assert lag(metrics, 1) == 0.0


Record = namedtuple("Record", "topic partition offset value timestamp")


class ScriptedConsumer(FakeConsumer):
    """One partition; each poll hands over the next batch of records (none once they run out)."""

    def __init__(self, stop: threading.Event, **config: Any) -> None:
        super().__init__(stop, **config)
        self.partitions = [TP("predictions", 0)]
        self.batches: list[list[Record]] = []
        self.commits: list[dict[tuple[str, int], int]] = []
        self.lock = threading.Lock()

    def feed(self, first: int, count: int) -> None:
        with self.lock:
            self.batches.append([Record("predictions", 0, o, b"{}", 0) for o in range(first, first + count)])

    def poll(self, timeout_ms: int) -> dict[Any, list[Any]]:
        with self.lock:
            batch = self.batches.pop(0) if self.batches else []
        if not batch:
            self.stop.wait(0.01)
            return {}
        return {self.partitions[0]: batch}

    def highwater(self, tp: TP) -> int | None:
        return None

    def position(self, tp: TP, timeout_ms: int | None = None) -> int:
        return 0

    def commit(self, offsets: Any = None) -> None:
        self.commits.append({(tp.topic, tp.partition): meta.offset for tp, meta in offsets.items()})


class SlowStore:
    """A checkpoint hook whose writes wait until released (or fail), recording what was stored."""

    def __init__(self) -> None:
        self.taken: list[dict[tuple[str, int], int]] = []
        self.stored: list[dict[tuple[str, int], int]] = []
        self.release = threading.Event()
        self.writing = threading.Event()
        self.fail = False

    def take(self, offsets: dict[tuple[str, int], int]) -> Any:
        self.taken.append(dict(offsets))

        def write() -> None:
            self.writing.set()
            assert self.release.wait(10)
            if self.fail:
                raise OSError("disk full")
            self.stored.append(dict(offsets))

        return write


def until(condition: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)


def checkpointing_source(
    consumer: ScriptedConsumer, store: SlowStore, handler: Any = lambda batch: None
) -> tuple[KafkaSource, threading.Thread]:
    """A source over ``consumer`` checkpointing into ``store`` at every pass, and the thread to run it."""
    settings = KafkaSettings(bootstrap_servers=["127.0.0.1:9"], topic="predictions", group_id="g")
    source = KafkaSource(
        settings,
        handler,
        Metrics(),
        consumer_factory=lambda **config: consumer,
        checkpoint=store.take,
        checkpoint_interval=0.0,
    )
    return source, threading.Thread(target=source.run, args=(consumer.stop,))


def writing_first_checkpoint() -> tuple[ScriptedConsumer, SlowStore, threading.Thread]:
    """A running source whose first checkpoint (offset 10) is being written, held until released."""
    consumer = ScriptedConsumer(threading.Event())
    store = SlowStore()
    _, thread = checkpointing_source(consumer, store)
    consumer.feed(0, 10)
    thread.start()
    assert store.writing.wait(10)
    return consumer, store, thread


def test_a_deferred_checkpoint_write_runs_while_records_are_handled_and_commits_only_what_it_stored() -> None:
    stop = threading.Event()
    consumer = ScriptedConsumer(stop)
    handled: list[int] = []
    store = SlowStore()
    _, thread = checkpointing_source(consumer, store, lambda batch: handled.extend(m.offset for m in batch))
    consumer.feed(0, 10)
    thread.start()
    try:
        assert store.writing.wait(10)  # the first checkpoint (offset 10) is being written
        consumer.feed(10, 5)
        until(lambda: len(handled) == 15)  # records go on into the windows meanwhile
        assert store.taken == [{("predictions", 0): 10}], "one write at a time: the next waits for it"
        assert consumer.commits == [], "nothing is committed before its checkpoint is stored"
        store.release.set()
        until(lambda: consumer.commits)
        assert consumer.commits[0] == {("predictions", 0): 10}
        until(lambda: store.stored == [{("predictions", 0): 10}, {("predictions", 0): 15}])
        until(lambda: consumer.commits[-1] == {("predictions", 0): 15})
    finally:
        stop.set()
        thread.join(10)
    assert not thread.is_alive()
    assert handled == list(range(15))


def test_a_failed_deferred_write_commits_nothing_and_the_next_checkpoint_covers_its_records() -> None:
    stop = threading.Event()
    consumer = ScriptedConsumer(stop)
    store = SlowStore()
    store.fail = True
    _, thread = checkpointing_source(consumer, store)
    consumer.feed(0, 10)
    thread.start()
    try:
        assert store.writing.wait(10)
        store.release.set()  # the write fails
        until(lambda: len(store.taken) >= 2)  # taken again: its records were pending once more
        assert store.taken[1] == {("predictions", 0): 10}
        assert consumer.commits == [] and store.stored == []
        store.fail = False
        until(lambda: store.stored)
        until(lambda: consumer.commits)
        assert consumer.commits[-1] == {("predictions", 0): 10}
    finally:
        stop.set()
        thread.join(10)
    assert not thread.is_alive()


def test_closing_waits_for_the_write_in_flight_and_stores_the_rest() -> None:
    consumer, store, thread = writing_first_checkpoint()
    consumer.feed(10, 3)
    until(lambda: not consumer.batches)
    consumer.stop.set()  # the loop ends while the first write still runs
    threading.Timer(0.2, store.release.set).start()
    thread.join(10)
    assert not thread.is_alive()
    assert store.stored == [{("predictions", 0): 10}, {("predictions", 0): 13}]
    assert consumer.commits[-1] == {("predictions", 0): 13}


def _partition_stats(**fields: Any) -> str:
    """librdkafka's statistics JSON with partition 0 of "predictions" and the given fields."""
    partition = {"fetch_state": "active", "fetchq_cnt": 0, "app_offset": -1001, "hi_offset": 1500, **fields}
    return json.dumps({"topics": {"predictions": {"partitions": {"0": partition, "-1": {}}}}})


def test_librdkafka_positions_a_partition_nothing_was_handed_over_from_where_it_starts_reading() -> None:
    """kafka.client: confluent: librdkafka knows no position for a partition until a record of it was
    handed over; kafka-python answers with the committed offset it starts from. After a restart with every
    record committed, the position (so the lag, 0) comes from the next offset librdkafka fetches, while
    nothing is fetched yet; unknown otherwise, as before any statistics or after a rebalance."""
    from confluent_kafka import TopicPartition as LibPartition

    from driftwatch.source.confluent import ConfluentConsumer

    tp = TP("predictions", 0)
    consumer = ConfluentConsumer({"bootstrap.servers": "127.0.0.1:1", "group.id": "g"})
    try:
        assert consumer.position(tp) is None  # no statistics yet
        consumer._stats(_partition_stats(next_offset=1500, committed_offset=1500))
        assert consumer.position(tp) == 1500
        consumer._stats(_partition_stats(next_offset=1500, fetchq_cnt=3))  # fetched, not handed over
        assert consumer.position(tp) is None
        consumer._stats(_partition_stats(next_offset=-1001, fetch_state="offset-query"))
        assert consumer.position(tp) is None
        consumer._stats(_partition_stats(next_offset=0))  # no committed offset: reset to the beginning
        assert consumer.position(tp) == 0
        consumer._assigned(None, [LibPartition("predictions", 0)])  # statistics from before it
        assert consumer.position(tp) is None
    finally:
        consumer.close()


def test_closing_commits_the_write_in_flight_when_nothing_was_handled_after_it() -> None:
    consumer, store, thread = writing_first_checkpoint()
    consumer.stop.set()  # nothing more to handle: closing has only the write in flight to settle and commit
    threading.Timer(0.2, store.release.set).start()
    thread.join(10)
    assert not thread.is_alive()
    assert store.stored == [{("predictions", 0): 10}]
    assert consumer.commits == [{("predictions", 0): 10}], "the group's offset must not lag the store"
